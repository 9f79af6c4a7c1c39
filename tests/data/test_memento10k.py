"""Memento10k readers (MediaEval 2021 CSVs, native JSON) through `memo prepare`, with every bad-input case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.data.memento10k import official_name

SCORES_HEADER = (
    "video_id,video_url,annotations_short_term,scores_raw_short_term,scores_normalized_short_term,decay_alpha\n"
)
CAPTIONS_HEADER = "video_id,description_0,description_1,description_2,description_3,description_4\n"
URL = "https://host/actions3/dog+barking/clip_{}.mp4"
ID_RULE = "letters, digits, '.', '_' and '-' only, 1-200 characters, not '.' or '..'"


def _score_line(vid: str, score: str = "0.8") -> str:
    return f"{vid},{URL.format(vid)},90,0.8,{score},-0.0001\n"


def _caption_line(vid: str) -> str:
    return f'{vid},a dog barks,"a dog, barking",a dog,the dog,dogs\n'


def write_release(
    root: Path, ids: tuple[str, ...] = ("1", "2", "3", "4", "5", "6"), test: tuple[str, ...] = ("9",)
) -> Path:
    (root / "training_set").mkdir(parents=True)
    (root / "test_set").mkdir()
    (root / "training_set" / "train_scores.csv").write_text(
        SCORES_HEADER + "".join(_score_line(v, f"0.{70 + i}") for i, v in enumerate(ids))
    )
    (root / "training_set" / "train_text_descriptions.csv").write_text(
        CAPTIONS_HEADER + "".join(_caption_line(v) for v in ids)
    )
    (root / "test_set" / "test_text_descriptions.csv").write_text(
        CAPTIONS_HEADER + "".join(_caption_line(v) for v in test)
    )
    return root


def run_prepare(root: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["prepare", "memento10k", "--root", str(root), "--out", str(out), "--folds", "2", *extra]
    )
    return result.exit_code, result.output


def test_official_name_from_url() -> None:
    assert official_name("https://x/actions3/adult+female+singing/peeks_25.mp4") == (
        "adult female singing",
        "adult-female-singing_peeks_25.mp4",
    )
    assert official_name("") == ("", "")


def test_prepare_sample_memento10k(sample_memento10k: Path) -> None:
    ds = PreparedDataset.load(sample_memento10k)
    assert ds.manifest["rows"] == {"train": 160, "dev": 40, "test": 40}
    assert ds.targets == ["mem_score"]
    assert ds.labelled("mem_score").shape[0] == 200
    assert ds.split("test")["mem_score"].isna().all()
    assert ds.items["captions"].map(len).eq(5).all()
    # the quoted caption with a comma and a line break survives as one caption
    assert ds.items["captions"].map(lambda c: any("\n" in x for x in c)).any()
    assert (
        ds.folds is not None
        and ds.folds.k == 5
        and sorted(ds.folds.all_ids()) == sorted(ds.labelled("mem_score")["video_id"])
    )
    assert all(len(ds.frame_paths(v)) == 3 for v in ds.items["video_id"])
    assert ds.manifest["frames"]["missing"] == [] and ds.manifest["frames"]["corrupt"] == {}
    train = ds.split("train").iloc[0]
    assert train["media_path"] == f"videos/{train['filename']}" and train["action"]
    assert ds.split("test").iloc[0]["media_path"] == f"videos/{ds.split('test').iloc[0]['video_id']}.mp4"
    assert set(ds.manifest["sources"]) == {
        "training_set/train_scores.csv",
        "training_set/train_text_descriptions.csv",
        "dev_set/dev_scores.csv",
        "dev_set/dev_text_descriptions.csv",
        "test_set/test_text_descriptions.csv",
    }


def test_prepare_real_memento10k(memento10k_root: Path, tmp_path: Path) -> None:
    code, output = run_prepare(memento10k_root, tmp_path / "m10k", "--folds", "5")
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "m10k")
    assert len(ds.split("train")) == 7000 and ds.split("train")["mem_score"].notna().all()
    assert len(ds.split("test")) == 1500 and ds.split("test")["mem_score"].isna().all()
    captions = ds.items["captions"]
    assert captions.map(len).eq(5).all() and captions.map(lambda c: all(x.strip() for x in c)).all()
    assert ds.split("train")["mem_score"].mean() == pytest.approx(0.801, abs=0.001)
    assert ds.split("train")["action"].str.len().gt(0).all()
    assert "frames: none" in output


def test_same_seed_same_folds_and_items(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r")
    assert run_prepare(root, tmp_path / "a")[0] == 0
    assert run_prepare(root, tmp_path / "b")[0] == 0
    assert (tmp_path / "a" / "folds.json").read_bytes() == (tmp_path / "b" / "folds.json").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "items.parquet"), pd.read_parquet(tmp_path / "b" / "items.parquet")
    )


def test_bom_and_crlf_are_read(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r")
    path = root / "training_set" / "train_scores.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 0, output
    assert PreparedDataset.load(tmp_path / "out").labelled("mem_score").shape[0] == 6


def test_native_json_release(tmp_path: Path) -> None:
    root = tmp_path / "native"
    root.mkdir()
    records = [
        {
            "filename": f"dog+barking/clip_{i}.mp4",
            "url": "u",
            "mem_score": 0.7 + i / 100,
            "alpha": -0.001,
            "captions": ["a dog", "a dog barks", "dog", "the dog", "dogs"],
        }
        for i in range(6)
    ]
    (root / "memento_train_data.json").write_text(json.dumps(records))
    (root / "memento_test_data.json").write_text(
        json.dumps([{"filename": "cats/c_1.mp4", "url": "u", "alpha": 0.0, "captions": ["a cat"]}])
    )
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 0, output
    ds = PreparedDataset.load(tmp_path / "out")
    assert ds.manifest["layout"] == "native"
    assert ds.split("test")["video_id"].tolist() == ["cats_c_1"]
    assert ds.split("train")["video_id"].iloc[0] == "dog-barking_clip_0"
    assert np.isclose(ds.split("train")["mem_score"].mean(), 0.725)


def _bad(root: Path, name: str) -> None:
    """Break a valid release in one way."""
    scores = root / "training_set" / "train_scores.csv"
    captions = root / "training_set" / "train_text_descriptions.csv"
    if name == "missing_file":
        scores.unlink()
    elif name == "missing_column":
        scores.write_text(scores.read_text().replace(",scores_normalized_short_term", ",score"))
    elif name == "duplicate_id":
        scores.write_text(scores.read_text() + _score_line("2"))
    elif name in ("dotdot_id", "slash_id", "empty_id"):
        vid = {"dotdot_id": "../x", "slash_id": "a/b", "empty_id": ""}[name]
        scores.write_text(scores.read_text() + _score_line(vid))
    elif name == "nan_label":
        scores.write_text(scores.read_text() + _score_line("7", "nan"))
    elif name == "text_label":
        scores.write_text(scores.read_text() + _score_line("7", "high"))
    elif name == "unknown_caption":
        captions.write_text(captions.read_text() + _caption_line("77"))
    elif name == "empty_file":
        captions.write_text("")
    elif name == "empty_test_file":
        (root / "test_set" / "test_text_descriptions.csv").write_bytes(b"\xef\xbb\xbf")


CAPTION_HEADER_LIST = "video_id, description_0, description_1, description_2, description_3, description_4"
BAD_CASES = {
    "missing_file": "error: training_set/train_scores.csv: missing file",
    "missing_column": "error: training_set/train_scores.csv:1: scores_normalized_short_term: missing column "
    "(the header has: video_id, video_url, annotations_short_term, scores_raw_short_term, score, decay_alpha)",
    "duplicate_id": "error: training_set/train_scores.csv:8: video_id '2': duplicate video id "
    "(first at training_set/train_scores.csv:3)",
    "dotdot_id": f"error: training_set/train_scores.csv:8: video_id '../x': not safe as a file name ({ID_RULE})",
    "slash_id": f"error: training_set/train_scores.csv:8: video_id 'a/b': not safe as a file name ({ID_RULE})",
    "empty_id": f"error: training_set/train_scores.csv:8: video_id '': empty video id ({ID_RULE})",
    "nan_label": "error: training_set/train_scores.csv:8: scores_normalized_short_term 'nan': "
    "not a finite number (label)",
    "text_label": "error: training_set/train_scores.csv:8: scores_normalized_short_term 'high': "
    "not a finite number (label)",
    "unknown_caption": "error: training_set/train_text_descriptions.csv:8: video_id '77': caption row for an unknown "
    "video (not in training_set/train_scores.csv)",
    "empty_file": f"error: training_set/train_text_descriptions.csv: empty file (expected a header with: "
    f"{CAPTION_HEADER_LIST})",
    "empty_test_file": f"error: test_set/test_text_descriptions.csv: empty file (expected a header with: "
    f"{CAPTION_HEADER_LIST})",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_release_one_line_exit_1_nothing_written(tmp_path: Path, case: str) -> None:
    root = write_release(tmp_path / "release")
    _bad(root, case)
    out = tmp_path / "outdir" / "prepared"
    code, output = run_prepare(root, out)
    assert code == 1
    assert output == BAD_CASES[case] + "\n"
    assert not out.exists()
    assert not (tmp_path / "outdir").exists() or list((tmp_path / "outdir").iterdir()) == []


def test_not_a_release(tmp_path: Path) -> None:
    code, output = run_prepare(tmp_path, tmp_path / "out")
    assert code == 1
    assert output == (
        f"error: {tmp_path}: not a Memento10k release: expected training_set/train_scores.csv (MediaEval 2021 "
        "layout) or memento_train_data.json (native release)\n"
    )


def test_missing_root_and_existing_out(tmp_path: Path) -> None:
    code, output = run_prepare(tmp_path / "nope", tmp_path / "out")
    assert (code, output) == (1, f"error: {tmp_path / 'nope'}: --root: release folder does not exist\n")
    root = write_release(tmp_path / "r")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, output = run_prepare(root, out)
    assert (code, output) == (
        1,
        f"error: {out}: --out: output folder exists and is not empty; pass --force to replace it\n",
    )
    assert (out / "keep.txt").read_text() == "mine"
    code, output = run_prepare(root, out, "--force")
    assert code == 0, output
    assert not (out / "keep.txt").exists()


def test_missing_media_folder_option(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r")
    code, output = run_prepare(root, tmp_path / "out", "--media", str(tmp_path / "videos"))
    assert (code, output) == (1, f"error: {tmp_path / 'videos'}: --media: media folder does not exist\n")


def test_strict_without_media_fails(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r")
    code, output = run_prepare(root, tmp_path / "out", "--strict")
    assert code == 1
    assert [line for line in output.splitlines() if line.startswith("error:")] == [
        f"error: {root}: --frames: --strict: no media in the release (pass --media DIR for "
        "Memento10k/TRECVid/VideoMem videos)"
    ]
    assert not (tmp_path / "out").exists()


def test_inner_folds_option(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r", ids=tuple(str(i) for i in range(10, 22)))
    assert run_prepare(root, tmp_path / "bad", "--inner-folds", "1") == (
        1,
        "error: memo prepare: --inner-folds 1: must be 0 (no inner folds) or at least 2\n",
    )
    code, output = run_prepare(root, tmp_path / "out", "--inner-folds", "2")
    assert code == 0, output
    folds = json.loads((tmp_path / "out" / "folds.json").read_text())
    assert folds["k"] == 2 and sorted(folds["inner"]) == ["0", "1"] and len(folds["inner"]["0"]) == 2
    assert "2 inner folds each" in output


def test_out_must_not_replace_the_release(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r")
    for out in (root, tmp_path):
        code, output = run_prepare(root, out, "--force")
        assert (code, output) == (
            1,
            f"error: {out}: --out: would replace the release itself; choose a folder outside --root\n",
        )
    assert (root / "training_set" / "train_scores.csv").is_file()


def test_not_utf8_and_unreadable_csv(tmp_path: Path) -> None:
    root = write_release(tmp_path / "r")
    scores = root / "training_set" / "train_scores.csv"
    scores.write_bytes(scores.read_bytes() + "7,u,1,0.5,0.5,0\n".encode("latin-1") + b"\xff\xfe\n")
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 1
    assert output == (
        "error: training_set/train_scores.csv:9: byte '0xff': not UTF-8 text (byte 523 of the file cannot be "
        "decoded; save it as UTF-8)\n"
    )
    write_release(tmp_path / "r2")
    captions = tmp_path / "r2" / "training_set" / "train_text_descriptions.csv"
    captions.write_text(captions.read_text() + '7,"' + "x" * 200_000 + '",b,c,d,e\n')
    code, output = run_prepare(tmp_path / "r2", tmp_path / "out")
    assert (code, output) == (
        1,
        "error: training_set/train_text_descriptions.csv:8: not a readable CSV file: field larger than field limit "
        "(131072)\n",
    )


def test_stray_quote_swallowing_rows_is_reported(tmp_path: Path) -> None:
    """A stray quote at the start of a caption opens a quoted field that runs through the following rows; the
    reader used to take them as one caption and prepare one video short per swallowed row, silently."""
    root = write_release(tmp_path / "r", test=("9", "10", "11", "12"))
    test = root / "test_set" / "test_text_descriptions.csv"
    lines = test.read_text().splitlines(keepends=True)
    lines[1] = '9,"a stray quote,b,c,d,e\n'  # the quote closes at the quoted caption of video 10's row
    test.write_text("".join(lines))
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 1
    assert output == (
        "error: test_set/test_text_descriptions.csv:2: a quoted field opened on this line runs on over 1 line(s) that "
        "read as rows of their own (first: line 3, video_id '10'): a stray double quote? Quote the whole field and "
        'double every quote inside it ("")\n'
    )
    assert not (tmp_path / "out").exists()
    # The same quote in the last row swallows the row's own fields: the field runs to the end of the file, and
    # the row is short of fields (it used to be read as one caption, holding the text of the other four).
    lines[1:] = [lines[2], lines[3], '12,"a stray quote at the end,b,c,d,e\n']
    test.write_text("".join(lines))
    code, output = run_prepare(root, tmp_path / "out")
    assert (code, output) == (
        1,
        "error: test_set/test_text_descriptions.csv:4: description_1: 2 fields where the header has 6 (a missing, "
        "extra or unquoted ','?)\n",
    )


def test_captions_spanning_lines_are_not_rows(tmp_path: Path) -> None:
    """Real captions span lines inside quotes, with commas on the continuation lines: none of that is an error."""
    root = write_release(tmp_path / "r")
    captions = root / "training_set" / "train_text_descriptions.csv"
    text = captions.read_text().replace(
        "2,a dog barks,", '2,"a dog barks\n and then, at last,\n4,a,b,c,d,e\nthe end",'
    )  # the middle line looks like a row but sits between two text lines of one quoted caption
    captions.write_text(text.replace("3,a dog barks,", '3,"two\n\nparagraphs, quoted ""twice""",'))
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 1  # the middle line is indistinguishable from a swallowed row, and is reported as one
    assert output.startswith("error: training_set/train_text_descriptions.csv:3: a quoted field opened on this line")
    captions.write_text(text.replace("4,a,b,c,d,e\n", "").replace("3,a dog barks,", '3,"two\n\nparagraphs",'))
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 0, output
    items = PreparedDataset.load(tmp_path / "out").items.set_index("video_id")
    assert items.loc["2", "captions"][0] == "a dog barks\n and then, at last,\nthe end"
    assert items.loc["3", "captions"][0] == "two\n\nparagraphs"


def test_stray_quote_in_the_real_test_captions(memento10k_root: Path, tmp_path: Path) -> None:
    """The probe's case on the real release: one stray quote in a test row is reported with its line, and the
    untouched release prepares every row of each file (7000 and 1500: quoted captions spanning lines included)."""
    import shutil

    root = tmp_path / "m10k"
    shutil.copytree(memento10k_root, root)
    test = root / "test_set" / "test_text_descriptions.csv"
    test.chmod(0o644)
    lines = test.read_text(encoding="utf-8").splitlines(keepends=True)
    vid, rest = lines[100].split(",", 1)
    lines[100] = f'{vid},"{rest}'
    test.write_text("".join(lines), encoding="utf-8")
    code, output = run_prepare(root, tmp_path / "out")
    assert code == 1
    assert output.startswith("error: test_set/test_text_descriptions.csv:101: a quoted field opened on this line")
    assert not (tmp_path / "out").exists()
