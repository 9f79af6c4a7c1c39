"""`memo info`: the summary of a prepared dataset, as text and as JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from mediaeval_memo.cli import cli


def test_info_text(sample_memento10k: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(sample_memento10k)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"memento10k (mediaeval2021) at {sample_memento10k}"
    assert lines[1] == "  rows: train 160, dev 40, test 40 (total 240)"
    assert lines[2].startswith("  target mem_score: 200 labelled, mean 0.")
    assert "  folds: 5 (seed 0) over 200 groups, sizes 40/40/40/40/40" in lines
    release = (sample_memento10k.parent / "release" / "videos").resolve()
    assert f"  media: 240 found, 0 missing in {release}" in lines
    assert "  frames: 240 videos with 3 frames each" in lines


def test_info_json_and_frames_deleted_after_prepare(sample_videm: Path, tmp_path: Path) -> None:
    data = tmp_path / "videm"
    shutil.copytree(sample_videm, data)
    victim = sorted((data / "frames").iterdir())[0]
    shutil.rmtree(victim)
    result = CliRunner().invoke(cli, ["info", str(data), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rows"] == {"train": 0, "dev": 60, "test": 20}
    assert set(summary["targets"]) == {"memorability_score", "brand_memorability"}
    assert summary["groups"] == 12  # the dev channels the folds cover; the 4 test channels are not in folds
    assert summary["frames"]["videos_with_frames"] == 79  # counted on disk, not trusted from the manifest
    assert summary["feature_blocks"] == [
        "organiser__HSVHistogram",
        "organiser__R3D",
        "organiser__RGBHistogram",
        "organiser__ViT",
    ]


def test_info_not_a_prepared_dataset(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {tmp_path}: not a prepared dataset directory (no items.parquet or manifest.json); create one with "
        "`memo prepare`\n"
    )


def test_info_real_memento10k(memento10k_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "m10k"
    prepared = CliRunner().invoke(cli, ["prepare", "memento10k", "--root", str(memento10k_root), "--out", str(out)])
    assert prepared.exit_code == 0, prepared.output
    result = CliRunner().invoke(cli, ["info", str(out)])
    assert result.exit_code == 0
    assert "  rows: train 7000, dev 0, test 1500 (total 8500)" in result.output
    assert "  target mem_score: 7000 labelled, mean 0.8010" in result.output
    assert "  captions: 8500 videos with captions, 5.00 per video" in result.output
    assert "  media: none in the release (captions and metadata only)" in result.output
