"""Qwen-VL models: loading by hub name, local path or built-in name, and frames laid out as their processors do.

The one place that knows the Qwen2-VL, Qwen2.5-VL and Qwen3-VL families: `load_backbone` returns the model, its
tokenizer (with the checkpoint's chat template; Thinking checkpoints are refused, see `models.chat`) and how its
vision tower wants frames (`VisionPreprocessing`, read from the checkpoint's preprocessor_config.json); `patchify`
turns PIL frames into the tower's patch layout without torchvision, at the frame's own aspect ratio as Qwen's image
processor does (`frame_size`), or squashed square on request. Built-in names (`tiny-random-*`,
`random-qwen2.5-vl-7b`) come from `tiny_qwen` and download nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from mediaeval_memo.models.chat import ensure_chat_template, refuse_thinking
from mediaeval_memo.models.quantization import fix_bitsandbytes_cpu, quantization_config, quantize_in_place


@dataclass(frozen=True)
class VisionPreprocessing:
    """How frames become patches for a Qwen-VL vision tower (what its image processor would do)."""

    patch_size: int
    temporal_patch_size: int
    merge_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)


@dataclass
class Backbone:
    """A loaded Qwen-VL model with what is needed to feed it."""

    model: Any  # a transformers *ForConditionalGeneration (LoRA is added around it later)
    tokenizer: Any
    prep: VisionPreprocessing
    family: str  # "qwen2-vl" | "qwen2.5-vl" | "qwen3-vl"
    identity: str  # what makes two loads produce the same visual tokens: name, revision/config hash, tower dtype


def family_of(model_type: str) -> str:
    families = {"qwen2_vl": "qwen2-vl", "qwen2_5_vl": "qwen2.5-vl", "qwen3_vl": "qwen3-vl"}
    if model_type not in families:
        raise ValueError(
            f"model type {model_type!r} is not a natively supported Qwen-VL family ({', '.join(families)})"
        )
    return families[model_type]


def load_backbone(
    name: str, quantization: str, device: torch.device, trust_remote_code: bool = False, attn: str | None = None
) -> Backbone:
    """Load a Qwen2-VL / Qwen2.5-VL / Qwen3-VL model by hub name, local path or built-in tiny name.

    4-bit loads quantize the language model only: the vision tower ("model.visual") and lm_head stay in the
    compute dtype. On a GPU non-quantized weights are bf16; on a CPU fp32.
    """
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn:
        kwargs["attn_implementation"] = attn
    if quantization == "4bit":
        kwargs["quantization_config"] = quantization_config(["model.visual", "visual", "lm_head"])
        if device.type == "cuda":
            kwargs["device_map"] = {"": device.index if device.index is not None else torch.cuda.current_device()}
        else:
            kwargs["device_map"] = {"": "cpu"}
    model: Any
    from mediaeval_memo.models import tiny_qwen

    if tiny_qwen.is_tiny(name):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the save-and-reload of a tiny model is not worth two progress bars
        if quantization == "4bit":  # bitsandbytes quantizes at load time, so go through a saved folder
            model = AutoModelForImageTextToText.from_pretrained(_saved_tiny(name), **kwargs)
            tokenizer = tiny_qwen.tiny_tokenizer(name)
        else:
            model, tokenizer = tiny_qwen.build_tiny(name, dtype=dtype)
        prep = tiny_qwen.tiny_preprocessing(name)
    elif name in tiny_qwen.RANDOM_SHAPES:
        model, tokenizer = tiny_qwen.build_random_shape(name, device, dtype)
        if quantization == "4bit":
            quantize_in_place(model)
        prep = VisionPreprocessing(14, 2, 2, CLIP_MEAN, CLIP_STD)
    else:
        if trust_remote_code:
            kwargs["trust_remote_code"] = True
        # The tokenizer first: a checkpoint without a usable chat template fails before gigabytes of weights load.
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        ensure_chat_template(tokenizer, name)
        refuse_thinking(tokenizer, name)
        model = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
        prep = _preprocessing_from_hub(name, model.config)
    if quantization != "4bit":
        model.to(device)
    fix_bitsandbytes_cpu(model)
    family = family_of(model.config.model_type)
    config_hash = hashlib.sha256(model.config.vision_config.to_json_string().encode()).hexdigest()[:12]
    identity = f"{name}|vision:{config_hash}|{getattr(model.config, '_commit_hash', None)}|{dtype}"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Backbone(model, tokenizer, prep, family, identity)


_SAVED_TINY: dict[str, tempfile.TemporaryDirectory[str]] = {}


def _saved_tiny(name: str) -> Path:
    """A tiny model's folder, written once per process (its weights are fixed) and removed when the process ends:
    cross-validation loads the model once per fold."""
    from mediaeval_memo.models.tiny_qwen import save_tiny

    if name not in _SAVED_TINY:
        folder = tempfile.TemporaryDirectory(prefix="memo-tiny-")
        save_tiny(name, Path(folder.name))
        _SAVED_TINY[name] = folder
    return Path(_SAVED_TINY[name].name)


def _preprocessing_from_hub(name: str, config: Any) -> VisionPreprocessing:
    """Patch sizes and normalisation from the model's preprocessor_config.json (config defaults when absent)."""
    from transformers.utils import cached_file

    vision = config.vision_config
    defaults = HALF if config.model_type == "qwen3_vl" else CLIP_MEAN
    values: dict[str, Any] = {}
    path = cached_file(name, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    if path:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    return VisionPreprocessing(
        patch_size=int(values.get("patch_size", vision.patch_size)),
        temporal_patch_size=int(values.get("temporal_patch_size", vision.temporal_patch_size)),
        merge_size=int(values.get("merge_size", vision.spatial_merge_size)),
        image_mean=tuple(values.get("image_mean", defaults)),
        image_std=tuple(values.get("image_std", HALF if defaults == HALF else CLIP_STD)),
    )


def parts(model: Any) -> tuple[Any, Any, Any]:
    """(inner Qwen*VLModel, its language model, lm_head) of a model, with or without a PEFT wrapper."""
    base: Any = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model, base.model.language_model, base.lm_head


Resize = Literal["native", "square"]


def frame_size(width: int, height: int, budget: int, prep: VisionPreprocessing, resize: Resize) -> tuple[int, int]:
    """(height, width) a `width` x `height` frame is resized to for a pixel budget of `budget`^2.

    native: the largest size at the frame's own aspect with both sides multiples of the patch unit (patch x merge:
    28 for Qwen2/2.5-VL, 32 for Qwen3-VL) and at most budget^2 pixels. That is the official processor's
    `smart_resize` for a frame over max_pixels = budget^2, applied to every frame, so that small frames grow to the
    budget as they did when squashed square (a 16:9 frame at 448: 588x336, 252 tokens instead of 256).
    square: budget x budget (rounded to the patch unit), squashing the aspect (the paper's Qwen-VL-Chat setting).
    """
    unit = prep.patch_size * prep.merge_size
    if resize == "square":
        side = max(unit, round(budget / unit) * unit)
        return side, side
    # The official arithmetic, float for float, so that grids agree with its processor to the patch.
    beta = math.sqrt((height * width) / (budget * budget))
    return max(unit, math.floor(height / beta / unit) * unit), max(unit, math.floor(width / beta / unit) * unit)


def patchify(
    frames: Sequence[Any], size: int, prep: VisionPreprocessing, as_video: bool, resize: Resize = "native"
) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL frames -> (pixel_values, grid_thw) laid out as Qwen's image processor lays them out.

    Each frame is resized to `frame_size(..., size, ...)`: its own aspect within `size`^2 pixels (native) or
    `size` x `size` (square). As images, each frame is its own grid (temporal patches of a repeated frame) and may
    have its own size; as a video, every frame takes the first frame's size and consecutive frames pair up into
    temporal patches.
    """
    mean = np.asarray(prep.image_mean, dtype=np.float32)[:, None, None]
    std = np.asarray(prep.image_std, dtype=np.float32)[:, None, None]
    arrays = []
    target: tuple[int, int] | None = None
    for frame in frames:
        rgb = frame.convert("RGB")
        if target is None or not as_video:
            target = frame_size(rgb.width, rgb.height, size, prep, resize)
        img = rgb.resize((target[1], target[0]), resample=3)  # bicubic, as the Qwen processors
        arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        arrays.append((arr - mean) / std)
    tps = prep.temporal_patch_size
    groups = [np.stack(arrays)] if as_video else [np.stack([a] * tps) for a in arrays]
    pixel_values, grids = [], []
    for stack in groups:
        if len(stack) % tps:
            stack = np.concatenate([stack, np.repeat(stack[-1:], tps - len(stack) % tps, axis=0)])
        height, width = stack.shape[-2:]
        grid_t, grid_h, grid_w = len(stack) // tps, height // prep.patch_size, width // prep.patch_size
        m, p = prep.merge_size, prep.patch_size
        patches = stack.reshape(grid_t, tps, 3, grid_h // m, m, p, grid_w // m, m, p)
        patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        pixel_values.append(patches.reshape(grid_t * grid_h * grid_w, 3 * tps * p * p))
        grids.append([grid_t, grid_h, grid_w])
    return torch.from_numpy(np.concatenate(pixel_values)), torch.tensor(grids, dtype=torch.long)


def tokens_per_grid(grid: torch.Tensor, merge_size: int) -> list[int]:
    return [int(t * h * w) // merge_size**2 for t, h, w in grid.tolist()]
