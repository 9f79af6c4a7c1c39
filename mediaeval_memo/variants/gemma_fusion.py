"""The `gemma-fusion` run variant (Pramov, MediaEval 2025 Subtask 2): a LoRA-adapted Gemma-3 reads the prompt
(title plus LLM-written rationale) while feature streams enter as projected soft tokens; see gemma_fusion_net.py.

Fold safety: a fit for outer fold k reads the rationales written for fold k (their exemplars come from fold k's
training part only) and standardises metadata on its own training videos; the final model reads fold `all`.
Training runs through the shared engine (`mediaeval_memo.training`): checkpoints, resume, multi-GPU.
"""

from __future__ import annotations

import json
import logging
import math
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.errors import InputError, Problem
from mediaeval_memo.features.store import block_fold, list_blocks, load_block
from mediaeval_memo.rationales.cache import load_rationales
from mediaeval_memo.rationales.generate import RATIONALES_FILE
from mediaeval_memo.rationales.prompt import field_text
from mediaeval_memo.rationales.retrieval import FINAL
from mediaeval_memo.training import EpochBatches, LoraConfig, train_loop
from mediaeval_memo.training.checkpoint import load_trainable, save_trainable
from mediaeval_memo.training.config import Quantization
from mediaeval_memo.training.lora import LoraTargetError, add_lora, count_parameters
from mediaeval_memo.variants.base import ConfigError, Model, Variant, VariantConfig
from mediaeval_memo.variants.gemma_fusion_net import (
    GemmaFusionNet,
    Pooling,
    StreamSpec,
    default_lora_targets,
    load_backbone,
    pairwise_ranking_loss,
)
from mediaeval_memo.variants.runner import train_ids

log = logging.getLogger(__name__)
META_STREAM = "metadata"
ALL_BLOCKS = "*"
WEIGHTS_FILE = "trainable.safetensors"
STATE_FILE = "fusion.json"


