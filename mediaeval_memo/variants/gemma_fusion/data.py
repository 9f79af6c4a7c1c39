"""What the fusion network reads for a list of videos: prompt tokens (title, rationale of the fit's own fold, ...)
and feature streams (feature blocks and standardised metadata), and how they are batched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.data.feature_store import block_fold, list_blocks, load_block
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.rationales.cache import load_rationales
from mediaeval_memo.rationales.prompt import field_text
from mediaeval_memo.variants.gemma_fusion.config import ALL_BLOCKS, GemmaFusionConfig
from mediaeval_memo.variants.gemma_fusion.net import StreamSpec

META_STREAM = "metadata"


@dataclass
class FusionInputs:
    """What the network reads for a list of videos: token ids and stream vectors, row-aligned."""

    ids: list[str]
    input_ids: list[list[int]]
    streams: dict[str, np.ndarray]


@dataclass
class FusionState:
    """Everything besides the trainable weights that a fitted model needs to predict: saved as JSON."""

    config: dict[str, Any]
    fold: str
    targets: list[str]
    streams: list[StreamSpec]
    meta_columns: list[str] = field(default_factory=list)
    meta_mean: list[float] = field(default_factory=list)
    meta_std: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["streams"] = [vars(s) for s in self.streams]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FusionState:
        data = dict(data)
        data["streams"] = [StreamSpec(**s) for s in data["streams"]]
        return cls(**data)


def resolve_streams(dataset: PreparedDataset, config: GemmaFusionConfig, fold: str) -> list[StreamSpec]:
    """Feature blocks to read as streams (named after their block, `{fold}` resolved), with their token layout:
    a block whose meta records `shape: [T, D]` gives T tokens."""
    have = list_blocks(dataset.root)
    wanted: list[str] = []
    for pattern in config.feature_blocks:
        if pattern == ALL_BLOCKS:
            # Rationales of another fold quote scores this fit must not see: '*' takes only this fold's.
            wanted.extend(b for b in have if b not in wanted and block_fold(dataset.root, b) in (None, fold))
            continue
        name = pattern.replace("{fold}", fold)
        if name not in have:
            raise InputError(
                Problem(
                    str(dataset.features_dir),
                    f"no such feature block (have: {', '.join(have) or 'none'}); create it with `memo features`",
                    field="feature_blocks",
                    value=name,
                )
            )
        other = block_fold(dataset.root, name)
        if other not in (None, fold):
            raise InputError(
                Problem(
                    str(dataset.features_dir),
                    f"embeds the rationales of fold {other}, which quote scores a fit for fold {fold} must not see; "
                    "write the name with {fold}",
                    field="feature_blocks",
                    value=name,
                )
            )
        if name not in wanted:
            wanted.append(name)
    specs = []
    for name in wanted:
        block = load_block(dataset.root, name)
        shape = block.meta.get("shape")
        if isinstance(shape, list) and len(shape) == 2 and shape[0] * shape[1] == block.dim:
            spec = StreamSpec(name, int(shape[0]), int(shape[1]))
        elif block.dim % config.tokens_per_stream == 0:
            spec = StreamSpec(name, config.tokens_per_stream, block.dim // config.tokens_per_stream)
        else:
            spec = StreamSpec(name, 1, block.dim)
        specs.append(spec)
    return specs


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): view and like counts span six orders of magnitude; small rates barely change."""
    return np.sign(x) * np.log1p(np.abs(x))


def meta_columns(dataset: PreparedDataset) -> list[str]:
    return [
        c for c in dataset.items.columns if c.startswith("meta_") and pd.api.types.is_numeric_dtype(dataset.items[c])
    ]


class FusionData:
    """Builds network inputs for videos of one fit: prompt tokens (with that fold's rationales) and streams."""

    def __init__(self, dataset: PreparedDataset, state: FusionState, tokenizer: Any, config: GemmaFusionConfig):
        self.dataset, self.state, self.tokenizer, self.config = dataset, state, tokenizer, config
        self.rationales: dict[tuple[str, str], str] | None = None
        if "rationale" in config.text_fields:
            path = Path(config.rationales)
            path = path if path.is_absolute() else dataset.root / path
            self.rationales = load_rationales(path, config.rationale_model or None)
        missing = [f for f in config.text_fields if f != "rationale" and f not in dataset.items.columns]
        if missing:
            raise InputError(
                Problem(
                    str(dataset.root / "items.parquet"),
                    "not a text column of the item table (nor 'rationale')",
                    field="text_fields",
                    value=missing[0],
                )
            )

    def prompt(self, row: dict[Any, Any]) -> str:
        lines = []
        for f in self.config.text_fields:
            if f == "rationale":
                assert self.rationales is not None
                text = self.rationales[(row["video_id"], self.state.fold)]
                lines.append(f"Rationale: {text}")
            else:
                lines.append(f"{f.capitalize()}: {field_text(row, f)}")
        return "\n".join(lines)

    def inputs(self, ids: Sequence[str]) -> FusionInputs:
        rows = self.dataset.rows(list(ids)).to_dict("records")
        if self.rationales is not None:
            lacking = [r["video_id"] for r in rows if (r["video_id"], self.state.fold) not in self.rationales]
            if lacking:
                raise InputError(
                    Problem(
                        self.config.rationales,
                        f"{len(lacking)} videos have no rationale for fold {self.state.fold} (first: {lacking[:3]}); "
                        f"run `memo rationales --data {self.dataset.root} --fold {self.state.fold}`",
                    )
                )
        enc = self.tokenizer(
            [self.prompt(r) for r in rows],
            truncation=True,
            max_length=self.config.max_text_tokens,
            add_special_tokens=True,
        )
        input_ids = [list(x) for x in enc["input_ids"]]
        bos = self.tokenizer.bos_token_id
        # Soft tokens go after the first token: make sure it is <bos> so that they follow it, as in training.
        input_ids = [x if x and x[0] == bos else [bos, *x] for x in input_ids]
        streams: dict[str, np.ndarray] = {}
        for spec in self.state.streams:
            if spec.name == META_STREAM:
                streams[spec.name] = self.metadata(rows)
            else:
                block = load_block(self.dataset.root, spec.name)
                streams[spec.name] = block.aligned(list(ids)).astype(np.float32)
        return FusionInputs(list(ids), input_ids, streams)

    def metadata(self, rows: list[dict[Any, Any]]) -> np.ndarray:
        values = signed_log1p(np.array([[float(r[c]) for c in self.state.meta_columns] for r in rows]))
        z = (values - np.array(self.state.meta_mean)) / np.array(self.state.meta_std)
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def collate(inputs: FusionInputs, targets: np.ndarray | None, pad_id: int, rows: list[int]) -> dict[str, Any]:
    length = max(len(inputs.input_ids[i]) for i in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for j, i in enumerate(rows):
        seq = inputs.input_ids[i]
        ids[j, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[j, : len(seq)] = 1
    batch: dict[str, Any] = {
        "input_ids": ids,
        "attention_mask": mask,
        "streams": {k: torch.from_numpy(v[rows]) for k, v in inputs.streams.items()},
    }
    if targets is not None:
        batch["targets"] = torch.from_numpy(targets[rows])
    return batch
