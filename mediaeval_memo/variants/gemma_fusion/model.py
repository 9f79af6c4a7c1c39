"""A fitted gemma-fusion model and its files: fusion.json (config, fold, targets, streams, metadata scaling) and
trainable.safetensors (LoRA adapters, projectors, pooling and heads; the frozen backbone is rebuilt from its name)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from mediaeval_memo.core.config import config_to_dict
from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.models.gemma3 import load_backbone
from mediaeval_memo.training.checkpoint import load_trainable, save_trainable
from mediaeval_memo.training.lora import LoraTargetError, add_lora
from mediaeval_memo.variants.base import Model
from mediaeval_memo.variants.gemma_fusion.config import GemmaFusionConfig
from mediaeval_memo.variants.gemma_fusion.data import FusionData, FusionState, collate
from mediaeval_memo.variants.gemma_fusion.net import GemmaFusionNet

WEIGHTS_FILE = "trainable.safetensors"
STATE_FILE = "fusion.json"


def build_net(config: GemmaFusionConfig, state: FusionState) -> tuple[GemmaFusionNet, Any]:
    """The backbone with LoRA adapters, projectors, pooling and heads; every new weight drawn from the config's
    seed alone (torch's own generator starts from a random seed in every process)."""
    backbone, tokenizer = load_backbone(config.model, config.quantization)
    for p in backbone.parameters():
        p.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        try:
            backbone = add_lora(backbone, config)
        except LoraTargetError as exc:
            raise InputError(
                Problem(
                    "config",
                    f"matches no linear layer of the backbone; some that exist: {', '.join(exc.existing[:4])}",
                    field="lora_targets",
                    value=exc.pattern,
                )
            ) from None
        net = GemmaFusionNet(
            backbone,
            state.streams,
            state.targets,
            pooling=config.pooling,
            projector_hidden=config.projector_hidden,
            head_hidden=config.head_hidden,
            dropout=config.dropout,
        )
    device = next(backbone.parameters()).device
    net.projectors.to(device)
    net.heads.to(device)
    if net.pool is not None:
        net.pool.to(device)
    return net, tokenizer


class GemmaFusionModel(Model):
    """A fitted fusion network: its config and state (streams, targets, metadata scaling) and trainable weights."""

    def __init__(self, net: GemmaFusionNet, tokenizer: Any, config: GemmaFusionConfig, state: FusionState):
        self.net, self.tokenizer, self.config, self.state = net, tokenizer, config, state
        self.fit_report: dict[str, Any] = {}

    def report(self) -> dict[str, Any]:
        return self.fit_report

    def scores(self, dataset: PreparedDataset, ids: Sequence[str]) -> pd.DataFrame:
        """Scores of every target head for `ids`: a DataFrame indexed by video_id, one column per target."""
        data = FusionData(dataset, self.state, self.tokenizer, self.config)
        inputs = data.inputs(ids)
        device = next(self.net.parameters()).device
        self.net.eval()
        out = []
        use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            for start in range(0, len(ids), self.config.predict_batch_size):
                rows = list(range(start, min(start + self.config.predict_batch_size, len(ids))))
                batch = collate(inputs, None, self.tokenizer.pad_token_id, rows)
                out.append(
                    self.net(
                        batch["input_ids"].to(device),
                        batch["attention_mask"].to(device),
                        {k: v.to(device) for k, v in batch["streams"].items()},
                    )
                    .float()
                    .cpu()
                )
        values = torch.cat(out).numpy().astype(np.float64)
        return pd.DataFrame(values, index=pd.Index(list(ids), name="video_id"), columns=self.state.targets)

    def predict(self, dataset: PreparedDataset, ids: Sequence[str], progress: Reporter | None = None) -> pd.Series:
        return self.scores(dataset, ids)[self.state.targets[0]].rename("score")

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_trainable(self.net, directory / WEIGHTS_FILE)
        (directory / STATE_FILE).write_text(json.dumps(self.state.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> GemmaFusionModel:
        directory = Path(directory)
        if not (directory / STATE_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise InputError(
                Problem(str(directory), f"not a gemma-fusion model (needs {STATE_FILE} and {WEIGHTS_FILE})")
            )
        state = FusionState.from_json(json.loads((directory / STATE_FILE).read_text("utf-8")))
        config = GemmaFusionConfig(**state.config)
        net, tokenizer = build_net(config, state)
        load_trainable(net, directory / WEIGHTS_FILE)
        net.eval()
        return cls(net, tokenizer, config, state)


def config_dict(config: GemmaFusionConfig) -> dict[str, Any]:
    # Round-trip through YAML types so that the JSON state rebuilds the same config.
    return dict(yaml.safe_load(yaml.safe_dump(config_to_dict(config))))
