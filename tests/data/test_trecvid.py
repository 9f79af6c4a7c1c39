"""TRECVid subset (MediaEval 2021 and 2020 layouts) through `memo prepare trecvid`, with every bad-input case.

No real TRECVid data is available: the fixtures are written here, in the layouts of ../shared/notes/FORMATS.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.data.prepare import PrepareOptions, prepare
from mediaeval_memo.data.sample import write_sample

HEADER_2021 = (
    "video_id,video_url,annotations_short_term,annotations_long_term,scores_raw_short_term,scores_raw_long_term,"
    "scores_normalized_short_term,decay_alpha"
)
HEADER_2020 = "video_id,video_url,ann_1,ann_2,part_1_scores,part_2_scores"
CAPTIONS = "video_id,video_url,description"
BOM = "\ufeff"


def _url(vid: str) -> str:
    return f"https://host/vtt/{vid}.mp4"


def _row_2021(vid: str, i: int, long: str | None = None) -> str:
    long = f"0.{60 + i}" if long is None else long
    return f"{vid},{_url(vid)},{30 + i},{10 + i},0.{80 + i}5,{long},0.{80 + i},-0.00{i}"


def _row_2020(vid: str, i: int) -> str:
    return f"{vid},{_url(vid)},{30 + i},{10 + i},0.{80 + i},0.{60 + i}"


def _captions(ids: list[str], per_video: int = 2) -> list[str]:
    return [f"{vid},{_url(vid)},caption {k} of {vid}" for k in range(per_video) for vid in ids]


def _write(path: Path, lines: list[str], bom: bool = False, crlf: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    end = "\r\n" if crlf else "\n"
    path.write_text((BOM if bom else "") + end.join(lines) + end, encoding="utf-8", newline="")


TRAIN, DEV, TEST = ["101", "102", "103", "104", "105", "106"], ["201", "202", "203"], ["301", "302"]


def write_2021(root: Path, train: list[str] = TRAIN, dev: list[str] = DEV, test: list[str] = TEST) -> Path:
    """The 2021 layout: BOM on the caption files and the dev scores, CRLF in dev, captions one per row with the rows
    of a video apart (all first captions, then all second ones), and one quoted caption spanning two lines."""
    _write(root / "training_set" / "train_scores.csv", [HEADER_2021, *(_row_2021(v, i) for i, v in enumerate(train))])
    captions = _captions(train)
    captions[0] = f'{train[0]},{_url(train[0])},"a dog, then\na cat"'
    _write(root / "training_set" / "train_text_descriptions.csv", [CAPTIONS, *captions], bom=True)
    if dev:
        rows = [HEADER_2021, *(_row_2021(v, i) for i, v in enumerate(dev))]
        _write(root / "dev_set" / "dev_scores.csv", rows, bom=True, crlf=True)
        _write(root / "dev_set" / "dev_text_descriptions.csv", [CAPTIONS, *_captions(dev, 3)], bom=True, crlf=True)
    if test:
        _write(root / "test_set" / "test_text_descriptions.csv", [CAPTIONS, *_captions(test, 4)], bom=True)
    return root


def write_2020(root: Path) -> Path:
    """The 2020 layout as a participant's copy holds it: every file in one folder, no BOM."""
    _write(root / "scores_v2.csv", [HEADER_2020, *(_row_2020(v, i) for i, v in enumerate(TRAIN))])
    _write(root / "text_descriptions.csv", [CAPTIONS, *_captions(TRAIN)])
    _write(root / "dev_scores.csv", [HEADER_2020, *(_row_2020(v, i) for i, v in enumerate(DEV))])
    _write(root / "dev_text_descriptions.csv", [CAPTIONS, *_captions(DEV, 1)])
    _write(root / "test_text_descriptions.csv", [CAPTIONS, *_captions(TEST, 3)])
    return root


def run_prepare(root: Path, out: Path, *extra: str, dataset: str = "trecvid") -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["prepare", dataset, "--root", str(root), "--out", str(out), "--folds", "2", *extra]
    )
    return result.exit_code, result.output


def test_2021_layout(tmp_path: Path) -> None:
    code, output = run_prepare(write_2021(tmp_path / "r"), tmp_path / "out")
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.manifest["dataset"] == "trecvid" and ds.manifest["layout"] == "mediaeval2021"
    assert ds.manifest["rows"] == {"train": 6, "dev": 3, "test": 2}
    assert ds.targets == ["short_term", "long_term"]
    items = ds.items.set_index("video_id")
    first = items.loc["101"]
    assert (first["short_term"], first["long_term"], first["short_term_raw"]) == (0.80, 0.60, 0.805)
    assert (first["n_annotations"], first["n_annotations_long_term"], first["decay_alpha"]) == (30, 10, 0.0)
    assert list(first["captions"]) == ["a dog, then\na cat", "caption 1 of 101"]
    assert items.loc["203", "short_term"] == pytest.approx(0.82) and items.loc["203", "split"] == "dev"
    assert list(items.loc["202", "captions"]) == [f"caption {k} of 202" for k in range(3)]
    test = ds.split("test")
    assert test[["short_term", "long_term"]].isna().all().all()
    assert test["captions"].map(len).tolist() == [4, 4] and test["video_url"].tolist() == [_url("301"), _url("302")]
    assert ds.manifest["labelled"] == {"short_term": 9, "long_term": 9}
    assert "frames: none" in output


