"""Interval formulas: Fisher's closed form, percentile quantiles, BCa limits, Holm and the paired p-value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from mediaeval_memo.evaluation.ci import Interval, bca_acceleration, bca_ci, fisher_bw_ci, fisher_ci, percentile_ci
from mediaeval_memo.evaluation.compare import holm, paired_p_value


def test_fisher_matches_the_closed_form() -> None:
    iv = fisher_ci(0.744, 1500)
    half = 1.959963984540054 / math.sqrt(1497)
    assert iv.low == pytest.approx(math.tanh(math.atanh(0.744) - half), abs=1e-12)
    assert iv.high == pytest.approx(math.tanh(math.atanh(0.744) + half), abs=1e-12)
    assert iv.tag() == "fisher95"
    ninety = fisher_ci(-0.2, 50, confidence=0.9)
    half90 = 1.6448536269514722 / math.sqrt(47)
    assert ninety.low == pytest.approx(math.tanh(math.atanh(-0.2) - half90), abs=1e-12)
    assert fisher_ci(1.0, 10).low == 1.0


def test_fisher_bw_golden_value_from_bonett_s_own_package() -> None:
    """The example of `ci.spear` in statpsych (Bonett's R package, which implements Bonett and Wright 2000):
    estimate 0.8699639, limits 0.5840951 and 0.9638297 at 95%."""
    y = [21, 4, 9, 12, 35, 18, 10, 22, 24, 1, 6, 8, 13, 16, 19]
    x = [67, 28, 30, 28, 52, 40, 25, 37, 44, 10, 14, 20, 28, 40, 51]
    r = float(spearmanr(y, x).statistic)
    assert r == pytest.approx(0.8699639, abs=5e-8)
    iv = fisher_bw_ci(r, len(y))
    assert (iv.low, iv.high) == pytest.approx((0.5840951, 0.9638297), abs=5e-8)
    assert iv.method == "fisher-bw" and iv.tag() == "fisher-bw95"


def test_fisher_bw_is_the_fisher_interval_widened_by_bonett_and_wright() -> None:
    for r, n in ((0.744, 1500), (0.2, 85), (-0.5, 300)):
        plain, bw = fisher_ci(r, n), fisher_bw_ci(r, n)
        factor = math.sqrt(1 + r * r / 2)
        for a, b in ((plain.low, bw.low), (plain.high, bw.high)):
            assert math.atanh(b) - math.atanh(r) == pytest.approx(factor * (math.atanh(a) - math.atanh(r)), abs=1e-12)
    assert fisher_bw_ci(0.0, 50).high == pytest.approx(fisher_ci(0.0, 50).high, abs=1e-15)  # r = 0: no widening
    with pytest.raises(ValueError, match="n > 3"):
        fisher_bw_ci(0.5, 3)


def test_fisher_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="n > 3"):
        fisher_ci(0.5, 3)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        fisher_ci(1.5, 100)
    with pytest.raises(ValueError, match="strictly between"):
        fisher_ci(0.5, 100, confidence=1.0)


def test_percentile_interval_and_dropped_replicates() -> None:
    values = np.arange(1001, dtype=float) / 1000
    iv = percentile_ci(np.append(values, np.nan), 0.9)
    assert (iv.low, iv.high) == pytest.approx((0.05, 0.95))
    assert iv.dropped == 1
    assert iv.tag() == "perc90"
    assert math.isnan(percentile_ci([np.nan]).low)


def test_bca_without_bias_or_acceleration_is_the_percentile_interval() -> None:
    rng = np.random.default_rng(0)
    boot = rng.normal(size=20001)
    estimate = float(np.median(boot))
    jack = np.ones(50)  # no spread: acceleration 0
    assert bca_acceleration(jack) == 0.0
    bca = bca_ci(boot, estimate, jack)
    perc = percentile_ci(boot)
    assert (bca.low, bca.high) == pytest.approx((perc.low, perc.high), abs=1e-3)


def test_bca_is_nan_on_a_degenerate_distribution() -> None:
    iv = bca_ci(np.ones(100), 0.5, np.arange(10.0))
    assert math.isnan(iv.low) and math.isnan(iv.high)
    assert isinstance(iv, Interval)


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_paired_p_value_counts_shifted_resamples() -> None:
    # Observed difference 0.1; resampled differences centred on it: c = how many lie >= 0.1 from it.
    d = np.array([0.1, 0.15, 0.05, 0.25, -0.01, 0.1])
    assert paired_p_value(d, 0.1) == pytest.approx((2 + 1) / (6 + 1))
    assert paired_p_value(np.zeros(9), 0.0) == 1.0
