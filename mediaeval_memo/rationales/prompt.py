"""Rationale prompts: the aspects, a few scored exemplars from the training part of the fold, then the video.

What the model reads of a video is what the dataset has: title, description, transcript and captions, each cut to
`max_field_chars` so that long transcripts do not crowd out the exemplars. The prompt text, the model name and the
generation settings together make the cache key's prompt hash, so changing any of them regenerates.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mediaeval_memo.rationales.aspects import AspectSet

# Text fields a prompt may quote, in this order; a dataset that lacks one simply skips it.
TEXT_FIELDS = ("title", "description", "transcript", "captions")
_FIELD_LABELS = {"title": "Title", "description": "Description", "transcript": "Transcript", "captions": "Captions"}
TARGET_LABELS = {
    "memorability_score": "memorability score",
    "brand_memorability": "brand memorability",
    "mem_score": "memorability score",
    "short_term": "short-term memorability",
    "long_term": "long-term memorability",
}


def field_text(row: Mapping[Any, Any], field: str) -> str:
    """A text field of an item row as one string ('' when absent or missing); caption lists are joined."""
    value = row.get(field)
    if value is None:
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return " | ".join(str(v).strip() for v in value if str(v).strip())
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value).strip()


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def describe_video(row: Mapping[Any, Any], max_field_chars: int) -> str:
    lines = []
    for field in TEXT_FIELDS:
        text = field_text(row, field)
        if text:
            lines.append(f"{_FIELD_LABELS[field]}: {_cut(text, max_field_chars)}")
    return "\n".join(lines) if lines else "(no text available for this video)"


@dataclass(frozen=True)
class Exemplar:
    video_id: str
    row: Mapping[Any, Any]
    scores: Mapping[str, float]


def build_prompt(
    aspects: AspectSet, row: Mapping[Any, Any], exemplars: Sequence[Exemplar], max_field_chars: int = 600
) -> str:
    """The user message asking for a rationale about `row`, with scored exemplars for calibration."""
    parts = [
        "You are an expert in advertising research and human memory. Viewers watched the first minute of short "
        "videos and were asked one to three days later which ones they remembered.",
        "Assess a video on these aspects of memorability:",
        "\n".join(f"- {a.label}: {a.definition}" for a in aspects.aspects),
    ]
    if exemplars:
        parts.append("Here are similar videos with the scores viewers gave them (0 = forgotten, 1 = remembered):")
        for i, ex in enumerate(exemplars, start=1):
            scores = ", ".join(f"{TARGET_LABELS.get(t, t)} {v:.2f}" for t, v in ex.scores.items())
            parts.append(f"Example {i} ({scores}):\n{describe_video(ex.row, max_field_chars)}")
    parts.append(f"The video to assess:\n{describe_video(row, max_field_chars)}")
    parts.append(
        "Write a short rationale (at most five sentences) that says which aspects make this video easy or hard "
        "to remember, and why. Do not give a number."
    )
    return "\n\n".join(parts)


def prompt_hash(prompt: str, model: str, generation: Mapping[Any, Any]) -> str:
    """sha256 (first 16 hex digits) of everything that determines a generated rationale."""
    payload = json.dumps({"prompt": prompt, "model": model, "generation": dict(generation)}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
