"""The feature store: one folder per extractor signature under a prepared dataset's `features/`.

`features/<name>/vectors.npy` (float32, one row per id, in the order of `ids.json`) and `meta.json` (the full
signature, dims, time, versions). A block is complete only once all three files exist: they are written to a
temporary folder and renamed together. Extraction code resumes from its own partial chunks (see the extractors);
readers only ever see complete blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_dir
from mediaeval_memo.data.items import FEATURES_DIR, read_json_file

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def signature_name(parts: Mapping[str, object]) -> str:
    """A folder name for a signature, e.g. {'extractor': 'text', 'model': 'all-MiniLM', 'field': 'captions'}
    -> 'text__all-MiniLM__captions'. Values are joined in the mapping's order; unsafe characters become '-'."""
    return "__".join(_UNSAFE.sub("-", str(v)).strip("-") or "none" for v in parts.values())


@dataclass
class FeatureBlock:
    """One complete feature block: vectors aligned to ids, and the signature that produced them."""

    name: str
    ids: list[str]
    vectors: np.ndarray
    meta: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def aligned(self, ids: Sequence[str]) -> np.ndarray:
        """Rows for `ids` in that order; a missing id is an error naming the block."""
        index = {v: i for i, v in enumerate(self.ids)}
        missing = [v for v in ids if v not in index]
        if missing:
            raise InputError(
                Problem(
                    f"features/{self.name}",
                    f"{len(missing)} videos have no vector, first: {missing[:3]}; extract features again",
                    field="video_id",
                )
            )
        return self.vectors[[index[v] for v in ids]]


def block_dir(dataset_root: str | Path, name: str) -> Path:
    return Path(dataset_root) / FEATURES_DIR / name


def has_block(dataset_root: str | Path, name: str) -> bool:
    d = block_dir(dataset_root, name)
    return all((d / f).is_file() for f in ("vectors.npy", "ids.json", "meta.json"))


def list_blocks(dataset_root: str | Path) -> list[str]:
    root = Path(dataset_root) / FEATURES_DIR
    return sorted(d.name for d in root.iterdir() if has_block(dataset_root, d.name)) if root.is_dir() else []


def write_block(
    dataset_root: str | Path,
    name: str,
    ids: Sequence[str],
    vectors: np.ndarray,
    meta: Mapping[str, Any],
    overwrite: bool = False,
) -> Path:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(ids):
        raise ValueError(f"vectors of shape {vectors.shape} do not align with {len(ids)} ids")
    if not np.isfinite(vectors).all():
        raise ValueError(f"feature block {name} has non-finite values")
    target = block_dir(dataset_root, name)
    with atomic_dir(target, overwrite=overwrite) as tmp:
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
        (tmp / "ids.json").write_text(json.dumps(list(ids)) + "\n", encoding="utf-8")
        full = {"name": name, "dim": int(vectors.shape[1]), "rows": int(vectors.shape[0]), **meta}
        (tmp / "meta.json").write_text(json.dumps(full, indent=2, default=str) + "\n", encoding="utf-8")
    return target


_FOLD_FIELD = re.compile(r"^rationale_(\d+|all)$")


def block_fold(dataset_root: str | Path, name: str) -> str | None:
    """The fold a block belongs to, or None for blocks valid in every fold.

    Rationales for fold k quote the scores of videos outside fold k, so an embedding of them (a block whose
    `field` is `rationale_<k>`) may feed only the fit of fold k (`rationale_all`: only the final model).
    """
    meta = read_json_file(block_dir(dataset_root, name) / "meta.json", dict, "a feature block's meta", REBUILD)
    match = _FOLD_FIELD.match(str(meta.get("field", "")))
    return match.group(1) if match else None


# A damaged block is rebuilt from the prepared dataset, not the release.
REBUILD = "damaged; delete the block's folder and run `memo features` again"


def load_block(dataset_root: str | Path, name: str) -> FeatureBlock:
    d = block_dir(dataset_root, name)
    if not has_block(dataset_root, name):
        have = list_blocks(dataset_root)
        raise InputError(
            Problem(
                str(d), f"no such feature block (have: {', '.join(have) or 'none'}); create it with `memo features`"
            )
        )
    ids = read_json_file(d / "ids.json", list, "a list of video ids", REBUILD)
    meta = read_json_file(d / "meta.json", dict, "a feature block's meta", REBUILD)
    try:
        vectors = np.load(d / "vectors.npy", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(Problem(str(d / "vectors.npy"), f"not a readable .npy array ({reason}): {REBUILD}")) from None
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2 or vectors.shape[0] != len(ids):
        shape = getattr(vectors, "shape", None)
        raise InputError(
            Problem(
                str(d / "vectors.npy"),
                f"not {len(ids)} rows of vectors (one per id): {REBUILD}",
                field="shape",
                value=str(shape),
            )
        )
    return FeatureBlock(name=name, ids=[str(i) for i in ids], vectors=vectors, meta=meta)
