"""Chat templates: the families' own (shipped for the built-in models), rendering through the tokenizer, and the
checks a loaded tokenizer must pass before a prompt goes through it.

A model answers best in the format it was tuned on, and the tokenizer's chat template is that format: Qwen2-VL and
Qwen2.5-VL add a default system turn ("You are a helpful assistant.") when none is given, Qwen3-VL adds none,
Gemma-3 opens with one `<bos>`. So prompts are rendered by `tokenizer.apply_chat_template` with the frames as
content parts, never by hand, and the built-in tiny models carry their family's real template (the files in
`chat_templates/`: the chat templates published with the instruction-tuned checkpoints, one shared by
Qwen2-VL-*-Instruct and Qwen2.5-VL-*-Instruct, Qwen3-VL-*-Instruct's, gemma-3-*-it's) so that tests run the path
real checkpoints run.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from mediaeval_memo.core.errors import InputError, Problem

TEMPLATES_DIR = Path(__file__).parent / "chat_templates"
# Which shipped template each family's instruction-tuned checkpoints use.
FAMILY_TEMPLATES = {"qwen2-vl": "qwen2_vl", "qwen2.5-vl": "qwen2_vl", "qwen3-vl": "qwen3_vl", "gemma3": "gemma3"}
THINK = "<think>"


@cache
def chat_template(family: str) -> str:
    """The chat template (Jinja source) of a family's instruction-tuned checkpoints, as shipped here."""
    return (TEMPLATES_DIR / f"{FAMILY_TEMPLATES[family]}.jinja").read_text(encoding="utf-8")


def render_chat(tokenizer: Any, messages: list[dict[str, Any]]) -> str:
    """`messages` through the tokenizer's chat template, ending with the opening of the assistant's turn."""
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def render_jinja(template: str, messages: list[dict[str, Any]], add_generation_prompt: bool, **extra: Any) -> str:
    """Render a chat template as transformers does (sandboxed Jinja, trim_blocks, lstrip_blocks), for tokenizers
    that are not transformers tokenizers (the random-shape models' stand-in)."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt, **extra)


def ensure_chat_template(tokenizer: Any, name_or_path: str) -> None:
    """Give the tokenizer its checkpoint's chat template when the tokenizer files lack it (Qwen-VL repositories may
    keep it only in the processor's chat_template.jinja / chat_template.json); an error when there is none."""
    if getattr(tokenizer, "chat_template", None):
        return
    from transformers.utils import cached_file

    for file in ("chat_template.jinja", "chat_template.json"):
        path = cached_file(name_or_path, file, _raise_exceptions_for_missing_entries=False)
        if path:
            text = Path(path).read_text(encoding="utf-8")
            tokenizer.chat_template = json.loads(text)["chat_template"] if file.endswith(".json") else text
            return
    raise InputError(
        Problem(
            "config",
            "has no chat template (not an instruction-tuned checkpoint?); the prompt goes through the model's own "
            "template, so use an -Instruct checkpoint or add its chat_template.jinja to the folder",
            field="model",
            value=name_or_path,
        )
    )


def refuse_thinking(tokenizer: Any, name_or_path: str) -> None:
    """Refuse a checkpoint whose template opens every answer with a reasoning block (Qwen3-VL-*-Thinking).

    Such a model writes hundreds of tokens of reasoning before its score; the variant trains and reads a short
    answer, so it would truncate the reasoning (zero-shot) or teach the model to skip it (training)."""
    probe = render_chat(tokenizer, [{"role": "user", "content": [{"type": "text", "text": "?"}]}])
    if THINK in probe:
        raise InputError(
            Problem(
                "config",
                f"is a Thinking checkpoint (its chat template opens the answer with {THINK}): it reasons at length "
                "before answering, and qwen-vl trains and reads a short answer; use the Instruct checkpoint",
                field="model",
                value=name_or_path,
            )
        )
