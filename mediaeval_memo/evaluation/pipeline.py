"""The one pipeline `memo score`, `compare` and `leaderboard` share: runs matched to the gold labels, every run
scored on one shared resample matrix (so differences are paired), and the intervals and signature of each number.

A signature reads `srcc|n:1500|boot:10000|ci:bca95|seed:0|gold:<sha8>|pred:<sha8>|memo:<version>`: the metric, the
number of videos, the resamples, the interval, the seed, digests of the gold labels and of the predictions actually
scored, and the toolkit version. Fields that do not affect a number are left out (a Fisher interval has no `boot`
or `seed`). A cluster bootstrap adds `clusters:<G>@<sha8>`: the number of clusters and a digest of the grouping.
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
from mediaeval_memo.evaluation.ci import (
    Evidence,
    Interval,
    IntervalMethod,
    Method,
    interval_method,
    interval_methods,
)
from mediaeval_memo.evaluation.clusters import ClusterCodes, Clusters, match_clusters
from mediaeval_memo.evaluation.gold import Gold, Run, check_gold_varies, load_run, run_names
from mediaeval_memo.submission.profiles import Profile

METRIC_NAMES: dict[Metric, str] = {"srcc": "Spearman", "plcc": "Pearson", "mse": "MSE"}
CORRELATIONS: tuple[Metric, ...] = ("srcc", "plcc")


@dataclass(frozen=True)
class Settings:
    """How the numbers are computed: resamples, seed, interval method and level, where the bootstrap runs, the
    run-file profile to read FILEs with (None: predictions CSVs), and the clusters to resample whole (None: videos)."""

    n_resamples: int = 10_000
    seed: int = 0
    confidence: float = 0.95
    method: Method = "bca"
    device: str = "auto"
    profile: Profile | None = None
    clusters: Clusters | None = None


@dataclass(frozen=True)
class Scored:
    """Runs scored on one shared resample matrix: `reps.estimate[metric][j]` is run j's value."""

    gold: Gold
    runs: list[Run]
    reps: Replicates
    settings: Settings
    clusters: ClusterCodes | None = None

    @property
    def n(self) -> int:
        return len(self.gold.ids)

    @property
    def cluster_field(self) -> str | None:
        return None if self.clusters is None else self.clusters.field()

    def value(self, metric: Metric, j: int) -> float:
        return float(self.reps.estimate[metric][j])

    def intervals(self, metric: Metric, j: int) -> dict[str, Interval]:
        return metric_intervals(
            self.reps, metric, j, self.settings.confidence, self.n, closed_form=self.clusters is None
        )

    def headline(self, metric: Metric, j: int) -> Interval | None:
        return headline_interval(self.intervals(metric, j), self.settings.method)

    def signature(self, metric: Metric, j: int, interval: Interval | None) -> str:
        s = self.settings
        return signature(
            metric,
            self.n,
            interval,
            s.seed,
            s.n_resamples,
            clusters=self.cluster_field,
            gold=self.gold.digest,
            pred=self.runs[j].digest,
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
    chosen = check_method(settings.method, settings.n_resamples, clustered=settings.clusters is not None)
    check_gold_varies(gold)
    codes = None if settings.clusters is None else match_clusters(settings.clusters, gold.ids, gold.source)
    ps = [Path(p) for p in paths]
    runs = [load_run(p, gold, name, settings.profile) for p, name in zip(ps, run_names(ps), strict=True)]
    jackknife = chosen.jackknife
    units = len(gold.ids) if codes is None else codes.n_clusters
    total = settings.n_resamples + (units if jackknife else 0)
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
            clusters=None if codes is None else codes.codes,
        )
    return Scored(gold, runs, reps, settings, codes)


