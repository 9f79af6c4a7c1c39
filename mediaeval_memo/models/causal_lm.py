"""Causal language models by hub name, local path or built-in name (`tiny-random-gemma3`), with their tokenizer:
what the rationales backend generates with. The tiny model is recognised here, where every model name is known,
so its users never special-case it."""

from __future__ import annotations

from typing import Any

import torch

from mediaeval_memo.core.errors import InputError, Problem


def load_causal_lm(name_or_path: str, device: torch.device, *, source: str = "model") -> tuple[Any, Any]:
    """The model (eval mode, bf16 on a GPU, fp32 on a CPU) and its tokenizer; a name or path that cannot be loaded
    is an input error naming `source` (what the user gave it as, e.g. `--llm`)."""
    from mediaeval_memo.models.tiny_gemma import is_tiny_gemma3, tiny_gemma3_causal_lm

    if is_tiny_gemma3(name_or_path):
        return tiny_gemma3_causal_lm()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        lm = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype).eval()
    except OSError as exc:
        raise InputError(
            Problem(
                "command line",
                f"cannot load the model ({str(exc).splitlines()[0]})",
                field=source,
                value=name_or_path,
            )
        ) from None
    return lm, tokenizer
