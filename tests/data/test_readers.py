"""The reader registry and the engine's own rules: the registry feeds the CLI, `memo info --readers` and the docs'
table; the engine counts lines physically, tolerates what releases really ship, and says what it changed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.core.errors import InputError, ProblemList
from mediaeval_memo.data.declare import Column, TableFile
from mediaeval_memo.data.readers import DATASETS, READERS, reader, rules_table
from mediaeval_memo.data.release import Release
from mediaeval_memo.data.tables import IdRegistry, read_declared

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data.md"


def test_docs_table_is_the_registry_s() -> None:
    text = DOCS.read_text(encoding="utf-8")
    between = text.split("<!-- readers table begin -->\n")[1].split("<!-- readers table end -->")[0]
    assert between == rules_table(), "docs/data.md's readers table differs from rules_table(): regenerate it"


@pytest.mark.parametrize("name", DATASETS)
def test_every_registered_reader_declares_itself(name: str) -> None:
    spec = reader(name)
    assert spec.name == name and spec.title and spec.files
    assert {"video_id", "split", "group", "captions", "media_path"} <= set(spec.roles)
    assert spec.labels and spec.roles[spec.labels[0]] == "target"


def test_the_cli_and_info_list_the_registry() -> None:
    result = CliRunner().invoke(cli, ["prepare", "--help"])
    assert result.exit_code == 0
    result = CliRunner().invoke(cli, ["prepare", "nosuch", "--root", ".", "--out", "x"])
    assert result.exit_code == 2 and all(name in result.output for name in READERS)
    result = CliRunner().invoke(cli, ["info", "--readers", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.output)
    assert [r["name"] for r in listed] == list(DATASETS)
    trecvid = next(r for r in listed if r["name"] == "trecvid")
    assert "short_term_raw" in trecvid["labels"] and "n_annotations" in trecvid["labels"]


def test_an_unknown_reader_name_suggests_one() -> None:
    with pytest.raises(InputError, match="did you mean 'trecvid'"):
        reader("trecvd")


def test_a_column_without_a_role_is_a_bug_in_its_reader(tmp_path: Path) -> None:
    items = pd.DataFrame({"video_id": ["a"], "split": ["train"], "secret": [0.5]})
    release = Release("x", "y", tmp_path, items, [], [])
    with pytest.raises(RuntimeError, match=r"without a declared role: \['secret'\]"):
        release.declare({"video_id": "id", "split": "split"})


SPEC = TableFile((Column("id", "id", "id", to="video_id"), Column("score", "score", "target")))


def read(tmp_path: Path, text: bytes) -> tuple[list[tuple[int, dict[str, object]]], list[str], IdRegistry]:
    path = tmp_path / "t.csv"
    path.write_bytes(text)
    problems = ProblemList()
    ids = IdRegistry(problems)
    try:
        table = read_declared(path, SPEC, problems, root=tmp_path, ids=ids)
    except InputError as exc:  # a row lost or merged stops the file at once
        return [], [str(p) for p in exc.problems], ids
    return [(r.line, r.values) for r in table.records if r.ok], [str(p) for p in problems.items], ids


def test_bom_crlf_blank_lines_and_padded_ids_are_read_and_counted(tmp_path: Path) -> None:
    rows, problems, ids = read(tmp_path, b"\xef\xbb\xbfid,score\r\n a ,0.5\r\n\r\n\r\nb,1\r\nc,bad\r\n")
    assert rows == [(2, {"video_id": "a", "score": 0.5}), (5, {"video_id": "b", "score": 1.0})]
    assert problems == ["t.csv:6: score 'bad': not a finite number (label)"]
    assert ids.notes() == ["1 video id(s) had spaces around them, removed"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"id,score\nA1,0.5\na1,0.6\n", "t.csv:3: id 'a1': differs only by case from video id 'A1' (at t.csv:2)"),
        (b"id,score\na,1e999\n", "t.csv:2: score '1e999': not a finite number (label)"),
        (b"id,score\na,1_0\n", "t.csv:2: score '1_0': not a finite number (label)"),
        (
            b"id,score\na,0.5,\n",
            "t.csv:2: field 3 '': 3 fields where the header has 2 (a missing, extra or unquoted ','?)",
        ),
        (
            b'id,score\na,"0.5\nb,0.6\n',
            "t.csv:2: a quoted field opened on this line runs on over 1 more line(s): a stray",
        ),
    ],
)
def test_what_the_engine_rejects(tmp_path: Path, text: bytes, expected: str) -> None:
    _, problems, _ = read(tmp_path, text)
    assert problems and problems[0].startswith(expected), problems
