"""`memo predict --zero-shot`: a variant's untrained model (the `ZeroShot` capability; qwen-vl: the paper's prompt,
its section 4.1) predicts a split, scored where the split is labelled, with what the model says of its answers
(`Model.notes`), its artifacts (`prompt_example.txt`) and the error analysis beside the predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import require_output_file
from mediaeval_memo.core.metric import srcc
from mediaeval_memo.core.predictions import write_predictions
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.experiments.error_analysis import write_error_analysis
from mediaeval_memo.experiments.runner import write_artifacts
from mediaeval_memo.variants import available, get_variant
from mediaeval_memo.variants.base import ZeroShot

DEFAULT_VARIANT = "qwen-vl"


@dataclass
class ZeroShotResult:
    predictions: Path
    srcc: float | None  # when the split is labelled
    analysis: Path | None
    notes: list[str] = field(default_factory=list)  # what the model says of its answers (`Model.notes`)


def predict_zero_shot(
    model: str,
    data_dir: str | Path,
    split: str,
    out: str | Path,
    overrides: Mapping[str, object] | None = None,
    progress: Reporter | None = None,
    variant: str = DEFAULT_VARIANT,
) -> ZeroShotResult:
    """Score a split with `variant`'s untrained model; on a labelled split also report Spearman and write the
    error analysis beside the predictions (`<out stem>_error_analysis/`)."""
    require_output_file(out, "the predictions file to write")  # before the model loads, not after
    chosen = get_variant(variant)
    if not isinstance(chosen, ZeroShot):
        able = [name for name in available() if isinstance(get_variant(name), ZeroShot)]
        raise InputError(
            Problem(
                "--zero-shot",
                f"variant {variant} cannot predict without training (variants that can: {', '.join(able)})",
                field="--variant",
                value=variant,
            )
        )
    dataset = PreparedDataset.load(data_dir)
    if dataset.split(split).empty:
        raise InputError(Problem(str(dataset.root), "the split has no videos", field="split", value=split))
    fitted, target = chosen.zero_shot(model, dataset, split, overrides)
    # The model never needs a label to answer: it predicts from a view without any.
    scores = fitted.predict(dataset.with_labels_of(()), dataset.split_ids(split), progress=progress or Reporter())
    path = write_predictions(scores, out)
    write_artifacts(path.parent, fitted)
    gold = dataset.rows(list(scores.index)).set_index("video_id")[target].astype(float)
    rho, analysis = None, None
    if bool(np.isfinite(gold).all()) and len(gold) > 2:
        rho = srcc(scores.to_numpy(), gold.reindex(scores.index).to_numpy())
        analysis = path.with_name(f"{path.stem}_error_analysis")
        write_error_analysis(dataset, scores, target, analysis)
    return ZeroShotResult(path, rho, analysis, fitted.notes())
