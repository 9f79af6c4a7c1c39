"""The qwen-vl variant at work: a loaded backbone with its prompt, tokenizer and visual-token cache, the trainable
whole (`Scorer`: LoRA-wrapped model plus the optional regression head), and how videos become examples, batches
and predictions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.features.visual_tokens import VisualCache, encode_frames, read_visual_tokens
from mediaeval_memo.models.qwen_vl import tokens_per_grid
from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.forward import (
    IMAGE,
    TEXT,
    VIDEO,
    answer_logits,
    candidate_distribution,
    greedy_answers,
    language_hidden,
)
from mediaeval_memo.variants.qwen_vl.prompt import (
    INVALID_REASONS,
    load_template,
    read_answer,
    score_to_label,
    select_frames,
)


@dataclass
class Example:
    video_id: str
    input_ids: list[int]
    mm_types: list[int]
    labels: list[int]
    score: float
    cache_path: Path


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


class Scorer(nn.Module):
    """The trainable whole: the (LoRA-wrapped) Qwen-VL model and, for the `head` head, a regression head.

    `forward(batch)` returns the training loss, so that DDP sees one forward per micro-batch.
    """

    def __init__(self, backbone_model: nn.Module, head: str, hidden_size: int, train_mean: float, seed: int):
        super().__init__()
        self.backbone = backbone_model
        self.head_kind = head
        self.regressor: nn.Linear | None = None
        if head == "head":
            g = torch.Generator().manual_seed(seed)
            self.regressor = nn.Linear(hidden_size, 1)
            with torch.no_grad():
                self.regressor.weight.copy_(torch.randn(1, hidden_size, generator=g) * 0.01)
                self.regressor.bias.fill_(train_mean)
            self.regressor.to(next(p.device for p in backbone_model.parameters()))

    def regress(self, hidden: torch.Tensor) -> torch.Tensor:
        assert self.regressor is not None
        return self.regressor(hidden[:, -1].float()).squeeze(-1)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        hidden, _, _ = language_hidden(self.backbone, batch)
        if self.head_kind == "head":
            return nn.functional.mse_loss(self.regress(hidden), batch["scores"].float())
        logits, targets = answer_logits(self.backbone, hidden, batch["labels"])
        return nn.functional.cross_entropy(logits.float(), targets)


class QwenVLRuntime:
    """A loaded backbone with its prompt, tokenizer and visual-token cache: builds examples, batches, predictions."""

    def __init__(self, config: QwenVLConfig, lora: bool, train_mean: float):
        from accelerate import PartialState

        from mediaeval_memo.models.qwen_vl import load_backbone
        from mediaeval_memo.training.lora import LoraTargetError, add_lora

        self.config = config
        self.template = load_template(config.prompt or None)
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
        tok = self.backbone.tokenizer
        self.end_id = tok.convert_tokens_to_ids("<|im_end|>")
        self.stop_ids = sorted({self.end_id, tok.eos_token_id, tok.pad_token_id} - {None})
        self.candidates = [[*self._ids(str(c)), self.end_id] for c in range(101)]

    @property
    def as_video(self) -> bool:
        return self.config.frame_mode == "video"

    def _ids(self, text: str) -> list[int]:
        return list(self.backbone.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cache_for(self, dataset: PreparedDataset) -> VisualCache:
        root = Path(self.config.cache_dir) if self.config.cache_dir else dataset.root / "cache" / "visual_tokens"
        return VisualCache(root, self.backbone.identity, self.config.image_size, self.as_video)

    def ensure_visual_tokens(
        self, dataset: PreparedDataset, ids: Sequence[str], progress: Reporter | None = None
    ) -> dict[str, Path]:
        """Cache path of every video's visual tokens, running the frozen tower for those not cached yet."""
        progress = progress or Reporter.silent()
        from accelerate import PartialState
        from PIL import Image

        cache = self.cache_for(dataset)
        paths: dict[str, Path] = {}
        todo: list[tuple[str, list[Path], Path]] = []
        for vid in ids:
            frames = select_frames(dataset.frame_paths(vid), self.config.frames)
            if not frames:
                raise InputError(
                    Problem(
                        str(dataset.root / "frames" / vid),
                        "video has no prepared frames; run `memo prepare ... --frames 3`",
                        field="video_id",
                        value=vid,
                    )
                )
            paths[vid] = cache.path(vid, frames)
            if not paths[vid].is_file():
                todo.append((vid, frames, paths[vid]))
        if todo:
            # Under `accelerate launch` each process encodes its share; all wait until every file is there.
            state = PartialState()
            mine = todo[state.process_index :: state.num_processes]
            with progress.only_if(state.is_main_process).task("visual tokens", total=len(mine)) as task:
                for _vid, frames, path in mine:
                    images = [Image.open(f) for f in frames]
                    cache.put(path, encode_frames(self.backbone, images, self.config.image_size, self.as_video))
                    task.advance()
            state.wait_for_everyone()
        return paths

    def examples(
        self, dataset: PreparedDataset, ids: Sequence[str], with_labels: bool, progress: Reporter | None = None
    ) -> list[Example]:
        paths = self.ensure_visual_tokens(dataset, ids, progress)
        rows = dataset.rows(list(ids))
        captions_of = dict(zip(rows["video_id"], rows["captions"], strict=True))
        target = self.config.target
        score_of = dict(zip(rows["video_id"], rows[target].astype(float), strict=True)) if with_labels else {}
        merge = self.backbone.prep.merge_size
        tok = self.backbone.tokenizer
        vs, ve = tok.convert_tokens_to_ids("<|vision_start|>"), tok.convert_tokens_to_ids("<|vision_end|>")
        pad_id = tok.convert_tokens_to_ids("<|video_pad|>" if self.as_video else "<|image_pad|>")
        kind = VIDEO if self.as_video else IMAGE
        out = []
        for vid in ids:
            grid = _grid_of(paths[vid])
            counts = tokens_per_grid(grid, merge)
            if self.as_video and self.backbone.family == "qwen3-vl":
                # Qwen3-VL reads a video as one block per temporal patch, each after its timestamp.
                t = int(grid[0, 0])
                per = counts[0] // t
                tps = self.backbone.prep.temporal_patch_size
                blocks = [(per, f"<{i * tps:.1f} seconds>") for i in range(t)]
            else:
                blocks = [(n, "") for n in counts]
            captions = [str(c) for c in list(captions_of[vid])[: self.config.captions]]
            before, _, rest = self.template.partition("{frames}")
            middle, _, after = rest.partition("{captions}")
            ids_ = self._ids(f"<|im_start|>user\n{before}")
            for n, prefix in blocks:
                ids_ += self._ids(prefix) if prefix else []
                ids_ += [vs] + [pad_id] * n + [ve]
            ids_ += self._ids(f"{middle}{chr(10).join(captions)}{after}<|im_end|>\n<|im_start|>assistant\n")
            types = [kind if i == pad_id else TEXT for i in ids_]
            labels = [-100] * len(ids_)
            score = score_of[vid] if with_labels else float("nan")
            if with_labels and self.config.head != "head":
                answer = [*self._ids(score_to_label(score)), self.end_id]
                ids_, types, labels = ids_ + answer, types + [TEXT] * len(answer), labels + answer
            out.append(Example(vid, ids_, types, labels, score, paths[vid]))
        return out

    def collate(self, examples: list[Example]) -> dict[str, Any]:
        """Left-padded batch (the last position is every row's last token) with the videos' cached visual tokens."""
        longest = max(len(e.input_ids) for e in examples)
        pad = self.backbone.tokenizer.pad_token_id
        ids, types, labels, mask = [], [], [], []
        visual, grids, deepstack_parts = [], [], []
        for e in examples:
            gap = longest - len(e.input_ids)
            ids.append([pad] * gap + e.input_ids)
            types.append([0] * gap + e.mm_types)
            labels.append([-100] * gap + e.labels)
            mask.append([0] * gap + [1] * len(e.input_ids))
            tokens = read_visual_tokens(e.cache_path)
            visual.append(tokens.tokens)
            grids.append(tokens.grid_thw)
            deepstack_parts.append(tokens.deepstack)
        deepstack = [torch.cat([d[i] for d in deepstack_parts]) for i in range(len(deepstack_parts[0]))]
        batch: dict[str, Any] = {
            "input_ids": torch.tensor(ids),
            "mm_token_type_ids": torch.tensor(types),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
            "visual_tokens": torch.cat(visual),
            "grid_thw": torch.cat(grids),
            "deepstack": deepstack,
            "as_video": self.as_video,
            "scores": torch.tensor([e.score for e in examples], dtype=torch.float32),
        }
        if self.as_video:
            batch["second_per_grid_ts"] = torch.ones(len(grids))
        return batch

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


def _grid_of(path: Path) -> torch.Tensor:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        grid: torch.Tensor = fh.get_tensor("grid_thw")
    return grid
