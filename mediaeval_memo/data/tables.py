"""The one engine that reads a release's delimited files and enforces what their reader declares
(`data/declare.py`), so that every reader checks the same things the same way.

For each file, in this order, every problem naming the file, the line, the field and the value:
- encoding: UTF-8 (a BOM is fine); the first undecodable byte stops the file, on its line;
- a cut-off file: the last line must end with a line end (unless the declaration tolerates it);
- the header: present, every required column;
- each record: the header's number of fields; a quoted field that runs over several lines is a stray quote
  (where fields may span lines, only when the lines it swallows read as rows of their own);
- each cell: its kind (a number, a score in [0, 1], a whole count, an id), filled where the declaration says so;
- ids (with an `IdRegistry`): safe as file names, unique across the release, no two differing only by case.
Line numbers are physical lines (blank lines and line breaks inside quoted captions count), and a record is
named by the line it starts on. The standard `csv` module tells us where each record starts, which pandas does
not; on the 10,000-video Memento10k release the whole read takes well under a second (`benchmarks/`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.ids import UniqueIds, video_id_problem
from mediaeval_memo.data.declare import Column, TableFile

# A plain decimal number: what the releases write. float() alone would also take 'nan', 'inf', '1_000' and
# digits of other scripts.
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass
class Record:
    """One data row of a table: the physical line it starts on, its raw cells by column name, and (after the
    checks) its values by item-table column: floats for numbers (NaN when empty), stripped text otherwise."""

    line: int
    cells: dict[str, str]
    values: dict[str, object] = field(default_factory=dict)
    ok: bool = True

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True)
class Table:
    path: Path
    name: str  # as problems show it
    columns: list[str]
    records: list[Record]


def display(path: Path, root: Path | None) -> str:
    """A path as problems show it: relative to the release root when it lies inside it."""
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def read_header(path: Path, delimiter: str = ",") -> list[str]:
    """The column names on the first line of `path` (empty when it has none or is not readable text): for telling
    one release layout from another before reading it."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            first = next(csv.reader(fh, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return [c.strip() for c in first]


def read_text(path: Path, name: str, encoding: str = "utf-8-sig") -> str:
    """A whole text file, strictly decoded: a byte that is not UTF-8 is an error on its line (replacement
    characters would change the text in silence)."""
    if not path.is_file():
        raise InputError(Problem(name, "missing file"))
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            Problem(
                name,
                f"not UTF-8 text (byte {exc.start} of the file cannot be decoded; save it as UTF-8)",
                line=line,
                field="byte",
                value=f"0x{data[exc.start]:02x}",
            )
        ) from None


def read_declared(
    path: Path,
    spec: TableFile,
    problems: ProblemList,
    *,
    root: Path | None = None,
    labelled: bool = True,
    ids: IdRegistry | None = None,
    notes: list[str] | None = None,
) -> Table:
    """Read `path` as `spec` declares it. File-level problems (missing, not UTF-8, empty, a missing column) stop
    at once; every problem of a record or a cell is added to `problems` and its record is marked not ok, so a
    caller collects every problem of every file before stopping. With `ids`, the id column is checked for the
    whole release; `labelled` says whether target cells must hold a value. What the engine tolerated because the
    declaration says the release ships it that way is appended to `notes`, once per file."""
    name = display(path, root)
    lines = list(io.StringIO(read_text(path, name, spec.encoding), newline=""))
    before = len(problems.items)
    names, records = _records(lines, spec, name, problems)
    _missing_columns(names, spec, name)
    shape_problems = len(problems.items) > before
    unended = bool(lines) and not lines[-1].endswith(("\n", "\r"))
    if unended and not spec.final_newline and notes is not None:
        notes.append(f"{name}: the last line has no line end (as the release ships it): read as complete")
    if unended and spec.final_newline:
        problems.add(
            name,
            "the last line has no line end: the file looks cut off (a score cut in the middle reads as a shorter "
            "score); if it is complete, add a line end",
            line=len(lines),
        )
        if records:
            records[-1].ok = False
        shape_problems = True
    # Text the reader reads itself (captions, split, group, media: `to=""`) needs no check here.
    declared = [c for c in spec.columns if c.name in names and (c.kind != "text" or c.column)]
    for record in records:
        if record.ok:
            _check_cells(record, declared, name, problems, labelled, ids)
    if shape_problems:
        # Rows were lost or merged (a stray quote, a field too many): whatever a join to another file would say
        # next follows from it, so stop with this file's problems.
        problems.raise_if_any()
    return Table(path, name, names, records)


