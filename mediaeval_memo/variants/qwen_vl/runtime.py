"""The qwen-vl variant at work: a loaded backbone with its prompt, tokenizer and visual-token cache, wrapped in the
trainable whole (`net.Scorer`), and how videos become examples, batches and predictions.

A video's prompt is the tokenizer's own chat template rendered over the template's text and one image part per
frame (or one video part); each frame's placeholder is then expanded to its visual tokens as Qwen's processors
expand it (Qwen3-VL videos: one block per temporal patch after its time stamp, from the clip's real frame times).
"""

from __future__ import annotations

import re
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
from mediaeval_memo.models.qwen_vl import tokens_per_grid
from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.net import (
    IMAGE,
    TEXT,
    VIDEO,
    Scorer,
    candidate_distribution,
    greedy_answers,
    language_hidden,
)
from mediaeval_memo.variants.qwen_vl.prompt import (
    INVALID_REASONS,
    load_template,
    read_answer,
    render_prompt,
    score_to_label,
    select_frame_indices,
)
from mediaeval_memo.variants.qwen_vl.visual_tokens import VisualCache, encode_frames, read_visual_tokens

IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"


@dataclass
class Example:
    video_id: str
    input_ids: list[int]
    mm_types: list[int]
    labels: list[int]
    score: float
    cache_path: Path
    second_per_grid_t: float = 1.0  # video mode: seconds one temporal patch spans (Qwen2.5-VL's time positions)


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
        # The rendered prompt of the first video of the last `examples` call (what `prompt_example.txt` shows).
        self.prompt_example: str | None = None

    @property
    def as_video(self) -> bool:
        return self.config.frame_mode == "video"

    def _ids(self, text: str) -> list[int]:
        return list(self.backbone.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cache_for(self, dataset: PreparedDataset) -> VisualCache:
        root = Path(self.config.cache_dir) if self.config.cache_dir else dataset.root / "cache" / "visual_tokens"
        return VisualCache(root, self.backbone.identity, self.config.image_size, self.as_video, self.config.resize)

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
            available = dataset.frame_paths(vid)
            frames = [available[i] for i in select_frame_indices(len(available), self.config.frames)]
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
                    tokens = encode_frames(
                        self.backbone, images, self.config.image_size, self.as_video, self.config.resize
                    )
                    cache.put(path, tokens)
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
        tok = self.backbone.tokenizer
        pad_id = tok.convert_tokens_to_ids(VIDEO_PAD if self.as_video else IMAGE_PAD)
        kind = VIDEO if self.as_video else IMAGE
        out: list[Example] = []
        untimed = 0
        for vid in ids:
            grid = _grid_of(paths[vid])
            captions = [str(c) for c in list(captions_of[vid])[: self.config.captions]]
            times: list[float] = []
            if self.as_video:
                times, known = self._frame_times(dataset, vid)
                untimed += not known
            text = self._expand(render_prompt(tok, self.template, captions, len(grid), self.as_video), grid, times)
            if not out:
                self.prompt_example = _readable(text)
            ids_ = self._ids(text)
            types = [kind if i == pad_id else TEXT for i in ids_]
            labels = [-100] * len(ids_)
            score = score_of[vid] if with_labels else float("nan")
            if with_labels and self.config.head != "head":
                answer = [*self._ids(score_to_label(score)), self.end_id]
                ids_, types, labels = ids_ + answer, types + [TEXT] * len(answer), labels + answer
            out.append(Example(vid, ids_, types, labels, score, paths[vid], self._second_per_grid_t(times)))
        if untimed and progress is not None:
            # Once per run: every fold and evaluation would say it again.
            progress.say_once(
                "some videos have no frame times (prepared before `memo prepare` stored them): their frames are "
                "taken as 1 second apart; prepare the dataset again (--force) for the clips' real times"
            )
        return out

    def _frame_times(self, dataset: PreparedDataset, video_id: str) -> tuple[list[float], bool]:
        """Seconds into the clip of the frames a video is read with, and whether they are the clip's real times
        (frames prepared before times were stored are taken as 1 second apart, VIDEM's frame rate)."""
        stored = dataset.frame_times(video_id)
        count = len(dataset.frame_paths(video_id))
        seconds = stored if stored is not None else [float(i) for i in range(count)]
        return [seconds[i] for i in select_frame_indices(count, self.config.frames)], stored is not None

    def _patch_times(self, times: list[float]) -> list[float]:
        """The time of each temporal patch: the mean of its first and last frame's, the last frame repeated to fill
        the final patch (Qwen3-VL's processor)."""
        tps = self.backbone.prep.temporal_patch_size
        padded = times + [times[-1]] * (-len(times) % tps)
        return [(padded[i] + padded[i + tps - 1]) / 2 for i in range(0, len(padded), tps)]

    def _second_per_grid_t(self, times: list[float]) -> float:
        """Seconds one temporal patch spans (Qwen2.5-VL: temporal_patch_size / the sampled frames' rate)."""
        if len(times) < 2:
            return 1.0
        spacing = (times[-1] - times[0]) / (len(times) - 1)
        return self.backbone.prep.temporal_patch_size * max(spacing, 0.0)

    def _expand(self, text: str, grid: torch.Tensor, times: list[float]) -> str:
        """The rendered prompt with each frame's placeholder expanded to its visual tokens, as the processors do."""
        counts = tokens_per_grid(grid, self.backbone.prep.merge_size)
        if not self.as_video:
            block = VISION_START + IMAGE_PAD + VISION_END
            if text.count(block) != len(counts):
                raise InputError(
                    Problem(
                        self.config.prompt or "prompt",
                        f"the rendered prompt holds {text.count(block)} image placeholders for {len(counts)} frames; "
                        "a template must not contain vision tokens of its own",
                        field="prompt",
                    )
                )
            blocks = iter(counts)
            return re.sub(re.escape(block), lambda _: VISION_START + IMAGE_PAD * next(blocks) + VISION_END, text)
        block = VISION_START + VIDEO_PAD + VISION_END
        if self.backbone.family == "qwen3-vl":
            # Qwen3-VL reads a video as one block per temporal patch, each after its time stamp in the clip.
            t = int(grid[0, 0])
            per = counts[0] // t
            stamps = self._patch_times(times)
            video = "".join(
                f"<{stamps[i]:.1f} seconds>" + VISION_START + VIDEO_PAD * per + VISION_END for i in range(t)
            )
        else:
            video = VISION_START + VIDEO_PAD * counts[0] + VISION_END
        return text.replace(block, video, 1)

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
            batch["second_per_grid_ts"] = torch.tensor([e.second_per_grid_t for e in examples], dtype=torch.float32)
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


def _readable(text: str) -> str:
    """A prompt with each run of visual tokens written once with its count (`<|image_pad|>*252`)."""
    return re.sub(
        r"(<\|(?:image|video)_pad\|>)\1*", lambda m: f"{m.group(1)}*{len(m.group()) // len(m.group(1))}", text
    )


def _grid_of(path: Path) -> torch.Tensor:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        grid: torch.Tensor = fh.get_tensor("grid_thw")
    return grid
