"""Write official run files (`memo package`): predictions in, one file in the profile's exact format out.

Ids and their order come from the prepared dataset's test split when one is given (from the predictions file
otherwise); the name comes from the profile's template; the bytes are validated with the same validator
participants run before they are written atomically. An existing file is replaced only with `force`.

Scores outside the profile's range are refused unless the caller says what to do with them. `clip` ties every
outside score at a bound, which changes the Spearman the run is judged on; `rescale="rank"` maps the scores to
their average ranks, `(rank - 1/2) / n` inside the range (ties stay ties, the order is kept exactly) and
`rescale="minmax"` maps them linearly onto the range (the spacing is kept too). Either way the Spearman between the
raw scores and the scores as written is computed and reported, so a run's ranking is never changed unseen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.io import atomic_write_bytes, require_output_folder
from mediaeval_memo.core.metric import srcc
from mediaeval_memo.core.predictions import read_predictions
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.submission.profiles import Profile, Subtask
from mediaeval_memo.submission.validator import validate_bytes

SHOW = 5
Rescale = Literal["rank", "minmax"]
RESCALES: tuple[Rescale, ...] = ("rank", "minmax")


@dataclass(frozen=True)
class Packaged:
    path: Path
    rows: int
    profile: Profile
    subtask: Subtask
    warnings: list[str]
    # Per score column: Spearman between the raw predictions and the scores as written (NaN when either is constant).
    srcc_raw: dict[str, float] = field(default_factory=dict)
    changed: dict[str, str] = field(default_factory=dict)  # per score column: how the scores were changed, if at all


def rescaled(values: Sequence[float], how: Rescale, low: float, high: float) -> list[float]:
    """Scores mapped into [low, high]: by average rank to `low + (high - low) * (rank - 1/2) / n`, strictly inside
    the range, ties kept as ties; or linearly, min to `low` and max to `high` (all equal: the middle)."""
    a = np.asarray(values, dtype=np.float64)
    if how == "rank":
        unit = (rankdata(a, method="average") - 0.5) / len(a)
    else:
        span = float(a.max() - a.min())
        unit = (a - a.min()) / span if span > 0 else np.full(len(a), 0.5)
    return [float(x) for x in low + (high - low) * unit]


def assign_predictions(specs: Sequence[str], subtask: Subtask) -> dict[str, Path]:
    """Map each score column of `subtask` to a predictions file: `FILE`, or `SOURCE=FILE` for multi-score files."""
    columns = subtask.score_columns
    by_source = {(c.source or c.name): c for c in columns}
    out: dict[str, Path] = {}
    problems = ProblemList()
    for spec in specs:
        key, sep, rest = spec.partition("=")
        if sep and key in by_source:
            column, path = by_source[key], Path(rest)
        elif len(columns) == 1:
            column, path = columns[0], Path(spec)
        else:
            problems.add(
                "--predictions",
                f"{spec!r}: subtask {subtask.key} has {len(columns)} score columns; give each as SOURCE=FILE "
                f"(sources: {', '.join(by_source)})",
            )
            continue
        if column.name in out:
            problems.add("--predictions", f"{spec!r}: a second predictions file for column {column.name!r}")
        out[column.name] = path
    for column in columns:
        if column.name not in out and not problems:
            problems.add("--predictions", f"no predictions file for score column {column.name!r}")
    problems.raise_if_any()
    return out


def package_run(
    predictions: Sequence[str],
    *,
    team: str,
    subtask: str,
    run: int,
    profile: Profile,
    out_dir: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    tag: str | None = None,
    force: bool = False,
    clip: bool = False,
    rescale: Rescale | None = None,
) -> Packaged:
    """Write one run file; every way the inputs fall short is an InputError, and nothing is half-written.

    The steps: check the options; assign a predictions file to each score column; the ids the run must cover (the
    dataset's split, else the first file's); each column's scores checked against those ids and brought into the
    profile's range as asked; the ids checked against the profile's pattern; the bytes rendered and validated as
    the validator would; then written, with the Spearman between raw and written scores per column."""
    sub = _check_options(profile, subtask, team, run, out_dir, clip, rescale)
    files = assign_predictions(predictions, sub)
    target = Path(out_dir) / profile.file_name_for(team, sub, run, tag)
    if target.exists() and not force:
        raise InputError(Problem(str(target), "exists; pass --force to replace it"))
    tables = {column: read_predictions(path) for column, path in files.items()}
    ids, id_source = _run_ids(data, split, tables, files)
    problems = ProblemList()
    raw: dict[str, dict[str, float]] = {}
    scores: dict[str, dict[str, float]] = {}
    changed: dict[str, str] = {}
    warnings: list[str] = []
    for column, table in tables.items():
        raw[column] = dict(zip(table["video_id"].astype(str), table["score"].astype(float), strict=True))
        fitted = _in_range(raw[column], files[column], ids, id_source, profile, clip, rescale, problems)
        scores[column] = fitted.values
        if fitted.change:
            changed[column] = fitted.change
        if fitted.warning:
            warnings.append(fitted.warning)
    _check_id_pattern(ids, id_source, profile, problems)
    problems.raise_if_any()

    body = render(profile, sub, ids, scores)
    check = validate_bytes(str(target), body, profile, ids)
    if not check.ok:  # the writer and the validator disagree: a bug or a profile that contradicts itself
        raise InputError(check.problems)
    # Against the numbers as written (the float format can round), not as computed.
    srcc_raw = {}
    for column, values in scores.items():
        written = [float(profile.float_format % values[v]) for v in ids]
        srcc_raw[column] = srcc([raw[column][v] for v in ids], written)
    atomic_write_bytes(target, body)
    return Packaged(
        path=target,
        rows=len(ids),
        profile=profile,
        subtask=sub,
        warnings=warnings,
        srcc_raw=srcc_raw,
        changed=changed,
    )


def _check_options(
    profile: Profile, subtask: str, team: str, run: int, out_dir: str | Path, clip: bool, rescale: Rescale | None
) -> Subtask:
    """The subtask asked for, once the options that need no file are checked: --clip/--rescale, the output
    folder, the team name and the run number (the last two reported together)."""
    if clip and rescale is not None:
        raise InputError(Problem("--clip", "give --clip or --rescale, not both", field="--rescale", value=rescale))
    if rescale is not None and rescale not in RESCALES:
        raise InputError(Problem("--rescale", f"not one of {', '.join(RESCALES)}", field="--rescale", value=rescale))
    require_output_folder(out_dir, "the folder the run file is written into")
    sub = profile.subtask(subtask)
    problems = ProblemList()
    if not re.fullmatch(profile.team_pattern, team):
        problems.add(profile.source, f"team name must match {profile.team_pattern}", field="team", value=team)
    if not 1 <= run <= profile.max_runs:
        problems.add(
            profile.source,
            f"run number must be 1..{profile.max_runs} (profile {profile.name} allows {profile.max_runs} runs "
            "per subtask)",
            field="run",
            value=run,
        )
    problems.raise_if_any()
    return sub


def _run_ids(
    data: str | Path | None, split: str, tables: dict[str, pd.DataFrame], files: dict[str, Path]
) -> tuple[list[str], str]:
    """The ids the run file must hold, and where they come from: the dataset's split, else the first file's ids."""
    if data is not None:
        ids = PreparedDataset.load(data).split_ids(split)
        if not ids:
            raise InputError(Problem(str(data), f"the {split} split has no videos", field="split", value=split))
        return ids, f"{data} ({split} split)"
    first = next(iter(tables))
    return tables[first]["video_id"].astype(str).tolist(), str(files[first])


@dataclass(frozen=True)
class _Fitted:
    values: dict[str, float]
    change: str | None = None  # how the scores were changed, if at all
    warning: str | None = None


def _in_range(
    values: dict[str, float],
    path: Path,
    ids: list[str],
    id_source: str,
    profile: Profile,
    clip: bool,
    rescale: Rescale | None,
    problems: ProblemList,
) -> _Fitted:
    """One column's scores checked against the run's ids (none missing, none extra) and brought into the profile's
    range: rescaled (by rank or linearly) or clipped when asked; scores outside it otherwise are a problem."""
    wanted = set(ids)
    low, high = profile.score_range
    missing = [v for v in ids if v not in values]
    extra = [v for v in values if v not in wanted]
    if missing:
        problems.add(
            path, f"{len(missing)} videos of {id_source} have no prediction (first: {', '.join(missing[:SHOW])})"
        )
    if extra:
        problems.add(path, f"{len(extra)} predicted videos are not in {id_source} (first: {', '.join(extra[:SHOW])})")
    outside = [(line, v, s) for line, (v, s) in enumerate(values.items(), start=2) if not low <= s <= high]
    if rescale is not None:
        if missing or extra:  # the ranks are over exactly the videos of the run
            return _Fitted(values)
        mapped = rescaled([values[v] for v in ids], rescale, low, high)
        return _Fitted(dict(zip(ids, mapped, strict=True)), f"rescaled by {rescale} into [{low:g}, {high:g}]")
    if outside and not clip:
        line, vid, value = outside[0]
        problems.add(
            path,
            f"{len(outside)} scores outside the profile's range [{low:g}, {high:g}] "
            f"(first: {vid} = {value:g} on line {line}); pass --rescale rank (keeps the ranking, ties as ties) "
            "or --rescale minmax (keeps the spacing too), or --clip (ties them at the bounds: changes the "
            "Spearman)",
        )
        return _Fitted(values)
    if outside:
        return _Fitted(
            {v: min(high, max(low, s)) for v, s in values.items()},
            f"{len(outside)} clipped into [{low:g}, {high:g}]",
            f"{path}: clipped {len(outside)} scores into [{low:g}, {high:g}]",
        )
    return _Fitted(values)


def _check_id_pattern(ids: list[str], id_source: str, profile: Profile, problems: ProblemList) -> None:
    id_rule = re.compile(profile.id_pattern)
    bad_ids = [v for v in ids if not id_rule.fullmatch(v)]
    if bad_ids:
        problems.add(
            id_source,
            f"{len(bad_ids)} video ids do not match the profile's id pattern {profile.id_pattern} "
            f"(first: {', '.join(bad_ids[:SHOW])})",
        )


def render(profile: Profile, subtask: Subtask, ids: Sequence[str], scores: dict[str, dict[str, float]]) -> bytes:
    """The run file's bytes: header when the profile has one, one row per id, LF line ends, final newline."""
    sep = profile.separator
    lines = [sep.join(c.name for c in subtask.columns)] if profile.header else []
    for vid in ids:
        fields = []
        for col in subtask.columns:
            if col.kind == "id":
                fields.append(vid)
            elif col.kind == "score":
                value = scores[col.name][vid]
                if not math.isfinite(value):
                    raise InputError(Problem(vid, "refusing to write a non-finite score", field=col.name, value=value))
                fields.append(profile.float_format % value)
            else:
                fields.append(profile.float_format % (col.value if col.value is not None else 0.0))
        lines.append(sep.join(fields))
    return ("\n".join(lines) + "\n").encode(profile.encoding)