def _records(lines: list[str], spec: TableFile, name: str, problems: ProblemList) -> tuple[list[str], list[Record]]:
    reader = csv.reader(lines, delimiter=spec.delimiter, quoting=csv.QUOTE_MINIMAL if spec.quoting else csv.QUOTE_NONE)
    line = 1
    try:
        if spec.header:
            first = next(reader, None)
            if first is None or not any(cell.strip() for cell in first):
                raise InputError(Problem(name, f"empty file (expected a header with: {', '.join(spec.required)})"))
            names = [c.strip() for c in first]
            line = reader.line_num + 1
        else:
            names = [c.name for c in spec.columns]
        records: list[Record] = []
        for row in reader:
            if row and any(cell.strip() for cell in row):
                record = Record(line, dict(zip(names, row, strict=False)))
                records.append(record)
                if _check_shape(record, row, names, lines, reader.line_num, spec, name, problems):
                    break
            line = reader.line_num + 1
    except csv.Error as exc:
        kind = "tab-separated" if spec.delimiter == "\t" else "CSV"
        # A field over the limit is, in practice, a stray quote that runs on to the end of the file.
        hint = "" if spec.multiline or "field limit" not in str(exc) else ": a stray double quote?"
        raise InputError(Problem(name, f"not a readable {kind} file: {exc}{hint}", line=line)) from None
    if not records and not spec.header:
        raise InputError(Problem(name, "empty file"))
    return names, records


def _check_shape(
    record: Record,
    row: list[str],
    names: list[str],
    lines: list[str],
    last: int,
    spec: TableFile,
    name: str,
    problems: ProblemList,
) -> bool:
    """One record: over one line unless fields may span lines, and exactly the header's number of fields. Returns
    whether a stray quote was found (the records after it cannot be trusted)."""
    if spec.quoting and last > record.line:
        stray = not spec.multiline or _line_break_in_a_number(record, spec)
        if stray:
            problems.add(
                name,
                f"a quoted field opened on this line runs on over {last - record.line} more line(s): a stray double "
                'quote? Quote the whole field and double every quote inside it ("")',
                line=record.line,
            )
        if stray or _swallowed_rows(problems, name, lines, record.line, last, names, spec.delimiter):
            record.ok = False
            return True
    if len(row) != len(names):
        what = "header" if spec.header else "layout"
        # Name the first field that is missing, or the first one too many, with its value.
        column, value = (
            (names[len(row)], None) if len(row) < len(names) else (f"field {len(names) + 1}", row[len(names)])
        )
        problems.add(
            name,
            f"{len(row)} fields where the {what} has {len(names)} (a missing, extra or unquoted "
            f"{'tab' if spec.delimiter == chr(9) else repr(spec.delimiter)}?)",
            line=record.line,
            field=column,
            value=value,
        )
        record.ok = False
    return False


def _line_break_in_a_number(record: Record, spec: TableFile) -> bool:
    """Text may span lines inside quotes; an id or a number never does, so one that does holds the rows a stray
    quote swallowed."""
    return any(c.kind != "text" and ("\n" in record[c.name] or "\r" in record[c.name]) for c in spec.columns)


