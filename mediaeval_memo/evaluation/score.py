"""Score prediction files against gold labels: Spearman (the official metric), Pearson and MSE with confidence
intervals, paired comparisons of runs, and the signature string that records what produced every number.

A signature reads `srcc|n:1500|boot:10000|ci:bca95|seed:0|gold:<sha8>|pred:<sha8>|memo:<version>`: the metric, the
number of videos, the resamples, the interval, the seed, digests of the gold labels and of the predictions actually
scored (sha256 of their `video_id,value` lines sorted by id, so a re-ordered or re-saved file keeps its digest), and
the toolkit version. Fields that do not affect a number are left out (a Fisher interval has no `boot` or `seed`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mediaeval_memo import __version__
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset
from mediaeval_memo.errors import InputError, Problem, ProblemList
from mediaeval_memo.evaluation.bootstrap import METRICS, Metric, Replicates, replicates
from mediaeval_memo.evaluation.ci import Interval, Method, bca_ci, fisher_ci, percentile_ci
from mediaeval_memo.predictions import checked_values, read_predictions
from mediaeval_memo.submission.profiles import Profile
from mediaeval_memo.submission.validator import read_run_file

METRIC_NAMES: dict[Metric, str] = {"srcc": "Spearman", "plcc": "Pearson", "mse": "MSE"}
CORRELATIONS: tuple[Metric, ...] = ("srcc", "plcc")
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


@dataclass(frozen=True)
class MetricScore:
    metric: Metric
    value: float
    interval: Interval | None  # the headline interval of the chosen method
    intervals: dict[str, Interval]  # every interval computed for this metric, by method
    signature: str


@dataclass(frozen=True)
class ScoreReport:
    run: Run
    gold: Gold
    n: int
    n_resamples: int
    seed: int
    scores: dict[Metric, MetricScore]

    def to_json(self) -> dict[str, Any]:
        return {
            "run": str(self.run.path),
            "gold": self.gold.source,
            "n": self.n,
            "bootstrap": self.n_resamples,
            "seed": self.seed,
            "metrics": {m: _metric_json(s) for m, s in self.scores.items()},
        }


@dataclass(frozen=True)
class PairComparison:
    a: str
    b: str
    srcc_a: float
    srcc_b: float
    difference: float
    interval: Interval
    p_value: float
    p_holm: float | None
    signature: str


@dataclass(frozen=True)
class Comparison:
    runs: list[Run]
    gold: Gold
    n: int
    n_resamples: int
    seed: int
    srcc: dict[str, float]
    pairs: list[PairComparison] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "gold": self.gold.source,
            "n": self.n,
            "bootstrap": self.n_resamples,
            "seed": self.seed,
            "runs": [{"name": r.name, "path": str(r.path), "srcc": self.srcc[r.name]} for r in self.runs],
            "pairs": [
                {
                    "a": p.a,
                    "b": p.b,
                    "srcc_a": p.srcc_a,
                    "srcc_b": p.srcc_b,
                    "difference": p.difference,
                    "ci": _interval_json(p.interval),
                    "p_value": p.p_value,
                    "p_holm": p.p_holm,
                    "signature": p.signature,
                }
                for p in self.pairs
            ],
        }


def _interval_json(iv: Interval) -> dict[str, Any]:
    return {
        "low": _num(iv.low),
        "high": _num(iv.high),
        "method": iv.method,
        "confidence": iv.confidence,
        "dropped": iv.dropped,
    }


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _metric_json(s: MetricScore) -> dict[str, Any]:
    return {
        "value": _num(s.value),
        "ci": None if s.interval is None else _interval_json(s.interval),
        "intervals": {k: _interval_json(v) for k, v in s.intervals.items()},
        "signature": s.signature,
    }


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
    try:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(Problem(str(path), f"not a readable CSV ({str(exc).splitlines()[0]})")) from None
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


def signature(metric: str, n: int, interval: Interval | None, seed: int, n_resamples: int, **digests: str) -> str:
    """`metric|n:N|boot:B|ci:bca95|seed:S|gold:<sha8>|pred:<sha8>|memo:<version>`; a Fisher interval has no
    resamples or seed, so those fields are left out of its signature."""
    parts = [metric, f"n:{n}"]
    if interval is not None and interval.method != "fisher":
        parts.append(f"boot:{n_resamples}")
    if interval is not None:
        parts.append(f"ci:{interval.tag()}")
        if interval.method != "fisher":
            parts.append(f"seed:{seed}")
    parts += [f"{k}:{v}" for k, v in digests.items()]
    parts.append(f"memo:{__version__}")
    return "|".join(parts)


def metric_intervals(reps: Replicates, metric: Metric, j: int, confidence: float, n: int) -> dict[str, Interval]:
    out: dict[str, Interval] = {}
    estimate = float(reps.estimate[metric][j])
    if reps.n_resamples > 0:
        boot = reps.bootstrap[metric][j]
        out["percentile"] = percentile_ci(boot, confidence)
        if reps.jackknife is not None:
            out["bca"] = bca_ci(boot, estimate, reps.jackknife[metric][j], confidence)
    if metric in CORRELATIONS and math.isfinite(estimate):
        out["fisher"] = fisher_ci(estimate, n, confidence)
    return out


def headline_interval(intervals: dict[str, Interval], method: Method) -> Interval | None:
    # MSE has no Fisher interval: its headline falls back to the bootstrap percentile interval.
    return intervals.get(method) or intervals.get("percentile")


def check_method(method: Method, n_resamples: int) -> None:
    if n_resamples == 0 and method != "fisher":
        raise InputError(
            Problem(
                "--bootstrap", f"--method {method} needs bootstrap resamples; use --bootstrap N > 0 or --method fisher"
            )
        )


def score_run(
    path: str | Path,
    gold: Gold,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    method: Method = "bca",
    device: str = "auto",
    profile: Profile | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScoreReport:
    """Spearman, Pearson and MSE of one prediction file, each with its interval and signature."""
    check_method(method, n_resamples)
    check_gold_varies(gold)
    run = load_run(path, gold, profile=profile)
    reps = replicates(
        gold.values,
        [run.values],
        n_resamples=n_resamples,
        seed=seed,
        jackknife=method == "bca",
        device=device,
        progress=progress,
    )
    n = len(gold.ids)
    scores: dict[Metric, MetricScore] = {}
    for metric in METRICS:
        intervals = metric_intervals(reps, metric, 0, confidence, n)
        headline = headline_interval(intervals, method)
        value = float(reps.estimate[metric][0])
        sig = signature(metric, n, headline, seed, n_resamples, gold=gold.digest, pred=run.digest)
        scores[metric] = MetricScore(metric, value, headline, intervals, sig)
    return ScoreReport(run=run, gold=gold, n=n, n_resamples=n_resamples, seed=seed, scores=scores)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest p times (m - i), made monotone, capped at 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def paired_p_value(differences: npt.ArrayLike, observed: float) -> float:
    """Two-sided paired-bootstrap p-value (c + 1) / (B + 1), where c counts resampled differences at least as far
    from the observed one as the observed one is from zero (the bootstrap distribution shifted to the null)."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    c = int(np.count_nonzero(np.abs(d - observed) >= abs(observed)))
    return (c + 1) / (d.size + 1)


