"""The `qwen-vl` run variant: the Qwen-VL QLoRA regressor of Martin-Fernandez et al. (Sensors 2025), see `variant`.

`parse_answer(text) -> float | None` (and `read_answer`, which also says why an answer is invalid) read a score the
way a model writes it; see `prompt.read_answer` for the rules.
"""

from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.model import QwenVLModel, zero_shot
from mediaeval_memo.variants.qwen_vl.prompt import (
    Answer,
    load_template,
    parse_answer,
    read_answer,
    render_prompt,
    score_to_label,
)
from mediaeval_memo.variants.qwen_vl.variant import QwenVL

__all__ = [
    "Answer",
    "QwenVL",
    "QwenVLConfig",
    "QwenVLModel",
    "load_template",
    "parse_answer",
    "read_answer",
    "render_prompt",
    "score_to_label",
    "zero_shot",
]
