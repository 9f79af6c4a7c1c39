"""What the GBT ensemble reads and how it is transformed: the design (feature blocks, numeric metadata,
categorical columns), the raw inputs of some videos, and the transform fitted on training ids only (a PCA per
block, a cross-fitted smoothed target encoding per categorical)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.data.feature_store import block_fold, list_blocks, load_block
from mediaeval_memo.data.items import PreparedDataset, caption_list
from mediaeval_memo.data.splits import split_folds
from mediaeval_memo.variants.gbt.config import GBTConfig
from mediaeval_memo.variants.gbt.members import Inputs, block_of

TRANSFORM_FILE = "transform.npz"


@dataclass
class Raw:
    """Untransformed inputs of some videos: block matrices, numeric metadata, categorical values, groups, and
    each video's captions as one text."""

    ids: list[str]
    blocks: dict[str, np.ndarray]
    meta: np.ndarray
    cats: dict[str, np.ndarray]
    groups: list[str]
    texts: list[str]

    def take(self, index: np.ndarray) -> Raw:
        return Raw(
            ids=[self.ids[i] for i in index],
            blocks={k: v[index] for k, v in self.blocks.items()},
            meta=self.meta[index],
            cats={k: v[index] for k, v in self.cats.items()},
            groups=[self.groups[i] for i in index],
            texts=[self.texts[i] for i in index],
        )


@dataclass
class Design:
    """Which inputs the model reads: feature blocks (with their dims), numeric metadata, categorical columns."""

    blocks: dict[str, int]
    meta_columns: list[str]
    categoricals: list[str]
    # Each block's extractor signature (from its meta.json): predicting from a block extracted differently is refused.
    signatures: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def choose(cls, dataset: PreparedDataset, config: GBTConfig, note: Callable[[str], None], fold: str) -> Design:
        """The inputs of a fit for `fold` ("0", ..., or "all"); `note` is told, once per job, of each column left
        out because no test video has it (`Reporter.say_once`)."""
        # Blocks of another fold (embedded rationales quote scores of that fold's training videos) never enter.
        have = [b for b in list_blocks(dataset.root) if block_fold(dataset.root, b) in (None, fold)]
        if config.features:
            chosen = [b for b in have if any(fnmatch.fnmatchcase(b, pattern) for pattern in config.features)]
            unmatched = [p for p in config.features if not any(fnmatch.fnmatchcase(b, p) for b in have)]
            if unmatched:
                raise InputError(
                    [
                        Problem(
                            str(dataset.features_dir),
                            f"no feature block matches (have: {', '.join(have) or 'none'}); "
                            "create it with `memo features`",
                            field="features",
                            value=p,
                        )
                        for p in unmatched
                    ]
                )
        else:
            chosen = have
        items = dataset.items
        test = dataset.split("test")
        meta = []
        for col in items.columns:
            if not (config.use_meta and col.startswith("meta_") and pd.api.types.is_numeric_dtype(items[col])):
                continue
            if len(test) and test[col].isna().all():
                # e.g. VIDEM's annotation counts: known for labelled videos only. Learning from them would make
                # CV look better than test can be.
                note(f"numeric column {col!r} is unknown for every test video: not used, so that CV predicts test")
                continue
            meta.append(col)
        cats = []
        for col in config.categoricals:
            if col not in items.columns or col in meta:
                continue
            values = items[col].fillna("").astype(str)
            if values.nunique() < 2:
                continue
            if len(test) and (test[col].fillna("").astype(str) == "").all():
                note(f"categorical {col!r} is unknown for every test video: not used, so that CV predicts test")
                continue
            cats.append(col)
        if not chosen and not meta and not cats:
            raise InputError(
                Problem(
                    str(dataset.root),
                    "nothing to learn from: no feature blocks, numeric meta_* columns or categorical columns; "
                    "extract features first (`memo features text --data DIR`)",
                )
            )
        loaded = {name: load_block(dataset.root, name) for name in chosen}
        return cls(
            blocks={name: b.dim for name, b in loaded.items()},
            meta_columns=meta,
            categoricals=cats,
            signatures={name: b.meta.get("signature") for name, b in loaded.items()},
        )

    def check_members(self, members: Sequence[str], where: str) -> None:
        """Every NAME@BLOCK member names a block of this design."""
        unknown = [m for m in members if (b := block_of(m)) is not None and b not in self.blocks]
        if unknown:
            raise InputError(
                Problem(
                    where,
                    f"no such feature block among the model's inputs (have: {', '.join(self.blocks) or 'none'})",
                    field="members",
                    value=unknown[0],
                )
            )

    def view(self, spec: str, inputs: Inputs) -> Inputs:
        """What member `spec` reads: every column, or one block's (the groups of `Transform.column_groups` number
        the blocks first, in the design's order)."""
        block = block_of(spec)
        return inputs if block is None else inputs.only_group(list(self.blocks).index(block))

    def raw(self, dataset: PreparedDataset, ids: Sequence[str]) -> Raw:
        rows = dataset.rows(ids)
        blocks = {}
        for name, dim in self.blocks.items():
            block = load_block(dataset.root, name)
            if block.dim != dim or block.meta.get("signature") != self.signatures.get(name):
                raise InputError(
                    Problem(
                        f"features/{name}",
                        f"was extracted differently ({block.dim} dims, signature {block.meta.get('signature')}) "
                        f"from the block the model was trained on ({dim} dims, {self.signatures.get(name)}); "
                        "extract it with the same encoder",
                    )
                )
            blocks[name] = block.aligned(list(ids)).astype(np.float64)
        meta = (
            rows[self.meta_columns].to_numpy(dtype=np.float64)
            if self.meta_columns
            else np.zeros((len(rows), 0), dtype=np.float64)
        )
        cats = {c: rows[c].fillna("").astype(str).to_numpy() for c in self.categoricals}
        captions = rows["captions"] if "captions" in rows.columns else [None] * len(rows)
        texts = ["\n".join(caption_list(c)) for c in captions]  # one caption per line
        return Raw(list(ids), blocks, meta, cats, rows["group"].astype(str).tolist(), texts)

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.blocks,
            "signatures": self.signatures,
            "meta_columns": self.meta_columns,
            "categoricals": self.categoricals,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Design:
        return cls(
            {str(k): int(v) for k, v in data["blocks"].items()},
            list(data["meta_columns"]),
            list(data["categoricals"]),
            dict(data["signatures"]),
        )


