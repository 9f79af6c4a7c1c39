"""Run-file profiles: one edition's official format as data, loaded by name (`me25`) or from a user's JSON file.

A profile JSON is checked against `profile.schema.json` (JSON Schema) and then for what a schema cannot say
(placeholders of the file-name template, regular expressions that compile, one id column, distinct score sources).
Every problem names the file and the JSON path, so a hand-edited `--profile my.json` is easy to fix. Each subtask
also yields a JSON Schema for one row, which the validator applies to every line of a run file.
"""

from __future__ import annotations

import codecs
import difflib
import json
import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema

from mediaeval_memo.core.errors import InputError, Problem, ProblemList

PLACEHOLDERS = ("team", "subtask", "run", "tag")
REQUIRED_PLACEHOLDERS = ("team", "subtask", "run")
DEFAULT_PROFILE = "me25"

ColumnKind = Literal["id", "score", "constant"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    source: str | None = None  # score columns of a multi-score file: which predictions input fills it
    value: float | None = None  # constant columns


@dataclass(frozen=True)
class Subtask:
    key: str  # what --subtask accepts
    label: str  # what the file name carries
    title: str
    target: str | None
    columns: tuple[Column, ...]

    @property
    def score_columns(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "score"]

    @property
    def id_column(self) -> Column:
        return next(c for c in self.columns if c.kind == "id")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    status: str
    notes: str
    file_name: str
    team_pattern: str
    encoding: str
    separator: str
    header: bool
    float_format: str
    id_pattern: str
    score_range: tuple[float, float]
    max_runs: int
    run_tags: dict[str, str]
    default_tag: str | None
    tolerate_bom: bool
    tolerate_crlf: bool
    tolerate_missing_final_newline: bool
    tolerate_trailing_blank_lines: bool
    subtasks: dict[str, Subtask]
    source: str  # where the profile was read from

    def subtask(self, key: str) -> Subtask:
        """The subtask `key` (as --subtask gives it), or an InputError with a suggestion."""
        if key in self.subtasks:
            return self.subtasks[key]
        known = list(self.subtasks)
        hint = _did_you_mean(key, known)
        raise InputError(
            Problem(
                self.source,
                f"unknown subtask for profile {self.name}; {hint}available: {', '.join(known)}",
                field="subtask",
                value=key,
            )
        )

    def tag_text(self, tag: str | None) -> str:
        """The file-name text for run tag `tag` (the profile's default tag when None)."""
        if not self.run_tags:
            if tag:
                raise InputError(Problem(self.source, f"profile {self.name} has no run tags", field="tag", value=tag))
            return ""
        chosen = tag or self.default_tag or next(iter(self.run_tags))
        if chosen not in self.run_tags:
            raise InputError(
                Problem(
                    self.source,
                    f"unknown run tag (profile {self.name} has: {', '.join(self.run_tags)})",
                    field="tag",
                    value=chosen,
                )
            )
        return self.run_tags[chosen]

    def file_name_for(self, team: str, subtask: Subtask, run: int, tag: str | None = None) -> str:
        return self.file_name.format(team=team, subtask=subtask.label, run=run, tag=self.tag_text(tag))

    def example_file_name(self) -> str:
        first = next(iter(self.subtasks.values()))
        return self.file_name_for("myteam", first, 1)

    def name_regex(self) -> re.Pattern[str]:
        """A regex matching this profile's file names, with groups team, subtask, run (and tag)."""
        parts: list[str] = []
        for literal, field, _, _ in string.Formatter().parse(self.file_name):
            parts.append(re.escape(literal))
            if field == "team":
                parts.append(f"(?P<team>{self.team_pattern})")
            elif field == "subtask":
                labels = sorted((s.label for s in self.subtasks.values()), key=len, reverse=True)
                parts.append("(?P<subtask>" + "|".join(re.escape(x) for x in labels) + ")")
            elif field == "run":
                parts.append("(?P<run>[0-9]+)")
            elif field == "tag":
                texts = sorted(self.run_tags.values(), key=len, reverse=True)
                parts.append("(?P<tag>" + "|".join(re.escape(x) for x in texts) + ")")
        return re.compile("".join(parts) + r"\Z")

    def subtask_by_label(self, label: str) -> Subtask:
        return next(s for s in self.subtasks.values() if s.label == label)

    def row_schema(self, subtask: Subtask) -> dict[str, Any]:
        """JSON Schema for one row of `subtask`'s run file, as an object of column name -> parsed value."""
        low, high = self.score_range
        properties: dict[str, Any] = {}
        for col in subtask.columns:
            if col.kind == "id":
                properties[col.name] = {"type": "string", "pattern": self.id_pattern}
            elif col.kind == "score":
                properties[col.name] = {"type": "number", "minimum": low, "maximum": high}
            else:
                properties[col.name] = {"type": "number"}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": properties,
            "required": [c.name for c in subtask.columns],
            "additionalProperties": False,
        }


def _did_you_mean(key: str, known: list[str]) -> str:
    """'did you mean X? ' (or 'X or Y'): names that start with `key`, else the closest spelling, else ''."""
    close = [k for k in known if k.startswith(key)] or difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    return f"did you mean {' or '.join(close)}? " if close else ""


