"""`srcc`: the one Spearman outside the bootstrap engine, and its one rule for degenerate input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from mediaeval_memo.core.metric import srcc


def test_srcc_is_scipys_spearman_on_ordinary_input() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=50)
    b = a + rng.normal(size=50)
    b[:5] = b[5]  # ties are averaged, as scipy does
    assert srcc(a, b) == float(spearmanr(a, b).statistic)
    assert srcc(a, -a) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        ([1.0, 2.0], [2.0, 1.0], "two pairs"),
        ([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], "constant prediction"),
        ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], "constant gold"),
        ([1.0, math.nan, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], "NaN"),
        ([1.0, 2.0, math.inf, 4.0], [1.0, 2.0, 3.0, 4.0], "infinity"),
        ([], [], "no pairs"),
    ],
)
def test_degenerate_input_is_nan_or_zero_as_asked(a: list[float], b: list[float], why: str) -> None:
    assert math.isnan(srcc(a, b)), why
    assert srcc(a, b, degenerate="zero") == 0.0, why


def test_unpaired_input_is_a_bug_not_a_number() -> None:
    with pytest.raises(ValueError, match="paired"):
        srcc([1.0, 2.0, 3.0], [1.0, 2.0])