def test_2021_release_sizes(tmp_path: Path) -> None:
    """The real 2021 release's counts: 588 training, 1116 dev (both labelled) and 500 test videos (captions only)."""
    ids = [str(i) for i in range(1, 2205)]
    root = write_2021(tmp_path / "r", ids[:588], ids[588:1704], ids[1704:])
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.manifest["rows"] == {"train": 588, "dev": 1116, "test": 500}
    assert ds.manifest["labelled"] == {"short_term": 1704, "long_term": 1704}
    assert ds.items["captions"].map(len).value_counts().to_dict() == {2: 588, 3: 1116, 4: 500}
    assert "rows: train 588, dev 1116, test 500" in output


def test_2020_layout(tmp_path: Path) -> None:
    code, output = run_prepare(write_2020(tmp_path / "r"), tmp_path / "out")
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.manifest["layout"] == "mediaeval2020"
    assert ds.manifest["rows"] == {"train": 6, "dev": 3, "test": 2}
    items = ds.items.set_index("video_id")
    assert items.loc["102", ["short_term", "long_term", "n_annotations", "n_annotations_long_term"]].tolist() == [
        0.81,
        0.61,
        31,
        11,
    ]
    assert np.isnan(items.loc["102", "short_term_raw"]) and np.isnan(items.loc["102", "decay_alpha"])
    assert list(items.loc["102", "captions"]) == ["caption 0 of 102", "caption 1 of 102"]
    assert items.loc["301", "captions"].tolist() == [f"caption {k} of 301" for k in range(3)]
    assert set(ds.manifest["sources"]) == {
        "scores_v2.csv",
        "text_descriptions.csv",
        "dev_scores.csv",
        "dev_text_descriptions.csv",
        "test_text_descriptions.csv",
    }


def test_memento10k_command_points_at_trecvid(tmp_path: Path) -> None:
    """`memo prepare memento10k` on the 2021 TRECVid folder used to stop at `description_0: missing column`."""
    root = write_2021(tmp_path / "r")
    code, output = run_prepare(root, tmp_path / "out", dataset="memento10k")
    assert (code, output) == (
        1,
        "error: training_set/train_scores.csv:1: long-term scores (annotations_long_term): this is the TRECVid "
        "subset of the 2021 release, read it with `memo prepare trecvid`\n",
    )


def test_trecvid_command_points_at_memento10k(tmp_path: Path) -> None:
    from tests.data.test_memento10k import write_release

    code, output = run_prepare(write_release(tmp_path / "r"), tmp_path / "out")
    assert (code, output) == (
        1,
        "error: training_set/train_text_descriptions.csv:1: five caption columns (description_0..4): this is the "
        "Memento10k release, read it with `memo prepare memento10k`\n",
    )


def _bad(root: Path, case: str) -> Path:
    """Break a valid 2021 release (or make a 2020 one) in one way."""
    scores = root / "training_set" / "train_scores.csv"
    captions = root / "training_set" / "train_text_descriptions.csv"
    test = root / "test_set" / "test_text_descriptions.csv"

    def append(path: Path, line: str) -> None:
        with path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(line + "\n")

    if case == "missing_column":
        scores.write_text(scores.read_text().replace(",scores_raw_long_term", ",long"))
    elif case == "nan_long_term":
        append(scores, _row_2021("107", 7, long="nan"))
    elif case == "text_count":
        append(scores, _row_2021("107", 7).replace(",17,", ",many,"))
    elif case == "duplicate_across_splits":
        append(root / "dev_set" / "dev_scores.csv", _row_2021("102", 4))
    elif case == "test_names_a_train_video":
        append(test, f"103,{_url('103')},a caption")
    elif case == "unsafe_test_id":
        append(test, "../x,u,a caption")
        append(test, "../x,u,another caption")  # reported once, on its first row
    elif case == "unknown_caption":
        append(captions, f"999,{_url('999')},who?")
    elif case == "empty_captions":
        captions.write_text(BOM)
    elif case == "stray_quote":
        lines = test.read_text(encoding="utf-8").splitlines()
        lines[1] = lines[1].replace(",caption", ',"caption')
        lines.append('302,u,"closing, quote"')
        test.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif case == "missing_dev_scores":
        (root / "dev_set" / "dev_scores.csv").unlink()
    elif case == "both_years":
        _write(root / "old" / "scores_v2.csv", [HEADER_2020])
    elif case == "not_a_release":
        for path in (scores, captions):
            path.unlink()
    elif case == "2020_missing_column":
        root = write_2020(root.parent / "r2020")
        path = root / "dev_scores.csv"
        path.write_text(path.read_text().replace("part_2_scores", "part_2"))
    elif case == "2020_dev_captions_without_scores":
        root = write_2020(root.parent / "r2020")
        (root / "dev_scores.csv").unlink()
    return root


