"""The training settings every neural variant shares: a dataclass its own Config mixes in.

A variant writes `class Config(TrainerConfig, VariantConfig)` and gets the loop's fields (learning rate, epochs,
accumulation, schedule, precision, checkpointing, early stopping on a held-out part of the training videos,
trackers), their help text, their validation and their YAML/CLI overrides for free. `LoraConfig` adds the
LoRA/QLoRA fields the same way (`class Config(LoraConfig, VariantConfig)` has every set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from mediaeval_memo.core.config import Config, ConfigError

Precision = Literal["auto", "bf16", "fp32"]
Schedule = Literal["cosine", "linear", "constant"]
Tracker = Literal["none", "tensorboard", "wandb", "mlflow"]
Quantization = Literal["4bit", "none"]


@dataclass
class TrainerConfig(Config):
    """Settings of `train_loop`: optimisation, schedule, precision, checkpoints, evaluation and logging."""

    epochs: int = field(default=4, metadata={"help": "Passes over the training videos."})
    max_steps: int | None = field(
        default=None, metadata={"help": "Stop after this many optimizer steps (None: run every epoch)."}
    )
    batch_size: int = field(default=4, metadata={"help": "Videos per micro-batch on each process."})
    grad_accum: int = field(default=1, metadata={"help": "Micro-batches summed into one optimizer step."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW decoupled weight decay."})
    warmup_ratio: float = field(
        default=0.03, metadata={"help": "Fraction of the optimizer steps spent warming the learning rate up from 0."}
    )
    lr_schedule: Schedule = field(
        default="cosine", metadata={"help": "Decay after warm-up: cosine, linear (both to 0) or constant."}
    )
    max_grad_norm: float | None = field(
        default=1.0, metadata={"help": "Clip the gradient's global L2 norm to this (None: no clipping)."}
    )
    precision: Precision = field(
        default="auto",
        metadata={"help": "bf16 autocast, fp32, or auto (bf16 on a GPU that supports it, fp32 on a CPU)."},
    )
    gradient_checkpointing: bool = field(
        default=True, metadata={"help": "Recompute activations in the backward pass: less memory, ~30% more time."}
    )
    gradient_checkpointing_every: int = field(
        default=1,
        metadata={
            "help": "With gradient_checkpointing: checkpoint every Nth transformer layer (1: all, least memory; "
            "2: half of them, about half the recomputation for about twice the activation memory)."
        },
    )
    checkpoint_every: int = field(
        default=200,
        metadata={"help": "Write a resumable checkpoint every this many optimizer steps (and at each epoch end)."},
    )
    val_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Fraction of the training videos (whole groups, e.g. VIDEM channels) held out to evaluate after "
            "every epoch, for early stopping and keep_best; carved from the fit's own training videos, never the "
            "fold being scored (0: no evaluation, the last weights are kept)."
        },
    )
    early_stopping_patience: int = field(
        default=0, metadata={"help": "Stop after this many evaluations without a better Spearman (0: never stop)."}
    )
    keep_best: bool = field(
        default=True,
        metadata={"help": "End with the weights of the best evaluation on the held-out videos (val_fraction > 0)."},
    )
    report_to: Tracker = field(
        default="none", metadata={"help": "Experiment tracker through accelerate: none, tensorboard, wandb, mlflow."}
    )
    log_every: int = field(default=10, metadata={"help": "Send loss and learning rate to the tracker every N steps."})

    def __post_init__(self) -> None:
        super().__post_init__()
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "gradient_checkpointing_every": self.gradient_checkpointing_every,
            "checkpoint_every": self.checkpoint_every,
            "log_every": self.log_every,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(name, value, "must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError("max_steps", self.max_steps, "must be >= 1 (or None for no limit)")
        if not self.learning_rate > 0:
            raise ConfigError("learning_rate", self.learning_rate, "must be > 0")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", self.weight_decay, "must be >= 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError("warmup_ratio", self.warmup_ratio, "must be in [0, 1)")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ConfigError("max_grad_norm", self.max_grad_norm, "must be > 0 (or None for no clipping)")
        if not 0 <= self.val_fraction < 0.5:
            raise ConfigError("val_fraction", self.val_fraction, "must be in [0, 0.5)")
        if self.early_stopping_patience < 0:
            raise ConfigError("early_stopping_patience", self.early_stopping_patience, "must be >= 0")


@dataclass
class LoraConfig(TrainerConfig):
    """TrainerConfig plus LoRA adapters and optional 4-bit (QLoRA) loading of the frozen base model."""

    quantization: Quantization = field(
        default="4bit",
        metadata={"help": "4bit: NF4 with double quantization and bf16 compute (QLoRA); none: plain bf16 LoRA."},
    )
    lora_r: int = field(default=128, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=1024, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch's input."})
    lora_dtype: Literal["float32", "bfloat16"] = field(
        default="float32",
        metadata={
            "help": "Adapter weights' dtype: float32 (exact optimizer updates; cast to bf16 under autocast at every "
            "call) or bfloat16 (fewer casts and less memory; each update is rounded to bf16)."
        },
    )
    lora_targets: str = field(
        default=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
        metadata={
            "help": "Regex over module names that get adapters (full match); the default keeps LoRA out of "
            "the vision tower."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lora_r < 1:
            raise ConfigError("lora_r", self.lora_r, "must be >= 1")
        if self.lora_alpha < 1:
            raise ConfigError("lora_alpha", self.lora_alpha, "must be >= 1")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError("lora_dropout", self.lora_dropout, "must be in [0, 1)")
        try:
            re.compile(self.lora_targets)
        except re.error as exc:
            raise ConfigError("lora_targets", self.lora_targets, f"not a valid regular expression ({exc})") from None
