"""Run-file profiles: the shipped ones load, user profiles get one clear line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mediaeval_memo.core.errors import InputError
from mediaeval_memo.submission.profiles import available_profiles, load_profile
from tests.conftest import REPO


def test_shipped_profiles_load_and_name_files() -> None:
    assert available_profiles() == ["me19", "me23", "me25"]
    me25 = load_profile("me25")
    assert me25.status == "assumed"
    assert list(me25.subtasks) == ["1", "2.1", "2.2"]
    assert me25.file_name_for("ACME", me25.subtask("2.2"), 3) == "me25mem_ACME_subtask2.2_run3.csv"
    assert [c.name for c in me25.subtask("2.1").columns] == ["video_id", "memorability_score"]
    me23 = load_profile("me23")
    assert me23.file_name_for("ACME", me23.subtask("1"), 1) == "me23mem-ACME-subtask1-run1.csv"
    me19 = load_profile("me19")
    assert me19.header is False
    assert (
        me19.file_name_for("acme", me19.subtask("longterm"), 2, "required") == "me19mem_acme_longterm_run2-required.csv"
    )
    assert me19.file_name_for("acme", me19.subtask("shortterm"), 1) == "me19mem_acme_shortterm_run1.csv"


def test_name_regex_reads_names_back() -> None:
    me25 = load_profile("me25")
    m = me25.name_regex().match("me25mem_team-7_subtask2.1_run4.csv")
    assert m is not None and m.group("team", "subtask", "run") == ("team-7", "2.1", "4")
    assert me25.name_regex().match("me25mem_team_subtask3_run1.csv") is None


def test_row_schema_is_valid_json_schema() -> None:
    me25 = load_profile("me25")
    schema = me25.row_schema(me25.subtask("1"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"video_id": "v1", "score": 0.5})
    assert not validator.is_valid({"video_id": "v 1", "score": 0.5})
    assert not validator.is_valid({"video_id": "v1", "score": 1.5})


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(InputError) as err:
        load_profile("me52")
    assert str(err.value) == (
        "--profile: unknown profile 'me52'; did you mean me25? available: me19, me23, me25, "
        "or a path to a profile JSON file"
    )


def test_unknown_subtask_suggests_the_closest() -> None:
    with pytest.raises(InputError) as err:
        load_profile("me25").subtask("2")
    assert (
        str(err.value) == "profile me25: subtask '2': unknown subtask for profile me25; "
        "did you mean 2.1 or 2.2? available: 1, 2.1, 2.2"
    )


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _base() -> dict:
    return json.loads((REPO / "mediaeval_memo/submission/profiles/me25.json").read_text())


def test_a_user_profile_loads_from_a_path(tmp_path: Path) -> None:
    data = _base()
    data["name"] = "me25-two-columns"
    data["subtasks"]["2"] = {
        "label": "2",
        "columns": [
            {"name": "video_id", "kind": "id"},
            {"name": "memorability_score", "kind": "score", "source": "memorability_score"},
            {"name": "brand_memorability", "kind": "score", "source": "brand_memorability"},
        ],
    }
    profile = load_profile(_write(tmp_path, data))
    assert [c.source for c in profile.subtask("2").score_columns] == ["memorability_score", "brand_memorability"]


def test_schema_problems_name_the_json_path(tmp_path: Path) -> None:
    data = _base()
    data["separator"] = ";;"
    data["subtasks"]["1"]["columns"] = [{"name": "video_id", "kind": "key"}, {"name": "score", "kind": "score"}]
    del data["max_runs"]
    path = _write(tmp_path, data)
    with pytest.raises(InputError) as err:
        load_profile(path)
    lines = str(err.value).splitlines()
    assert f"{path}: at (top level): 'max_runs' is a required property" in lines
    assert f"{path}: at separator: ';;' is too long" in lines
    assert any(line.startswith(f"{path}: at subtasks.1.columns[0].kind: 'key' is not one of") for line in lines)


def test_semantic_problems(tmp_path: Path) -> None:
    data = _base()
    data["file_name"] = "me25mem_{team}_{season}.csv"
    data["id_pattern"] = "([a-z"
    data["score_range"] = [1, 0]
    data["columns"] = [{"name": "video_id", "kind": "id"}, {"name": "id2", "kind": "id"}]
    path = _write(tmp_path, data)
    with pytest.raises(InputError) as err:
        load_profile(path)
    text = str(err.value)
    assert f"{path}: at file_name: unknown placeholder {{season}} (known: team, subtask, run, tag)" in text
    assert f"{path}: at file_name: the template needs {{run}}" in text
    assert f"{path}: at id_pattern: not a valid regular expression" in text
    assert f"{path}: at score_range: low 1 must be below high 0" in text
    assert f"{path}: at columns: needs exactly one column of kind 'id', found 2" in text


def test_unreadable_profiles(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="profile file not found"):
        load_profile(tmp_path / "nope.json")
    path = _write(tmp_path, "{not json")
    with pytest.raises(InputError) as err:
        load_profile(path)
    assert str(err.value).startswith(f"{path}:1: not valid JSON: ")