TRAIN_HEADER = HEADER_2021.replace(",", ", ")
BAD_CASES = {
    "missing_column": "error: training_set/train_scores.csv:1: scores_raw_long_term: missing column (the header "
    f"has: {TRAIN_HEADER.replace('scores_raw_long_term', 'long')})",
    "nan_long_term": "error: training_set/train_scores.csv:8: scores_raw_long_term 'nan': not a finite number (label)",
    "text_count": "error: training_set/train_scores.csv:8: annotations_long_term 'many': not an integer (label)",
    "duplicate_across_splits": "error: dev_set/dev_scores.csv:5: video_id '102': duplicate video id (first at "
    "training_set/train_scores.csv:3)",
    "test_names_a_train_video": "error: test_set/test_text_descriptions.csv:10: video_id '103': duplicate video id "
    "(first at training_set/train_scores.csv:4)",
    "unsafe_test_id": "error: test_set/test_text_descriptions.csv:10: video_id '../x': not safe as a file name "
    "(letters, digits, '.', '_' and '-' only, 1-200 characters, not '.' or '..')",
    "unknown_caption": "error: training_set/train_text_descriptions.csv:15: video_id '999': caption row for an unknown "
    "video (not in training_set/train_scores.csv)",
    "empty_captions": "error: training_set/train_text_descriptions.csv: empty file (expected a header with: "
    "video_id, description)",
    "stray_quote": "error: test_set/test_text_descriptions.csv:2: a quoted field opened on this line runs on over 8 "
    "line(s) that read as rows of their own (first: line 3, video_id '302'): a stray double quote? Quote the whole "
    'field and double every quote inside it ("")',
    "missing_dev_scores": "error: dev_set/dev_scores.csv: missing file",
    "both_years": "error: {root}: holds both a 2021 TRECVid layout (training_set/train_scores.csv) and a 2020 one "
    "(scores_v2.csv); point --root at one edition",
    "not_a_release": "error: {root}: not a TRECVid release: expected training_set/train_scores.csv (MediaEval 2021 "
    "layout) or scores_v2.csv (MediaEval 2020 layout)",
    "2020_missing_column": "error: dev_scores.csv:1: part_2_scores: missing column (the header has: video_id, "
    "video_url, ann_1, ann_2, part_1_scores, part_2)",
    "2020_dev_captions_without_scores": "error: dev_text_descriptions.csv: captions without their scores: missing "
    "file dev_scores.csv",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_release_one_line_exit_1_nothing_written(tmp_path: Path, case: str) -> None:
    root = _bad(write_2021(tmp_path / "release"), case)
    out = tmp_path / "outdir" / "prepared"
    code, output = run_prepare(root, out)
    assert code == 1
    assert output == BAD_CASES[case].format(root=root) + "\n"
    assert not (tmp_path / "outdir").exists()


@pytest.fixture(scope="module")
def sample_trecvid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sample-trecvid")
    out = {}
    for layout in ("trecvid", "trecvid2020"):
        release = write_sample(layout, base / layout / "release", seed=0, n=12)
        out[layout] = prepare("trecvid", release, base / layout / "prepared", PrepareOptions(frames=1, folds=3)).out
    return out


def test_sample_releases_of_both_years(sample_trecvid: dict[str, Path]) -> None:
    for layout, year in (("trecvid", "mediaeval2021"), ("trecvid2020", "mediaeval2020")):
        ds = PreparedDataset.load(sample_trecvid[layout])
        assert ds.manifest["layout"] == year
        assert ds.manifest["rows"] == {"train": 12, "dev": 22, "test": 10}
        assert ds.labelled("long_term").shape[0] == 34 and ds.split("test")["short_term"].isna().all()
        assert ds.items["captions"].map(len).between(1, 4).all()
        assert all(len(ds.frame_paths(v)) == 1 for v in ds.items["video_id"])
        assert ds.manifest["frames"]["missing"] == []
        # short- and long-term scores follow the same hidden memorability, long-term more loosely
        labelled = ds.labelled("short_term")
        assert labelled["short_term"].corr(labelled["long_term"], method="spearman") > 0.2
    sample_2021 = PreparedDataset.load(sample_trecvid["trecvid"]).items
    assert sample_2021["captions"].map(lambda c: any("\n" in x for x in c)).any()
