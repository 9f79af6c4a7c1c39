"""The gemma-fusion variant's settings: backbone, LoRA, feature streams, prompt, pooling, heads and loss (and,
inherited, the training loop's)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mediaeval_memo.core.config import ConfigError
from mediaeval_memo.rationales.generate import RATIONALES_FILE
from mediaeval_memo.training.config import LoraConfig, Quantization
from mediaeval_memo.variants.base import VariantConfig
from mediaeval_memo.variants.gemma_fusion.net import Pooling, default_lora_targets

ALL_BLOCKS = "*"


@dataclass
class GemmaFusionConfig(LoraConfig, VariantConfig):
    """Gemma-3 fusion: backbone, LoRA, streams, prompt, pooling, heads and loss (plus the engine's fields)."""

    model: str = field(
        default="google/gemma-3-4b-it",
        metadata={
            "help": "Gemma-3 backbone by hub name or local path (its text model is used), or tiny-random-gemma3."
        },
    )
    quantization: Quantization = field(
        default="none", metadata={"help": "none: bf16 LoRA on a GPU (fp32 on CPU); 4bit: NF4 backbone (QLoRA)."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_targets: str = field(
        default_factory=default_lora_targets,
        metadata={"help": "Regex (full match) over the backbone's module names that get LoRA adapters."},
    )
    aux_targets: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Targets learned jointly with `target`, one head each (e.g. memorability_score beside "
            "brand_memorability); predictions are for `target`."
        },
    )
    text_fields: list[str] = field(
        default_factory=lambda: ["title", "rationale"],
        metadata={
            "help": "Prompt fields in order: item-table text columns (title, description, transcript, captions) "
            "and 'rationale' (read from the rationales file)."
        },
    )
    rationales: str = field(
        default=str(RATIONALES_FILE),
        metadata={"help": "Rationales JSONL from `memo rationales`, relative to the dataset directory or absolute."},
    )
    rationale_model: str = field(
        default="",
        metadata={"help": "Which LLM's rationales to read when the file holds several (empty: the only one)."},
    )
    feature_blocks: list[str] = field(
        default_factory=lambda: [ALL_BLOCKS],
        metadata={
            "help": "Feature-store blocks to use as soft-token streams, '*' for all; '{fold}' in a name becomes the "
            "fold label (0, 1, ..., all) for per-fold blocks such as rationale embeddings."
        },
    )
    metadata_stream: bool = field(
        default=True,
        metadata={"help": "Add the numeric meta_* columns as one stream: sign(x) log(1+|x|), then standardised."},
    )
    tokens_per_stream: int = field(
        default=1, metadata={"help": "Soft tokens per flat stream (blocks with a [T, D] shape give T tokens)."}
    )
    projector_hidden: int = field(default=1024, metadata={"help": "Hidden width of each stream's projector MLP."})
    max_text_tokens: int = field(default=512, metadata={"help": "Prompt tokens kept (the end is cut)."})
    pooling: Pooling = field(default="mean", metadata={"help": "mean or attention pooling over the last hidden state."})
    head_hidden: int = field(default=256, metadata={"help": "Hidden width of each target's MLP head."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout before each head."})
    ranking_weight: float = field(
        default=0.0, metadata={"help": "Weight of the pairwise ranking loss added to MSE (0: MSE only)."}
    )
    predict_batch_size: int = field(default=16, metadata={"help": "Videos per batch when predicting."})
    batch_size: int = field(default=8, metadata={"help": "Videos per micro-batch on each process."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak AdamW learning rate."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.quantization not in ("none", "4bit"):
            raise ConfigError("quantization", self.quantization, "expected none or 4bit")
        if not self.model:
            raise ConfigError("model", self.model, "a backbone name or path is required")
        for name in ("tokens_per_stream", "projector_hidden", "max_text_tokens", "head_hidden", "predict_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout", self.dropout, "must be in [0, 1)")
        if not (self.ranking_weight >= 0 and math.isfinite(self.ranking_weight)):
            raise ConfigError("ranking_weight", self.ranking_weight, "must be a finite number >= 0")
        if not self.text_fields:
            raise ConfigError("text_fields", self.text_fields, "name at least one field")
        if self.target and self.target in self.aux_targets:
            raise ConfigError("aux_targets", self.aux_targets, "must not repeat `target`")