def _swallowed_rows(
    problems: ProblemList, name: str, lines: list[str], first: int, last: int, names: list[str], delimiter: str
) -> bool:
    """Report a record on lines first..last whose quoted field swallowed lines that are rows of the file.

    A caption may legitimately span lines inside quotes, so a multi-line record is not an error in itself. But a
    stray double quote at the start of a field opens a quoted field that runs on, through whole rows, to the next
    quote character (or to the end of the file), and those rows silently vanish into one caption. A line inside a
    legitimate quoted field is text: the line that closes it holds an odd number of quote characters, and a line in
    the middle rarely looks like a row. So a continuation line that, read on its own, has balanced quotes, exactly
    the header's number of fields and a usable video id first is a swallowed row.
    """
    swallowed = []
    for number in range(first + 1, last + 1):
        text = lines[number - 1]
        if text.count('"') % 2:
            continue
        try:
            cells = next(csv.reader([text], delimiter=delimiter), [])
        except csv.Error:
            continue
        if len(cells) == len(names) and video_id_problem(cells[0].strip()) is None:
            swallowed.append((number, cells[0].strip()))
    if swallowed:
        number, vid = swallowed[0]
        problems.add(
            name,
            f"a quoted field opened on this line runs on over {len(swallowed)} line(s) that read as rows of their "
            f"own (first: line {number}, {names[0]} {vid!r}): a stray double quote? Quote the whole field and "
            'double every quote inside it ("")',
            line=first,
        )
    return bool(swallowed)


def _missing_columns(names: list[str], spec: TableFile, name: str) -> None:
    missing = [c for c in spec.required if c not in names]
    if missing:
        header = ", ".join(names)
        raise InputError(
            [Problem(name, f"missing column (the header has: {header})", line=1, field=c) for c in missing]
        )


def _check_cells(
    record: Record,
    columns: list[Column],
    name: str,
    problems: ProblemList,
    labelled: bool,
    ids: IdRegistry | None,
) -> None:
    cells, values = record.cells, record.values
    for column in columns:
        cell = cells.get(column.name, "")
        text = cell.strip()
        if column.kind == "id":
            vid = text if ids is None else ids.accept(name, record.line, column.name, cell)
            if vid is None:
                record.ok = False
            values[column.column] = vid or ""
            continue
        if column.kind == "text":
            values[column.column] = text
            continue
        needed = column.filled or (column.role == "target" and labelled)
        value, why = parse_number(text, column, needed)
        if why:
            label = " (label)" if column.role in ("target", "label") else ""
            problems.add(name, why + label, line=record.line, field=column.name, value=text)
            record.ok = False
        values[column.column] = value


def parse_number(text: str, column: Column, needed: bool) -> tuple[float, str | None]:
    """A cell as the float its column declares, or NaN and why not."""
    if not text:
        return math.nan, ("not a finite number" if needed else None)
    if not NUMBER.fullmatch(text):
        return math.nan, ("not an integer" if column.kind == "count" else "not a finite number")
    value = float(text)
    if not math.isfinite(value):  # digits enough to overflow a float
        return math.nan, "not a finite number"
    low, high = column.bounds
    if column.kind == "count" and not value.is_integer():
        return math.nan, "not a whole number"
    # A score computed in floating point may pass 1 (or 0) by a rounding error; 7.5 or -2 may not.
    slack = 1e-9 if column.kind == "score" else 0.0
    if (low is not None and value < low - slack) or (high is not None and value > high + slack):
        accepted = f"[{_num(low)}, {_num(high)}]" if high is not None else f"{_num(low)} or more"
        return math.nan, f"out of range (accepted: {accepted})"
    return value, None


def _num(value: float | None) -> str:
    return "-inf" if value is None else f"{value:g}"


class IdRegistry:
    """Checks video ids as they are read: safe as a file name, unique across every file of a release, and no
    two that differ only by case (they name the same frames folder on a case-insensitive disk, and are most
    likely one video typed twice). Spaces around an id are removed, and counted for the reader's notes."""

    def __init__(self, problems: ProblemList):
        self.problems = problems
        self.ids = UniqueIds()
        self.folded: dict[str, tuple[str, str]] = {}
        self.padded = 0

    def accept(self, file: str, line: int, column: str, cell: str) -> str | None:
        """The id if it is usable, else None (and a problem is recorded)."""
        vid = cell.strip()
        where = f"{file}:{line}"
        why = self.ids.problem(vid, f"at {where}")
        if why is None:
            first = self.folded.setdefault(vid.casefold(), (vid, where))
            if first[0] != vid:
                why = f"differs only by case from video id {first[0]!r} (at {first[1]})"
        if why:
            self.problems.add(file, why, line=line, field=column, value=vid)
            return None
        self.padded += vid != cell
        return vid

    def notes(self) -> list[str]:
        return [f"{self.padded} video id(s) had spaces around them, removed"] if self.padded else []


