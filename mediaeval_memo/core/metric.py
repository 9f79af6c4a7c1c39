"""Spearman's rank correlation (SRCC, the task's official metric) of two paired sequences, with one rule for input
that has no correlation: every place that reports or optimises a Spearman outside the bootstrap engine calls `srcc`.

The rule: fewer than three pairs (two points always give +-1, which says nothing), a non-finite value on either
side, or either side constant has no Spearman. By default that is NaN, so a report shows "n/a" rather than a
number nobody computed; `degenerate="zero"` makes it 0.0 instead, for an objective that must rank a degenerate
candidate (a tuning trial that predicts a constant) as worthless rather than stop.

The bootstrap engine (`evaluation.bootstrap`) ranks resamples by counts instead and agrees with this to the last
bit or two; the gold labels it scores against must vary (`evaluation.gold.check_gold_varies`).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

Degenerate = Literal["nan", "zero"]
MIN_PAIRS = 3


def srcc(a: npt.ArrayLike, b: npt.ArrayLike, *, degenerate: Degenerate = "nan") -> float:
    """Spearman's rho of the pairs (a[i], b[i]); see the module docstring for the rule on degenerate input."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"srcc needs paired values, got {x.size} and {y.size}")
    undefined = math.nan if degenerate == "nan" else 0.0
    if x.size < MIN_PAIRS or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return undefined
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return undefined
    from scipy.stats import spearmanr  # lazily: the core is imported by `memo --help`

    r = float(spearmanr(x, y).statistic)
    return r if math.isfinite(r) else undefined
