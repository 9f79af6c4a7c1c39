"""What every number is computed against: gold labels (a CSV or a prepared dataset) and runs matched to them.

A digest identifies the content of each (sha256 of the `video_id,value` lines sorted by id, first 8 hex digits),
so a re-ordered or re-saved file keeps its digest and a signature names exactly the numbers that were scored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.predictions import checked_values, read_csv_lines, read_predictions
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset
from mediaeval_memo.submission.profiles import Profile
from mediaeval_memo.submission.validator import read_run_file

SHOW_IDS = 5  # ids listed in an id-mismatch message


@dataclass(frozen=True)
class Gold:
    """Gold labels: ids and values in a fixed order, where they came from, and a digest of their content."""

    ids: list[str]
    values: npt.NDArray[np.float64]
    source: str
    digest: str


@dataclass(frozen=True)
class Run:
    """A prediction file matched to the gold ids (values in the gold's order)."""

    path: Path
    name: str
    values: npt.NDArray[np.float64]
    digest: str


def content_digest(ids: Sequence[str], values: npt.ArrayLike) -> str:
    """sha256 (first 8 hex digits) of the `id,value` lines sorted by id: the same numbers give the same digest."""
    h = hashlib.sha256()
    for vid, value in sorted(zip(ids, np.asarray(values, dtype=np.float64).tolist(), strict=True)):
        h.update(f"{vid},{value!r}\n".encode())
    return h.hexdigest()[:8]


def load_gold(path: str | Path, split: str | None = None, target: str | None = None) -> Gold:
    """Gold labels from a CSV (`video_id` plus one numeric column, or pick one with `target`) or a prepared
    dataset directory (its labelled rows, or `split`; its first target unless `target` is given)."""
    path = Path(path)
    if path.is_dir():
        return _gold_from_dataset(path, split, target)
    if split is not None:
        raise InputError(
            Problem(str(path), "--split applies to a prepared dataset directory, not a CSV", field="split")
        )
    return _gold_from_csv(path, target)


def _gold_from_dataset(root: Path, split: str | None, target: str | None) -> Gold:
    ds = PreparedDataset.load(root)
    column = ds.check_target(target)
    rows = ds.labelled(column) if split is None else ds.split(split)
    values = rows[column].to_numpy(dtype=np.float64)
    source = f"{root} ({split or 'labelled rows'}, {column})"
    unlabelled = rows["video_id"][~np.isfinite(values)].tolist()
    if unlabelled:
        raise InputError(
            Problem(
                str(root / ITEMS_FILE),
                f"{len(unlabelled)} of {len(rows)} videos of split {split!r} have no {column} label "
                f"(first: {', '.join(unlabelled[:SHOW_IDS])}); score against a labelled split",
                field="split",
                value=split,
            )
        )
    if len(rows) == 0:
        raise InputError(
            Problem(str(root / ITEMS_FILE), f"no labelled videos for {column}", field="split", value=split)
        )
    ids = rows["video_id"].astype(str).tolist()
    return Gold(ids=ids, values=values, source=source, digest=content_digest(ids, values))


def _gold_from_csv(path: Path, target: str | None) -> Gold:
    if not path.is_file():
        raise InputError(Problem(str(path), "file not found (expected a gold CSV or a prepared dataset directory)"))
    frame = read_csv_lines(path)  # blank lines counted: problems name the lines a user sees
    columns = [str(c) for c in frame.columns]
    if "video_id" not in columns:
        raise InputError(Problem(str(path), f"missing column (found: {', '.join(columns)})", field="video_id"))
    others = [c for c in columns if c != "video_id"]
    if target is not None:
        if target not in others:
            raise InputError(
                Problem(str(path), f"no such column (found: {', '.join(others)})", field="target", value=target)
            )
        column = target
    elif "score" in others:
        column = "score"
    else:
        numeric = [c for c in others if _looks_numeric(frame[c])]
        if len(numeric) != 1:
            found = f"several numeric columns ({', '.join(numeric)})" if numeric else "no numeric column"
            raise InputError(Problem(str(path), f"{found}; name the gold column with --target", field="target"))
        column = numeric[0]
    values = checked_values(path, frame, column, "gold value")
    ids = frame["video_id"].tolist()
    array = np.asarray(values, dtype=np.float64)
    return Gold(ids=ids, values=array, source=str(path), digest=content_digest(ids, array))


def _looks_numeric(column: pd.Series) -> bool:
    """Every value is a number or empty (gaps are reported later, with their lines)."""

    def ok(value: str) -> bool:
        try:
            float(value)
        except ValueError:
            return not value.strip()
        return True

    return bool(len(column)) and all(ok(str(v)) for v in column)


def load_run(path: str | Path, gold: Gold, name: str | None = None, profile: Profile | None = None) -> Run:
    """Read a predictions file (`video_id,score`), or an official run file of `profile`, and put its scores in the
    gold's order; the id sets must match."""
    path = Path(path)
    frame = read_predictions(path) if profile is None else read_run_file(path, profile)
    scores = dict(zip(frame["video_id"].astype(str), frame["score"].astype(float), strict=True))
    gold_ids = set(gold.ids)
    missing = [vid for vid in gold.ids if vid not in scores]
    extra = [vid for vid in scores if vid not in gold_ids]
    problems = ProblemList()
    if missing:
        problems.add(
            path,
            f"{len(missing)} of {len(gold.ids)} gold videos have no prediction "
            f"(first: {', '.join(missing[:SHOW_IDS])})",
            field="video_id",
        )
    if extra:
        problems.add(
            path,
            f"{len(extra)} predicted videos are not in the gold set {gold.source} "
            f"(first: {', '.join(extra[:SHOW_IDS])})",
            field="video_id",
        )
    problems.raise_if_any()
    values = np.asarray([scores[vid] for vid in gold.ids], dtype=np.float64)
    return Run(path=path, name=name or path.stem, values=values, digest=content_digest(gold.ids, values))


def run_names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names for runs: the file stem, or parent/stem where stems repeat."""
    stems = [p.stem for p in paths]
    names = [s if stems.count(s) == 1 else f"{p.parent.name}/{s}" for p, s in zip(paths, stems, strict=True)]
    if len(set(names)) != len(names):
        names = [str(p) for p in paths]
    return names


def check_gold_varies(gold: Gold) -> None:
    if len(gold.ids) < 4:
        raise InputError(Problem(gold.source, f"need at least 4 gold videos to score, got {len(gold.ids)}"))
    if np.all(gold.values == gold.values[0]):
        raise InputError(Problem(gold.source, "every gold value is the same; correlations are undefined"))
