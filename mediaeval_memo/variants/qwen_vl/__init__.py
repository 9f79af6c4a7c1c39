"""The `qwen-vl` run variant: the Qwen-VL QLoRA regressor of Martin-Fernandez et al. (Sensors 2025), see `variant`."""

from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.model import QwenVLModel, zero_shot
from mediaeval_memo.variants.qwen_vl.prompt import load_template, parse_answer, render_prompt, score_to_label
from mediaeval_memo.variants.qwen_vl.variant import QwenVL

__all__ = [
    "QwenVL",
    "QwenVLConfig",
    "QwenVLModel",
    "load_template",
    "parse_answer",
    "render_prompt",
    "score_to_label",
    "zero_shot",
]
