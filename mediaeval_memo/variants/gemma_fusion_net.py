"""The Gemma-3 fusion network: feature streams as soft tokens beside the embedded prompt, pooled, regressed.

    [<bos>] [soft tokens of stream 1] ... [soft tokens of stream S] [prompt tokens (title + rationale)] [pad]
        -> frozen Gemma-3 text model with LoRA -> last hidden state -> mean or attention pooling
        -> one MLP head per target -> sigmoid -> scores in [0, 1]

Each stream (ViT frames, E5 text vectors, standardised metadata, any feature block) has its own projector into the
embedding space; a stream whose block records `shape: [T, D]` (e.g. 3 ViT frames of 768) gives T tokens through one
shared projector, any other stream gives `tokens_per_stream` tokens. Soft tokens follow <bos> so that, under causal
attention, every prompt token can attend to every stream.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from mediaeval_memo.errors import InputError, Problem
from mediaeval_memo.training.tiny_gemma import is_tiny_gemma3, tiny_gemma3_causal_lm

Pooling = Literal["mean", "attention"]
GEMMA3_TYPES = ("gemma3", "gemma3_text")


@dataclass(frozen=True)
class StreamSpec:
    """A feature stream: its name, and how its vector splits into `tokens` soft tokens of `token_dim` values."""

    name: str
    tokens: int
    token_dim: int

    @property
    def dim(self) -> int:
        return self.tokens * self.token_dim


def load_backbone(name_or_path: str, quantization: str = "none", device: str | None = None) -> tuple[nn.Module, Any]:
    """The Gemma-3 text model (no LM head, no vision tower) and its tokenizer, by name, path or the tiny built-in."""
    from transformers import AutoTokenizer

    if is_tiny_gemma3(name_or_path):
        lm, tokenizer = tiny_gemma3_causal_lm()
        if quantization == "none":
            cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
            local = device or f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            return (lm.model.to(local) if cuda else lm.model), tokenizer
        # The real 4-bit path goes through from_pretrained, so the toy model takes it too.
        with tempfile.TemporaryDirectory(prefix="tiny-gemma3-") as tmp:
            lm.model.save_pretrained(tmp)
            return load_text_model(tmp, quantization, device), tokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as exc:
        raise InputError(
            Problem(
                "config", f"cannot load the tokenizer ({str(exc).splitlines()[0]})", field="model", value=name_or_path
            )
        ) from None
    return load_text_model(name_or_path, quantization, device), tokenizer


def load_text_model(name_or_path: str, quantization: str = "none", device: str | None = None) -> nn.Module:
    """The Gemma-3 text model of a checkpoint, in bf16 on a GPU (fp32 on CPU) or NF4 with `quantization="4bit"`.

    Multimodal checkpoints (`google/gemma-3-4b-it`) are loaded whole and reduced to their language model; text-only
    ones (`google/gemma-3-1b-it`, a saved `Gemma3TextModel`) load directly.
    """
    from transformers import AutoConfig, AutoModel

    from mediaeval_memo.training.lora import fix_bitsandbytes_cpu, quantization_config

    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except OSError as exc:
        raise InputError(
            Problem(
                "config", f"cannot load the backbone ({str(exc).splitlines()[0]})", field="model", value=name_or_path
            )
        ) from None
    if config.model_type not in GEMMA3_TYPES:
        raise InputError(
            Problem(
                "config", f"not a Gemma-3 model (model_type {config.model_type!r})", field="model", value=name_or_path
            )
        )
    cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if cuda else torch.float32}
    if quantization == "4bit":
        kwargs["quantization_config"] = quantization_config(["vision_tower", "multi_modal_projector", "lm_head"])
    if cuda:
        # Under `accelerate launch` each process loads its copy onto its own GPU (LOCAL_RANK), before the
        # training loop's Accelerator exists.
        kwargs["device_map"] = {"": device or f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"}
    model: nn.Module
    if config.model_type == "gemma3":
        from transformers import Gemma3ForConditionalGeneration

        full = Gemma3ForConditionalGeneration.from_pretrained(name_or_path, **kwargs)
        model = full.model.language_model
        del full
    else:
        model = AutoModel.from_pretrained(name_or_path, **kwargs)
    fix_bitsandbytes_cpu(model)
    return model


class AttentionPooling(nn.Module):
    """A learned query attends over the non-padding positions of the last hidden state."""

    def __init__(self, hidden: int):
        super().__init__()
        self.score = nn.Linear(hidden, 1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.score(hidden).squeeze(-1).float().masked_fill(mask == 0, float("-inf"))
        weights = torch.softmax(logits, dim=-1).to(hidden.dtype)
        return torch.einsum("bt,bth->bh", weights, hidden)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class GemmaFusionNet(nn.Module):
    """Backbone (frozen, LoRA-adapted by the caller) + per-stream projectors + pooling + one head per target."""

    def __init__(
        self,
        backbone: nn.Module,
        streams: Sequence[StreamSpec],
        targets: Sequence[str],
        pooling: Pooling = "mean",
        projector_hidden: int = 1024,
        head_hidden: int = 256,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.backbone: Any = backbone
        config: Any = backbone.config
        hidden = int(config.hidden_size)
        self.streams = list(streams)
        self.targets = list(targets)
        self.projectors = nn.ModuleDict(
            {
                s.name: nn.Sequential(
                    nn.LayerNorm(s.token_dim),
                    nn.Linear(s.token_dim, projector_hidden),
                    nn.GELU(),
                    nn.Linear(projector_hidden, hidden),
                )
                for s in self.streams
            }
        )
        self.pool = AttentionPooling(hidden) if pooling == "attention" else None
        self.heads = nn.ModuleDict(
            {
                t: nn.Sequential(
                    nn.Dropout(dropout), nn.Linear(hidden, head_hidden), nn.GELU(), nn.Linear(head_hidden, 1)
                )
                for t in self.targets
            }
        )

    @property
    def soft_tokens(self) -> int:
        return sum(s.tokens for s in self.streams)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, streams: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Scores in [0, 1], shape (batch, targets), in the order of `self.targets`."""
        embed = self.backbone.get_input_embeddings()
        text = embed(input_ids)
        batch = input_ids.shape[0]
        soft = [
            self.projectors[s.name](streams[s.name].view(batch, s.tokens, s.token_dim).to(torch.float32))
            for s in self.streams
        ]
        parts = [text[:, :1], *(p.to(text.dtype) for p in soft), text[:, 1:]]
        inputs = torch.cat(parts, dim=1)
        ones = attention_mask.new_ones((batch, self.soft_tokens))
        mask = torch.cat([attention_mask[:, :1], ones, attention_mask[:, 1:]], dim=1)
        hidden = self.backbone(inputs_embeds=inputs, attention_mask=mask).last_hidden_state
        pooled = self.pool(hidden, mask) if self.pool is not None else mean_pool(hidden, mask)
        # Heads run in fp32 even under bf16 autocast: bf16 scores have ~3 significant digits, and the ties they
        # create cost Spearman (the metric) directly.
        with torch.autocast(pooled.device.type, enabled=False):
            pooled = pooled.to(torch.float32)
            return torch.sigmoid(torch.cat([self.heads[t](pooled) for t in self.targets], dim=-1))


def pairwise_ranking_loss(scores: torch.Tensor, targets: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Logistic loss over every pair in the batch whose targets differ: the higher target should score higher."""
    ds = (scores.unsqueeze(1) - scores.unsqueeze(0)) / temperature
    sign = torch.sign(targets.unsqueeze(1) - targets.unsqueeze(0))
    pairs = sign != 0
    if not pairs.any():
        return scores.sum() * 0.0
    return nn.functional.softplus(-sign[pairs] * ds[pairs]).mean()


def default_lora_targets() -> str:
    return r".*layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))"