@dataclass
class GemmaFusionConfig(LoraConfig):
    """Gemma-3 fusion: backbone, LoRA, streams, prompt, pooling, heads and loss (plus the engine's fields)."""

    model: str = field(
        default="google/gemma-3-4b-it",
        metadata={
            "help": "Gemma-3 backbone by hub name or local path (its text model is used), or tiny-random-gemma3."
        },
    )
    quantization: Quantization = field(
        default="none", metadata={"help": "none: bf16 LoRA on a GPU (fp32 on CPU); 4bit: NF4 backbone (QLoRA)."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_targets: str = field(
        default_factory=default_lora_targets,
        metadata={"help": "Regex (full match) over the backbone's module names that get LoRA adapters."},
    )
    aux_targets: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Targets learned jointly with `target`, one head each (e.g. memorability_score beside "
            "brand_memorability); predictions are for `target`."
        },
    )
    text_fields: list[str] = field(
        default_factory=lambda: ["title", "rationale"],
        metadata={
            "help": "Prompt fields in order: item-table text columns (title, description, transcript, captions) "
            "and 'rationale' (read from the rationales file)."
        },
    )
    rationales: str = field(
        default=str(RATIONALES_FILE),
        metadata={"help": "Rationales JSONL from `memo rationales`, relative to the dataset directory or absolute."},
    )
    rationale_model: str = field(
        default="",
        metadata={"help": "Which LLM's rationales to read when the file holds several (empty: the only one)."},
    )
    feature_blocks: list[str] = field(
        default_factory=lambda: [ALL_BLOCKS],
        metadata={
            "help": "Feature-store blocks to use as soft-token streams, '*' for all; '{fold}' in a name becomes the "
            "fold label (0, 1, ..., all) for per-fold blocks such as rationale embeddings."
        },
    )
    metadata_stream: bool = field(
        default=True,
        metadata={"help": "Add the numeric meta_* columns as one stream: sign(x) log(1+|x|), then standardised."},
    )
    tokens_per_stream: int = field(
        default=1, metadata={"help": "Soft tokens per flat stream (blocks with a [T, D] shape give T tokens)."}
    )
    projector_hidden: int = field(default=1024, metadata={"help": "Hidden width of each stream's projector MLP."})
    max_text_tokens: int = field(default=512, metadata={"help": "Prompt tokens kept (the end is cut)."})
    pooling: Pooling = field(default="mean", metadata={"help": "mean or attention pooling over the last hidden state."})
    head_hidden: int = field(default=256, metadata={"help": "Hidden width of each target's MLP head."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout before each head."})
    ranking_weight: float = field(
        default=0.0, metadata={"help": "Weight of the pairwise ranking loss added to MSE (0: MSE only)."}
    )
    val_fraction: float = field(
        default=0.0,
        metadata={
            "help": "Fraction of the training groups held out for early stopping and best-keeping (0: none; never "
            "the fold being predicted)."
        },
    )
    predict_batch_size: int = field(default=16, metadata={"help": "Videos per batch when predicting."})
    batch_size: int = field(default=8, metadata={"help": "Videos per micro-batch on each process."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak AdamW learning rate."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.quantization not in ("none", "4bit"):
            raise ConfigError("quantization", self.quantization, "expected none or 4bit")
        if not self.model:
            raise ConfigError("model", self.model, "a backbone name or path is required")
        for name in ("tokens_per_stream", "projector_hidden", "max_text_tokens", "head_hidden", "predict_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout", self.dropout, "must be in [0, 1)")
        if not (self.ranking_weight >= 0 and math.isfinite(self.ranking_weight)):
            raise ConfigError("ranking_weight", self.ranking_weight, "must be a finite number >= 0")
        if not 0 <= self.val_fraction < 0.5:
            raise ConfigError("val_fraction", self.val_fraction, "must be in [0, 0.5)")
        if not self.text_fields:
            raise ConfigError("text_fields", self.text_fields, "name at least one field")
        if self.target and self.target in self.aux_targets:
            raise ConfigError("aux_targets", self.aux_targets, "must not repeat `target`")


def fold_label(fold: int | None) -> str:
    return FINAL if fold is None else str(fold)


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


def build_net(config: GemmaFusionConfig, state: FusionState) -> tuple[GemmaFusionNet, Any]:
    backbone, tokenizer = load_backbone(config.model, config.quantization)
    for p in backbone.parameters():
        p.requires_grad_(False)
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
    torch.manual_seed(config.seed)
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


def holdout_groups(dataset: PreparedDataset, ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split training ids into (fit, validation) by whole groups, seeded; validation is empty at fraction 0."""
    if fraction == 0:
        return ids, []
    groups = dataset.rows(ids)["group"].astype(str).tolist()
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    n_val = max(1, round(fraction * len(unique))) if len(unique) > 1 else 0
    held = set(unique[:n_val])
    return [v for v, g in zip(ids, groups, strict=True) if g not in held], [
        v for v, g in zip(ids, groups, strict=True) if g in held
    ]


class GemmaFusionModel(Model):
    def __init__(self, net: GemmaFusionNet, tokenizer: Any, config: GemmaFusionConfig, state: FusionState):
        self.net, self.tokenizer, self.config, self.state = net, tokenizer, config, state

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

    def predict(self, dataset: PreparedDataset, split: str | Sequence[str]) -> pd.Series:
        ids = dataset.split(split)["video_id"].astype(str).tolist() if isinstance(split, str) else list(split)
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


class GemmaFusion(Variant):
    name = "gemma-fusion"
    Config = GemmaFusionConfig
    Model = GemmaFusionModel

    def fit(
        self, dataset: PreparedDataset, config: VariantConfig, fold: int | None, workdir: Path | None = None
    ) -> GemmaFusionModel:
        assert isinstance(config, GemmaFusionConfig)
        target = dataset.check_target(config.target)
        targets = [target, *(dataset.check_target(t) for t in config.aux_targets)]
        label = fold_label(fold)
        ids = train_ids(dataset, target, fold)
        for t in targets[1:]:
            known = set(dataset.labelled(t)["video_id"])
            ids = [v for v in ids if v in known]
        fit_ids, val_ids = holdout_groups(dataset, ids, config.val_fraction, config.seed)
        if not fit_ids:
            raise InputError(Problem(str(dataset.root), f"no labelled training videos for fold {label}"))

        streams = resolve_streams(dataset, config, label)
        cols: list[str] = []
        mean: list[float] = []
        std: list[float] = []
        if config.metadata_stream and (cols := meta_columns(dataset)):
            values = signed_log1p(dataset.rows(fit_ids)[cols].astype(float).to_numpy())
            mean = np.nan_to_num(np.nanmean(values, axis=0)).tolist()
            sd = np.nan_to_num(np.nanstd(values, axis=0))
            std = np.where(sd > 0, sd, 1.0).tolist()
            streams.append(StreamSpec(META_STREAM, 1, len(cols)))
        state = FusionState(
            config=_config_dict(config),
            fold=label,
            targets=targets,
            streams=streams,
            meta_columns=cols,
            meta_mean=mean,
            meta_std=std,
        )
        net, tokenizer = build_net(config, state)
        data = FusionData(dataset, state, tokenizer, config)
        train_inputs = data.inputs(fit_ids)
        y = dataset.rows(fit_ids)[targets].astype(float).to_numpy(dtype=np.float32)
        pad = tokenizer.pad_token_id

        def collate_rows(rows: list[int]) -> dict[str, Any]:
            return collate(train_inputs, y, pad, rows)

        def loss_fn(model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
            pred = model(batch["input_ids"], batch["attention_mask"], batch["streams"]).float()
            gold = batch["targets"].float()
            loss = torch.nn.functional.mse_loss(pred, gold)
            if config.ranking_weight > 0:
                rank = sum(pairwise_ranking_loss(pred[:, j], gold[:, j]) for j in range(gold.shape[1]))
                loss = loss + config.ranking_weight * rank / gold.shape[1]
            return loss

        model = GemmaFusionModel(net, tokenizer, config, state)
        eval_fn = None
        if val_ids:
            gold_val = dataset.rows(val_ids)[target].astype(float).to_numpy()

            def eval_fn(_: torch.nn.Module) -> float:
                from scipy.stats import spearmanr

                pred = model.scores(dataset, val_ids)[target].to_numpy()
                return float(spearmanr(pred, gold_val).statistic)

        trainable, total = count_parameters(net)
        log.info(
            "gemma-fusion fold %s: %d videos, %d soft tokens, %s trainable of %s parameters",
            label,
            len(fit_ids),
            net.soft_tokens,
            f"{trainable:,}",
            f"{total:,}",
        )
        with tempfile.TemporaryDirectory(prefix="gemma-fusion-") as tmp:
            train_loop(
                net,
                EpochBatches.factory(list(range(len(fit_ids))), config.batch_size, collate_rows, config.seed),
                eval_fn,
                config,
                Path(workdir) if workdir is not None else Path(tmp),
                loss_fn=loss_fn,
            )
        return model


def _config_dict(config: GemmaFusionConfig) -> dict[str, Any]:
    from mediaeval_memo.variants.base import config_to_dict

    # Round-trip through YAML types so that the JSON state rebuilds the same config.
    return dict(yaml.safe_load(yaml.safe_dump(config_to_dict(config))))
