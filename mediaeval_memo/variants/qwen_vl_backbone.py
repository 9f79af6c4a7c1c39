"""The Qwen-VL model as the qwen-vl variant runs it: loading, frame patches, cached visual tokens, fast forwards.

Why this is not `model(**processor(...))`: the frozen vision tower costs 40-60% of every training step and its
output never changes, so the visual tokens of each video are computed once, without autograd, and cached on disk
(keyed by model, frames and resolution); training and prediction then run only the language model on input
embeddings with the cached tokens scattered in. The loss touches the vocabulary only where it must: the answer
tokens (`generate`), the 101 candidate answers (`expected`), or not at all (`head`).
Frames are patchified here exactly as the Qwen image processors do, so no torchvision is needed.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mediaeval_memo.io import atomic_path
from mediaeval_memo.training.lora import fix_bitsandbytes_cpu, quantization_config, quantize_in_place
from mediaeval_memo.training.tiny_qwen import (
    CLIP_MEAN,
    CLIP_STD,
    HALF,
    RANDOM_SHAPES,
    VisionPreprocessing,
    build_random_shape,
    build_tiny,
    is_tiny,
    save_tiny,
    tiny_preprocessing,
    tiny_tokenizer,
)

IGNORE = -100
TEXT, IMAGE, VIDEO = 0, 1, 2


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
    if is_tiny(name):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the save-and-reload of a tiny model is not worth two progress bars
        if quantization == "4bit":  # bitsandbytes quantizes at load time, so go through a saved folder
            model = AutoModelForImageTextToText.from_pretrained(_saved_tiny(name), **kwargs)
            tokenizer = tiny_tokenizer()
        else:
            model, tokenizer = build_tiny(name, dtype=dtype)
        prep = tiny_preprocessing(name)
    elif name in RANDOM_SHAPES:
        model, tokenizer = build_random_shape(name, device, dtype)
        if quantization == "4bit":
            quantize_in_place(model)
        prep = VisionPreprocessing(14, 2, 2, CLIP_MEAN, CLIP_STD)
    else:
        if trust_remote_code:
            kwargs["trust_remote_code"] = True
        model = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
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


# ---------------------------------------------------------------- frames -> patches


def patchify(
    frames: Sequence[Any], size: int, prep: VisionPreprocessing, as_video: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL frames -> (pixel_values, grid_thw) laid out as Qwen's image processor lays them out.

    Each frame is resized to `size` x `size` (rounded to the patch grid). As images, each frame is its own grid
    (temporal patches of a repeated frame); as a video, consecutive frames pair up into temporal patches.
    """
    unit = prep.patch_size * prep.merge_size
    side = max(unit, round(size / unit) * unit)
    mean = np.asarray(prep.image_mean, dtype=np.float32)[:, None, None]
    std = np.asarray(prep.image_std, dtype=np.float32)[:, None, None]
    arrays = []
    for frame in frames:
        img = frame.convert("RGB").resize((side, side), resample=3)  # bicubic, as the Qwen processors
        arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        arrays.append((arr - mean) / std)
    tps = prep.temporal_patch_size
    groups = [np.stack(arrays)] if as_video else [np.stack([a] * tps) for a in arrays]
    pixel_values, grids = [], []
    for stack in groups:
        if len(stack) % tps:
            stack = np.concatenate([stack, np.repeat(stack[-1:], tps - len(stack) % tps, axis=0)])
        grid_t, grid_h, grid_w = len(stack) // tps, side // prep.patch_size, side // prep.patch_size
        m, p = prep.merge_size, prep.patch_size
        patches = stack.reshape(grid_t, tps, 3, grid_h // m, m, p, grid_w // m, m, p)
        patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        pixel_values.append(patches.reshape(grid_t * grid_h * grid_w, 3 * tps * p * p))
        grids.append([grid_t, grid_h, grid_w])
    return torch.from_numpy(np.concatenate(pixel_values)), torch.tensor(grids, dtype=torch.long)


def tokens_per_grid(grid: torch.Tensor, merge_size: int) -> list[int]:
    return [int(t * h * w) // merge_size**2 for t, h, w in grid.tolist()]


# ---------------------------------------------------------------- visual tokens and their cache


@dataclass
class VisualTokens:
    """A video's visual tokens after the tower's merger: `tokens` (n, hidden), per-grid `grid_thw` (k, 3), and the
    deepstack features Qwen3-VL adds to its first language layers (empty for the other families)."""

    tokens: torch.Tensor
    grid_thw: torch.Tensor
    deepstack: list[torch.Tensor]


@torch.no_grad()
def encode_frames(backbone: Backbone, frames: Sequence[Any], size: int, as_video: bool) -> VisualTokens:
    """Run the frozen vision tower on one video's frames, without autograd."""
    inner, _, _ = parts(backbone.model)
    visual = inner.visual
    pixel_values, grid = patchify(frames, size, backbone.prep, as_video)
    device = next(visual.parameters()).device
    out = visual(pixel_values.to(device, next(visual.parameters()).dtype), grid_thw=grid.to(device))
    deepstack = [d.detach().cpu() for d in (getattr(out, "deepstack_features", None) or [])]
    return VisualTokens(out.pooler_output.detach().cpu(), grid, deepstack)


class VisualCache:
    """Visual tokens on disk: `<root>/<setting key>/<video_id>.<frames sha8>.safetensors`.

    The setting key hashes the model identity, the resolution and the frame mode; the file name carries a hash of
    the frame files' bytes, so re-extracted frames are never served stale tokens. Writes are atomic.
    """

    def __init__(self, root: Path, backbone_identity: str, size: int, as_video: bool):
        key = json.dumps({"model": backbone_identity, "size": size, "video": as_video}, sort_keys=True)
        self.dir = Path(root) / hashlib.sha256(key.encode()).hexdigest()[:16]
        self.key = key

    def path(self, video_id: str, frame_paths: Sequence[Path]) -> Path:
        return self.dir / f"{video_id}.{_frames_digest(frame_paths)[:8]}.safetensors"

    def put(self, path: Path, tokens: VisualTokens) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "key.json"
        if not meta.exists():
            meta.write_text(self.key + "\n", encoding="utf-8")
        tensors = {"tokens": tokens.tokens.contiguous(), "grid_thw": tokens.grid_thw.contiguous()}
        tensors.update({f"deepstack_{i}": d.contiguous() for i, d in enumerate(tokens.deepstack)})
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))


