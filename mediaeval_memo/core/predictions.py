"""The internal predictions file: CSV `video_id,score` (plus `fold` for out-of-fold predictions).

Written with a fixed float format so that the same predictions give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.ids import UniqueIds
from mediaeval_memo.core.io import atomic_write_text

FLOAT_FORMAT = "%.10g"


def write_predictions(scores: pd.Series, path: str | Path, folds: pd.Series | None = None) -> Path:
    """Write `scores` (indexed by video_id) atomically; `folds` (same index) adds the `fold` column."""
    frame = pd.DataFrame({"video_id": scores.index.astype(str), "score": scores.to_numpy(dtype=float)})
    if folds is not None:
        frame["fold"] = folds.reindex(scores.index).to_numpy(dtype=int)
    bad = [(i, v) for i, v in zip(frame["video_id"], frame["score"], strict=True) if not math.isfinite(v)]
    if bad:
        raise InputError(
            Problem(str(path), "refusing to write a non-finite score", field=f"score of {bad[0][0]}", value=bad[0][1])
        )
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return atomic_write_text(path, buf.getvalue())


def read_csv_lines(path: str | Path) -> pd.DataFrame:
    """A small CSV (predictions, gold labels) as strings, each row's physical line in `frame.attrs["lines"]`: blank
    lines are skipped but counted, so a problem later names the line a user sees. Bytes that are not UTF-8, a row
    with more or fewer fields than the header, or an empty file is an InputError naming its line."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            Problem(str(path), "not UTF-8 text", line=line, field="byte", value=f"0x{data[exc.start]:02x}")
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    problems = ProblemList()
    try:
        header = [c.strip() for c in next(reader, [])]
        if not any(header):
            raise InputError(Problem(str(path), "empty file (expected a header: video_id,score)"))
        rows, lines, start = [], [], reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                if len(row) != len(header):
                    problems.add(
                        path,
                        f"{len(row)} fields where the header has {len(header)}",
                        line=start,
                        field="fields",
                        value=len(row),
                    )
                else:
                    rows.append([cell.strip() for cell in row])
                    lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(Problem(str(path), f"not a readable CSV ({exc})", line=start)) from None
    problems.raise_if_any()
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    frame.attrs["lines"] = lines
    return frame


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a predictions file, listing every malformed row; returns columns video_id, score (and fold)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(Problem(str(path), "file not found"))
    frame = read_csv_lines(path)
    problems = ProblemList()
    for col in ("video_id", "score"):
        if col not in frame.columns:
            problems.add(
                path,
                f"missing column (header must be video_id,score[,fold]; found {','.join(map(str, frame.columns))})",
                field=col,
            )
    problems.raise_if_any()
    frame["score"] = checked_values(path, frame, "score", "score")
    if "fold" in frame.columns:
        frame["fold"] = pd.to_numeric(frame["fold"], errors="coerce")
    return frame


def checked_values(path: str | Path, frame: pd.DataFrame, column: str, what: str) -> list[float]:
    """The `column` values of a `video_id,<column>` table, after checking every row: ids safe as file names and
    unique, values finite numbers. Every problem is listed (with its physical line) before anything is raised."""
    problems = ProblemList()
    ids = UniqueIds()
    values: list[float] = []
    lines = frame.attrs.get("lines") or range(2, len(frame) + 2)
    for line, vid, raw in zip(lines, frame["video_id"], frame[column], strict=True):
        if why := ids.problem(vid, f"on line {line}"):
            problems.add(path, why, line=line, field="video_id", value=vid)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            problems.add(path, f"{what} must be a finite number", line=line, field=column, value=raw)
        values.append(value)
    if frame.empty:
        problems.add(path, "no rows")
    problems.raise_if_any()
    return values