def compare_runs(
    paths: Sequence[str | Path],
    gold: Gold,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    method: Method = "bca",
    device: str = "auto",
    profile: Profile | None = None,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Paired bootstrap of the Spearman difference for every pair of runs, on one shared resample matrix;
    with more than two runs the p-values are also Holm-adjusted over all pairs."""
    if len(paths) < 2:
        raise InputError(Problem("FILES", "compare needs at least two prediction files"))
    if method == "fisher" or n_resamples < 1:
        raise InputError(
            Problem(
                "--method", "a paired comparison needs the bootstrap: use --method percentile or bca, --bootstrap N > 0"
            )
        )
    check_gold_varies(gold)
    ps = [Path(p) for p in paths]
    runs = [load_run(p, gold, name, profile) for p, name in zip(ps, run_names(ps), strict=True)]
    reps = replicates(
        gold.values,
        [r.values for r in runs],
        n_resamples=n_resamples,
        seed=seed,
        metrics=("srcc",),
        jackknife=method == "bca",
        device=device,
        progress=progress,
    )
    est = reps.estimate["srcc"]
    boot = reps.bootstrap["srcc"]
    pairs: list[PairComparison] = []
    raw_p: list[float] = []
    n = len(gold.ids)
    for i, j in combinations(range(len(runs)), 2):
        diff = float(est[i] - est[j])
        d_boot = boot[i] - boot[j]
        if method == "bca":
            assert reps.jackknife is not None
            interval = bca_ci(d_boot, diff, reps.jackknife["srcc"][i] - reps.jackknife["srcc"][j], confidence)
        else:
            interval = percentile_ci(d_boot, confidence)
        p = paired_p_value(d_boot, diff)
        raw_p.append(p)
        sig = signature("dsrcc", n, interval, seed, n_resamples, gold=gold.digest, a=runs[i].digest, b=runs[j].digest)
        pairs.append(
            PairComparison(runs[i].name, runs[j].name, float(est[i]), float(est[j]), diff, interval, p, None, sig)
        )
    if len(runs) > 2:
        adjusted = holm(raw_p)
        pairs = [
            PairComparison(p.a, p.b, p.srcc_a, p.srcc_b, p.difference, p.interval, p.p_value, q, p.signature)
            for p, q in zip(pairs, adjusted, strict=True)
        ]
    return Comparison(
        runs=runs,
        gold=gold,
        n=n,
        n_resamples=n_resamples,
        seed=seed,
        srcc={r.name: float(e) for r, e in zip(runs, est, strict=True)},
        pairs=pairs,
    )
