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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

Pooling = Literal["mean", "attention"]


@dataclass(frozen=True)
class StreamSpec:
    """A feature stream: its name, and how its vector splits into `tokens` soft tokens of `token_dim` values."""

    name: str
    tokens: int
    token_dim: int

    @property
    def dim(self) -> int:
        return self.tokens * self.token_dim


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