def ids_with_lines(table: Table, column: str) -> dict[str, int]:
    """Every id cell of a table (stripped, whatever else is wrong with its row) and the line it is on: a caption
    row of a video whose scores row has a problem is not an orphan, and must not be reported as one."""
    out: dict[str, int] = {}
    for record in table.records:
        out.setdefault(record[column].strip(), record.line)
    return out


class CaptionRows:
    """The join of a caption file to its scores file, checked on both sides: each caption row names a video of
    `known` (the ids read from `scores_file`, with the line each is on), no video has two rows when `once`, and
    (`missing`) every video of the scores file has a caption row."""

    def __init__(self, problems: ProblemList, file: str, known: dict[str, int], scores_file: str, *, once: bool = True):
        self.problems, self.file, self.known, self.scores_file, self.once = problems, file, known, scores_file, once
        self.folded = {vid.casefold(): vid for vid in known}
        self.seen: dict[str, int] = {}

    def accept(self, record: Record, column: str) -> str | None:
        """The video the row belongs to, or None (and a problem is recorded)."""
        vid = record[column].strip()
        if vid not in self.known:
            close = self.folded.get(vid.casefold())
            hint = f"; differs only by case from {close!r}" if close else ""
            message = f"caption row for an unknown video (not in {self.scores_file}{hint})"
        elif self.once and vid in self.seen:
            message = f"duplicate caption row (first at line {self.seen[vid]})"
        else:
            self.seen.setdefault(vid, record.line)
            return vid
        self.problems.add(self.file, message, line=record.line, field=column, value=vid)
        return None

    def missing(self, column: str, among: Iterable[str]) -> None:
        """Every video of the scores file (`among`: those read without a problem) without a caption row is a
        problem, on its line of the scores file: a row lost from the caption file would otherwise prepare a video
        with no captions, and say nothing."""
        for vid in among:
            line = self.known.get(vid)
            if line is not None and vid not in self.seen:
                self.problems.add(
                    self.scores_file, f"no caption row in {self.file}", line=line, field=column, value=vid
                )


def read_json_records(path: Path, name: str) -> list[tuple[int, object]]:
    """A JSON file holding a list of records, each with the line it starts on (problems name lines, as for
    CSVs). Not JSON, not a list, or an empty list is an error."""
    text = read_text(path, name)
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    try:
        if not text[start:].startswith("["):
            json.loads(text)  # a JSON error if it is one, on its line
            raise InputError(Problem(name, "not a JSON list of records", line=text.count("\n", 0, start) + 1))
        records: list[tuple[int, object]] = []
        at = _skip(text, start + 1)
        while at < len(text) and text[at] != "]":
            value, end = decoder.raw_decode(text, at)
            records.append((text.count("\n", 0, at) + 1, value))
            at = _skip(text, end)
            if at < len(text) and text[at] == ",":
                at = _skip(text, at + 1)
            elif at < len(text) and text[at] != "]":
                raise json.JSONDecodeError("expected ',' or ']'", text, at)
        if at >= len(text):
            raise json.JSONDecodeError("the list is not closed (the file looks cut off)", text, len(text))
        if text[at + 1 :].strip():
            raise json.JSONDecodeError("extra data after the list", text, _skip(text, at + 1))
    except json.JSONDecodeError as exc:
        raise InputError(Problem(name, f"not valid JSON: {exc.msg}", line=exc.lineno)) from None
    if not records:
        raise InputError(Problem(name, "empty file or not a JSON list of records"))
    return records


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def json_number(value: object, column: Column, needed: bool) -> tuple[float, str | None]:
    """A JSON value as the float its column declares (the same rules as a CSV cell), or NaN and why not."""
    if value is None or value == "":
        return math.nan, ("not a finite number" if needed else None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan, "not a number"
    try:
        number = float(value)
    except OverflowError:  # an integer too long for a float
        return math.nan, "not a finite number"
    return parse_number(repr(number) if math.isfinite(number) else "nan", column, needed)
