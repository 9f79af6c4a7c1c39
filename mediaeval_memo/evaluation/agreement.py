"""How alike runs' predictions are: the Spearman correlation between every two runs' scores on the gold videos.
Two strong runs that rank videos differently are the ones worth ensembling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.stats import spearmanr

from mediaeval_memo.evaluation.gold import Run


def prediction_correlations(runs: Sequence[Run]) -> npt.NDArray[np.float64]:
    """A k x k matrix: Spearman between the scores of runs i and j (1 on the diagonal, NaN where undefined)."""
    k = len(runs)
    out = np.eye(k, dtype=np.float64)
    for i in range(k):
        for j in range(i + 1, k):
            a, b = runs[i].values, runs[j].values
            undefined = np.all(a == a[0]) or np.all(b == b[0])
            rho = np.nan if undefined else float(spearmanr(a, b).statistic)
            out[i, j] = out[j, i] = rho
    return out
