"""What a release reader returns: the item table plus what `prepare` needs to finish the job.

Readers only read and check; `prepare` adds folds, frames, the manifest and writes it all atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mediaeval_memo.data.declare import Role, TableFile, labels
from mediaeval_memo.data.items import SPLITS

MediaKind = Literal["video", "frames"]


@dataclass
class Release:
    """A release read into the canonical item table.

    `media_kind` says what a row's `media_path` points at: a video file to decode, or (VIDEM) a folder of shipped
    1-fps frames to sample. Paths are relative to `root` when they lie inside it, absolute otherwise.
    `media_dir` is where the reader looked for media (None when the layout has none, e.g. a caption-only release).
    """

    dataset: str
    layout: str
    root: Path
    items: pd.DataFrame
    targets: list[str]
    sources: list[Path]
    media_kind: MediaKind = "video"
    media_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Organiser features shipped with the release: name -> list of (video_id, .npy path); prepare stores them
    # as feature blocks `organiser__<name>` so that models read them like any extracted feature.
    organiser_features: dict[str, list[tuple[str, Path]]] = field(default_factory=dict)
    # What each item-table column is for (declared by the reader; the manifest records it), and what the reader
    # did about a quirk of the files, once each, with a count.
    roles: dict[str, Role] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def declare(self, roles: dict[str, Role], notes: list[str] | None = None) -> Release:
        """Record the role of every item-table column; a column the reader did not declare is a bug in the
        reader (a label nobody masks would reach every fit), so it stops here."""
        undeclared = [c for c in self.items.columns if c not in roles]
        if undeclared:
            raise RuntimeError(f"{self.dataset} reader: item-table columns without a declared role: {undeclared}")
        self.roles = {c: roles[c] for c in self.items.columns}
        self.notes = [*self.notes, *(notes or [])]
        return self

    @property
    def labels(self) -> list[str]:
        """The targets and every column derived from the annotations: what a fit sees only for its own ids."""
        return labels(self.roles)

    def media_file(self, media_path: str) -> Path | None:
        if not media_path:
            return None
        p = Path(media_path)
        return p if p.is_absolute() else self.root / p


def relative_to_root(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path.resolve())


def find_media(media_dir: Path | None, candidates: Sequence[str], root: Path) -> str:
    """The first candidate file name that exists under `media_dir`, as a media_path ('' when none does)."""
    if media_dir is None:
        return ""
    for name in candidates:
        if name and os.path.isfile(media_dir / name):
            return relative_to_root(media_dir / name, root)
    return ""


def build_items(
    rows: list[dict[str, Any]], targets: Sequence[str], split_order: Sequence[str] = SPLITS
) -> pd.DataFrame:
    """The item table from reader rows, with targets as float (NaN where unlabelled) and rows ordered by split."""
    items = pd.DataFrame(rows)
    for t in targets:
        items[t] = items[t].astype("float64") if t in items else np.nan
    order = {s: i for i, s in enumerate(split_order)}
    items["_order"] = items["split"].map(order)
    items = items.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    return items


@dataclass(frozen=True)
class ReadOptions:
    """What a user may tell a reader besides the root: where the videos are (memento10k, trecvid, videomem), and
    the column mapping (movies)."""

    media: Path | None = None
    mapping: Path | None = None
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReaderSpec:
    """A release reader as the registry (`data/readers.py`) knows it: its one-line title, its read function, the
    role of every item-table column it writes, the files it declares, and what it rejects, warns about and
    tolerates beyond what the engine checks in every file (the rows of docs/data.md's table)."""

    name: str
    title: str
    read: Callable[[Path, ReadOptions], Release]
    roles: dict[str, Role]
    files: dict[str, TableFile]
    rejects: tuple[str, ...] = ()
    warns: tuple[str, ...] = ()
    tolerates: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        return labels(self.roles)
