"""The qwen-vl network (as gemma-fusion's `net`): the trainable whole (`Scorer`: the LoRA-wrapped Qwen-VL model and
the optional regression head) and the forwards it runs: the language model on cached visual tokens, the answer
logits, greedy decoding and the distribution over the 101 candidate answers.

Why this is not `model(**processor(...))`: the frozen vision tower's output is cached (`visual_tokens`),
so training and prediction run only the language model on input embeddings with the cached tokens scattered in.
The loss touches the vocabulary only where it must: the answer tokens (`generate`), the 101 candidate answers
(`expected`), or not at all (`head`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mediaeval_memo.models.qwen_vl import parts

IGNORE = -100
TEXT, IMAGE, VIDEO = 0, 1, 2


def language_hidden(
    model: Any, batch: dict[str, Any], use_cache: bool = False
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Last hidden states (B, L, H) of the language model on a collated batch with cached visual tokens.

    Returns (hidden, past_key_values or None, position_ids (3, B, L)).
    """
    inner, lm, _ = parts(model)
    input_ids = batch["input_ids"]
    embeds = lm.embed_tokens(input_ids)
    visual_mask = batch["mm_token_type_ids"] != TEXT
    if batch["visual_tokens"].numel():
        embeds = embeds.masked_scatter(visual_mask.unsqueeze(-1), batch["visual_tokens"].to(embeds.dtype))
    grids = {"image_grid_thw": None, "video_grid_thw": None}
    key = "video_grid_thw" if batch["as_video"] else "image_grid_thw"
    grids[key] = batch["grid_thw"]
    rope_kwargs: dict[str, Any] = {}
    if batch["as_video"] and "second_per_grid_ts" in batch:
        rope_kwargs["second_per_grid_ts"] = batch["second_per_grid_ts"]
    position_ids, _ = inner.get_rope_index(
        input_ids, batch["mm_token_type_ids"], attention_mask=batch["attention_mask"], **grids, **rope_kwargs
    )
    extra: dict[str, Any] = {}
    if batch["deepstack"]:
        extra = {
            "visual_pos_masks": visual_mask,
            "deepstack_visual_embeds": [d.to(embeds.dtype) for d in batch["deepstack"]],
        }
    out = lm(
        inputs_embeds=embeds,
        attention_mask=batch["attention_mask"],
        position_ids=position_ids,
        use_cache=use_cache,
        **extra,
    )
    return out.last_hidden_state, (out.past_key_values if use_cache else None), position_ids


def answer_logits(model: Any, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Vocabulary logits only at the positions that predict answer tokens, and those tokens."""
    _, _, lm_head = parts(model)
    targets = labels[:, 1:]
    where = targets != IGNORE
    return lm_head(hidden[:, :-1][where]), targets[where]


@torch.no_grad()
def greedy_answers(
    model: Any, batch: dict[str, Any], stop_ids: Sequence[int], max_new_tokens: int
) -> list[tuple[list[int], bool]]:
    """Greedy decoding of at most `max_new_tokens` answer tokens for a left-padded batch, with a KV cache.

    Returns each answer's tokens (the stop token excluded) and whether it stopped by itself: False means it hit
    the limit, so its end may be cut off mid-number."""
    _, lm, lm_head = parts(model)
    hidden, cache, position_ids = language_hidden(model, batch, use_cache=True)
    batch_size = hidden.shape[0]
    next_pos = position_ids[:, :, -1:] + 1
    mask = batch["attention_mask"]
    out: list[list[int]] = [[] for _ in range(batch_size)]
    done = torch.zeros(batch_size, dtype=torch.bool, device=hidden.device)
    stop = torch.tensor(list(stop_ids), device=hidden.device)
    logits = lm_head(hidden[:, -1])
    for step in range(max_new_tokens):
        token = logits.argmax(-1)
        for i in range(batch_size):
            if not done[i] and not bool(torch.isin(token[i], stop)):
                out[i].append(int(token[i]))
        done |= torch.isin(token, stop)
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        step_out = lm(
            inputs_embeds=lm.embed_tokens(token[:, None]),
            attention_mask=mask,
            position_ids=next_pos,
            past_key_values=cache,
            use_cache=True,
        )
        cache, next_pos = step_out.past_key_values, next_pos + 1
        logits = lm_head(step_out.last_hidden_state[:, -1])
    return [(tokens, bool(stopped)) for tokens, stopped in zip(out, done.tolist(), strict=True)]


@torch.no_grad()
def candidate_distribution(model: Any, batch: dict[str, Any], candidates: Sequence[Sequence[int]]) -> torch.Tensor:
    """P(candidate answer | prompt) over `candidates` (token sequences, each ending with the end-of-turn token),
    normalised over the candidates, for a batch of one video: (n_candidates,).

    The prompt runs once; the candidates run as one batch of short continuations of its KV cache.
    """
    _, lm, lm_head = parts(model)
    hidden, cache, position_ids = language_hidden(model, batch, use_cache=True)
    if hidden.shape[0] != 1:
        raise ValueError("candidate_distribution scores one video at a time")
    n = len(candidates)
    first = torch.log_softmax(lm_head(hidden[:, -1]).float(), dim=-1)[0]  # (V,)
    longest = max(len(c) for c in candidates) - 1
    scores = torch.stack([first[c[0]] for c in candidates])
    if longest > 0:
        pad = 0
        inputs = torch.tensor([list(c[:-1]) + [pad] * (longest - len(c) + 1) for c in candidates], device=hidden.device)
        cache.batch_repeat_interleave(n)
        mask = torch.ones(
            n, batch["attention_mask"].shape[1] + longest, dtype=batch["attention_mask"].dtype, device=hidden.device
        )
        pos = position_ids[:, :, -1:] + 1 + torch.arange(longest, device=hidden.device)
        step = lm(
            inputs_embeds=lm.embed_tokens(inputs),
            attention_mask=mask,
            position_ids=pos.expand(3, n, longest),
            past_key_values=cache,
            use_cache=True,
        )
        logp = torch.log_softmax(lm_head(step.last_hidden_state).float(), dim=-1)  # (n, longest, V)
        for i, c in enumerate(candidates):
            for j in range(1, len(c)):
                scores[i] = scores[i] + logp[i, j - 1, c[j]]
    return torch.softmax(scores, dim=0)


class Scorer(nn.Module):
    """The trainable whole: the (LoRA-wrapped) Qwen-VL model and, for the `head` head, a regression head.

    `forward(batch)` returns the training loss, so that DDP sees one forward per micro-batch.
    """

    def __init__(self, backbone_model: nn.Module, head: str, hidden_size: int, train_mean: float, seed: int):
        super().__init__()
        self.backbone = backbone_model
        self.head_kind = head
        self.regressor: nn.Linear | None = None
        if head == "head":
            g = torch.Generator().manual_seed(seed)
            self.regressor = nn.Linear(hidden_size, 1)
            with torch.no_grad():
                self.regressor.weight.copy_(torch.randn(1, hidden_size, generator=g) * 0.01)
                self.regressor.bias.fill_(train_mean)
            self.regressor.to(next(p.device for p in backbone_model.parameters()))

    def regress(self, hidden: torch.Tensor) -> torch.Tensor:
        assert self.regressor is not None
        return self.regressor(hidden[:, -1].float()).squeeze(-1)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        hidden, _, _ = language_hidden(self.backbone, batch)
        if self.head_kind == "head":
            return nn.functional.mse_loss(self.regress(hidden), batch["scores"].float())
        logits, targets = answer_logits(self.backbone, hidden, batch["labels"])
        return nn.functional.cross_entropy(logits.float(), targets)
