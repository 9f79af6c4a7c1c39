"""Validate official run files against a profile: every problem, as `file:line: message`, never an exception.

Checks, in reading order: the file name (template, run number under the cap), encoding, byte-order mark, line ends,
header, separator, column count, each row against the profile's JSON Schema for a row (id pattern, number type,
score range), finite scores, and the id set (no duplicates, nothing outside the test list, nothing missing). Given
several files or a folder, it also counts runs per team and subtask. What the profile tolerates (a UTF-8 BOM, CRLF
line ends, no final newline) is reported as a warning instead of a problem.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd

from mediaeval_memo.errors import InputError, Problem, ProblemList
from mediaeval_memo.submission.profiles import Column, Profile, Subtask

BOM = b"\xef\xbb\xbf"
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)
OTHER_SEPARATORS = (",", ";", "\t", "|", " ")
PROBLEM_LIMIT = 200  # per file; the rest are counted
MISSING_LISTED = 20  # missing ids listed one by one; the rest are counted


@dataclass
class FileReport:
    """What validating one run file found."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rows: int = 0
    team: str | None = None
    subtask: str | None = None
    run: int | None = None
    tag: str | None = None
    columns: tuple[Column, ...] = ()
    parsed: list[dict[str, object]] = field(default_factory=list, repr=False)  # the rows read, by column name

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "ok": self.ok,
            "rows": self.rows,
            "team": self.team,
            "subtask": self.subtask,
            "run": self.run,
            "problems": [str(p) for p in self.problems],
            "warnings": [str(w) for w in self.warnings],
        }


@dataclass
class ValidationResult:
    files: list[FileReport]
    problems: list[Problem]  # across files: run counts, repeated runs, empty folders

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.files)

    @property
    def problem_count(self) -> int:
        return len(self.problems) + sum(len(f.problems) for f in self.files)


