"""Chat templates: each built-in model renders its family's real template (Qwen2/2.5-VL's default system turn,
none for Qwen3-VL, Gemma-3's single <bos>), hub checkpoints get theirs or fail clearly, Thinking checkpoints are
refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaeval_memo.core.errors import InputError
from mediaeval_memo.models.chat import chat_template, ensure_chat_template, refuse_thinking, render_chat

USER = [
    {"role": "user", "content": [{"type": "text", "text": "Rate "}, {"type": "image"}, {"type": "text", "text": "!"}]}
]
BLOCK = "<|vision_start|><|image_pad|><|vision_end|>"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            "tiny-random-qwen2-vl",
            f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nRate {BLOCK}!<|im_end|>\n"
            "<|im_start|>assistant\n",
        ),
        (
            "tiny-random-qwen2.5-vl",
            f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nRate {BLOCK}!<|im_end|>\n"
            "<|im_start|>assistant\n",
        ),
        ("tiny-random-qwen3-vl", f"<|im_start|>user\nRate {BLOCK}!<|im_end|>\n<|im_start|>assistant\n"),
    ],
)
def test_tiny_qwen_models_render_their_familys_template(model: str, expected: str) -> None:
    from mediaeval_memo.models.tiny_qwen import tiny_tokenizer

    tokenizer = tiny_tokenizer(model)
    assert render_chat(tokenizer, USER) == expected
    # a system message of one's own replaces the default one (Qwen2/2.5) instead of adding a second
    own = render_chat(tokenizer, [{"role": "system", "content": "Be brief."}, *USER])
    assert own.count("<|im_start|>system") == 1 and own.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")


def test_the_random_shape_stand_in_renders_qwen25s_template() -> None:
    from mediaeval_memo.models.tiny_qwen import WordTokenizer, tiny_tokenizer

    assert render_chat(WordTokenizer(), USER) == render_chat(tiny_tokenizer("tiny-random-qwen2.5-vl"), USER)


def test_gemma3_prompt_has_exactly_one_bos() -> None:
    from mediaeval_memo.models.tiny_gemma import tiny_gemma3_tokenizer
    from mediaeval_memo.rationales.backends import TransformersBackend

    tokenizer = tiny_gemma3_tokenizer()
    text = render_chat(tokenizer, [{"role": "user", "content": "  Why is this ad memorable?  "}])
    assert text == "<bos><start_of_turn>user\nWhy is this ad memorable?<end_of_turn>\n<start_of_turn>model\n"
    # what the rationale backend feeds the model: the template's <bos>, and no second one from the tokenizer
    backend = TransformersBackend("tiny-random-gemma3", device="cpu")
    ids = backend.encode(["Why is this ad memorable?", "A longer prompt, so that the first one is padded."], 16)
    bos = tokenizer.bos_token_id
    for row, mask in zip(ids["input_ids"].tolist(), ids["attention_mask"].tolist(), strict=True):
        real = [t for t, m in zip(row, mask, strict=True) if m]
        assert real[0] == bos and real.count(bos) == 1


THINKING = chat_template("qwen3-vl").replace("'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>\\n'")


def test_thinking_checkpoints_are_refused(tmp_path: Path) -> None:
    import torch

    from mediaeval_memo.models.qwen_vl import load_backbone
    from mediaeval_memo.models.tiny_qwen import tiny_tokenizer

    assert "<think>" in THINKING  # the one difference of Qwen3-VL-*-Thinking's generation prompt
    tokenizer = tiny_tokenizer("tiny-random-qwen3-vl")
    refuse_thinking(tokenizer, "instruct")  # the Instruct template passes
    tokenizer.chat_template = THINKING
    with pytest.raises(InputError, match="is a Thinking checkpoint"):
        refuse_thinking(tokenizer, "thinking")
    # a local folder fails on its tokenizer, before any weight is read (the folder has none)
    tokenizer.save_pretrained(tmp_path / "Qwen3-VL-Thinking")
    with pytest.raises(InputError) as info:
        load_backbone(str(tmp_path / "Qwen3-VL-Thinking"), "none", torch.device("cpu"))
    (problem,) = info.value.problems
    assert (problem.field, problem.value) == ("model", str(tmp_path / "Qwen3-VL-Thinking"))
    assert problem.message == (
        "is a Thinking checkpoint (its chat template opens the answer with <think>): it reasons at length before "
        "answering, and qwen-vl trains and reads a short answer; use the Instruct checkpoint"
    )


def test_a_checkpoint_without_a_chat_template_gets_the_processors_or_fails(tmp_path: Path) -> None:
    import json

    from mediaeval_memo.models.tiny_qwen import tiny_tokenizer

    tokenizer = tiny_tokenizer("tiny-random-qwen2.5-vl")
    tokenizer.chat_template = None
    tokenizer.save_pretrained(tmp_path)
    for leftover in tmp_path.glob("chat_template.*"):
        leftover.unlink()
    with pytest.raises(InputError, match="has no chat template"):
        ensure_chat_template(tokenizer, str(tmp_path))
    # Qwen-VL repositories may keep the template only beside the processor
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": chat_template("qwen2.5-vl")}))
    ensure_chat_template(tokenizer, str(tmp_path))
    assert tokenizer.chat_template == chat_template("qwen2.5-vl")
