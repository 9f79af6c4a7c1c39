"""`memo validate`: every problem listed as file:line: message, tolerated quirks as warnings, and a fuzz test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediaeval_memo.cli import cli
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.submission.profiles import load_profile
from mediaeval_memo.submission.validator import read_ids, validate_bytes

IDS = ["v1", "v2", "v3"]
GOOD = b"video_id,score\nv1,0.1\nv2,0.5\nv3,0.9\n"
NAME = "me25mem_ACME_subtask1_run1.csv"


def _invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def ids(tmp_path: Path) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(IDS) + "\n")
    return path


def _run(tmp_path: Path, body: bytes, name: str = NAME) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(body)
    return path


def test_a_valid_file_gives_a_one_line_summary(tmp_path: Path, ids: Path) -> None:
    path = _run(tmp_path, GOOD)
    result = _invoke("validate", path, "--ids", ids)
    assert result.exit_code == 0
    assert result.output == "valid: 1 run file(s), 3 rows, profile me25\n"


def test_tolerated_quirks_are_warnings(tmp_path: Path, ids: Path) -> None:
    path = _run(tmp_path, b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n").rstrip(b"\r\n"))
    result = _invoke("validate", path, "--ids", ids)
    assert result.exit_code == 0, result.output
    assert f"{path}:1: warning: starts with a UTF-8 byte-order mark (tolerated by this profile)" in result.output
    assert f"{path}: warning: no newline at the end of the file (tolerated by this profile)" in result.output
    assert f"{path}:1: warning: CRLF line ends on 3 lines (tolerated by this profile)" in result.output
    assert result.output.endswith("valid: 1 run file(s), 3 rows, profile me25\n")


def test_every_problem_is_listed_with_its_line(tmp_path: Path, ids: Path) -> None:
    body = b"video_id;score\nv1,0.1\nv1,0.2\nv2;0.3\nv9,nan\nv 3,1.5\n\nv3,abc,1\nv3,1e999\n"
    path = _run(tmp_path, body, "me25mem_ACME_subtask1_run9.csv")
    result = _invoke("validate", path, "--ids", ids)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}: run number 9 is outside 1..5 (profile me25 allows 5 runs per subtask)",
        f"{path}:1: header must be 'video_id,score', found 'video_id;score'",
        f"{path}:3: video_id 'v1': duplicate video id (first on line 2)",
        f"{path}:4: wrong separator: found ';', the profile uses ','",
        f"{path}:5: score 'nan': not a finite number",
        f"{path}:5: video_id 'v9': not a test video",
        f"{path}:6: video_id 'v 3': not a valid video id (must match ^[A-Za-z0-9._-]{{1,200}}$)",
        f"{path}:6: score '1.5': score outside the profile's range [0, 1]",
        f"{path}:6: video_id 'v 3': not a test video",
        f"{path}:7: empty line",
        f"{path}:8: expected 2 columns (video_id,score), found 3",
        f"{path}:9: score '1e999': not a finite number",
        f"{path}: video_id 'v2': missing: every test video needs one row",
        "invalid: 1 of 1 run file(s) with problems, 13 problem(s), profile me25",
    ]


def test_name_encoding_and_empty_files(tmp_path: Path, ids: Path) -> None:
    misnamed = _run(tmp_path, GOOD, "my_run.csv")
    out = _invoke("validate", misnamed, "--ids", ids).output
    assert out.startswith(
        f"{misnamed}: file name 'my_run.csv' does not match the profile me25 template "
        "'me25mem_{team}_subtask{subtask}_run{run}.csv' (e.g. me25mem_myteam_subtask1_run1.csv)\n"
    )
    latin = _run(tmp_path, b"video_id,score\nv1,0.1\nv2,0.5\nv3,0.9\xe9\n", "me25mem_ACME_subtask1_run2.csv")
    out = _invoke("validate", latin, "--ids", ids).output
    assert f"{latin}:4: not valid utf-8 (byte 0xe9: invalid continuation byte)" in out
    empty = _run(tmp_path, b"", "me25mem_ACME_subtask1_run3.csv")
    result = _invoke("validate", empty, "--ids", ids)
    assert result.exit_code == 1 and f"{empty}: the file is empty\n" in result.output
    header_only = _run(tmp_path, b"video_id,score\n", "me25mem_ACME_subtask1_run4.csv")
    assert f"{header_only}: no data rows" in _invoke("validate", header_only, "--ids", ids).output
    missing = tmp_path / "runs" / "me25mem_ACME_subtask1_run5.csv"
    assert (
        f"{missing}: cannot read the file (No such file or directory)"
        in _invoke("validate", missing, "--ids", ids).output
    )


def test_headerless_profile_and_missing_header(tmp_path: Path, ids: Path) -> None:
    me19 = _run(tmp_path, b"video,score,confidence\nv1,0.1,1\nv2,0.2,1\nv3,0.3,1\n", "me19mem_acme_shortterm_run1.csv")
    out = _invoke("validate", me19, "--ids", ids, "--profile", "me19").output
    assert f"{me19}:1: looks like a header; profile me19 files have none\n" in out
    no_header = _run(tmp_path, b"v1,0.1\nv2,0.5\nv3,0.9\n", "me25mem_ACME_subtask1_run2.csv")
    out = _invoke("validate", no_header, "--ids", ids).output
    assert out.splitlines()[0] == f"{no_header}:1: the header line is missing; it must be 'video_id,score'"
    subtask2 = _run(
        tmp_path, b"video_id,memorability_score\nv1,0.1\nv2,0.5\nv3,0.9\n", "me25mem_ACME_subtask2.1_run1.csv"
    )
    assert _invoke("validate", subtask2, "--ids", ids).exit_code == 0


def test_a_folder_counts_runs_per_subtask(tmp_path: Path, ids: Path) -> None:
    for run in range(1, 7):
        _run(tmp_path, GOOD, f"me25mem_ACME_subtask1_run{run}.csv")
    (tmp_path / "runs" / "README.md").write_text("notes")
    result = _invoke("validate", tmp_path / "runs", "--ids", ids)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{tmp_path / 'runs'}: team 'ACME' has 6 runs for subtask 1; profile me25 allows at most 5" in lines
    assert lines[-1] == "invalid: 1 of 6 run file(s) with problems, 2 problem(s), profile me25"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _invoke("validate", empty, "--ids", ids).output.startswith(f"{empty}: no run files (*.csv) in this folder")


def test_json_output(tmp_path: Path, ids: Path) -> None:
    path = _run(tmp_path, GOOD.replace(b"0.5", b"x"))
    result = _invoke("validate", path, "--ids", ids, "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False and data["files"][0]["problems"] == [f"{path}:3: score 'x': not a number"]
    assert data["files"][0]["team"] == "ACME" and data["files"][0]["run"] == 1


def test_ids_from_a_csv_or_a_dataset(tmp_path: Path) -> None:
    csv = tmp_path / "ids.csv"
    csv.write_text("\ufeffvideo_id,split\r\nv1,test\r\nv2,test\r\nv3,test\r\n")
    assert read_ids(csv) == IDS
    path = _run(tmp_path, GOOD)
    assert _invoke("validate", path, "--ids", csv).exit_code == 0
    dup = tmp_path / "dup.txt"
    dup.write_text("v1\nv1\n")
    with pytest.raises(InputError, match="duplicate video id"):
        read_ids(dup)
    result = _invoke("validate", path, "--ids", tmp_path / "none.txt")
    assert result.exit_code == 1 and result.output == f"error: {tmp_path / 'none.txt'}: ids file not found\n"


def test_validate_usage_errors(tmp_path: Path, ids: Path) -> None:
    path = _run(tmp_path, GOOD)
    assert _invoke("validate", path).exit_code == 2
    assert _invoke("validate", path, "--ids", ids, "--data", tmp_path).exit_code == 2
    bad_profile = _invoke("validate", path, "--ids", ids, "--profile", "me99")
    assert bad_profile.exit_code == 1 and "unknown profile 'me99'" in bad_profile.output


def _mangle(data: st.DataObject) -> bytes:
    lines = GOOD.split(b"\n")
    choice = data.draw(st.integers(0, 6))
    if choice == 0:
        return data.draw(st.binary(max_size=300))
    if choice == 1:
        return GOOD[: data.draw(st.integers(0, len(GOOD)))]
    if choice == 2:
        sep = data.draw(st.sampled_from([b";", b"\t", b" ", b"|", b",,", b""]))
        return GOOD.replace(b",", sep)
    if choice == 3:
        value = data.draw(
            st.one_of(
                st.sampled_from([b"nan", b"inf", b"-inf", b"1e999", b"1e-999", b"", b"--1", b"0x1", b"1_0"]),
                st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
                st.integers(min_value=-(10**30), max_value=10**30).map(lambda i: str(i).encode()),
            )
        )
        return GOOD.replace(b"0.5", value)
    if choice == 4:
        keep = data.draw(st.lists(st.sampled_from(lines), max_size=8))
        return b"\n".join(keep)
    if choice == 5:
        text = data.draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
        return text.encode("utf-8", errors="surrogatepass") if text else b""
    return GOOD.replace(b"\n", data.draw(st.sampled_from([b"\r\n", b"\r", b"\n\n", b"\x00\n"])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_validator_never_raises(data: st.DataObject) -> None:
    body = _mangle(data)
    profile = load_profile(data.draw(st.sampled_from(["me19", "me23", "me25"])))
    name = data.draw(st.sampled_from([NAME, "me19mem_a_shortterm_run1.csv", "x.csv", "me25mem_A_subtask2.2_run99.csv"]))
    report = validate_bytes(name, body, profile, IDS)
    for item in report.problems + report.warnings:
        assert str(item).startswith(name)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_fuzz_cli_exits_0_or_1(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / NAME
    path.write_bytes(body)
    ids = tmp_path / "ids.txt"
    ids.write_text("v1\n")
    result = _invoke("validate", path, "--ids", ids)
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip()


def test_ids_from_a_prepared_dataset(tmp_path: Path) -> None:
    import pandas as pd

    root = tmp_path / "ds"
    root.mkdir()
    ids = ["t1", *IDS]
    pd.DataFrame(
        {
            "video_id": ids,
            "split": ["train", "test", "test", "test"],
            "mem_score": [0.5, None, None, None],
            "captions": [["c"]] * 4,
            "group": ids,
            "media_path": [""] * 4,
        }
    ).to_parquet(root / "items.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"dataset": "tiny", "targets": ["mem_score"]}))
    path = _run(tmp_path, GOOD)
    assert _invoke("validate", path, "--data", root).exit_code == 0
    result = _invoke("validate", path, "--data", root, "--split", "train")
    assert result.exit_code == 1
    assert f"{path}:2: video_id 'v1': not a train video" in result.output
    assert f"{path}: video_id 't1': missing: every train video needs one row" in result.output


def test_trailing_blank_lines_and_spaces(tmp_path: Path, ids: Path) -> None:
    path = _run(tmp_path, GOOD + b"\n\n")
    result = _invoke("validate", path, "--ids", ids)
    assert result.exit_code == 0
    assert f"{path}:5: warning: 2 empty line(s) at the end of the file (tolerated by this profile)" in result.output
    spaced = _run(tmp_path, GOOD.replace(b"v2,0.5", b"v2, 0.5"), "me25mem_ACME_subtask1_run2.csv")
    result = _invoke("validate", spaced, "--ids", ids)
    assert result.exit_code == 1
    assert f"{spaced}:3: score ' 0.5': spaces around the value" in result.output
