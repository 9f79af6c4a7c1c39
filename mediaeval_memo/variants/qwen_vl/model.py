"""A fitted (or zero-shot) qwen-vl model and its files: qwen_vl.json (config, training mean, history, what the fit
did), prompt.txt (the template it was trained with) and trainable.safetensors (LoRA adapters and the head).

Loading is strict: the weights file must hold exactly the adapters and head the rebuilt model has (a file saved
against other layer names, e.g. by another transformers version, is an error, never a silent run on base weights).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from mediaeval_memo.core.config import resolve_config
from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_write_text
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.training.checkpoint import load_trainable, save_trainable
from mediaeval_memo.variants.base import Model
from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.net import Scorer
from mediaeval_memo.variants.qwen_vl.runtime import AnswerStats, QwenVLRuntime

META_FILE = "qwen_vl.json"
WEIGHTS_FILE = "trainable.safetensors"
PROMPT_COPY = "prompt.txt"
PROMPT_EXAMPLE = "prompt_example.txt"


class QwenVLModel(Model):
    """A fitted (or zero-shot) qwen-vl model: config, training mean, trainable weights (LoRA and head)."""

    def __init__(
        self,
        runtime: QwenVLRuntime,
        trained: bool,
        history: list[dict[str, Any]] | None = None,
        fit_report: dict[str, Any] | None = None,
        prompt_example: str | None = None,
    ):
        self.runtime = runtime
        self.trained = trained
        self.history = history or []
        self.fit_report = fit_report or {}
        # How the last prediction's answers read (generate head), and the prompt of its first video (of the first
        # training video after a fit).
        self.answers: AnswerStats | None = None
        self.prompt_example: str | None = prompt_example or runtime.prompt_example

    @property
    def invalid_rate(self) -> float | None:
        return None if self.answers is None else self.answers.rate

    def predict(self, dataset: PreparedDataset, ids: Sequence[str], progress: Reporter | None = None) -> pd.Series:
        scores, self.answers = self.runtime.predict(dataset, list(ids), progress or Reporter.silent())
        self.prompt_example = self.runtime.prompt_example
        return scores

    def report(self) -> dict[str, Any]:
        """What the fit did and, once it has predicted (the runner asks after scoring the fold), how the generate
        head's answers read: how many, and the invalid ones by reason."""
        if self.answers is None:
            return self.fit_report
        return {**self.fit_report, "answers": self.answers.to_json()}

    def notes(self) -> list[str]:
        if self.answers is None:
            return []
        return [f"invalid answers: {self.answers.describe()} (replaced by the labelled mean)"]

    def artifacts(self) -> dict[str, str]:
        """`prompt_example.txt`: the rendered prompt of the first video, each frame's visual tokens written once
        with their count, so that a participant sees exactly what the model read."""
        return {PROMPT_EXAMPLE: self.prompt_example} if self.prompt_example else {}

    def save(self, directory: Path) -> None:
        meta = {
            "config": asdict(self.runtime.config),
            "train_mean": self.runtime.train_mean,
            "trained": self.trained,
            "history": self.history,
            "report": self.fit_report,
        }
        atomic_write_text(directory / META_FILE, json.dumps(meta, indent=2) + "\n")
        atomic_write_text(directory / PROMPT_COPY, self.runtime.template + "\n")
        if self.trained:
            save_trainable(self.runtime.scorer, directory / WEIGHTS_FILE)

    @classmethod
    def load(cls, directory: Path) -> QwenVLModel:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        values = dict(meta["config"])
        values["prompt"] = str(directory / PROMPT_COPY)
        # Models saved before frames kept their aspect ratio were trained on square frames: predict as they trained.
        values.setdefault("resize", "square")
        config = resolve_config(QwenVLConfig, None, values)
        runtime = QwenVLRuntime(config, lora=meta["trained"], train_mean=float(meta["train_mean"]))
        if meta["trained"]:
            for p in runtime.scorer.parameters():
                p.requires_grad_(False)
            mark_trainable(runtime.scorer)
            load_trainable(runtime.scorer, directory / WEIGHTS_FILE)
        runtime.scorer.eval()
        return cls(runtime, meta["trained"], meta.get("history"), meta.get("report"))


def mark_trainable(scorer: Scorer) -> None:
    """The parameters a fit trains: LoRA adapters and the regression head (what the weights file holds)."""
    for name, p in scorer.named_parameters():
        p.requires_grad_("lora_" in name or name.startswith("regressor."))


def check_qwen_model(name: str, source: str = "memo train") -> None:
    """A built-in tiny or random-shape name, a local folder, or a reachable hub name; else an InputError."""
    from mediaeval_memo.models.names import check_model_name
    from mediaeval_memo.models.tiny_qwen import RANDOM_SHAPES, TINY_MODELS

    check_model_name(name, [*TINY_MODELS, *RANDOM_SHAPES], source=source)


def zero_shot(
    model: str, dataset: PreparedDataset, split: str, overrides: Mapping[str, object] | None = None
) -> QwenVLModel:
    """The untrained model on the paper's prompt (its section 4.1): generate or expected head, no adapters.

    Invalid answers get the mean label of the labelled videos outside `split` (the paper's training mean), so that
    scoring a labelled split never reads its own labels."""
    config = resolve_config(QwenVLConfig, None, {**(overrides or {}), "model": model})
    check_qwen_model(config.model, source="--model")
    if config.head == "head":
        raise InputError(
            Problem(
                "--zero-shot",
                "the regression head needs training; use generate or expected",
                field="head",
                value="head",
            )
        )
    config.target = dataset.check_target(config.target)
    labelled = dataset.labelled(config.target)
    others = labelled[labelled["split"] != split]
    mean = float(others[config.target].mean()) if len(others) else 0.5
    return QwenVLModel(QwenVLRuntime(config, lora=False, train_mean=mean), trained=False)
