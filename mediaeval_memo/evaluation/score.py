"""`memo score`: Spearman (the official metric), Pearson and MSE of one run, each with its intervals and signature."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.evaluation.bootstrap import METRICS, Metric
from mediaeval_memo.evaluation.ci import Interval
from mediaeval_memo.evaluation.gold import Gold, Run
from mediaeval_memo.evaluation.pipeline import Settings, interval_json, number_json, score_files, signature_fields


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
    clusters: int | None = None  # clusters resampled whole (None: videos)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": str(self.run.path),
            "gold": self.gold.source,
            "n": self.n,
            "bootstrap": self.n_resamples,
            "clusters": self.clusters,
            "seed": self.seed,
            "metrics": {m: _metric_json(s) for m, s in self.scores.items()},
        }


def _metric_json(s: MetricScore) -> dict[str, Any]:
    return {
        "value": number_json(s.value),
        "ci": None if s.interval is None else interval_json(s.interval),
        "intervals": {k: interval_json(v) for k, v in s.intervals.items()},
        "signature": s.signature,
        "signature_fields": signature_fields(s.signature),
    }


def score_run(
    path: str | Path, gold: Gold, settings: Settings | None = None, progress: Reporter | None = None
) -> ScoreReport:
    """Spearman, Pearson and MSE of one prediction file, each with its interval and signature."""
    settings = settings or Settings()
    scored = score_files([path], gold, settings, progress=progress)
    scores: dict[Metric, MetricScore] = {}
    for metric in METRICS:
        headline = scored.headline(metric, 0)
        signature = scored.signature(metric, 0, headline)
        scores[metric] = MetricScore(metric, scored.value(metric, 0), headline, scored.intervals(metric, 0), signature)
    clusters = None if scored.clusters is None else scored.clusters.n_clusters
    return ScoreReport(scored.runs[0], gold, scored.n, settings.n_resamples, settings.seed, scores, clusters)
