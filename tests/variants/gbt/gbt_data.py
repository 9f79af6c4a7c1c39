"""Small prepared datasets with a planted signal, written directly (items.parquet + manifest.json + folds.json),
for the feature and GBT tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mediaeval_memo.data.feature_store import write_block
from mediaeval_memo.data.items import Folds, write_items

SUBJECTS = ["a dog", "a cat", "a car", "a child", "a crowd", "the sea"]
ACTIONS = ["running", "sleeping", "driving", "dancing", "waving", "standing"]


def make_dataset(
    root: Path,
    n_train: int = 96,
    n_test: int = 24,
    k: int = 4,
    seed: int = 0,
    block_dim: int = 12,
    with_block: bool = True,
    inner: bool = False,
) -> Path:
    """A prepared dataset of `n_train` labelled and `n_test` unlabelled videos in groups of two.

    The target grows with the subject's index and the action's; the captions name both, `meta_duration` carries a
    little of it, the categorical `action` column carries some, and the `emb` block (when written) carries a noisy
    copy of the target in its first dimension.
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    subject = rng.integers(0, len(SUBJECTS), n)
    action = rng.integers(0, len(ACTIONS), n)
    score = 0.5 + 0.05 * subject + 0.03 * action + rng.normal(0, 0.03, n)
    ids = [f"v{i:04d}" for i in range(n)]
    captions = [
        [f"{SUBJECTS[s]} is {ACTIONS[a]} in shot {j}" for j in range(5)] for s, a in zip(subject, action, strict=True)
    ]
    items = pd.DataFrame(
        {
            "video_id": ids,
            "split": ["train"] * n_train + ["test"] * n_test,
            "mem_score": np.where(np.arange(n) < n_train, score, np.nan),
            "n_annotations": 10,
            "captions": captions,
            "title": [f"clip {i} of {SUBJECTS[s]}" for i, s in enumerate(subject)],
            "group": [f"g{i // 2}" for i in range(n)],
            "media_path": "",
            "meta_duration": 3.0 + score + rng.normal(0, 0.2, n),
            "action": [ACTIONS[a] for a in action],
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    write_items(root, items)
    manifest = {"dataset": "synthetic", "layout_version": 1, "targets": ["mem_score"], "splits": {"train": n_train}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    train = ids[:n_train]
    groups = sorted({f"g{i // 2}" for i in range(n_train)})
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of_group = {groups[g]: i % k for i, g in enumerate(order)}
    folds = [[v for i, v in enumerate(train) if fold_of_group[f"g{i // 2}"] == f] for f in range(k)]
    inner_folds = {}
    if inner:
        for f in range(k):
            rest = [v for j, fold in enumerate(folds) if j != f for v in fold]
            half = (len(rest) // 4) * 2  # pairs of a group sit side by side: cut between pairs
            inner_folds[f] = [rest[:half], rest[half:]]
    (root / "folds.json").write_text(json.dumps(Folds(folds, seed=seed, inner=inner_folds).to_json()))
    if with_block:
        vectors = rng.normal(0, 1, (n, block_dim))
        vectors[:, 0] = (score - 0.5) * 10 + rng.normal(0, 0.3, n)
        write_block(root, "emb", ids, vectors, {"signature": {"extractor": "synthetic"}})
    return root
