"""How alike runs' predictions are: the Spearman correlation between every two runs' scores on the gold videos.
Two strong runs that rank videos differently are the ones worth ensembling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mediaeval_memo.core.metric import srcc
from mediaeval_memo.evaluation.gold import Run


def prediction_correlations(runs: Sequence[Run]) -> npt.NDArray[np.float64]:
    """A k x k matrix: Spearman between the scores of runs i and j (1 on the diagonal, NaN where undefined, by
    `core.metric.srcc`'s rule)."""
    k = len(runs)
    out = np.eye(k, dtype=np.float64)
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = srcc(runs[i].values, runs[j].values)
    return out
