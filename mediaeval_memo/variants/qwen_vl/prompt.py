"""What the model reads and writes: the prompt template, the frames it sees, the answer it is trained to give
(round(100 * score)) and how a generated answer is read back as a score."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem

PROMPT_FILE = Path(__file__).parent / "prompts" / "qwen_vl_memorability.txt"


def score_to_label(score: float) -> str:
    """The answer text a score trains: round(100 * score) as an integer, half up, clipped to 0..100."""
    # The epsilon keeps 0.845 (stored as 0.84499999...) rounding up, as a person reading it would.
    return str(int(min(100, max(0, math.floor(100 * float(score) + 0.5 + 1e-9)))))


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_answer(text: str) -> float | None:
    """The first number in a generated answer, as a score in [0, 1]; None when there is none or it is not 0-100."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = float(match.group())
    if not 0 <= value <= 100:
        return None
    return round(value) / 100.0


def load_template(path: str | Path | None) -> str:
    source = Path(path) if path else PROMPT_FILE
    if not source.is_file():
        raise InputError(Problem(str(source), "prompt template not found", field="prompt"))
    text = source.read_text(encoding="utf-8").strip("\n")
    missing = [p for p in ("{frames}", "{captions}") if text.count(p) != 1]
    if missing:
        raise InputError(
            Problem(str(source), "a prompt template must contain {frames} and {captions} once each", field=missing[0])
        )
    return text


def render_prompt(template: str, n_blocks: int, captions: Sequence[str], as_video: bool = False) -> str:
    """The prompt as readable text, one pad token per visual block (what `tokenize_prompt` expands)."""
    pad = "<|video_pad|>" if as_video else "<|image_pad|>"
    frames = "".join(f"<|vision_start|>{pad}<|vision_end|>" for _ in range(n_blocks))
    before, _, rest = template.partition("{frames}")
    middle, _, after = rest.partition("{captions}")
    return (
        f"<|im_start|>user\n{before}{frames}{middle}{chr(10).join(captions)}{after}<|im_end|>\n<|im_start|>assistant\n"
    )


def select_frames(paths: Sequence[Path], n: int) -> list[Path]:
    """n frames spread over the video: first, middle and last for n=3; all of them when there are fewer."""
    if len(paths) <= n:
        return list(paths)
    last = len(paths) - 1
    if n == 3:  # the paper's choice, exactly: the middle frame rounds down
        return [paths[0], paths[last // 2], paths[last]]
    return [paths[i] for i in np.linspace(0, last, n).round().astype(int)]
