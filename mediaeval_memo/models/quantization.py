"""4-bit NF4 loading settings (QLoRA's frozen base) and the bitsandbytes CPU fix, for every model loader.

QLoRA's base: linear layers in 4-bit NF4 with double quantization and bf16 compute, the modules named in
`skip_modules` (a vision tower, heads) left unquantized.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def quantization_config(skip_modules: Sequence[str] = ()) -> Any:
    """transformers' BitsAndBytesConfig for QLoRA: NF4, double quantization, bf16 compute, `skip_modules` kept.

    Skip names are module-name prefixes as transformers sees them at load time: in transformers 5.x the Qwen-VL
    vision tower is "model.visual" (plain "visual" no longer matches).
    """
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        llm_int8_skip_modules=list(skip_modules),
    )


def quantize_in_place(model: nn.Module, keep: str = r"(model\.visual|visual)\b.*|lm_head") -> int:
    """Swap every nn.Linear whose name does not match `keep` for a bitsandbytes NF4 Linear4bit (double quant,
    bf16 compute), on the layer's own device; returns how many were swapped.

    `from_pretrained(..., quantization_config=quantization_config(...))` is how checkpoints are loaded; this does
    the same to a model built in memory (random-shape benchmark models) without writing it to disk first.
    """
    import re

    import bitsandbytes as bnb

    pattern = re.compile(keep)
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not pattern.fullmatch(name)
    ]
    for name, linear in targets:
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        device = linear.weight.device
        q = bnb.nn.Linear4bit(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            compute_dtype=torch.bfloat16,
            compress_statistics=True,
            quant_type="nf4",
            device="meta",
        )
        q.weight = bnb.nn.Params4bit(
            linear.weight.data, requires_grad=False, compress_statistics=True, quant_type="nf4"
        )
        if linear.bias is not None:
            q.bias = nn.Parameter(linear.bias.data, requires_grad=False)
        setattr(parent, name.rpartition(".")[2], q.to(device))
        del linear
    return len(targets)


def fix_bitsandbytes_cpu(model: nn.Module) -> int:
    """Stop bitsandbytes repacking 4-bit weights for its CPU kernel; returns how many layers were touched.

    On a CPU with avx512-bf16, the first forward in eval mode without grad repacks each Linear4bit's weight into a
    kernel format that has no autograd; every later LoRA gradient is then silently zero. Call right after loading
    (it is a no-op on GPUs and for models without 4-bit layers).
    """
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return 0
    touched = 0
    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False
            touched += 1
    return touched
