"""The canonical item table and the prepared dataset that every later step reads.

A prepared dataset directory holds `items.parquet` (one row per video), `manifest.json`, `folds.json`, and
optionally `frames/<video_id>/NNN.jpg` and `features/<signature>/`. This module owns that layout: readers build an
items DataFrame and call `write_prepared`; everything downstream calls `PreparedDataset.load`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mediaeval_memo.errors import InputError, Problem, ProblemList

SPLITS = ("train", "dev", "test")
# Targets any release may carry; a dataset's own are listed in its manifest ("targets").
KNOWN_TARGETS = (
    "mem_score",
    "short_term",
    "long_term",
    "memorability_score",
    "brand_memorability",
)
# Ids become file names (frames/<id>/, feature rows, run files): letters, digits, '.', '_', '-' only.
VIDEO_ID_PATTERN = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,200}$")
VIDEO_ID_RULE = "letters, digits, '.', '_' and '-' only, 1-200 characters, not '.' or '..'"

ITEMS_FILE = "items.parquet"
MANIFEST_FILE = "manifest.json"
FOLDS_FILE = "folds.json"
FRAMES_DIR = "frames"
FEATURES_DIR = "features"
LAYOUT_VERSION = 1


def video_id_problem(value: object) -> str | None:
    """Why `value` is not a usable video id, or None when it is."""
    if not isinstance(value, str) or not value:
        return f"empty video id ({VIDEO_ID_RULE})"
    if not VIDEO_ID_PATTERN.match(value):
        return f"not safe as a file name ({VIDEO_ID_RULE})"
    return None


def check_items(items: pd.DataFrame, targets: Sequence[str], source: str = ITEMS_FILE) -> None:
    """Raise InputError listing every way `items` breaks the item-table contract."""
    problems = ProblemList()
    for col in ("video_id", "split", "captions", "group", "media_path"):
        if col not in items.columns:
            problems.add(source, "missing required column", field=col)
    for t in targets:
        if t not in items.columns:
            problems.add(source, "target column missing", field=t)
    problems.raise_if_any()
    seen: dict[str, int] = {}
    for row, (vid, split) in enumerate(zip(items["video_id"], items["split"], strict=True), start=1):
        why = video_id_problem(vid)
        if why:
            problems.add(source, why, line=row, field="video_id", value=vid)
        elif vid in seen:
            problems.add(
                source, f"duplicate video id (first at row {seen[vid]})", line=row, field="video_id", value=vid
            )
        else:
            seen[vid] = row
        if split not in SPLITS:
            problems.add(source, f"unknown split (accepted: {', '.join(SPLITS)})", line=row, field="split", value=split)
    problems.raise_if_any()


@dataclass
class Folds:
    """K group-aware folds over the labelled video ids, with optional inner folds per outer fold.

    `folds[k]` lists the validation ids of outer fold k; its training ids are all other fold members.
    `inner[k][j]` lists the validation ids of inner fold j inside the training part of outer fold k.
    """

    folds: list[list[str]]
    seed: int = 0
    group_column: str = "group"
    stratify: str | None = None
    inner: dict[int, list[list[str]]] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.folds)

    def val_ids(self, k: int) -> list[str]:
        return list(self.folds[k])

    def train_ids(self, k: int) -> list[str]:
        return [vid for j, f in enumerate(self.folds) if j != k for vid in f]

    def all_ids(self) -> list[str]:
        return [vid for f in self.folds for vid in f]

    def fold_of(self) -> dict[str, int]:
        return {vid: k for k, f in enumerate(self.folds) for vid in f}

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "seed": self.seed,
            "group_column": self.group_column,
            "stratify": self.stratify,
            "folds": self.folds,
            "inner": {str(k): v for k, v in self.inner.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Folds:
        return cls(
            folds=[list(map(str, f)) for f in data["folds"]],
            seed=int(data.get("seed", 0)),
            group_column=str(data.get("group_column", "group")),
            stratify=data.get("stratify"),
            inner={int(k): [list(map(str, f)) for f in v] for k, v in data.get("inner", {}).items()},
        )


@dataclass
class PreparedDataset:
    """A prepared dataset directory, loaded: the item table, its manifest and its folds."""

    root: Path
    items: pd.DataFrame
    manifest: dict[str, Any]
    folds: Folds | None

    @classmethod
    def load(cls, root: str | Path) -> PreparedDataset:
        root = Path(root)
        items_path = root / ITEMS_FILE
        manifest_path = root / MANIFEST_FILE
        if not items_path.is_file() or not manifest_path.is_file():
            raise InputError(
                Problem(
                    str(root),
                    "not a prepared dataset directory (no items.parquet or "
                    "manifest.json); create one with `memo prepare`",
                )
            )
        items = pd.read_parquet(items_path)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        folds_path = root / FOLDS_FILE
        folds = Folds.from_json(json.loads(folds_path.read_text(encoding="utf-8"))) if folds_path.is_file() else None
        return cls(root=root, items=items, manifest=manifest, folds=folds)

    @property
    def name(self) -> str:
        return str(self.manifest.get("dataset", self.root.name))

    @property
    def targets(self) -> list[str]:
        return list(self.manifest.get("targets", []))

    @property
    def default_target(self) -> str:
        if not self.targets:
            raise InputError(Problem(str(self.root / MANIFEST_FILE), "the dataset has no target column"))
        return self.targets[0]

    def check_target(self, target: str | None) -> str:
        """The target to use: `target` if the dataset has it, the dataset's first target when None."""
        if target is None or target == "":
            return self.default_target
        if target not in self.targets:
            raise InputError(
                Problem(
                    str(self.root / MANIFEST_FILE),
                    f"unknown target (this dataset has: {', '.join(self.targets)})",
                    field="target",
                    value=target,
                )
            )
        return target

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise InputError(
                Problem(str(self.root), f"unknown split (accepted: {', '.join(SPLITS)})", field="split", value=name)
            )
        return self.items[self.items["split"] == name]

    def labelled(self, target: str) -> pd.DataFrame:
        """Rows whose `target` is known (train and dev, typically)."""
        return self.items[np.isfinite(self.items[target].astype(float))]

    def rows(self, ids: Sequence[str]) -> pd.DataFrame:
        """Rows for `ids`, in that order."""
        indexed = self.items.set_index("video_id", drop=False)
        missing = [i for i in ids if i not in indexed.index]
        if missing:
            raise InputError(
                Problem(
                    str(self.root / ITEMS_FILE),
                    f"{len(missing)} ids not in the dataset, first: {missing[:5]}",
                    field="video_id",
                )
            )
        return indexed.loc[list(ids)].reset_index(drop=True)

    def frame_paths(self, video_id: str) -> list[Path]:
        """The prepared frames of a video, in temporal order (empty when none were extracted)."""
        d = self.root / FRAMES_DIR / video_id
        return sorted(d.glob("*.jpg")) if d.is_dir() else []

    @property
    def features_dir(self) -> Path:
        return self.root / FEATURES_DIR


def frame_file_name(index: int) -> str:
    """Frames are stored as frames/<video_id>/000.jpg, 001.jpg, ... so that a name sort is temporal order."""
    return f"{index:03d}.jpg"


def write_items(directory: Path, items: pd.DataFrame) -> None:
    """Write the item table (the caller owns the directory's atomicity, see `io.atomic_dir`)."""
    items.reset_index(drop=True).to_parquet(directory / ITEMS_FILE, index=False)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
