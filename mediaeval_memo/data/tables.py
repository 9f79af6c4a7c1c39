"""Reading release tables with line numbers, so that every problem names the file and the line it is on.

The official releases are small CSVs (at most a few thousand rows) with quirks: UTF-8 BOMs, CRLF line ends,
quoted captions that span lines. The standard `csv` module handles all of these and tells us the physical line
each record starts on, which pandas does not; at this size it is fast enough (8500 rows in well under a second).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.ids import UniqueIds, video_id_problem


@dataclass(frozen=True)
class Record:
    """One data row of a table: the physical line it starts on and its cells by column name."""

    line: int
    cells: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True)
class Table:
    path: Path
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


def require_file(path: Path, root: Path | None, what: str) -> None:
    if not path.is_file():
        raise InputError(Problem(display(path, root), f"missing file ({what})"))


def read_header(path: Path, delimiter: str = ",") -> list[str]:
    """The column names on the first line of `path` (empty when it has none or is not readable text): for telling
    one release layout from another before reading it."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            first = next(csv.reader(fh, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return [c.strip() for c in first]


def read_table(
    path: Path,
    required: Sequence[str],
    *,
    root: Path | None = None,
    delimiter: str = ",",
    header: bool = True,
    columns: Sequence[str] | None = None,
    quoting: bool = True,
) -> Table:
    """Read a delimited text file into records; a missing file, an empty file or a missing column is an InputError.

    With `header=False`, `columns` names the fields of each line. `quoting=False` reads quote characters as text
    (VideoMem's tab-separated caption files are not CSV-quoted).
    """
    name = display(path, root)
    if not path.is_file():
        raise InputError(Problem(name, "missing file"))
    line = 1
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            # Physical lines are kept to look inside records that span several of them (see _swallowed_rows).
            lines = list(fh)
            reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
            if header:
                first = next(reader, None)
                if first is None or not any(cell.strip() for cell in first):
                    raise InputError(Problem(name, f"empty file (expected a header with: {', '.join(required)})"))
                names = [c.strip() for c in first]
            else:
                assert columns is not None, "a headerless table needs column names"
                names = list(columns)
            missing = [c for c in required if c not in names]
            if missing:
                header_text = ", ".join(names)
                raise InputError(
                    [Problem(name, f"missing column (the header has: {header_text})", line=1, field=c) for c in missing]
                )
            records: list[Record] = []
            swallowed = ProblemList()
            line = reader.line_num + 1
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    records.append(Record(line, dict(zip(names, row, strict=False))))
                if quoting and reader.line_num > line:
                    _swallowed_rows(swallowed, name, lines, line, reader.line_num, names, delimiter)
                line = reader.line_num + 1
            swallowed.raise_if_any()
    except UnicodeDecodeError as exc:
        raise InputError(Problem(name, f"not UTF-8 text (byte {exc.start} cannot be decoded)")) from exc
    except csv.Error as exc:
        raise InputError(Problem(name, f"not a readable {_kind(delimiter)} file: {exc}", line=line)) from exc
    if not records and header is False:
        raise InputError(Problem(name, "empty file"))
    return Table(path, names, records)


def _swallowed_rows(
    problems: ProblemList, name: str, lines: list[str], first: int, last: int, names: list[str], delimiter: str
) -> None:
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


def _kind(delimiter: str) -> str:
    return "tab-separated" if delimiter == "\t" else "CSV"


def parse_float(
    problems: ProblemList, file: str, record: Record, column: str, *, required: bool, accepted: str = "a finite number"
) -> float:
    """The cell as a float; NaN when empty and not required; a problem when not a finite number."""
    text = record[column].strip()
    if not text and not required:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.add(file, f"not {accepted}", line=record.line, field=column, value=text)
        return math.nan
    return value


def parse_int(problems: ProblemList, file: str, record: Record, column: str) -> int | None:
    text = record[column].strip()
    if not text:
        return None
    try:
        return int(float(text))
    except ValueError:
        problems.add(file, "not an integer", line=record.line, field=column, value=text)
        return None


class IdRegistry:
    """Checks video ids as they are read: safe as a file name, and unique across every file of a release."""

    def __init__(self, problems: ProblemList):
        self.problems = problems
        self.ids = UniqueIds()

    def accept(self, file: str, record: Record, column: str, value: str | None = None) -> str | None:
        """The id if it is usable, else None (and a problem is recorded)."""
        vid = (record[column] if value is None else value).strip()
        if why := self.ids.problem(vid, f"at {file}:{record.line}"):
            self.problems.add(file, why, line=record.line, field=column, value=vid)
            return None
        return vid


class CaptionRows:
    """Checks the rows of one caption file as they are read: each names a video of `known` (the ids read from
    `scores_file`), and no video has two rows."""

    def __init__(self, problems: ProblemList, file: str, known: set[str], scores_file: str):
        self.problems, self.file, self.known, self.scores_file = problems, file, known, scores_file
        self.seen: dict[str, int] = {}

    def accept(self, record: Record, column: str) -> str | None:
        """The video the row belongs to, or None (and a problem is recorded)."""
        vid = record[column].strip()
        if vid not in self.known:
            message = f"caption row for an unknown video (not in {self.scores_file})"
        elif vid in self.seen:
            message = f"duplicate caption row (first at line {self.seen[vid]})"
        else:
            self.seen[vid] = record.line
            return vid
        self.problems.add(self.file, message, line=record.line, field=column, value=vid)
        return None


def unknown_ids(
    problems: ProblemList, file: str, records: Iterable[tuple[Record, str]], known: set[str], column: str, what: str
) -> None:
    for record, vid in records:
        if vid not in known:
            problems.add(file, f"no such video in {what}", line=record.line, field=column, value=vid)
