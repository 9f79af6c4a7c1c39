"""VIDEM (Subtask 2): video lists, transcripts, shipped frames, organiser features, channel groups, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.feature_store import list_blocks, load_block
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.data.sample import write_videm


def test_prepared_videm_sample(sample_videm: Path) -> None:
    ds = PreparedDataset.load(sample_videm)
    assert ds.manifest["rows"] == {"train": 0, "dev": 60, "test": 20}
    assert ds.targets == ["memorability_score", "brand_memorability"]
    assert ds.split("test")[ds.targets].isna().all().all()
    assert ds.split("dev")["group"].nunique() == 12 and ds.split("test")["group"].nunique() == 4
    assert not set(ds.split("dev")["group"]) & set(ds.split("test")["group"])
    assert (ds.items["group"] == ds.items["channel"]).all()
    for column in ("meta_duration_seconds", "meta_views_count", "meta_engagement_rate", "n_annotations"):
        assert column in ds.items and ds.items[column].dtype == np.float64
    assert ds.split("test")["n_annotations"].isna().all()
    # The annotation count is a label (masked outside a fit's ids), not a feature a model reads as metadata.
    assert "meta_nb_annotations" not in ds.items and "n_annotations" in ds.label_columns
    assert (ds.items["transcript"] == "").any() and (ds.items["transcript"].str.len() > 20).any()
    assert all(len(ds.frame_paths(v)) == 3 for v in ds.items["video_id"])
    assert ds.manifest["media_kind"] == "frames"
    assert list_blocks(sample_videm) == [
        "organiser__HSVHistogram",
        "organiser__R3D",
        "organiser__RGBHistogram",
        "organiser__ViT",
    ]
    block = load_block(sample_videm, "organiser__HSVHistogram")
    assert block.dim == 72 and sorted(block.ids) == sorted(ds.items["video_id"])
    assert ds.manifest["organiser_features"]["R3D"] == {"block": "organiser__R3D", "shape": [512], "videos": 80}
    assert load_block(sample_videm, "organiser__ViT").dim == 3 * 768


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_videm(tmp_path_factory.mktemp("videm") / "release", seed=5, n_dev=15, n_test=5, dev_channels=5)


def _copy(release: Path, tmp_path: Path) -> Path:
    root = tmp_path / "release"
    shutil.copytree(release, root)
    return root


def _prepare(root: Path, out: Path) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["prepare", "videm", "--root", str(root), "--out", str(out), "--folds", "3"])
    return r.exit_code, r.output


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_missing_test_list(release: Path, tmp_path: Path) -> None:
    root = _copy(release, tmp_path)
    (root / "testset" / "testset_videolist_.csv").unlink()
    assert _prepare(root, tmp_path / "out") == (1, "error: testset/testset_videolist_.csv: missing file\n")
    assert not (tmp_path / "out").exists()


def test_missing_target_column(release: Path, tmp_path: Path) -> None:
    root = _copy(release, tmp_path)
    _edit(root / "devset" / "devset_videolist_GT.csv", ",brand_memorability\n", ",brand\n")
    code, output = _prepare(root, tmp_path / "out")
    assert code == 1
    assert output.startswith(
        "error: devset/devset_videolist_GT.csv:1: brand_memorability: missing column (the "
        "header has: id, video_id, channelName,"
    )
    assert output.count("\n") == 1


def test_bad_label_and_unsafe_id_and_empty_channel(release: Path, tmp_path: Path) -> None:
    root = _copy(release, tmp_path)
    path = root / "devset" / "devset_videolist_GT.csv"
    lines = path.read_text().split("\n")
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("id")] = "a/b"
    lines[1] = ",".join(first)
    path.write_text("\n".join(lines))
    code, output = _prepare(root, tmp_path / "out")
    assert code == 1
    assert output == (
        "error: devset/devset_videolist_GT.csv:2: id 'a/b': not safe as a file name (letters, digits, '.', '_' and "
        "'-' only, 1-200 characters, not '.' or '..')\n"
    )


def test_feature_file_for_unknown_video(release: Path, tmp_path: Path) -> None:
    root = _copy(release, tmp_path)
    np.save(root / "devset" / "features" / "R3D" / "stranger.npy", np.zeros(512, dtype=np.float32))
    code, output = _prepare(root, tmp_path / "out")
    assert (code, output) == (
        1,
        "error: devset/features/R3D/stranger.npy: video_id 'stranger': feature file for an unknown video\n",
    )


def test_feature_shape_mismatch(release: Path, tmp_path: Path) -> None:
    root = _copy(release, tmp_path)
    victim = sorted((root / "devset" / "features" / "HSVHistogram").glob("*.npy"))[0]
    np.save(victim, np.zeros((2, 24), dtype=np.float32))
    code, output = _prepare(root, tmp_path / "out")
    assert code == 1
    assert output.splitlines()[-1] == (
        f"error: devset/features/HSVHistogram/{victim.name}: shape '(2, 24)': shape differs from the other "
        "HSVHistogram files ((3, 24))"
    )
    assert not (tmp_path / "out").exists()


def test_missing_label_in_dev(release: Path, tmp_path: Path) -> None:
    root = _copy(release, tmp_path)
    path = root / "devset" / "devset_videolist_GT.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[2, "memorability_score"] = ""
    table.to_csv(path, index=False)
    line = 2 + sum(1 + cell.count("\n") for cell in table.loc[:1, "description"])  # descriptions span lines
    code, output = _prepare(root, tmp_path / "out")
    assert (code, output) == (
        1,
        f"error: devset/devset_videolist_GT.csv:{line}: memorability_score '': not a finite number (label)\n",
    )


def test_a_transcript_of_no_listed_video_is_noted_once(release: Path, tmp_path: Path) -> None:
    root = _copy(release, tmp_path)
    (root / "devset-stt" / "nobody.txt").write_text("words\n")
    code, output = _prepare(root, tmp_path / "out")
    assert code == 0, output
    assert "note: 1 transcript(s) of videos in neither video list, not read: devset-stt/nobody.txt" in output
    assert PreparedDataset.load(tmp_path / "out").manifest["notes"] == [
        "1 transcript(s) of videos in neither video list, not read: devset-stt/nobody.txt"
    ]
