"""What the model reads and writes: the prompt template and the chat messages it becomes, the frames it sees, the
answer it is trained to give (round(100 * score)) and how a generated answer is read back as a score."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem

PROMPT_FILE = Path(__file__).parent / "prompts" / "qwen_vl_memorability.txt"


def score_to_label(score: float) -> str:
    """The answer text a score trains: round(100 * score) as an integer, half up, clipped to 0..100."""
    # The epsilon keeps 0.845 (stored as 0.84499999...) rounding up, as a person reading it would.
    return str(int(min(100, max(0, math.floor(100 * float(score) + 0.5 + 1e-9)))))


# ---------------------------------------------------------------------------------------------------- answers

NO_NUMBER, OUT_OF_RANGE, TRUNCATED = "no number", "out of range", "truncated"
INVALID_REASONS = (NO_NUMBER, OUT_OF_RANGE, TRUNCATED)


@dataclass(frozen=True)
class Answer:
    """A generated answer read as a score in [0, 1] (`value`), or why it could not be (`reason`, one of
    `INVALID_REASONS`)."""

    value: float | None
    reason: str | None = None


# An echoed scale ("0 to 100", "between 0 and 100", "0-100", "0-1") is the question, not the answer.
_SCALE = re.compile(
    r"(?<![\w.])[01](?:\.0+)?\s*%?\s*(?:-|–|—|to|and)\s*(?:100|1)(?:\.0+)?\s*%?(?![\w.])", re.IGNORECASE
)
# A number (a minus sign only where it cannot be a range's hyphen), then an optional "%", "/100" or "out of 100".
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>-?)(?<![\w.])(?P<num>\d+(?:\.\d+)?|\.\d+)(?![A-Za-z_])"
    r"(?:\s*(?P<percent>%)|\s*/\s*(?P<over>\d+(?:\.\d+)?)|\s+out\s+of\s+(?P<outof>\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
_SCORE_WORD = re.compile(r"\bscor(?:e|es|ed|ing)\b", re.IGNORECASE)
# How far after "score" its number may stand: "score: 73", "score for this video is 73", "SCORE: 0.73".
_SCORE_REACH = 48
# What may follow a number for it to be complete even in an answer cut off by the token limit: "73." or "73" at the
# very end may be the start of "73.5" or of "735".
_COMPLETE = re.compile(r"[.,]?[^\d.,/]")


def read_answer(text: str, truncated: bool = False) -> Answer:
    """A generated answer as a score in [0, 1], or why it is invalid.

    - The number after "score" ("Score: 73", "The memorability score is 73.", "PREDICTED SCORE: 0.73") wins;
      otherwise the first number in the answer.
    - An echoed scale ("On a scale from 0 to 100, I'd say 73.", "0-100") is skipped.
    - "73", "73%", "73/100", "73 out of 100" and "7.3/10" are 0.73; a decimal in [0, 1] ("0.73", ".73", "1.0") is
      already a fraction; any other number 0..100 is a percentage ("72.6" is 0.726, "1" is 0.01).
    - Invalid: no number ("no number"); a number outside 0..100, or a fraction above 1 ("out of range");
      `truncated` (decoding hit its token limit) and no number that is surely complete ("truncated"): the answer
      is never cut into another number ("Score: 7" of "Score: 73").
    """
    masked = _SCALE.sub(lambda m: " " * len(m.group()), text)
    numbers = list(_NUMBER.finditer(masked))
    chosen = None
    for word in _SCORE_WORD.finditer(masked):
        after = next((n for n in numbers if n.start() >= word.end()), None)
        if after is not None and after.start() - word.end() <= _SCORE_REACH:
            chosen = after
            break
    if chosen is None and numbers:
        chosen = numbers[0]
    if chosen is None:
        return Answer(None, TRUNCATED if truncated else NO_NUMBER)
    if truncated and not (chosen.group("percent") or _COMPLETE.match(masked, chosen.end())):
        return Answer(None, TRUNCATED)
    value = float(chosen.group("sign") + chosen.group("num"))
    denominator = chosen.group("over") or chosen.group("outof")
    if chosen.group("percent"):
        score = value / 100
    elif denominator is not None:
        score = value / float(denominator) if float(denominator) > 0 else math.inf
    elif "." in chosen.group("num") and 0 <= value <= 1:
        score = value
    else:
        score = value / 100
    if not 0 <= score <= 1:
        return Answer(None, OUT_OF_RANGE)
    return Answer(score)


def parse_answer(text: str) -> float | None:
    """A generated answer as a score in [0, 1], or None when it has no usable number (see `read_answer`)."""
    return read_answer(text).value


# ---------------------------------------------------------------------------------------------------- the prompt


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


def chat_messages(template: str, captions: Sequence[str], n_frames: int, as_video: bool) -> list[dict[str, Any]]:
    """The user turn the template describes, as chat content parts: the text before `{frames}`, one image part per
    frame (or one video part), then the text with the captions, one per line."""
    before, _, rest = template.partition("{frames}")
    middle, _, after = rest.partition("{captions}")
    visual = [{"type": "video"}] if as_video else [{"type": "image"} for _ in range(n_frames)]
    content = [
        {"type": "text", "text": before},
        *visual,
        {"type": "text", "text": middle + "\n".join(captions) + after},
    ]
    return [{"role": "user", "content": [part for part in content if part.get("text", True)]}]


def render_prompt(
    tokenizer: Any, template: str, captions: Sequence[str], n_frames: int = 3, as_video: bool = False
) -> str:
    """The prompt as the tokenizer's own chat template renders it, ending with the opening of the answer turn; one
    `<|image_pad|>` per frame (or one `<|video_pad|>`), which the runtime expands to the frame's visual tokens."""
    from mediaeval_memo.models.chat import render_chat

    return render_chat(tokenizer, chat_messages(template, captions, n_frames, as_video))


# ---------------------------------------------------------------------------------------------------- frames


def select_frame_indices(count: int, n: int) -> list[int]:
    """Indices of n frames spread over `count`: first, middle and last for n=3; all of them when there are fewer."""
    if count <= n:
        return list(range(count))
    last = count - 1
    if n == 3:  # the paper's choice, exactly: the middle frame rounds down
        return [0, last // 2, last]
    return [int(i) for i in np.linspace(0, last, n).round().astype(int)]


def select_frames(paths: Sequence[Path], n: int) -> list[Path]:
    """n frames spread over the video (see `select_frame_indices`)."""
    return [paths[i] for i in select_frame_indices(len(paths), n)]
