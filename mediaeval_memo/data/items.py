"""The canonical item table and the prepared dataset that every later step reads.

A prepared dataset directory holds `items.parquet` (one row per video), `manifest.json`, `folds.json`, and
optionally `frames/<video_id>/NNN.jpg` (with `times.json`: where in the clip each was taken) and
`features/<signature>/`. This module owns that layout: readers build an
items DataFrame and call `write_prepared`; everything downstream calls `PreparedDataset.load`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.ids import UniqueIds
from mediaeval_memo.media.frames import FRAMES_DIR, read_times

SPLITS = ("train", "dev", "test")
# Targets any release may carry; a dataset's own are listed in its manifest ("targets").
KNOWN_TARGETS = (
    "mem_score",
    "short_term",
    "long_term",
    "memorability_score",
    "brand_memorability",
)

# Columns computed from the annotations besides the targets, for datasets prepared before the manifest recorded
# its label columns ("labels", declared by each reader: data/declare.py): a fit sees them only where it sees the
# target.
LABEL_DERIVED = ("score_raw", "decay_alpha", "short_term_raw", "n_annotations", "n_annotations_long_term")

ITEMS_FILE = "items.parquet"
MANIFEST_FILE = "manifest.json"
FOLDS_FILE = "folds.json"
FEATURES_DIR = "features"
LAYOUT_VERSION = 1


def caption_list(value: object) -> list[str]:
    """An item's `captions` cell as a list of strings (parquet gives back an array; a missing cell is no captions)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    raise TypeError(f"captions must be a list of strings, got {type(value).__name__}")


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
    ids = UniqueIds()
    for row, (vid, split) in enumerate(zip(items["video_id"], items["split"], strict=True), start=1):
        if why := ids.problem(vid, f"at row {row}"):
            problems.add(source, why, line=row, field="video_id", value=vid)
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
        items = _read_items(items_path)
        manifest = read_json_file(manifest_path, dict, "a JSON object (the manifest `memo prepare` writes)")
        folds_path = root / FOLDS_FILE
        folds = _read_folds(folds_path) if folds_path.is_file() else None
        check_items(items, [t for t in manifest.get("targets", []) if isinstance(t, str)], str(items_path))
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

    @property
    def label_columns(self) -> list[str]:
        """The targets and the columns derived from the same annotations, as the reader declared them (the
        manifest's "labels"), or by the old fixed list for datasets prepared before the manifest recorded them."""
        declared = self.manifest.get("labels")
        names = declared if isinstance(declared, list) else [*self.targets, *LABEL_DERIVED]
        return [c for c in dict.fromkeys([*self.targets, *names]) if c in self.items.columns]

    def with_labels_of(self, ids: Iterable[str]) -> PreparedDataset:
        """The dataset as a fit sees it: the labels (`label_columns`) of `ids` only, NaN for every other video,
        and no folds. The runner hands fits this view, so no fit can read a label it will be scored on."""
        keep = self.items["video_id"].isin(set(ids)).to_numpy()
        items = self.items.copy()
        for column in self.label_columns:
            items[column] = items[column].astype(float).where(keep, np.nan)
        return PreparedDataset(root=self.root, items=items, manifest=self.manifest, folds=None)

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise InputError(
                Problem(str(self.root), f"unknown split (accepted: {', '.join(SPLITS)})", field="split", value=name)
            )
        return self.items[self.items["split"] == name]

    def split_ids(self, name: str) -> list[str]:
        """The video ids of split `name`, in item-table order: how a split becomes the ids a model predicts."""
        return self.split(name)["video_id"].astype(str).tolist()

    def labelled(self, target: str) -> pd.DataFrame:
        """Rows whose `target` is known (train and dev, typically)."""
        return self.items[np.isfinite(self.items[target].astype(float))]

    def rows(self, ids: Sequence[str]) -> pd.DataFrame:
        """Rows for `ids`, in that order."""
        if isinstance(ids, str):  # a split name where ids belong: `split_ids(name)` turns one into the other
            raise TypeError(f"rows() takes video ids, not the string {ids!r}; use split_ids() for a split")
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

    def frame_times(self, video_id: str) -> list[float] | None:
        """Where in its clip each prepared frame was taken, in seconds, aligned with `frame_paths`; None for frames
        prepared before `memo prepare` stored times (or when the times do not match the frames)."""
        times = read_times(self.root / FRAMES_DIR / video_id)
        if times is None or len(times.seconds) != len(self.frame_paths(video_id)):
            return None
        return times.seconds

    @property
    def features_dir(self) -> Path:
        return self.root / FEATURES_DIR


DAMAGED = "damaged or not written by `memo prepare`; prepare the dataset again"


def read_json_file(path: Path, kind: type, what: str, fix: str = DAMAGED) -> Any:
    """A JSON file of a prepared dataset or a model folder, or an InputError naming it, its line, why, and `fix`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(Problem(str(path), f"not UTF-8 text: {fix}")) from None
    except json.JSONDecodeError as exc:
        raise InputError(Problem(str(path), f"not valid JSON ({exc.msg}): {fix}", line=exc.lineno)) from None
    except OSError as exc:
        raise InputError(Problem(str(path), f"cannot be read ({exc.strerror})")) from None
    if not isinstance(data, kind):
        raise InputError(Problem(str(path), f"not {what}: {fix}"))
    return data


def _read_items(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many kinds for a damaged file; each means the same to the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(Problem(str(path), f"not a readable parquet table ({reason}): {DAMAGED}")) from None


def _read_folds(path: Path) -> Folds:
    data = read_json_file(path, dict, "a JSON object of folds")
    try:
        folds = Folds.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InputError(Problem(str(path), f"not the folds `memo prepare` writes: {DAMAGED}")) from None
    return folds


def write_items(directory: Path, items: pd.DataFrame) -> None:
    """Write the item table (the caller owns the directory's atomicity, see `io.atomic_dir`)."""
    items.reset_index(drop=True).to_parquet(directory / ITEMS_FILE, index=False)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
