"""How videos become qwen-vl's examples and batches (as gemma-fusion's `data`).

A video's prompt is the tokenizer's own chat template rendered over the template's text and one image part per
frame (or one video part); each frame's placeholder is then expanded to its visual tokens as Qwen's processors
expand it (Qwen3-VL videos: one block per temporal patch after its time stamp, from the clip's real frame times).
The frozen vision tower's tokens come from the visual-token cache (`visual_tokens`), computed once per video.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.models.qwen_vl import Backbone, tokens_per_grid
from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.net import IMAGE, TEXT, VIDEO
from mediaeval_memo.variants.qwen_vl.prompt import render_prompt, score_to_label, select_frame_indices
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


class QwenVLData:
    """The prompt template, the tokenizer and the visual-token cache of one loaded backbone: builds examples and
    batches."""

    def __init__(self, config: QwenVLConfig, backbone: Backbone, template: str):
        self.config = config
        self.backbone = backbone
        self.template = template
        self.end_id = backbone.tokenizer.convert_tokens_to_ids("<|im_end|>")
        # The rendered prompt of the first video of the last `examples` call (what `prompt_example.txt` shows).
        self.prompt_example: str | None = None

    @property
    def as_video(self) -> bool:
        return self.config.frame_mode == "video"

    def token_ids(self, text: str) -> list[int]:
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
            ids_ = self.token_ids(text)
            types = [kind if i == pad_id else TEXT for i in ids_]
            labels = [-100] * len(ids_)
            score = score_of[vid] if with_labels else float("nan")
            if with_labels and self.config.head != "head":
                answer = [*self.token_ids(score_to_label(score)), self.end_id]
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
