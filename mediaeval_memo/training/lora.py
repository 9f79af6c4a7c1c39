"""LoRA and QLoRA set-up: 4-bit NF4 loading settings, the bitsandbytes CPU fix, and adapters on chosen layers.

QLoRA here is: the frozen base model's linear layers in 4-bit NF4 with double quantization and bf16 compute, the
modules named in `skip_modules` (a vision tower, heads) left unquantized, and LoRA adapters on the linear layers
whose full names match a regex (by default only the language model's). `prepare_model_for_kbit_training` is
deliberately not used: it casts every non-quantized parameter to fp32, which doubles the vision tower's cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mediaeval_memo.training.config import LoraConfig


class LoraTargetError(ValueError):
    """`lora_targets` matched no linear layer; `existing` lists some names that exist, to write a better regex."""

    def __init__(self, pattern: str, existing: list[str]):
        self.pattern, self.existing = pattern, existing
        super().__init__(f"lora_targets {pattern!r} matches no linear layer; some that exist: {existing[:4]}")


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


def add_lora(model: nn.Module, config: LoraConfig, modules_to_save: Sequence[str] = ()) -> nn.Module:
    """Freeze `model` and wrap it with LoRA adapters on the linear layers matching `config.lora_targets`, their
    weights in `config.lora_dtype` (peft makes them float32 next to 4-bit layers).

    `modules_to_save` names extra modules (a regression head) that stay fully trainable and are saved with the
    adapters. Raises LoraTargetError (a ValueError) when the regex matches no linear layer.
    """
    import re

    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    pattern = re.compile(config.lora_targets)
    matched = [name for name, m in model.named_modules() if _is_linear(m) and pattern.fullmatch(name)]
    if not matched:
        raise LoraTargetError(config.lora_targets, [name for name, m in model.named_modules() if _is_linear(m)])
    peft_config = PeftLoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_targets,
        modules_to_save=list(modules_to_save) or None,
        bias="none",
    )
    wrapped = get_peft_model(model, peft_config)
    if config.lora_dtype == "bfloat16":
        for name, module in wrapped.named_modules():
            if name.endswith((".lora_A", ".lora_B")):
                module.to(torch.bfloat16)
    return wrapped


def _is_linear(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return False
    return isinstance(module, Linear4bit)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as their packed element count."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
