"""`memo predict --zero-shot`: the untrained qwen-vl model on the paper's prompt (its section 4.1), scored where the
split is labelled, with the invalid answers by reason, the rendered prompt (`prompt_example.txt`) and the error
analysis beside the predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.metric import srcc
from mediaeval_memo.core.predictions import write_predictions
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.experiments.error_analysis import write_error_analysis
from mediaeval_memo.experiments.runner import write_artifacts

if TYPE_CHECKING:
    from mediaeval_memo.variants.qwen_vl.runtime import AnswerStats


@dataclass
class ZeroShotResult:
    predictions: Path
    answers: AnswerStats | None  # generate head: how many answers, the invalid ones by reason
    srcc: float | None  # when the split is labelled
    analysis: Path | None

    @property
    def invalid_rate(self) -> float | None:
        return None if self.answers is None else self.answers.rate


def predict_zero_shot(
    model: str,
    data_dir: str | Path,
    split: str,
    out: str | Path,
    overrides: Mapping[str, object] | None = None,
    progress: Reporter | None = None,
) -> ZeroShotResult:
    """Score a split with the untrained model; on a labelled split also report Spearman and write the error
    analysis beside the predictions (`<out stem>_error_analysis/`)."""
    from mediaeval_memo.variants.qwen_vl import zero_shot

    dataset = PreparedDataset.load(data_dir)
    if dataset.split(split).empty:
        raise InputError(Problem(str(dataset.root), "the split has no videos", field="split", value=split))
    fitted = zero_shot(model, dataset, split, overrides)
    # The model never needs a label to answer: it predicts from a view without any.
    scores = fitted.predict(dataset.with_labels_of(()), dataset.split_ids(split), progress=progress or Reporter())
    path = write_predictions(scores, out)
    write_artifacts(path.parent, fitted)
    target = fitted.runtime.config.target
    gold = dataset.rows(list(scores.index)).set_index("video_id")[target].astype(float)
    rho, analysis = None, None
    if bool(np.isfinite(gold).all()) and len(gold) > 2:
        rho = srcc(scores.to_numpy(), gold.reindex(scores.index).to_numpy())
        analysis = path.with_name(f"{path.stem}_error_analysis")
        write_error_analysis(dataset, scores, target, analysis)
    return ZeroShotResult(path, fitted.answers, rho, analysis)
