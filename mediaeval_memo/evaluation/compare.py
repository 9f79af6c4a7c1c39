"""`memo compare`: a paired bootstrap of the Spearman difference for every pair of runs (one resample matrix
shared by all of them), its interval, a p-value (c + 1) / (B + 1), and Holm's adjustment over more than two runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.evaluation.ci import Evidence, Interval
from mediaeval_memo.evaluation.gold import Gold, Run
from mediaeval_memo.evaluation.pipeline import (
    Settings,
    check_method,
    interval_json,
    score_files,
    signature,
    signature_fields,
)


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
    clusters: int | None = None  # clusters resampled whole (None: videos)

    def to_json(self) -> dict[str, Any]:
        return {
            "gold": self.gold.source,
            "n": self.n,
            "bootstrap": self.n_resamples,
            "clusters": self.clusters,
            "seed": self.seed,
            "runs": [{"name": r.name, "path": str(r.path), "srcc": self.srcc[r.name]} for r in self.runs],
            "pairs": [
                {
                    "a": p.a,
                    "b": p.b,
                    "srcc_a": p.srcc_a,
                    "srcc_b": p.srcc_b,
                    "difference": p.difference,
                    "ci": interval_json(p.interval),
                    "p_value": p.p_value,
                    "p_holm": p.p_holm,
                    "signature": p.signature,
                    "signature_fields": signature_fields(p.signature),
                }
                for p in self.pairs
            ],
        }


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
    paths: Sequence[str | Path], gold: Gold, settings: Settings | None = None, progress: Reporter | None = None
) -> Comparison:
    """Paired bootstrap of the Spearman difference for every pair of runs, on one shared resample matrix (with
    clusters: the same cluster draw for every run); with more than two runs the p-values are also Holm-adjusted
    over all pairs."""
    settings = settings or Settings()
    method, confidence, seed, n_resamples = settings.method, settings.confidence, settings.seed, settings.n_resamples
    if len(paths) < 2:
        raise InputError(Problem("FILES", "compare needs at least two prediction files"))
    chosen = check_method(method, n_resamples, clustered=settings.clusters is not None, paired=True)
    scored = score_files(paths, gold, settings, metrics=("srcc",), progress=progress)
    runs, reps, n = scored.runs, scored.reps, scored.n
    est = reps.estimate["srcc"]
    boot = reps.bootstrap["srcc"]
    pairs: list[PairComparison] = []
    raw_p: list[float] = []
    for i, j in combinations(range(len(runs)), 2):
        diff = float(est[i] - est[j])
        d_boot = boot[i] - boot[j]
        jack = None if reps.jackknife is None else reps.jackknife["srcc"][i] - reps.jackknife["srcc"][j]
        interval = chosen.compute(Evidence(diff, n, confidence, d_boot, jack))
        p = paired_p_value(d_boot, diff)
        raw_p.append(p)
        sig = signature(
            "dsrcc",
            n,
            interval,
            seed,
            n_resamples,
            clusters=scored.cluster_field,
            gold=gold.digest,
            a=runs[i].digest,
            b=runs[j].digest,
        )
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
        clusters=None if scored.clusters is None else scored.clusters.n_clusters,
    )