def _meta_schema() -> dict[str, Any]:
    text = resources.files("mediaeval_memo.submission").joinpath("profile.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the toolkit."""
    folder = resources.files("mediaeval_memo.submission").joinpath("profiles")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """A shipped profile by name, or a profile JSON file by path; every problem with it raises InputError."""
    text_name = str(name_or_path)
    path = Path(text_name)
    if text_name.endswith(".json") or path.is_file() or "/" in text_name:
        if not path.is_file():
            raise InputError(Problem(text_name, "profile file not found"))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(Problem(text_name, f"cannot read the profile ({exc})")) from None
        return parse_profile(text, text_name)
    names = available_profiles()
    if text_name not in names:
        hint = _did_you_mean(text_name, names)
        raise InputError(
            Problem(
                "--profile",
                f"unknown profile {text_name!r}; {hint}available: {', '.join(names)}, or a path to a profile JSON file",
            )
        )
    ref = resources.files("mediaeval_memo.submission").joinpath("profiles", f"{text_name}.json")
    return parse_profile(ref.read_text(encoding="utf-8"), f"profile {text_name}")


def _json_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def parse_profile(text: str, source: str) -> Profile:
    """Check a profile's JSON text against the meta-schema and the rules a schema cannot express."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(Problem(source, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)) from None
    problems = ProblemList()
    validator = jsonschema.Draft202012Validator(_meta_schema())
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        problems.add(source, f"at {_json_path(error.absolute_path)}: {error.message}")
    problems.raise_if_any()
    _check_semantics(data, source, problems)
    problems.raise_if_any()
    return _build(data, source)


def _check_semantics(data: dict[str, Any], source: str, problems: ProblemList) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(data["file_name"]) if f is not None]
    except ValueError as exc:
        problems.add(source, f"at file_name: not a valid template ({exc})")
        return
    for f in fields:
        if f not in PLACEHOLDERS:
            problems.add(source, f"at file_name: unknown placeholder {{{f}}} (known: {', '.join(PLACEHOLDERS)})")
    for f in REQUIRED_PLACEHOLDERS:
        if f not in fields:
            problems.add(source, f"at file_name: the template needs {{{f}}}")
    if ("tag" in fields) != bool(data.get("run_tags")):
        problems.add(source, "at run_tags: a {tag} in file_name and run_tags go together (give both or neither)")
    if data.get("default_tag") is not None and data["default_tag"] not in data.get("run_tags", {}):
        problems.add(source, f"at default_tag: {data['default_tag']!r} is not one of run_tags")
    for key in ("id_pattern", "team_pattern"):
        if key in data:
            try:
                re.compile(data[key])
            except re.error as exc:
                problems.add(source, f"at {key}: not a valid regular expression ({exc})")
    try:
        codecs.lookup(data.get("encoding", "utf-8"))
    except LookupError:
        problems.add(source, f"at encoding: unknown encoding {data['encoding']!r}")
    low, high = data["score_range"]
    if not low < high:
        problems.add(source, f"at score_range: low {low} must be below high {high}")
    if "float_format" in data:
        try:
            data["float_format"] % 0.5
        except (TypeError, ValueError) as exc:
            problems.add(source, f"at float_format: {exc}")
    labels: dict[str, str] = {}
    for key, sub in data["subtasks"].items():
        where = f"subtasks.{key}"
        if sub["label"] in labels:
            problems.add(source, f"at {where}.label: {sub['label']!r} is also subtask {labels[sub['label']]}'s label")
        labels[sub["label"]] = key
        columns = sub.get("columns", data["columns"])
        cwhere = f"{where}.columns" if "columns" in sub else "columns"
        names = [c["name"] for c in columns]
        if len(set(names)) != len(names):
            problems.add(source, f"at {cwhere}: column names repeat ({', '.join(names)})")
        kinds = [c["kind"] for c in columns]
        if kinds.count("id") != 1:
            problems.add(source, f"at {cwhere}: needs exactly one column of kind 'id', found {kinds.count('id')}")
        scores = [c for c in columns if c["kind"] == "score"]
        if not scores:
            problems.add(source, f"at {cwhere}: needs at least one column of kind 'score'")
        if len(scores) > 1:
            sources = [c.get("source") for c in scores]
            if None in sources or len(set(sources)) != len(sources):
                problems.add(source, f"at {cwhere}: several score columns each need a distinct 'source'")
        for i, c in enumerate(columns):
            if c["kind"] == "constant" and "value" not in c:
                problems.add(source, f"at {cwhere}[{i}]: a constant column needs a 'value'")
            if data["separator"] in c["name"]:
                problems.add(source, f"at {cwhere}[{i}].name: contains the separator {data['separator']!r}")


def _build(data: dict[str, Any], source: str) -> Profile:
    def columns(raw: list[dict[str, Any]]) -> tuple[Column, ...]:
        return tuple(Column(c["name"], c["kind"], c.get("source"), c.get("value")) for c in raw)

    tolerate = data.get("tolerate", {})
    return Profile(
        name=data["name"],
        title=data.get("title", data["name"]),
        status=data.get("status", "assumed"),
        notes=data.get("notes", ""),
        file_name=data["file_name"],
        team_pattern=data.get("team_pattern", "[A-Za-z0-9-]+"),
        encoding=data.get("encoding", "utf-8"),
        separator=data["separator"],
        header=data["header"],
        float_format=data.get("float_format", "%.10g"),
        id_pattern=data["id_pattern"],
        score_range=(float(data["score_range"][0]), float(data["score_range"][1])),
        max_runs=data["max_runs"],
        run_tags=dict(data.get("run_tags", {})),
        default_tag=data.get("default_tag"),
        tolerate_bom=tolerate.get("bom", True),
        tolerate_crlf=tolerate.get("crlf", True),
        tolerate_missing_final_newline=tolerate.get("missing_final_newline", True),
        tolerate_trailing_blank_lines=tolerate.get("trailing_blank_lines", True),
        subtasks={
            key: Subtask(
                key=key,
                label=sub["label"],
                title=sub.get("title", key),
                target=sub.get("target"),
                columns=columns(sub.get("columns", data["columns"])),
            )
            for key, sub in data["subtasks"].items()
        },
        source=source,
    )
