"""Confidence intervals: bootstrap percentile, bootstrap BCa (jackknife acceleration) and Fisher z.

`fisher_ci(r, n)` is the interval published tables use, `tanh(atanh(r) +- z / sqrt(n - 3))`; it lets a participant
put a published correlation and its test-set size beside their own bootstrap interval. Its variance, 1 / (n - 3), is
that of Pearson's r under bivariate normality; Spearman's rho varies more, and the interval under-covers it (see
benchmarks/coverage.py). `fisher_bw_ci(r, n)` uses Bonett and Wright's (2000) variance for Spearman,
(1 + r^2 / 2) / (n - 3), as their own R package (statpsych, `ci.spear`) does. The bootstrap intervals
follow Efron and Tibshirani (1993), sections 13.3 and 14.3, as `scipy.stats.bootstrap` does, with the same
quantile convention (linear interpolation) and the same bias estimate (ties with the estimate count half).

`INTERVAL_METHODS` is the one table of methods (name, signature tag, label, closed form or resampled, paired
support, the metrics it covers, the function): the score pipeline, `compare`, `leaderboard`, the renderers and
the command line's `--method` all read it. A new method is one row there and its function (see
docs/architecture.md, "Adding an interval method").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mediaeval_memo.core.errors import unknown_name

# A method's name as `--method` takes it and JSON reports it; the table below says which names exist.
Method = str


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval; `dropped` counts bootstrap replicates that were undefined (NaN)."""

    low: float
    high: float
    method: Method
    confidence: float
    dropped: int = 0

    def tag(self) -> str:
        """The `ci:` part of a signature, e.g. `bca95`, `perc90`, `fisher97.5`, `fisher-bw95`."""
        return f"{interval_method(self.method).tag}{_percent(self.confidence)}"


@dataclass(frozen=True)
class Evidence:
    """What an interval method may read of one number: its estimate, the number of videos, the level asked for,
    and (resampled methods) the bootstrap replicates and the leave-one-out values (None when not drawn)."""

    estimate: float
    n: int
    confidence: float
    replicates: npt.NDArray[np.float64] | None = None
    jackknife: npt.NDArray[np.float64] | None = None


@dataclass(frozen=True)
class IntervalMethod:
    """One row of the interval-method table, from which the score pipeline, `compare`, `leaderboard`, the
    renderers and the command line's `--method` choices all derive.

    `name`: the `--method` value and the JSON `method`; `tag`: the signature's `ci:` prefix; `label`: how tables
    name it; `resampled`: True for a bootstrap method (it needs resamples, and its signature records `boot` and
    `seed`), False for a closed form computed from the estimate and n alone (it assumes independent videos, so a
    cluster bootstrap refuses it); `paired`: whether it can bound a paired difference (`memo compare`);
    `jackknife`: whether it reads leave-one-out values; `metrics`: the metrics it gives an interval for;
    `headline_otherwise`: the method whose interval heads a metric this one has none for (e.g. Pearson under
    `fisher-bw`: its right variance is the plain Fisher one), None when there is none; `compute`: the function."""

    name: Method
    tag: str
    label: str
    resampled: bool
    paired: bool
    compute: Callable[[Evidence], Interval]
    metrics: tuple[str, ...] = ("srcc", "plcc", "mse")
    jackknife: bool = False
    headline_otherwise: Method | None = None
    help: str = ""

    def applies(self, evidence: Evidence, metric: str, *, independent: bool) -> bool:
        """Whether this method gives `metric` an interval from `evidence` (`independent`: videos resampled one by
        one, not in clusters)."""
        if metric not in self.metrics:
            return False
        if self.resampled:
            return evidence.replicates is not None and (not self.jackknife or evidence.jackknife is not None)
        return independent and math.isfinite(evidence.estimate)


def _percent(confidence: float) -> str:
    return f"{confidence * 100:.10g}"


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, not {confidence}")


def _finite(values: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], int]:
    a = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(a)
    return a[keep], int(a.size - keep.sum())


def percentile_ci(replicates: npt.ArrayLike, confidence: float = 0.95) -> Interval:
    """The alpha/2 and 1 - alpha/2 quantiles of the bootstrap replicates."""
    _check_confidence(confidence)
    theta, dropped = _finite(replicates)
    if theta.size == 0:
        return Interval(math.nan, math.nan, "percentile", confidence, dropped)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(theta, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high), "percentile", confidence, dropped)


def bca_acceleration(jackknife: npt.ArrayLike) -> float:
    """Efron's acceleration from the leave-one-out values: sum(d^3) / (6 * sum(d^2)^1.5), d = mean - value."""
    jack = np.asarray(jackknife, dtype=np.float64)
    d = jack.mean() - jack
    denominator = 6.0 * float(np.sum(d * d)) ** 1.5
    return float(np.sum(d**3)) / denominator if denominator > 0 else 0.0