def read_ids(path: str | Path) -> list[str]:
    """Test ids from a CSV with a `video_id` column or a file of one id per line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(Problem(str(path), "ids file not found"))
    try:
        text = path.read_bytes().removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(Problem(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})")) from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    first = lines[0].split(",") if lines else []
    column = first.index("video_id") if "video_id" in first else None
    problems = ProblemList()
    ids: list[str] = []
    seen: dict[str, int] = {}
    start = 2 if column is not None else 1
    for number, line in enumerate(lines[start - 1 :], start=start):
        if not line.strip():
            continue
        fields = line.split(",") if column is not None else [line.strip()]
        if column is not None and len(fields) <= column:
            problems.add(path, "row has no video_id field", line=number)
            continue
        vid = fields[column or 0]
        if vid in seen:
            problems.add(
                path, f"duplicate video id (first on line {seen[vid]})", line=number, field="video_id", value=vid
            )
            continue
        seen[vid] = number
        ids.append(vid)
    if not ids:
        problems.add(path, "no video ids (a CSV with a video_id column, or one id per line)")
    problems.raise_if_any()
    return ids


def _columns_for_unknown_name(profile: Profile, first_line: str) -> Subtask:
    """When the file name names no subtask: the subtask whose header matches, else the first one."""
    for sub in profile.subtasks.values():
        if first_line == profile.separator.join(c.name for c in sub.columns):
            return sub
    return next(iter(profile.subtasks.values()))


def _schema_message(error: jsonschema.ValidationError, profile: Profile) -> str:
    low, high = profile.score_range
    if error.validator in ("minimum", "maximum"):
        return f"score outside the profile's range [{low:g}, {high:g}]"
    if error.validator == "type":
        return "not a number"
    if error.validator == "pattern":
        return f"not a valid video id (must match {profile.id_pattern})"
    return error.message


def _parse_field(kind: str, raw: str) -> object:
    if kind == "id":
        return raw
    if NUMBER.match(raw):
        return float(raw)
    return raw  # the row schema reports it as "not a number"


def validate_bytes(
    display: str, data: bytes, profile: Profile, ids: Sequence[str] | None, *, check_name: bool = True
) -> FileReport:
    """Validate a run file's bytes. `display` names it in messages; its last part is checked against the template
    unless `check_name` is False (then the header tells the subtask, as when scoring a renamed run file)."""
    report = FileReport(path=display)
    problems = ProblemList(limit=PROBLEM_LIMIT)
    warnings: list[Problem] = []

    def warn(message: str, line: int | None = None) -> None:
        warnings.append(Problem(display, f"warning: {message}", line))

    subtask: Subtask | None = None
    name = Path(display).name
    match = profile.name_regex().match(name) if check_name else None
    if match is None and check_name:
        problems.add(
            display,
            f"file name {name!r} does not match the profile {profile.name} template {profile.file_name!r} "
            f"(e.g. {profile.example_file_name()})",
        )
    elif match is not None:
        report.team = match.group("team")
        subtask = profile.subtask_by_label(match.group("subtask"))
        report.subtask = subtask.key
        report.run = int(match.group("run"))
        if "tag" in match.groupdict():
            report.tag = next(t for t, text in profile.run_tags.items() if text == match.group("tag"))
        if not 1 <= report.run <= profile.max_runs:
            problems.add(
                display,
                f"run number {report.run} is outside 1..{profile.max_runs} "
                f"(profile {profile.name} allows {profile.max_runs} runs per subtask)",
            )

    if not data:
        problems.add(display, "the file is empty")
        return _finish(report, problems, warnings)
    if data.startswith(BOM):
        if profile.tolerate_bom:
            warn("starts with a UTF-8 byte-order mark (tolerated by this profile)", 1)
        else:
            problems.add(
                display, f"starts with a UTF-8 byte-order mark; profile {profile.name} does not allow one", line=1
            )
        data = data[len(BOM) :]
    try:
        text = data.decode(profile.encoding)
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        problems.add(
            display, f"not valid {profile.encoding} (byte 0x{data[exc.start]:02x}: {exc.reason})", line=bad_line
        )
        text = data.decode(profile.encoding, errors="replace")

    if text.endswith("\n"):
        text = text[:-1]
    elif profile.tolerate_missing_final_newline:
        warn("no newline at the end of the file (tolerated by this profile)")
    else:
        problems.add(display, "no newline at the end of the file")
    lines = text.split("\n")
    crlf = [i for i, line in enumerate(lines, start=1) if line.endswith("\r")]
    if crlf:
        if profile.tolerate_crlf:
            warn(f"CRLF line ends on {len(crlf)} lines (tolerated by this profile)", crlf[0])
        else:
            problems.add(display, f"CRLF line ends on {len(crlf)} lines; profile {profile.name} wants LF", line=crlf[0])
        lines = [line.removesuffix("\r") for line in lines]
    blank_tail = 0
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
        blank_tail += 1
    if blank_tail:
        where = len(lines) + 1
        if profile.tolerate_trailing_blank_lines:
            warn(f"{blank_tail} empty line(s) at the end of the file (tolerated by this profile)", where)
        else:
            problems.add(display, f"{blank_tail} empty line(s) at the end of the file", line=where)

    if subtask is None:
        subtask = _columns_for_unknown_name(profile, lines[0])
    columns = subtask.columns
    report.columns = columns
    names = [c.name for c in columns]
    sep = profile.separator
    header = sep.join(names)
    first_data = 1
    if profile.header:
        if lines[0] == header:
            first_data = 2
        elif _looks_like_data(lines[0], columns, sep):
            problems.add(display, f"the header line is missing; it must be {header!r}", line=1)
        else:
            problems.add(display, f"header must be {header!r}, found {lines[0]!r}", line=1)
            first_data = 2
    elif lines[0] == header or (
        lines[0] and not _looks_like_data(lines[0], columns, sep) and _has_names(lines[0], names)
    ):
        problems.add(display, f"looks like a header; profile {profile.name} files have none", line=1)
        first_data = 2

    validator = jsonschema.Draft202012Validator(profile.row_schema(subtask))
    id_name = subtask.id_column.name
    expected = set(ids) if ids is not None else None
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[first_data - 1 :], start=first_data):
        if not line.strip():
            problems.add(display, "empty line", line=number)
            continue
        fields = line.split(sep)
        if len(fields) != len(columns):
            other = next((s for s in OTHER_SEPARATORS if s != sep and len(line.split(s)) == len(columns)), None)
            if other is not None:
                problems.add(display, f"wrong separator: found {other!r}, the profile uses {sep!r}", line=number)
            else:
                problems.add(
                    display,
                    f"expected {len(columns)} columns ({header}), found {len(fields)}",
                    line=number,
                )
            continue
        report.rows += 1
        row: dict[str, object] = {}
        report.parsed.append(row)
        for col, raw in zip(columns, fields, strict=True):
            if raw != raw.strip():
                problems.add(display, "spaces around the value", line=number, field=col.name, value=raw)
                continue
            if col.kind != "id" and (NON_FINITE.match(raw) or (NUMBER.match(raw) and not math.isfinite(float(raw)))):
                problems.add(display, "not a finite number", line=number, field=col.name, value=raw)
                continue
            row[col.name] = _parse_field(col.kind, raw)
        errors = validator.iter_errors(row)
        for error in sorted(errors, key=lambda e: names.index(str(e.path[0])) if e.path else len(names)):
            column = str(error.path[0]) if error.path else None
            shown = row.get(column) if column is not None else None
            if error.validator == "required":
                continue  # a non-finite field, already reported
            problems.add(
                display,
                _schema_message(error, profile),
                line=number,
                field=column,
                value=fields[names.index(column)] if column in names else shown,
            )
        vid = fields[names.index(subtask.id_column.name)]
        if vid in seen:
            problems.add(
                display, f"duplicate video id (first on line {seen[vid]})", line=number, field=id_name, value=vid
            )
            continue
        seen[vid] = number
        if expected is not None and vid not in expected:
            problems.add(display, "not a test video", line=number, field=id_name, value=vid)
    if report.rows == 0:
        problems.add(display, "no data rows")
    if ids is not None:
        missing = [vid for vid in ids if vid not in seen]
        for vid in missing[:MISSING_LISTED]:
            problems.add(display, "missing: every test video needs one row", field=id_name, value=vid)
        if len(missing) > MISSING_LISTED:
            problems.add(display, f"... and {len(missing) - MISSING_LISTED} more test videos have no row")
    return _finish(report, problems, warnings)


def _looks_like_data(line: str, columns: Sequence[Any], sep: str) -> bool:
    fields = line.split(sep)
    if len(fields) != len(columns):
        return False
    return all(NUMBER.match(f) or NON_FINITE.match(f) for c, f in zip(columns, fields, strict=True) if c.kind != "id")


def _has_names(line: str, names: Sequence[str]) -> bool:
    lowered = line.lower()
    return any(name.lower() in lowered for name in names)


def _finish(report: FileReport, problems: ProblemList, warnings: list[Problem]) -> FileReport:
    report.problems = list(problems.items)
    if problems.dropped:
        report.problems.append(Problem(report.path, f"... and {problems.dropped} more problems not shown"))
    report.warnings = warnings
    return report


def validate_file(path: str | Path, profile: Profile, ids: Sequence[str] | None) -> FileReport:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileReport(path=str(path), problems=[Problem(str(path), f"cannot read the file ({exc.strerror})")])
    return validate_bytes(str(path), data, profile, ids)


def read_run_file(path: str | Path, profile: Profile) -> pd.DataFrame:
    """The ids and scores of a valid run file as a predictions frame (video_id, score), for scoring it.

    The file must pass the profile's checks (its name excepted); a file with several score columns cannot be read
    as one prediction vector and is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(Problem(str(path), "file not found"))
    report = validate_bytes(str(path), path.read_bytes(), profile, None, check_name=False)
    if not report.ok:
        raise InputError(report.problems)
    id_name = next(c.name for c in report.columns if c.kind == "id")
    scores = [c.name for c in report.columns if c.kind == "score"]
    if len(scores) != 1:
        raise InputError(
            Problem(str(path), f"has {len(scores)} score columns ({', '.join(scores)}); score each predictions file")
        )
    rows = report.parsed
    return pd.DataFrame(
        {
            "video_id": [str(r[id_name]) for r in rows],
            "score": pd.Series([r[scores[0]] for r in rows], dtype="float64"),
        }
    )


