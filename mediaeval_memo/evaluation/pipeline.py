"""The one pipeline `memo score`, `compare` and `leaderboard` share: runs matched to the gold labels, every run
scored on one shared resample matrix (so differences are paired), and the intervals and signature of each number.

A signature reads `srcc|n:1500|boot:10000|ci:bca95|seed:0|gold:<sha8>|pred:<sha8>|memo:<version>`: the metric, the
number of videos, the resamples, the interval, the seed, digests of the gold labels and of the predictions actually
scored, and the toolkit version. Fields that do not affect a number are left out (a Fisher interval has no `boot`
or `seed`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaeval_memo import __version__
from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.evaluation.bootstrap import METRICS, Metric, Replicates, replicates
from mediaeval_memo.evaluation.ci import Interval, Method, bca_ci, fisher_ci, percentile_ci
from mediaeval_memo.evaluation.gold import Gold, Run, check_gold_varies, load_run, run_names
from mediaeval_memo.submission.profiles import Profile

METRIC_NAMES: dict[Metric, str] = {"srcc": "Spearman", "plcc": "Pearson", "mse": "MSE"}
CORRELATIONS: tuple[Metric, ...] = ("srcc", "plcc")


@dataclass(frozen=True)
class Settings:
    """How the numbers are computed: resamples, seed, interval method and level, where the bootstrap runs, and the
    run-file profile to read FILEs with (None: predictions CSVs)."""

    n_resamples: int = 10_000
    seed: int = 0
    confidence: float = 0.95
    method: Method = "bca"
    device: str = "auto"
    profile: Profile | None = None


@dataclass(frozen=True)
class Scored:
    """Runs scored on one shared resample matrix: `reps.estimate[metric][j]` is run j's value."""

    gold: Gold
    runs: list[Run]
    reps: Replicates
    settings: Settings

    @property
    def n(self) -> int:
        return len(self.gold.ids)

    def value(self, metric: Metric, j: int) -> float:
        return float(self.reps.estimate[metric][j])

    def intervals(self, metric: Metric, j: int) -> dict[str, Interval]:
        return metric_intervals(self.reps, metric, j, self.settings.confidence, self.n)

    def headline(self, metric: Metric, j: int) -> Interval | None:
        return headline_interval(self.intervals(metric, j), self.settings.method)

    def signature(self, metric: Metric, j: int, interval: Interval | None) -> str:
        s = self.settings
        return signature(
            metric, self.n, interval, s.seed, s.n_resamples, gold=self.gold.digest, pred=self.runs[j].digest
        )


def score_files(
    paths: Sequence[str | Path],
    gold: Gold,
    settings: Settings,
    *,
    metrics: Sequence[Metric] = METRICS,
    progress: Reporter | None = None,
) -> Scored:
    """Check the settings and the gold, match every file to the gold ids, and bootstrap them together."""
    check_method(settings.method, settings.n_resamples)
    check_gold_varies(gold)
    ps = [Path(p) for p in paths]
    runs = [load_run(p, gold, name, settings.profile) for p, name in zip(ps, run_names(ps), strict=True)]
    jackknife = settings.method == "bca"
    total = settings.n_resamples + (len(gold.ids) if jackknife else 0)
    with (progress or Reporter.silent()).task("bootstrap", total=total) as task:
        reps = replicates(
            gold.values,
            [r.values for r in runs],
            n_resamples=settings.n_resamples,
            seed=settings.seed,
            metrics=metrics,
            jackknife=jackknife,
            device=settings.device,
            progress=task.advance,
        )
    return Scored(gold, runs, reps, settings)


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


def interval_json(iv: Interval) -> dict[str, Any]:
    return {
        "low": number_json(iv.low),
        "high": number_json(iv.high),
        "method": iv.method,
        "confidence": iv.confidence,
        "dropped": iv.dropped,
    }


def number_json(x: float) -> float | None:
    return x if math.isfinite(x) else None
