"""Movies (Subtask 1) and any other layout: a scores table read through a column mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.data.sample import Clip, write_video


def run(root: Path, out: Path, *extra: str) -> tuple[int, str]:
    args = ["prepare", "movies", "--root", str(root), "--out", str(out), "--folds", "2", *extra]
    r = CliRunner().invoke(cli, args)
    return r.exit_code, r.output


def test_default_mapping(tmp_path: Path) -> None:
    rows = "".join(f"clip{i},0.{50 + i}\n" for i in range(6)) + "clip9,\n"
    (tmp_path / "scores.csv").write_text("video_id,score\n" + rows)
    code, output = run(tmp_path, tmp_path / "out", "--frames", "0")
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.targets == ["memorability_score"]
    assert ds.manifest["rows"] == {"train": 6, "dev": 0, "test": 1}
    assert ds.manifest["frames"] == {"skipped": "not asked (--frames 0)"}


def test_yaml_mapping_with_split_files_text_media_and_groups(tmp_path: Path) -> None:
    write_video(tmp_path / "clips" / "a1.mp4", Clip(64, 64, 8, (200, 0, 0), (0, 0, 255)))
    (tmp_path / "train.tsv").write_text(
        "id\tmovie\tst\tlt\tsynopsis\tpath\truntime\n"
        + "".join(f"a{i}\tm{i // 2}\t0.{60 + i}\t0.{40 + i}\tA film {i}\tclips/a{i}.mp4\t{90 + i}\n" for i in range(8))
    )
    (tmp_path / "test.tsv").write_text("id\tmovie\tsynopsis\tpath\truntime\nb1\tm9\tAnother\t\t100\n")
    (tmp_path / "map.yaml").write_text(
        'table: {train: train.tsv, test: test.tsv}\ndelimiter: "\\t"\nid: id\n'
        "targets: {short_term: st, long_term: lt}\ntext: [synopsis]\nmedia: path\ngroup: movie\nmeta: [runtime]\n"
    )
    code, output = run(tmp_path, tmp_path / "out", "--mapping", str(tmp_path / "map.yaml"))
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.targets == ["short_term", "long_term"]
    assert ds.split("test")["video_id"].tolist() == ["b1"]
    assert ds.items["group"].tolist()[:4] == ["m0", "m0", "m1", "m1"]
    assert ds.items["meta_runtime"].tolist()[-1] == 100.0
    assert ds.items.loc[ds.items["video_id"] == "a1", "media_path"].item() == "clips/a1.mp4"
    assert len(ds.frame_paths("a1")) == 3
    assert ds.manifest["frames"]["missing"] == ["a0", "a2", "a3", "a4", "a5", "a6", "a7", "b1"]


def test_column_overrides(tmp_path: Path) -> None:
    (tmp_path / "scores.csv").write_text(
        "name,set,mem,cap\n" + "".join(f"v{i},{'train' if i < 6 else 'test'},0.{i + 1},cap {i}\n" for i in range(8))
    )
    code, output = run(
        tmp_path,
        tmp_path / "out",
        "--frames",
        "0",
        "--column",
        "id=name",
        "--column",
        "split=set",
        "--column",
        "targets=mem",
        "--column",
        "captions=cap",
    )
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.targets == ["mem"] and ds.manifest["rows"]["test"] == 2
    assert ds.items["captions"].iloc[0] == ["cap 0"]


@pytest.mark.parametrize(
    ("files", "extra", "expected"),
    [
        ({}, (), "error: scores.csv: missing file"),
        ({"scores.csv": ""}, (), "error: scores.csv: empty file (expected a header with: video_id, score)"),
        (
            {"scores.csv": "video_id,mem\nv1,0.5\n"},
            (),
            "error: scores.csv:1: score: missing column (the header has: video_id, mem)",
        ),
        (
            {"scores.csv": "video_id,score,split\nv1,0.5,train\nv2,,train\n"},
            ("--column", "split=split"),
            "error: scores.csv:3: score '': not a finite number (label; the train split needs one)",
        ),
        (
            {"scores.csv": "video_id,score\nv1,0.5\nv1,0.6\n"},
            (),
            "error: scores.csv:3: video_id 'v1': duplicate video id (first at scores.csv:2)",
        ),
        (
            {"scores.csv": "video_id,score,p\nv1,0.5,../../etc/passwd\n"},
            ("--column", "media=p"),
            "error: scores.csv:2: p '../../etc/passwd': media path must be relative to --root, without '..'",
        ),
        (
            {"m.yaml": "idd: x\n"},
            ("--mapping", "{root}/m.yaml"),
            "error: {root}/m.yaml: idd: unknown mapping key (accepted: table, delimiter, id, targets, text, captions, "
            "media, split, group, meta)",
        ),
        (
            {"m.yaml": "- a\n"},
            ("--mapping", "{root}/m.yaml"),
            "error: {root}/m.yaml: expected a mapping of keys to column names",
        ),
        ({}, ("--mapping", "{root}/none.yaml"), "error: {root}/none.yaml: --mapping: missing file"),
    ],
)
def test_bad_movies_input(tmp_path: Path, files: dict[str, str], extra: tuple[str, ...], expected: str) -> None:
    root = tmp_path / "r"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    code, output = run(root, tmp_path / "out", *(e.format(root=root) for e in extra))
    assert (code, output) == (1, expected.format(root=root) + "\n")
    assert not (tmp_path / "out").exists()
