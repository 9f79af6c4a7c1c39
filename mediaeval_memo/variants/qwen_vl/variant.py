"""The qwen-vl run variant: a Qwen-VL model adapted with (Q)LoRA to predict memorability from frames and captions.

After Martin-Fernandez et al. (Sensors 2025): the first, middle and last frames and the five captions go into a
prompt (a replaceable template, `prompts/qwen_vl_memorability.txt`, rendered through the model's own chat
template), and the model answers a number 0-100. Heads:
    generate   the paper's: the label round(100 * score) is the answer text, the loss is on the answer tokens only;
               prediction decodes greedily (room for a sentence) and reads the score with `prompt.read_answer`
               (invalid answers get the training mean, and their rate is reported by reason)
    head       a linear regression head on the last prompt token's hidden state, MSE; no vocabulary at all
    expected   trained like generate; predicts the probability-weighted mean of the answers 0..100
Frames keep their aspect ratio at an image_size^2 pixel budget (or are squashed square on request). Optionally N
frames go in as one video input, timed by the clip's real frame times. Visual tokens are cached on disk and reused
(`visual_tokens`).

Early stopping and keep-best evaluate, after every epoch, on the videos the runner held out of the fit's own
training videos (`val_fraction` of them, whole groups): never on the fold being scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.report.panels import Panel, RunFiles, TablePanel, TextPanel
from mediaeval_memo.training import EpochBatches, train_loop
from mediaeval_memo.training.history import history_panels
from mediaeval_memo.variants.base import FitContext, Job, Planned, Variant
from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.model import (
    PROMPT_EXAMPLE,
    QwenVLModel,
    check_qwen_model,
    mark_trainable,
    zero_shot,
)
from mediaeval_memo.variants.qwen_vl.prompt import INVALID_REASONS
from mediaeval_memo.variants.qwen_vl.runtime import QwenVLRuntime


class QwenVL(Variant[QwenVLConfig, QwenVLModel]):
    name = "qwen-vl"
    Config = QwenVLConfig
    Model = QwenVLModel

    def zero_shot(
        self, model: str, dataset: PreparedDataset, split: str, overrides: Mapping[str, object] | None = None
    ) -> tuple[QwenVLModel, str]:
        """The `ZeroShot` capability: the untrained model on the paper's prompt (see `model.zero_shot`)."""
        fitted = zero_shot(model, dataset, split, overrides)
        return fitted, fitted.runtime.config.target

    def plan(self, config: QwenVLConfig, job: Job) -> Planned[QwenVLConfig]:
        """Nothing is left to the data; the model name is checked here, before the job writes anything."""
        check_qwen_model(config.model)
        return Planned(config)

    def report_panels(self, run: RunFiles) -> list[Panel]:
        """Each fit's training loss and held-out Spearman per epoch, and the prompt the model read."""
        panels = history_panels(run)
        answers = [(fit, r["answers"]) for fit, r in run.fits.items() if isinstance(r.get("answers"), dict)]
        if answers:
            reasons = list(INVALID_REASONS)
            rows = [
                [fit, a.get("n"), *((a.get("invalid") or {}).get(x, 0) for x in reasons), float(a.get("rate", 0.0))]
                for fit, a in answers
            ]
            panels.append(
                TablePanel(
                    "Invalid answers",
                    ["fit", "answers", *reasons, "invalid rate"],
                    rows,
                    "The generate head's answers on the fold it was scored on, the invalid ones by reason (each got "
                    "the training mean).",
                    {"invalid rate": 3},
                )
            )
        prompt = run.text(PROMPT_EXAMPLE)
        if prompt is not None:
            panels.append(TextPanel(PROMPT_EXAMPLE, prompt, "The rendered prompt of the run's first training video."))
        return panels

    def fit(self, config: QwenVLConfig, ctx: FitContext) -> QwenVLModel:
        dataset, ids = ctx.dataset, list(ctx.train_ids)
        train_mean = float(dataset.rows(ids)[ctx.target].astype(float).mean())
        runtime = QwenVLRuntime(config, lora=True, train_mean=train_mean)
        mark_trainable(runtime.scorer)
        examples = runtime.examples(dataset, ids, with_labels=True, progress=ctx.progress)
        prompt_example = runtime.prompt_example  # the first training video's, before evaluations render others
        eval_fn = ctx.held_out_spearman(lambda stop: runtime.predict(dataset, stop, ctx.progress)[0])

        def loss_fn(model: nn.Module, batch: Any) -> torch.Tensor:
            loss: torch.Tensor = model(batch)
            return loss

        outcome = train_loop(
            runtime.scorer,
            EpochBatches.factory(examples, config.batch_size, runtime.collate, ctx.seed),
            eval_fn,
            config,
            ctx.workdir,
            loss_fn=loss_fn,
            seed=ctx.seed,
            progress=ctx.progress,
        )
        return QwenVLModel(runtime, True, outcome.history, outcome.summary(), prompt_example)