_DIGESTS: dict[tuple[tuple[str, int, int], ...], str] = {}


def _frames_digest(frame_paths: Sequence[Path]) -> str:
    """sha256 (hex) of the frame files' bytes in order, remembered for this process while their sizes and
    modification times stay the same (every fold of a cross-validation asks again for the same frames)."""
    key = tuple((str(p.resolve()), (st := p.stat()).st_size, st.st_mtime_ns) for p in frame_paths)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for p in frame_paths:
            h.update(p.read_bytes())
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def read_visual_tokens(path: Path) -> VisualTokens:
    data = load_file(str(path))
    deepstack = [data[f"deepstack_{i}"] for i in range(sum(k.startswith("deepstack_") for k in data))]
    return VisualTokens(data["tokens"], data["grid_thw"], deepstack)


# ---------------------------------------------------------------- forwards


def language_hidden(
    model: Any, batch: dict[str, Any], use_cache: bool = False
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Last hidden states (B, L, H) of the language model on a collated batch with cached visual tokens.

    Returns (hidden, past_key_values or None, position_ids (3, B, L)).
    """
    inner, lm, _ = parts(model)
    input_ids = batch["input_ids"]
    embeds = lm.embed_tokens(input_ids)
    visual_mask = batch["mm_token_type_ids"] != TEXT
    if batch["visual_tokens"].numel():
        embeds = embeds.masked_scatter(visual_mask.unsqueeze(-1), batch["visual_tokens"].to(embeds.dtype))
    grids = {"image_grid_thw": None, "video_grid_thw": None}
    key = "video_grid_thw" if batch["as_video"] else "image_grid_thw"
    grids[key] = batch["grid_thw"]
    rope_kwargs: dict[str, Any] = {}
    if batch["as_video"] and "second_per_grid_ts" in batch:
        rope_kwargs["second_per_grid_ts"] = batch["second_per_grid_ts"]
    position_ids, _ = inner.get_rope_index(
        input_ids, batch["mm_token_type_ids"], attention_mask=batch["attention_mask"], **grids, **rope_kwargs
    )
    extra: dict[str, Any] = {}
    if batch["deepstack"]:
        extra = {
            "visual_pos_masks": visual_mask,
            "deepstack_visual_embeds": [d.to(embeds.dtype) for d in batch["deepstack"]],
        }
    out = lm(
        inputs_embeds=embeds,
        attention_mask=batch["attention_mask"],
        position_ids=position_ids,
        use_cache=use_cache,
        **extra,
    )
    return out.last_hidden_state, (out.past_key_values if use_cache else None), position_ids


def answer_logits(model: Any, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Vocabulary logits only at the positions that predict answer tokens, and those tokens."""
    _, _, lm_head = parts(model)
    targets = labels[:, 1:]
    where = targets != IGNORE
    return lm_head(hidden[:, :-1][where]), targets[where]


@torch.no_grad()
def greedy_answers(model: Any, batch: dict[str, Any], stop_ids: Sequence[int], max_new_tokens: int) -> list[list[int]]:
    """Greedy decoding of at most `max_new_tokens` answer tokens for a left-padded batch, with a KV cache."""
    _, lm, lm_head = parts(model)
    hidden, cache, position_ids = language_hidden(model, batch, use_cache=True)
    batch_size = hidden.shape[0]
    next_pos = position_ids[:, :, -1:] + 1
    mask = batch["attention_mask"]
    out: list[list[int]] = [[] for _ in range(batch_size)]
    done = torch.zeros(batch_size, dtype=torch.bool, device=hidden.device)
    stop = torch.tensor(list(stop_ids), device=hidden.device)
    logits = lm_head(hidden[:, -1])
    for _ in range(max_new_tokens):
        token = logits.argmax(-1)
        for i in range(batch_size):
            if not done[i] and not bool(torch.isin(token[i], stop)):
                out[i].append(int(token[i]))
        done |= torch.isin(token, stop)
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        step = lm(
            inputs_embeds=lm.embed_tokens(token[:, None]),
            attention_mask=mask,
            position_ids=next_pos,
            past_key_values=cache,
            use_cache=True,
        )
        cache, next_pos = step.past_key_values, next_pos + 1
        logits = lm_head(step.last_hidden_state[:, -1])
    return out


@torch.no_grad()
def candidate_distribution(model: Any, batch: dict[str, Any], candidates: Sequence[Sequence[int]]) -> torch.Tensor:
    """P(candidate answer | prompt) over `candidates` (token sequences, each ending with the end-of-turn token),
    normalised over the candidates, for a batch of one video: (n_candidates,).

    The prompt runs once; the candidates run as one batch of short continuations of its KV cache.
    """
    _, lm, lm_head = parts(model)
    hidden, cache, position_ids = language_hidden(model, batch, use_cache=True)
    if hidden.shape[0] != 1:
        raise ValueError("candidate_distribution scores one video at a time")
    n = len(candidates)
    first = torch.log_softmax(lm_head(hidden[:, -1]).float(), dim=-1)[0]  # (V,)
    longest = max(len(c) for c in candidates) - 1
    scores = torch.stack([first[c[0]] for c in candidates])
    if longest > 0:
        pad = 0
        inputs = torch.tensor([list(c[:-1]) + [pad] * (longest - len(c) + 1) for c in candidates], device=hidden.device)
        cache.batch_repeat_interleave(n)
        mask = torch.ones(
            n, batch["attention_mask"].shape[1] + longest, dtype=batch["attention_mask"].dtype, device=hidden.device
        )
        pos = position_ids[:, :, -1:] + 1 + torch.arange(longest, device=hidden.device)
        step = lm(
            inputs_embeds=lm.embed_tokens(inputs),
            attention_mask=mask,
            position_ids=pos.expand(3, n, longest),
            past_key_values=cache,
            use_cache=True,
        )
        logp = torch.log_softmax(lm_head(step.last_hidden_state).float(), dim=-1)  # (n, longest, V)
        for i, c in enumerate(candidates):
            for j in range(1, len(c)):
                scores[i] = scores[i] + logp[i, j - 1, c[j]]
    return torch.softmax(scores, dim=0)
