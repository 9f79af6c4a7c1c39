"""What a release reader returns: the item table plus what `prepare` needs to finish the job.

Readers only read and check; `prepare` adds folds, frames, the manifest and writes it all atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

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