def has_captions(items: pd.DataFrame) -> bool:
    """Whether any video has caption text (what the text member reads)."""
    return "captions" in items.columns and any(t.strip() for c in items["captions"] for t in caption_list(c))


@dataclass
class TargetEncoding:
    """Smoothed mean target per category; unseen or empty categories get the prior."""

    prior: float
    means: dict[str, float]

    @classmethod
    def fit(cls, values: np.ndarray, y: np.ndarray, smoothing: float) -> TargetEncoding:
        prior = float(np.mean(y))
        frame = pd.DataFrame({"v": values, "y": y})
        stats = frame[frame["v"] != ""].groupby("v", sort=True)["y"].agg(["sum", "count"])
        means = ((stats["sum"] + smoothing * prior) / (stats["count"] + smoothing)).astype(float)
        return cls(prior, {str(k): float(v) for k, v in means.items()})

    def apply(self, values: np.ndarray) -> np.ndarray:
        return np.array([self.means.get(str(v), self.prior) for v in values], dtype=np.float64)


@dataclass
class Transform:
    """Fitted on training ids only: a PCA (mean, components) per block and a target encoding per categorical."""

    design: Design
    pca: dict[str, tuple[np.ndarray, np.ndarray]]
    encodings: dict[str, TargetEncoding]

    @classmethod
    def fit(cls, design: Design, raw: Raw, y: np.ndarray, config: GBTConfig) -> tuple[Transform, Inputs]:
        """The fitted transform and the training inputs, whose categorical columns are cross-fitted."""
        from sklearn.decomposition import PCA

        pca = {}
        for name in design.blocks:
            X = raw.blocks[name]
            k = min(config.pca_components, X.shape[0] - 1, X.shape[1])
            if config.pca_components == 0 or X.shape[1] <= config.pca_components or k < 1:
                continue
            fitted = PCA(n_components=k, svd_solver="full").fit(X)
            pca[name] = (fitted.mean_.astype(np.float64), fitted.components_.astype(np.float64))
        encodings = {c: TargetEncoding.fit(raw.cats[c], y, config.target_smoothing) for c in design.categoricals}
        transform = cls(design, pca, encodings)
        X = transform.apply(raw)
        if design.categoricals:
            # Each training row's encoding comes from the other (group-aware) parts only.
            n_parts = min(5, len(set(raw.groups)))
            if n_parts >= 2:
                parts = split_folds(raw.ids, raw.groups, n_parts, config.seed)
                position = {v: i for i, v in enumerate(raw.ids)}
                base = X.shape[1] - len(design.categoricals)
                for part in parts:
                    held = np.array([position[v] for v in part])
                    rest = np.setdiff1d(np.arange(len(raw.ids)), held)
                    for j, c in enumerate(design.categoricals):
                        enc = TargetEncoding.fit(raw.cats[c][rest], y[rest], config.target_smoothing)
                        X[held, base + j] = enc.apply(raw.cats[c][held])
        return transform, Inputs(X, transform.column_groups(), raw.texts)

    def inputs(self, raw: Raw) -> Inputs:
        """What the members read about the videos of `raw` (nothing here is fitted to them)."""
        return Inputs(self.apply(raw), self.column_groups(), raw.texts)

    def apply(self, raw: Raw) -> np.ndarray:
        parts = []
        for name in self.design.blocks:
            X = raw.blocks[name]
            if name in self.pca:
                mean, components = self.pca[name]
                X = (X - mean) @ components.T
            parts.append(X)
        parts.append(raw.meta)
        parts.extend(self.encodings[c].apply(raw.cats[c])[:, None] for c in self.design.categoricals)
        return np.ascontiguousarray(np.hstack(parts), dtype=np.float64)

    def column_groups(self) -> np.ndarray:
        """A label per column of `apply`'s matrix: one shared by all the columns of a feature block, one of its own
        for every metadata and categorical column (what a scale-sensitive member scales together)."""
        sizes = [self.pca[n][1].shape[0] if n in self.pca else dim for n, dim in self.design.blocks.items()]
        sizes += [1] * (len(self.design.meta_columns) + len(self.design.categoricals))
        return np.repeat(np.arange(len(sizes)), sizes)

    def save(self, directory: Path) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {}
        names = sorted(self.pca)
        for i, name in enumerate(names):
            arrays[f"mean_{i}"], arrays[f"components_{i}"] = self.pca[name]
        with open(directory / TRANSFORM_FILE, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
        return {
            "pca_blocks": names,
            "encodings": {c: {"prior": e.prior, "means": e.means} for c, e in self.encodings.items()},
        }

    @classmethod
    def load(cls, directory: Path, design: Design, data: dict[str, Any]) -> Transform:
        pca = {}
        with np.load(directory / TRANSFORM_FILE, allow_pickle=False) as arrays:
            for i, name in enumerate(data["pca_blocks"]):
                pca[name] = (arrays[f"mean_{i}"], arrays[f"components_{i}"])
        encodings = {c: TargetEncoding(float(e["prior"]), dict(e["means"])) for c, e in data["encodings"].items()}
        return cls(design, pca, encodings)
