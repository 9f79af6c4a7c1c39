"""The qwen-vl variant at work: a loaded backbone (with LoRA adapters when it trains) wrapped in the trainable whole
(`net.Scorer`), its data side (`data.QwenVLData`: prompts, examples, batches) and prediction by each head."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.data import Example, QwenVLData
from mediaeval_memo.variants.qwen_vl.net import (
    Scorer,
    candidate_distribution,
    greedy_answers,
    language_hidden,
)
from mediaeval_memo.variants.qwen_vl.prompt import (
    INVALID_REASONS,
    load_template,
    read_answer,
)


@dataclass
class AnswerStats:
    """How the generate head's answers read: how many, and the invalid ones by reason (see `prompt.read_answer`)."""

    n: int = 0
    invalid: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return sum(self.invalid.values()) / self.n if self.n else 0.0

    def describe(self) -> str:
        """e.g. "3 of 40 (7.5%): no number 1, out of range 0, truncated 2"."""
        reasons = ", ".join(f"{r} {self.invalid[r]}" for r in INVALID_REASONS)
        return f"{sum(self.invalid.values())} of {self.n} ({100 * self.rate:.1f}%): {reasons}"

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "invalid": {r: self.invalid[r] for r in INVALID_REASONS}, "rate": self.rate}


class QwenVLRuntime:
    """A loaded backbone and its trainable whole, with the data side that builds examples and batches; predicts."""

    def __init__(self, config: QwenVLConfig, lora: bool, train_mean: float):
        from accelerate import PartialState

        from mediaeval_memo.models.qwen_vl import load_backbone
        from mediaeval_memo.training.lora import LoraTargetError, add_lora

        self.config = config
        template = load_template(config.prompt or None)  # a bad --prompt fails before the backbone loads
        self.device = PartialState().device
        self.backbone = load_backbone(
            config.model, config.quantization, self.device, config.trust_remote_code, config.attn_implementation or None
        )
        model = self.backbone.model
        for p in model.parameters():
            p.requires_grad_(False)
        if lora:
            try:
                with torch.random.fork_rng(devices=[]):  # the adapters' initial weights follow the seed alone
                    torch.manual_seed(config.seed)
                    model = add_lora(model, config)
            except LoraTargetError as exc:
                message = f"matches no linear layer of {config.model}; some that exist: {', '.join(exc.existing[:3])}"
                raise InputError(Problem("config", message, field="lora_targets", value=config.lora_targets)) from None
        hidden = int(self.backbone.model.config.text_config.hidden_size)
        self.scorer = Scorer(model, config.head, hidden, train_mean, config.seed)
        self.train_mean = train_mean
        self.data = QwenVLData(config, self.backbone, template)
        tok = self.backbone.tokenizer
        self.stop_ids = sorted({self.data.end_id, tok.eos_token_id, tok.pad_token_id} - {None})
        self.candidates = [[*self.data.token_ids(str(c)), self.data.end_id] for c in range(101)]

    # What the variant, the model and the tests use of the data side, under the runtime's names.
    @property
    def template(self) -> str:
        return self.data.template

    @property
    def prompt_example(self) -> str | None:
        """The rendered prompt of the first video of the last `examples` call (what `prompt_example.txt` shows)."""
        return self.data.prompt_example

    def ensure_visual_tokens(
        self, dataset: PreparedDataset, ids: Sequence[str], progress: Reporter | None = None
    ) -> dict[str, Path]:
        return self.data.ensure_visual_tokens(dataset, ids, progress)

    def examples(
        self, dataset: PreparedDataset, ids: Sequence[str], with_labels: bool, progress: Reporter | None = None
    ) -> list[Example]:
        return self.data.examples(dataset, ids, with_labels, progress)

    def collate(self, examples: list[Example]) -> dict[str, Any]:
        return self.data.collate(examples)

    @torch.no_grad()
    def predict(
        self, dataset: PreparedDataset, ids: Sequence[str], progress: Reporter | None = None
    ) -> tuple[pd.Series, AnswerStats | None]:
        """Scores for `ids` and, for the generate head, how its answers read (invalid ones by reason)."""
        progress = progress or Reporter.silent()
        from accelerate.utils import send_to_device

        scorer = self.scorer
        was_training = scorer.training
        scorer.eval()
        examples = self.examples(dataset, ids, with_labels=False, progress=progress)
        size = 1 if self.config.head == "expected" else self.config.eval_batch_size
        scores: list[float] = []
        stats = AnswerStats()
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        with progress.task(f"predict ({self.config.head} head)", total=len(examples)) as task, autocast:
            for start in range(0, len(examples), size):
                chunk = examples[start : start + size]
                batch = send_to_device(self.collate(chunk), self.device)
                if self.config.head == "head":
                    hidden, _, _ = language_hidden(scorer.backbone, batch)
                    scores += scorer.regress(hidden).float().cpu().tolist()
                elif self.config.head == "expected":
                    probs = candidate_distribution(scorer.backbone, batch, self.candidates)
                    scores.append(float((probs * torch.arange(101, device=probs.device)).sum()) / 100.0)
                else:
                    decoded = greedy_answers(scorer.backbone, batch, self.stop_ids, self.config.max_new_tokens)
                    for tokens, stopped in decoded:
                        text = self.backbone.tokenizer.decode(tokens, skip_special_tokens=True)
                        answer = read_answer(text, truncated=not stopped)
                        stats.n += 1
                        if answer.value is None:
                            stats.invalid[str(answer.reason)] += 1
                        scores.append(self.train_mean if answer.value is None else answer.value)
                task.advance(len(chunk))
        scorer.train(was_training)
        if self.config.head != "generate":
            return pd.Series(scores, index=list(ids), dtype=float), None
        if stats.invalid:
            progress.say(f"invalid answers: {stats.describe()}; they got the training mean {self.train_mean:.4f}")
        return pd.Series(scores, index=list(ids), dtype=float), stats