def signature(
    metric: str,
    n: int,
    interval: Interval | None,
    seed: int,
    n_resamples: int,
    *,
    clusters: str | None = None,
    **digests: str,
) -> str:
    """`metric|n:N|boot:B|ci:bca95|seed:S|clusters:G@<sha8>|gold:<sha8>|pred:<sha8>|memo:<version>`; a closed-form
    (Fisher) interval has no resamples, seed or clusters, so those fields are left out of its signature."""
    resampled = interval is not None and interval_method(interval.method).resampled
    parts = [metric, f"n:{n}"]
    if resampled:
        parts.append(f"boot:{n_resamples}")
    if interval is not None:
        parts.append(f"ci:{interval.tag()}")
    if resampled:
        parts.append(f"seed:{seed}")
        if clusters is not None:
            parts.append(f"clusters:{clusters}")
    parts += [f"{k}:{v}" for k, v in digests.items()]
    parts.append(f"memo:{__version__}")
    return "|".join(parts)


def signature_fields(sig: str) -> dict[str, Any]:
    """A signature as JSON fields (as sacrebleu's `--format json` gives its own): `metric` first, then every
    `key:value` part in order, numbers as numbers (`n`, `boot`, `seed`), everything else as text."""
    metric, *parts = sig.split("|")
    fields: dict[str, Any] = {"metric": metric}
    for part in parts:
        key, _, value = part.partition(":")
        fields[key] = int(value) if key in ("n", "boot", "seed") else value
    return fields


def metric_intervals(
    reps: Replicates, metric: Metric, j: int, confidence: float, n: int, *, closed_form: bool = True
) -> dict[str, Interval]:
    """Every interval the method table gives one run's metric, by method: the resampled ones when there are
    resamples (BCa when the leave-one-out values were drawn), and (`closed_form`, i.e. videos resampled
    independently) the closed forms of the metrics they cover."""
    evidence = Evidence(
        estimate=float(reps.estimate[metric][j]),
        n=n,
        confidence=confidence,
        replicates=reps.bootstrap[metric][j] if reps.n_resamples > 0 else None,
        jackknife=reps.jackknife[metric][j] if reps.n_resamples > 0 and reps.jackknife is not None else None,
    )
    return {
        m.name: m.compute(evidence) for m in interval_methods() if m.applies(evidence, metric, independent=closed_form)
    }


def headline_interval(intervals: dict[str, Interval], method: Method) -> Interval | None:
    """The interval that heads a number: the chosen method's, else, following the table's `headline_otherwise`
    (e.g. Pearson under fisher-bw: the plain Fisher interval; MSE under a closed form: the percentile one), the
    first one computed; None when the chain ends without one."""
    name: Method | None = method
    while name is not None:
        if name in intervals:
            return intervals[name]
        name = interval_method(name).headline_otherwise
    return None


def check_method(method: Method, n_resamples: int, *, clustered: bool = False, paired: bool = False) -> IntervalMethod:
    """The table's row for `method`, checked against the settings: a resampled method needs resamples, a cluster
    bootstrap needs a resampled method, a paired difference a method that supports it. Anything else is an input
    error, never a substitute."""
    chosen = interval_method(method)
    resampled = " or ".join(m.name for m in interval_methods() if m.resampled)
    closed = " or ".join(m.name for m in interval_methods() if not m.resampled)
    if paired and (not chosen.paired or n_resamples < 1):
        pairs = " or ".join(m.name for m in interval_methods() if m.paired)
        raise InputError(
            Problem("--method", f"a paired comparison needs the bootstrap: use --method {pairs}, --bootstrap N > 0")
        )
    if n_resamples == 0 and chosen.resampled:
        raise InputError(
            Problem(
                "--bootstrap",
                f"--method {method} needs bootstrap resamples; use --bootstrap N > 0 or --method {closed}",
            )
        )
    if clustered and not chosen.resampled:
        raise InputError(
            Problem(
                "--clusters",
                f"--method {method} is a closed form that assumes independent videos; a cluster bootstrap needs "
                f"--method {resampled} (and --bootstrap N > 0)",
            )
        )
    if clustered and n_resamples == 0:
        raise InputError(Problem("--clusters", "a cluster bootstrap needs --bootstrap N > 0"))
    return chosen


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
