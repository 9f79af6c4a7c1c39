"""Validate official run files against a profile: every problem, as `file:line: message`, never an exception.

Checks, in reading order: the file name (template, run number under the cap), encoding, byte-order mark, line ends,
header, separator, column count, each row against the profile's JSON Schema for a row (id pattern, number type,
score range), finite scores, and the id set (no duplicates, nothing outside the test list, nothing missing). Given
several files or a folder, it also counts runs per team and subtask. What the profile tolerates (a UTF-8 BOM, CRLF
line ends, no final newline, empty lines at the end) is reported as a warning instead of a problem.
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

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
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
    display: str,
    data: bytes,
    profile: Profile,
    ids: Sequence[str] | None,
    *,
    check_name: bool = True,
    split: str = "test",
) -> FileReport:
    """Validate a run file's bytes. `display` names it in messages; its last part is checked against the template
    unless `check_name` is False (then the header tells the subtask, as when scoring a renamed run file)."""
    check = _FileCheck(display, profile)
    subtask = check.name() if check_name else None
    lines = check.lines(data)
    if lines is not None:
        subtask = subtask or _columns_for_unknown_name(profile, lines[0])
        check.report.columns = subtask.columns
        first_data = check.header(lines[0], subtask)
        check.rows(lines, first_data, subtask, ids, split)
    return check.finish()


class _FileCheck:
    """One file's validation, stage by stage, collecting problems and warnings instead of raising."""

    def __init__(self, display: str, profile: Profile):
        self.display = display
        self.profile = profile
        self.report = FileReport(path=display)
        self.problems = ProblemList(limit=PROBLEM_LIMIT)
        self.warnings: list[Problem] = []

    def problem(self, message: str, line: int | None = None, field: str | None = None, value: object = None) -> None:
        self.problems.add(self.display, message, line=line, field=field, value=value)

    def tolerated(self, allowed: bool, message: str, line: int | None = None, otherwise: str | None = None) -> None:
        """A quirk the profile may tolerate: a warning when it does, a problem (`otherwise`) when it does not."""
        if allowed:
            self.warnings.append(Problem(self.display, f"warning: {message} (tolerated by this profile)", line))
        else:
            self.problem(otherwise or message, line)

    def name(self) -> Subtask | None:
        """Team, subtask, run and tag from the file name; the subtask when the name gives it."""
        profile = self.profile
        name = Path(self.display).name
        match = profile.name_regex().match(name)
        if match is None:
            self.problem(
                f"file name {name!r} does not match the profile {profile.name} template {profile.file_name!r} "
                f"(e.g. {profile.example_file_name()})"
            )
            return None
        report = self.report
        report.team = match.group("team")
        subtask = profile.subtask_by_label(match.group("subtask"))
        report.subtask = subtask.key
        report.run = int(match.group("run"))
        if "tag" in match.groupdict():
            report.tag = next(t for t, text in profile.run_tags.items() if text == match.group("tag"))
        if not 1 <= report.run <= profile.max_runs:
            self.problem(
                f"run number {report.run} is outside 1..{profile.max_runs} "
                f"(profile {profile.name} allows {profile.max_runs} runs per subtask)"
            )
        return subtask

    def lines(self, data: bytes) -> list[str] | None:
        """The file's lines without line ends, BOM or trailing empty lines; None when there is nothing to read."""
        profile = self.profile
        if not data:
            self.problem("the file is empty")
            return None
        if data.startswith(BOM):
            self.tolerated(
                profile.tolerate_bom,
                "starts with a UTF-8 byte-order mark",
                1,
                f"starts with a UTF-8 byte-order mark; profile {profile.name} does not allow one",
            )
            data = data[len(BOM) :]
        try:
            text = data.decode(profile.encoding)
        except UnicodeDecodeError as exc:
            bad_line = data[: exc.start].count(b"\n") + 1
            self.problem(f"not valid {profile.encoding} (byte 0x{data[exc.start]:02x}: {exc.reason})", bad_line)
            text = data.decode(profile.encoding, errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        else:
            self.tolerated(profile.tolerate_missing_final_newline, "no newline at the end of the file")
        lines = text.split("\n")
        crlf = [i for i, line in enumerate(lines, start=1) if line.endswith("\r")]
        if crlf:
            self.tolerated(
                profile.tolerate_crlf,
                f"CRLF line ends on {len(crlf)} lines",
                crlf[0],
                f"CRLF line ends on {len(crlf)} lines; profile {profile.name} wants LF",
            )
            lines = [line.removesuffix("\r") for line in lines]
        blank_tail = 0
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
            blank_tail += 1
        if blank_tail:
            message = f"{blank_tail} empty line(s) at the end of the file"
            self.tolerated(profile.tolerate_trailing_blank_lines, message, len(lines) + 1)
        return lines

    def header(self, first: str, subtask: Subtask) -> int:
        """Check the first line against the profile's header (or its absence); the number of the first data line."""
        profile = self.profile
        names = [c.name for c in subtask.columns]
        header = profile.separator.join(names)
        looks_like_data = _looks_like_data(first, subtask.columns, profile.separator)
        if profile.header:
            if first == header:
                return 2
            if looks_like_data:
                self.problem(f"the header line is missing; it must be {header!r}", 1)
                return 1
            self.problem(f"header must be {header!r}, found {first!r}", 1)
            return 2
        if first == header or (first and not looks_like_data and _has_names(first, names)):
            self.problem(f"looks like a header; profile {profile.name} files have none", 1)
            return 2
        return 1

    def rows(
        self, lines: list[str], first_data: int, subtask: Subtask, ids: Sequence[str] | None, split: str = "test"
    ) -> None:
        """Every data row: separator, column count, values (finite, row schema) and the id set (of `split`)."""
        profile = self.profile
        columns = subtask.columns
        names = [c.name for c in columns]
        sep = profile.separator
        id_name = subtask.id_column.name
        id_index = names.index(id_name)
        validator = jsonschema.Draft202012Validator(profile.row_schema(subtask))
        expected = set(ids) if ids is not None else None
        seen: dict[str, int] = {}
        for number, line in enumerate(lines[first_data - 1 :], start=first_data):
            if not line.strip():
                self.problem("empty line", number)
                continue
            fields = line.split(sep)
            if len(fields) != len(columns):
                other = next((s for s in OTHER_SEPARATORS if s != sep and len(line.split(s)) == len(columns)), None)
                if other is not None:
                    self.problem(f"wrong separator: found {other!r}, the profile uses {sep!r}", number)
                else:
                    self.problem(f"expected {len(columns)} columns ({sep.join(names)}), found {len(fields)}", number)
                continue
            self.report.rows += 1
            self.report.parsed.append(self._row(number, columns, fields, validator))
            vid = fields[id_index]
            if vid in seen:
                self.problem(f"duplicate video id (first on line {seen[vid]})", number, id_name, vid)
                continue
            seen[vid] = number
            if expected is not None and vid not in expected:
                self.problem(f"not a {split} video", number, id_name, vid)
        if self.report.rows == 0:
            self.problem("no data rows")
        if ids is not None:
            missing = [vid for vid in ids if vid not in seen]
            for vid in missing[:MISSING_LISTED]:
                self.problem(f"missing: every {split} video needs one row", field=id_name, value=vid)
            if len(missing) > MISSING_LISTED:
                self.problem(f"... and {len(missing) - MISSING_LISTED} more test videos have no row")

    def _row(
        self, number: int, columns: Sequence[Column], fields: list[str], validator: jsonschema.Draft202012Validator
    ) -> dict[str, object]:
        """One row's values by column name, with its problems recorded (a bad value is left out of the row)."""
        row: dict[str, object] = {}
        raw_by_name = {col.name: raw for col, raw in zip(columns, fields, strict=True)}
        for col, raw in zip(columns, fields, strict=True):
            if raw != raw.strip():
                self.problem("spaces around the value", number, col.name, raw)
            elif col.kind != "id" and (NON_FINITE.match(raw) or (NUMBER.match(raw) and not math.isfinite(float(raw)))):
                self.problem("not a finite number", number, col.name, raw)
            else:
                row[col.name] = _parse_field(col.kind, raw)
        order = [c.name for c in columns]
        errors = sorted(validator.iter_errors(row), key=lambda e: order.index(str(e.path[0])) if e.path else len(order))
        for error in errors:
            if error.validator == "required":
                continue  # a value left out above, already reported
            column = str(error.path[0]) if error.path else None
            value = raw_by_name.get(column) if column is not None else None
            self.problem(_schema_message(error, self.profile), number, column, value)
        return row

    def finish(self) -> FileReport:
        report = self.report
        report.problems = list(self.problems.items)
        if self.problems.dropped:
            report.problems.append(Problem(report.path, f"... and {self.problems.dropped} more problems not shown"))
        report.warnings = self.warnings
        return report


def _looks_like_data(line: str, columns: Sequence[Any], sep: str) -> bool:
    fields = line.split(sep)
    if len(fields) != len(columns):
        return False
    return all(NUMBER.match(f) or NON_FINITE.match(f) for c, f in zip(columns, fields, strict=True) if c.kind != "id")


def _has_names(line: str, names: Sequence[str]) -> bool:
    lowered = line.lower()
    return any(name.lower() in lowered for name in names)


def validate_file(path: str | Path, profile: Profile, ids: Sequence[str] | None, split: str = "test") -> FileReport:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileReport(path=str(path), problems=[Problem(str(path), f"cannot read the file ({exc.strerror})")])
    return validate_bytes(str(path), data, profile, ids, split=split)


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


def validate_paths(
    paths: Sequence[str | Path], profile: Profile, ids: Sequence[str] | None, split: str = "test"
) -> ValidationResult:
    """Validate files and folders of run files, then count runs per team and subtask across all of them."""
    files, problems = expand_paths(paths, profile)
    reports = [validate_file(f, profile, ids, split) for f in files]
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
