"""Gemma-3 text models: by hub name, local path or the built-in `tiny-random-gemma3`, in bf16, fp32 or 4-bit.

The gemma-fusion variant reads only the language model: multimodal checkpoints (`google/gemma-3-4b-it`) are loaded
whole and reduced to it; text-only ones load directly.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch
from torch import nn

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.models.quantization import fix_bitsandbytes_cpu, quantization_config
from mediaeval_memo.models.tiny_gemma import is_tiny_gemma3, tiny_gemma3_causal_lm

GEMMA3_TYPES = ("gemma3", "gemma3_text")


def load_backbone(name_or_path: str, quantization: str = "none", device: str | None = None) -> tuple[nn.Module, Any]:
    """The Gemma-3 text model (no LM head, no vision tower) and its tokenizer, by name, path or the tiny built-in."""
    from transformers import AutoTokenizer

    if is_tiny_gemma3(name_or_path):
        lm, tokenizer = tiny_gemma3_causal_lm()
        if quantization == "none":
            cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
            local = device or f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            return (lm.model.to(local) if cuda else lm.model), tokenizer
        # The real 4-bit path goes through from_pretrained, so the toy model takes it too.
        with tempfile.TemporaryDirectory(prefix="tiny-gemma3-") as tmp:
            lm.model.save_pretrained(tmp)
            return load_text_model(tmp, quantization, device), tokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as exc:
        raise InputError(
            Problem(
                "config", f"cannot load the tokenizer ({str(exc).splitlines()[0]})", field="model", value=name_or_path
            )
        ) from None
    return load_text_model(name_or_path, quantization, device), tokenizer


def load_text_model(name_or_path: str, quantization: str = "none", device: str | None = None) -> nn.Module:
    """The Gemma-3 text model of a checkpoint, in bf16 on a GPU (fp32 on CPU) or NF4 with `quantization="4bit"`.

    Multimodal checkpoints (`google/gemma-3-4b-it`) are loaded whole and reduced to their language model; text-only
    ones (`google/gemma-3-1b-it`, a saved `Gemma3TextModel`) load directly.
    """
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except OSError as exc:
        raise InputError(
            Problem(
                "config", f"cannot load the backbone ({str(exc).splitlines()[0]})", field="model", value=name_or_path
            )
        ) from None
    if config.model_type not in GEMMA3_TYPES:
        raise InputError(
            Problem(
                "config", f"not a Gemma-3 model (model_type {config.model_type!r})", field="model", value=name_or_path
            )
        )
    cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if cuda else torch.float32}
    if quantization == "4bit":
        kwargs["quantization_config"] = quantization_config(["vision_tower", "multi_modal_projector", "lm_head"])
    if cuda:
        # Under `accelerate launch` each process loads its copy onto its own GPU (LOCAL_RANK), before the
        # training loop's Accelerator exists.
        kwargs["device_map"] = {"": device or f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"}
    model: nn.Module
    if config.model_type == "gemma3":
        from transformers import Gemma3ForConditionalGeneration

        full = Gemma3ForConditionalGeneration.from_pretrained(name_or_path, **kwargs)
        model = full.model.language_model
        del full
    else:
        model = AutoModel.from_pretrained(name_or_path, **kwargs)
    fix_bitsandbytes_cpu(model)
    return model
