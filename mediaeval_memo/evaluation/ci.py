"""Confidence intervals: bootstrap percentile, bootstrap BCa (jackknife acceleration) and Fisher z.

`fisher_ci(r, n)` is the interval published tables use, `tanh(atanh(r) +- z / sqrt(n - 3))`; it lets a participant
put a published correlation and its test-set size beside their own bootstrap interval. Its variance, 1 / (n - 3), is
that of Pearson's r under bivariate normality; Spearman's rho varies more, and the interval under-covers it (see
benchmarks/coverage.py). `fisher_bw_ci(r, n)` uses Bonett and Wright's (2000) variance for Spearman,
(1 + r^2 / 2) / (n - 3), as their own R package (statpsych, `ci.spear`) does. The bootstrap intervals
follow Efron and Tibshirani (1993), sections 13.3 and 14.3, as `scipy.stats.bootstrap` does, with the same
quantile convention (linear interpolation) and the same bias estimate (ties with the estimate count half).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

Method = Literal["percentile", "bca", "fisher", "fisher-bw"]
METHODS: tuple[Method, ...] = ("percentile", "bca", "fisher", "fisher-bw")
# Closed-form intervals: computed from the estimate and n alone (no resamples, no seed).
CLOSED_FORM: tuple[Method, ...] = ("fisher", "fisher-bw")


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
        name = {"percentile": "perc", "bca": "bca", "fisher": "fisher", "fisher-bw": "fisher-bw"}[self.method]
        return f"{name}{_percent(self.confidence)}"


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
    return _fisher(r, n, confidence, 1.0, "fisher")


def fisher_bw_ci(r: float, n: int, confidence: float = 0.95) -> Interval:
    """`tanh(atanh(r) +- z * sqrt((1 + r^2 / 2) / (n - 3)))`: Bonett and Wright's (2000) interval for Spearman's rho."""
    return _fisher(r, n, confidence, 1.0 + r * r / 2.0, "fisher-bw")


def _fisher(r: float, n: int, confidence: float, variance_factor: float, method: Method) -> Interval:
    _check_confidence(confidence)
    if n <= 3:
        raise ValueError(f"the Fisher interval needs n > 3, got n = {n}")
    if not -1.0 <= r <= 1.0:
        raise ValueError(f"a correlation lies in [-1, 1], got {r}")
    z = float(ndtri(0.5 + confidence / 2.0))
    centre = math.atanh(r) if abs(r) < 1.0 else math.copysign(math.inf, r)
    half = z * math.sqrt(variance_factor / (n - 3))
    return Interval(math.tanh(centre - half), math.tanh(centre + half), method, confidence)
