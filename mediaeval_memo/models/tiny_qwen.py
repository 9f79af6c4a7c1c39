"""Built-in tiny random Qwen-VL models: the real architectures at toy size, with an offline tokenizer.

`tiny-random-qwen2-vl`, `tiny-random-qwen2.5-vl` and `tiny-random-qwen3-vl` build a 2-layer, 64-wide model of the
named family from its config (fixed seed, so every build has the same weights) and a byte-level tokenizer that
round-trips any UTF-8 text, with the Qwen chat and vision special tokens and the family's real chat template (the
default system turn of Qwen2/2.5-VL, none for Qwen3-VL). They download nothing: tests, CI and a user checking an
install train and predict with them on a CPU in seconds. Their scores mean nothing.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any, ClassVar

import torch

from mediaeval_memo.models.chat import chat_template, render_jinja
from mediaeval_memo.models.qwen_vl import CLIP_MEAN, CLIP_STD, HALF, VisionPreprocessing

TINY_MODELS = ("tiny-random-qwen2-vl", "tiny-random-qwen2.5-vl", "tiny-random-qwen3-vl")
SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
TINY_SEED = 0


def is_tiny(name: str) -> bool:
    return name in TINY_MODELS


def tiny_tokenizer(name: str) -> Any:
    """A byte-level Qwen2 tokenizer with no merges (257 byte tokens plus the Qwen special tokens) carrying the chat
    template of the named tiny model's family."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    if not is_tiny(name):
        raise ValueError(f"unknown tiny model {name!r}; built in: {', '.join(TINY_MODELS)}")
    vocab = {"<|endoftext|>": 0, **{c: i + 1 for i, c in enumerate(sorted(ByteLevel.alphabet()))}}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], pad_token="<|endoftext|>", eos_token="<|im_end|>")
    tokenizer.add_tokens(list(SPECIAL_TOKENS), special_tokens=True)
    tokenizer.chat_template = chat_template(name.removeprefix("tiny-random-"))
    return tokenizer


def tiny_config(name: str, tokenizer: Any) -> Any:
    """The transformers config of a tiny model: hidden 64, 2 text layers, 2 vision layers, vocab 320."""
    ids = {
        "image_token_id": tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    }
    text = dict(
        vocab_size=320,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]},
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=0,
        bos_token_id=None,
    )
    if name == "tiny-random-qwen2-vl":
        from transformers import Qwen2VLConfig

        vision: dict[str, Any] = dict(
            depth=2, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2, patch_size=14, spatial_merge_size=2,
            temporal_patch_size=2,
        )  # fmt: skip
        return Qwen2VLConfig(text_config=text, vision_config=vision, **ids)
    if name == "tiny-random-qwen2.5-vl":
        from transformers import Qwen2_5_VLConfig

        vision = dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1],
        )  # fmt: skip
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
    if name == "tiny-random-qwen3-vl":
        from transformers import Qwen3VLConfig

        text3 = dict(text, head_dim=16)
        text3["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 1e4,
            "mrope_section": [2, 3, 3],
            "mrope_interleaved": True,
        }
        vision = dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=16,
            spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64, deepstack_visual_indexes=[0],
        )  # fmt: skip
        return Qwen3VLConfig(text_config=text3, vision_config=vision, **ids)
    raise ValueError(f"unknown tiny model {name!r}; built in: {', '.join(TINY_MODELS)}")


def tiny_preprocessing(name: str) -> VisionPreprocessing:
    if name == "tiny-random-qwen3-vl":
        return VisionPreprocessing(16, 2, 2, HALF, HALF)
    return VisionPreprocessing(14, 2, 2, CLIP_MEAN, CLIP_STD)


def build_tiny(name: str, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """(model, tokenizer) of a tiny model, with the same random weights on every call."""
    from transformers import AutoModelForImageTextToText

    tokenizer = tiny_tokenizer(name)
    config = tiny_config(name, tokenizer)
    devices = ["cuda"] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(TINY_SEED)
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return model.eval(), tokenizer


def save_tiny(name: str, directory: Path) -> Path:
    """Write a tiny model and its tokenizer as a local model folder (what 4-bit loading reads)."""
    model, tokenizer = build_tiny(name)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# The real Qwen2.5-VL-7B-Instruct architecture with random weights: for measuring speed and memory on a GPU before
# downloading 16 GB of weights (benchmarks/qwen_vl_step.py). Its answers are noise.
RANDOM_SHAPES = ("random-qwen2.5-vl-7b",)


def random_shape_config(name: str) -> Any:
    from transformers import Qwen2_5_VLConfig

    if name != "random-qwen2.5-vl-7b":
        raise ValueError(f"unknown random-shape model {name!r}; built in: {', '.join(RANDOM_SHAPES)}")
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
            num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
            eos_token_id=151645, pad_token_id=151643, bos_token_id=151643, tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31],
            tokens_per_second=2,
        ),
        image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653,
        tie_word_embeddings=False,
    )  # fmt: skip


def build_random_shape(name: str, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """(model, tokenizer) of a real-size architecture with random weights, built directly on `device`.

    The tokenizer is `WordTokenizer`: one token per word, roughly the real tokenizer's count for English prompts,
    which is all a speed measurement needs (a byte-level one would make the text 3-4x too long).
    """
    from transformers import AutoModelForImageTextToText

    config = random_shape_config(name)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return model.eval(), WordTokenizer()


class WordTokenizer:
    """A stand-in tokenizer for random-shape Qwen models: the real special-token and digit ids, every other word
    hashed to a stable id, and Qwen2.5-VL's chat template. Encodes any text; decodes digits and special tokens
    (enough to parse an answer)."""

    SPECIALS: ClassVar[dict[str, int]] = {
        "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|vision_start|>": 151652,
        "<|vision_end|>": 151653, "<|image_pad|>": 151655, "<|video_pad|>": 151656,
    }  # fmt: skip
    DIGIT0 = 15  # Qwen's id of "0"; the tokenizer splits numbers into single digits
    _PIECES = re.compile(r"<\|[a-z_]+\|>|\d|\w+|[^\w\s]|\s+")

    def __init__(self) -> None:
        self.pad_token_id = self.SPECIALS["<|endoftext|>"]
        self.eos_token_id = self.SPECIALS["<|im_end|>"]
        self.eos_token = "<|im_end|>"
        self.names = {i: t for t, i in self.SPECIALS.items()} | {self.DIGIT0 + d: str(d) for d in range(10)}
        self.chat_template = chat_template("qwen2.5-vl")

    def apply_chat_template(
        self, messages: list[dict[str, Any]], tokenize: bool = False, add_generation_prompt: bool = False
    ) -> str:
        if tokenize:
            raise NotImplementedError("render the text, then call the tokenizer")
        return render_jinja(self.chat_template, messages, add_generation_prompt)

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        ids = []
        for piece in self._PIECES.findall(text):
            if piece in self.SPECIALS:
                ids.append(self.SPECIALS[piece])
            elif piece.isdigit():
                ids.append(self.DIGIT0 + int(piece))
            elif not piece.isspace():
                ids.append(1000 + zlib.crc32(piece.encode()) % 140000)
        return {"input_ids": ids}

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.SPECIALS[token]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        words = [self.names.get(i, "?") for i in ids]
        if skip_special_tokens:
            words = [w for w in words if w not in self.SPECIALS]
        return "".join(words)
