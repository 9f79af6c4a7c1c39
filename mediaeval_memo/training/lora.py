"""LoRA adapters on chosen layers of a frozen (possibly 4-bit, see `models.quantization`) base model.

QLoRA here is: the frozen base model's linear layers in 4-bit NF4 (loaded by `mediaeval_memo.models`), and LoRA
adapters on the linear layers whose full names match a regex (by default only the language model's).
`prepare_model_for_kbit_training` is deliberately not used: it casts every non-quantized parameter to fp32, which
doubles the vision tower's cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mediaeval_memo.training.config import LoraConfig


class LoraTargetError(ValueError):
    """`lora_targets` matched no linear layer; `existing` lists some names that exist, to write a better regex."""

    def __init__(self, pattern: str, existing: list[str]):
        self.pattern, self.existing = pattern, existing
        super().__init__(f"lora_targets {pattern!r} matches no linear layer; some that exist: {existing[:4]}")


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
