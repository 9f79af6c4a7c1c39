"""The qwen-vl variant's settings: the backbone, the prompt and its inputs, the output head (and, inherited, the
training loop's and LoRA's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from mediaeval_memo.core.config import ConfigError
from mediaeval_memo.training.config import LoraConfig
from mediaeval_memo.variants.base import VariantConfig

Head = Literal["generate", "head", "expected"]


@dataclass
class QwenVLConfig(LoraConfig, VariantConfig):
    """qwen-vl: the backbone, the prompt and inputs, the output head; training and LoRA fields are inherited."""

    # Short names the grid accepts: `--grid "r=16,32" --grid "alpha=32,64"`.
    aliases: ClassVar[dict[str, str]] = {"r": "lora_r", "alpha": "lora_alpha", "dropout": "lora_dropout"}

    model: str = field(
        default="Qwen/Qwen2.5-VL-7B-Instruct",
        metadata={
            "help": "Hub name or local path of a Qwen2-VL, Qwen2.5-VL or Qwen3-VL model, or a built-in "
            "tiny-random-qwen2-vl / tiny-random-qwen2.5-vl / tiny-random-qwen3-vl, or random-qwen2.5-vl-7b (the real "
            "7B shape, random weights, for speed checks); built-ins download nothing."
        },
    )
    head: Head = field(default="generate", metadata={"help": "Output head: generate, head or expected."})
    frames: int = field(default=3, metadata={"help": "Frames per video: first, middle and last for 3; evenly spaced."})
    frame_mode: Literal["images", "video"] = field(
        default="images", metadata={"help": "images: one image per frame (the paper); video: all frames as one video."}
    )
    image_size: int = field(
        default=448,
        metadata={
            "help": "Pixel budget per frame: frames keep their aspect within image_size^2 pixels (resize=native, "
            "Qwen's smart_resize rule), or become image_size x image_size (resize=square)."
        },
    )
    resize: Literal["native", "square"] = field(
        default="native",
        metadata={
            "help": "native: keep each frame's aspect ratio (what the vision tower was trained on); square: squash "
            "to image_size x image_size (the paper's Qwen-VL-Chat setting)."
        },
    )
    captions: int = field(default=5, metadata={"help": "Captions per video put in the prompt (at most)."})
    prompt: str = field(
        default="", metadata={"help": "Prompt template file with {frames} and {captions}; empty: the paper's."}
    )
    max_new_tokens: int = field(
        default=32,
        metadata={
            "help": "Answer tokens the generate head decodes at most: room for a sentence. An answer cut off by the "
            "limit before a complete number is invalid (truncated)."
        },
    )
    eval_batch_size: int = field(default=8, metadata={"help": "Videos per forward pass when predicting."})
    cache_dir: str = field(
        default="", metadata={"help": "Visual-token cache folder; empty: <data>/cache/visual_tokens."}
    )
    attn_implementation: str = field(
        default="",
        metadata={"help": "transformers attention implementation (sdpa, flash_attention_2); empty: default."},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Run model code from the hub (needed by Qwen-VL-Chat; off unless asked)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("frames", "image_size", "max_new_tokens", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "must be >= 1")
        if self.captions < 0:
            raise ConfigError("captions", self.captions, "must be >= 0")
        if self.image_size % 28 and self.image_size % 32:
            raise ConfigError("image_size", self.image_size, "must be a multiple of 28 (Qwen2/2.5-VL) or 32 (Qwen3-VL)")
        if not self.model:
            raise ConfigError("model", self.model, "name a model (hub name, local path or tiny-random-qwen2.5-vl)")
