"""The built-in `tiny-random-gemma3`: an offline tokenizer and a tiny Gemma-3 text model with random weights.

Tests and the CPU demo need a Gemma-3 that exists without a download. The tokenizer has the real Gemma special
tokens plus 256 byte-fallback tokens, so it round-trips any UTF-8 text and renders Gemma-3's real chat template; the
model is a 2-layer `Gemma3ForCausalLM` (hidden 64) built from a config. Weights come from a fixed seed, so every
build is identical: a saved fusion model needs only its adapters and heads to be reloaded exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediaeval_memo.models.chat import chat_template

if TYPE_CHECKING:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerBase

TINY_GEMMA3 = "tiny-random-gemma3"
# Weights do not depend on the caller's seed: a model saved with one seed reloads onto the same backbone.
_WEIGHT_SEED = 1234
TINY_CONTEXT = 256
SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>")


def is_tiny_gemma3(name_or_path: str) -> bool:
    return str(name_or_path) == TINY_GEMMA3


def tiny_gemma3_tokenizer() -> PreTrainedTokenizerBase:
    """A Gemma tokenizer with no files: special tokens, 256 `<0xNN>` byte tokens and the word marker."""
    from transformers import GemmaTokenizer

    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    vocab["▁"] = len(vocab)
    tokenizer = GemmaTokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tokenizer.chat_template = chat_template("gemma3")  # Gemma-3's own: one <bos>, then the turns
    tokenizer.padding_side = "left"
    # One token per byte makes prompts long; a short context keeps the toy model's CPU steps in milliseconds.
    tokenizer.model_max_length = TINY_CONTEXT
    return tokenizer


def tiny_gemma3_config(vocab_size: int, **overrides: Any) -> Gemma3TextConfig:
    """Gemma-3 text config at toy size; the attention pattern (sliding and full layers) is the real one."""
    from transformers import Gemma3TextConfig

    values: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "query_pre_attn_scalar": 16,
        "sliding_window": 64,
        "layer_types": ["sliding_attention", "full_attention"],
        "max_position_embeddings": 4096,
        "pad_token_id": 0,
        "eos_token_id": [1, 6],
        "bos_token_id": 2,
    }
    values.update(overrides)
    return Gemma3TextConfig(**values)


def tiny_gemma3_causal_lm() -> tuple[Gemma3ForCausalLM, PreTrainedTokenizerBase]:
    """The tiny model with its LM head (for generating rationales) and its tokenizer, weights from a fixed seed."""
    import torch
    from transformers import Gemma3ForCausalLM

    tokenizer = tiny_gemma3_tokenizer()
    config = tiny_gemma3_config(len(tokenizer))
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(_WEIGHT_SEED)
        model = Gemma3ForCausalLM(config)
    finally:
        torch.random.set_rng_state(state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")]
    return model.eval(), tokenizer
