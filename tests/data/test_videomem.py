"""VideoMem (2018/2019 layouts): both ground-truth names, BOM, tab-separated CRLF captions, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.items import PreparedDataset

GT = "video,short-term_memorability,nb_short-term_annotations,long-term_memorability,nb_long-term_annotations\r\n"


def test_prepared_videomem_sample(sample_videomem: Path) -> None:
    ds = PreparedDataset.load(sample_videomem)
    assert ds.manifest["rows"] == {"train": 0, "dev": 80, "test": 20}
    assert ds.targets == ["short_term", "long_term"]
    assert ds.split("dev")[["short_term", "long_term"]].notna().all().all()
    assert ds.split("test")[["short_term", "long_term"]].isna().all().all()
    assert ds.items["video_id"].str.fullmatch(r"video\d+\.webm").all()
    caption = ds.items["captions"].iloc[0]
    assert len(caption) == 1 and "-" not in caption[0] and " " in caption[0]
    assert ds.split("dev")["n_annotations"].between(30, 45).all()
    assert all(len(ds.frame_paths(v)) == 3 for v in ds.items["video_id"])


def write_2018(root: Path) -> Path:
    """The 2018 names: dev-set_ground-truth.csv with a BOM, captions tab-separated with CRLF, no videos."""
    (root / "devset" / "ground-truth").mkdir(parents=True)
    rows = "".join(f"video{i}.webm,0.{80 + i},34,0.{70 + i},10\r\n" for i in range(1, 7))
    (root / "devset" / "ground-truth" / "dev-set_ground-truth.csv").write_bytes(b"\xef\xbb\xbf" + (GT + rows).encode())
    captions = "".join(f"video{i}.webm\tcouple-relaxing-on-picnic-{i}\r\n" for i in range(1, 6))
    captions += 'video6.webm\t"quoted"-sign\r\n'  # not CSV quoting: the quotes are part of the caption
    (root / "devset" / "dev-set_video-captions.txt").write_text(captions, newline="")
    (root / "testset").mkdir()
    (root / "testset" / "test-set_videos-captions.txt").write_text("video8001.webm\tdog-runs\r\n", newline="")
    return root


def run(root: Path, out: Path) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["prepare", "videomem", "--root", str(root), "--out", str(out), "--folds", "2"])
    return r.exit_code, r.output


def test_2018_names_without_videos(tmp_path: Path) -> None:
    code, output = run(write_2018(tmp_path / "r"), tmp_path / "out")
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.split("dev")["short_term"].tolist() == pytest.approx([0.81, 0.82, 0.83, 0.84, 0.85, 0.86])
    assert ds.split("test")["captions"].iloc[0] == ["dog runs"]
    assert ds.items.loc[ds.items["video_id"] == "video6.webm", "captions"].item() == ['"quoted" sign']
    assert ds.manifest["frames"] == {
        "skipped": "no media in the release (pass --media DIR for Memento10k/TRECVid/VideoMem videos)"
    }


def _append(path: Path, text: str) -> None:
    with path.open("a", newline="") as fh:
        fh.write(text)


BAD = {
    "no_ground_truth": (
        lambda r: (r / "devset" / "ground-truth" / "dev-set_ground-truth.csv").unlink(),
        "error: {root}: missing file: ground-truth_dev-set.csv or dev-set_ground-truth.csv (the dev-set ground truth)",
    ),
    "unknown_caption": (
        lambda r: _append(r / "devset" / "dev-set_video-captions.txt", "video99.webm\tcat\r\n"),
        "error: devset/dev-set_video-captions.txt:7: video 'video99.webm': caption row for an unknown video (not "
        "in devset/ground-truth/dev-set_ground-truth.csv)",
    ),
    "nan_label": (
        lambda r: _append(r / "devset" / "ground-truth" / "dev-set_ground-truth.csv", "video7.webm,,34,0.5,10\r\n"),
        "error: devset/ground-truth/dev-set_ground-truth.csv:8: short-term_memorability '': not a finite number "
        "(label)",
    ),
    "unsafe_test_id": (
        lambda r: (r / "testset" / "test-set_videos-captions.txt").write_text("../x.webm\tdog\r\n"),
        "error: testset/test-set_videos-captions.txt:1: video '../x.webm': not safe as a file name (letters, "
        "digits, '.', '_' and '-' only, 1-200 characters, not '.' or '..')",
    ),
    "empty_captions": (
        lambda r: (r / "testset" / "test-set_videos-captions.txt").write_text(""),
        "error: testset/test-set_videos-captions.txt: empty file",
    ),
    "two_ground_truths": (
        lambda r: (r / "ground-truth_dev-set.csv").write_text(GT),
        "error: {root}: more than one candidate file; keep one: ground-truth_dev-set.csv, "
        "devset/ground-truth/dev-set_ground-truth.csv",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_videomem(tmp_path: Path, case: str) -> None:
    root = write_2018(tmp_path / "r")
    BAD[case][0](root)
    code, output = run(root, tmp_path / "out")
    assert (code, output) == (1, BAD[case][1].format(root=root) + "\n")
    assert not (tmp_path / "out").exists()