def bca_ci(replicates: npt.ArrayLike, estimate: float, jackknife: npt.ArrayLike, confidence: float = 0.95) -> Interval:
    """Bias-corrected and accelerated interval; NaN bounds when the bootstrap distribution is degenerate."""
    from scipy.special import ndtr, ndtri  # lazily: `memo --help` reads the method table

    _check_confidence(confidence)
    theta, dropped = _finite(replicates)
    if theta.size == 0 or not math.isfinite(estimate):
        return Interval(math.nan, math.nan, "bca", confidence, dropped)
    below = np.count_nonzero(theta < estimate) + np.count_nonzero(theta <= estimate)
    z0 = float(ndtri(below / (2.0 * theta.size)))
    a = bca_acceleration(jackknife)
    z = float(ndtri((1.0 - confidence) / 2.0))
    levels = []
    for zz in (z, -z):
        num = z0 + zz
        levels.append(float(ndtr(z0 + num / (1.0 - a * num))))
    if not all(math.isfinite(q) for q in levels):
        return Interval(math.nan, math.nan, "bca", confidence, dropped)
    low, high = np.quantile(theta, levels)
    return Interval(float(low), float(high), "bca", confidence, dropped)


def fisher_ci(r: float, n: int, confidence: float = 0.95) -> Interval:
    """`tanh(atanh(r) +- z / sqrt(n - 3))`: the interval published tables give for a correlation on n items.

    Right for Pearson's r under bivariate normality; for Spearman's rho it is too narrow (use `fisher_bw_ci`)."""
    return _fisher_z(r, n, confidence, 1.0, "fisher")


def fisher_bw_ci(r: float, n: int, confidence: float = 0.95) -> Interval:
    """`tanh(atanh(r) +- z * sqrt((1 + r^2 / 2) / (n - 3)))`: Bonett and Wright's (2000) interval for Spearman's rho."""
    return _fisher_z(r, n, confidence, 1.0 + r * r / 2.0, "fisher-bw")


def _fisher_z(r: float, n: int, confidence: float, variance_factor: float, method: Method) -> Interval:
    from scipy.special import ndtri

    _check_confidence(confidence)
    if n <= 3:
        raise ValueError(f"the Fisher interval needs n > 3, got n = {n}")
    if not -1.0 <= r <= 1.0:
        raise ValueError(f"a correlation lies in [-1, 1], got {r}")
    z = float(ndtri(0.5 + confidence / 2.0))
    centre = math.atanh(r) if abs(r) < 1.0 else math.copysign(math.inf, r)
    half = z * math.sqrt(variance_factor / (n - 3))
    return Interval(math.tanh(centre - half), math.tanh(centre + half), method, confidence)


# ---------------------------------------------------------------------------------------------------- the table


def _percentile(e: Evidence) -> Interval:
    assert e.replicates is not None  # `IntervalMethod.applies` says so
    return percentile_ci(e.replicates, e.confidence)


def _bca(e: Evidence) -> Interval:
    assert e.replicates is not None and e.jackknife is not None
    return bca_ci(e.replicates, e.estimate, e.jackknife, e.confidence)


def _fisher(e: Evidence) -> Interval:
    return fisher_ci(e.estimate, e.n, e.confidence)


def _fisher_bw(e: Evidence) -> Interval:
    return fisher_bw_ci(e.estimate, e.n, e.confidence)


INTERVAL_METHODS: dict[Method, IntervalMethod] = {
    m.name: m
    for m in (
        IntervalMethod(
            "percentile", "perc", "percentile", resampled=True, paired=True, compute=_percentile,
            help="bootstrap percentile",
        ),
        IntervalMethod(
            "bca", "bca", "BCa", resampled=True, paired=True, compute=_bca, jackknife=True,
            headline_otherwise="percentile", help="bootstrap BCa",
        ),
        IntervalMethod(
            "fisher", "fisher", "Fisher z", resampled=False, paired=False, compute=_fisher, metrics=("srcc", "plcc"),
            headline_otherwise="percentile",
            help="Fisher z with Pearson's variance 1/(n-3) (what published tables use; it under-covers for Spearman)",
        ),
        IntervalMethod(
            "fisher-bw", "fisher-bw", "Fisher z, Bonett-Wright", resampled=False, paired=False, compute=_fisher_bw,
            metrics=("srcc",), headline_otherwise="fisher",
            help="Fisher z with Bonett and Wright's variance (1+r^2/2)/(n-3) for Spearman",
        ),
    )
}  # fmt: skip


def interval_methods() -> list[IntervalMethod]:
    """Every method, in table order (the order `--method` lists and reports show them)."""
    return list(INTERVAL_METHODS.values())


def interval_method(name: str) -> IntervalMethod:
    """The table's row for `name`; an unknown name is an input error with a suggestion."""
    if name in INTERVAL_METHODS:
        return INTERVAL_METHODS[name]
    raise unknown_name("interval method", name, INTERVAL_METHODS, file="--method", field="method")
