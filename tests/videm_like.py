"""A small prepared VIDEM-like dataset written by tests (items.py layout), for the rationale and fusion tests.

Channels are the fold groups, as in VIDEM; dev videos carry both targets, test videos none. Organiser-style ViT
features (3 frames x 768, stored flattened with their shape in meta) and an E5-style title block come with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mediaeval_memo.data.feature_store import write_block
from mediaeval_memo.data.items import Folds, write_items, write_json

WORDS = [
    "brand",
    "car",
    "soda",
    "phone",
    "bank",
    "shoe",
    "game",
    "music",
    "family",
    "city",
    "night",
    "sport",
    "coffee",
    "travel",
]


def make_videm_like(root: Path, n_dev: int = 18, n_test: int = 6, k: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    n = n_dev + n_test
    for i in range(n):
        dev = i < n_dev
        words = rng.choice(WORDS, size=6)
        rows.append(
            {
                "video_id": f"vid{i:03d}",
                "split": "train" if dev else "test",
                "memorability_score": float(rng.uniform(0.2, 0.9)) if dev else np.nan,
                "brand_memorability": float(rng.uniform(0.1, 0.8)) if dev else np.nan,
                "n_annotations": int(rng.integers(12, 40)),
                "captions": [],
                "title": f"{words[0]} {words[1]} ad {i}",
                "description": " ".join(words),
                "transcript": "" if i % 5 == 0 else f"buy the {words[2]} now, {words[3]} forever",
                "group": f"channel{i % 6 if dev else 6 + i % 2}",
                "media_path": "",
                "meta_duration": float(rng.uniform(7, 90)),
                "meta_views": float(rng.uniform(1e3, 1e6)),
            }
        )
    items = pd.DataFrame(rows)
    root.mkdir(parents=True, exist_ok=True)
    write_items(root, items)
    write_json(
        root / "manifest.json",
        {"dataset": "videm", "layout_version": 1, "targets": ["memorability_score", "brand_memorability"]},
    )
    dev_rows = items[items["split"] == "train"]
    channels = sorted(dev_rows["group"].unique())
    folds = [dev_rows[dev_rows["group"].isin(channels[j::k])]["video_id"].tolist() for j in range(k)]
    write_json(root / "folds.json", Folds(folds=folds, seed=seed).to_json())
    ids = items["video_id"].tolist()
    write_block(
        root, "organiser__ViT", ids, rng.normal(size=(n, 3 * 768)), {"extractor": "organiser", "shape": [3, 768]}
    )
    write_block(root, "text__e5-small__title", ids, rng.normal(size=(n, 32)), {"extractor": "text"})
    return root


def hashed_embedder(texts: list[str] | tuple[str, ...]) -> np.ndarray:
    """Deterministic bag-of-words vectors: a stand-in encoder for tests that are not about the encoder."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, sum(map(ord, word)) % 64] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-9)


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