def expand_paths(paths: Sequence[str | Path], profile: Profile) -> tuple[list[Path], list[Problem]]:
    """Files as given, and folders replaced by their run files (names ending like the template, e.g. .csv)."""
    suffix = Path(profile.file_name).suffix
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.iterdir() if f.is_file() and f.name.endswith(suffix) and not f.name.startswith(".")
            )
            if not found:
                problems.append(Problem(str(p), f"no run files (*{suffix}) in this folder"))
            files.extend(found)
        else:
            files.append(p)
    return files, problems


def validate_paths(paths: Sequence[str | Path], profile: Profile, ids: Sequence[str] | None) -> ValidationResult:
    """Validate files and folders of run files, then count runs per team and subtask across all of them."""
    files, problems = expand_paths(paths, profile)
    reports = [validate_file(f, profile, ids) for f in files]
    runs: dict[tuple[str, str], dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in reports:
        if r.team is not None and r.subtask is not None and r.run is not None:
            runs[(r.team, r.subtask)][r.run].append(r.path)
    for (team, subtask), by_run in runs.items():
        where = str(Path(next(iter(by_run.values()))[0]).parent)
        for run, holders in sorted(by_run.items()):
            if len(holders) > 1:
                names = ", ".join(Path(h).name for h in holders)
                message = f"team {team!r} subtask {subtask} run {run} appears {len(holders)} times: {names}"
                problems.append(Problem(where, message))
        if len(by_run) > profile.max_runs:
            problems.append(
                Problem(
                    where,
                    f"team {team!r} has {len(by_run)} runs for subtask {subtask}; "
                    f"profile {profile.name} allows at most {profile.max_runs}",
                )
            )
    return ValidationResult(files=reports, problems=problems)
