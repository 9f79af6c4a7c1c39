"""The one splitter: K folds over video ids, seeded, group-aware, stratified on target quantiles where groups allow.

It serves every split the toolkit makes: the outer folds of `folds.json` (and their nested inner folds), the inner
folds a fit tunes on, and the held-out part a fit early-stops on (`holdout`: one of round(1 / fraction) folds).
Groups never straddle folds (on VIDEM a channel's commercials share style and brand, so a channel split across
folds flatters every model). When every group is one video the assignment is exact quantile stratification:
videos sorted by target, each run of K consecutive videos spread over the K folds in a seeded random order. With
larger groups a greedy pass (largest, most skewed groups first) puts each group in the fold that keeps the folds'
target-quantile histograms closest, which is the stratification groups allow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.data.items import Folds


def make_folds(
    items: pd.DataFrame,
    target: str | None,
    k: int = 5,
    seed: int = 0,
    *,
    group_column: str = "group",
    inner_k: int = 0,
    n_bins: int = 10,
    source: str = "folds",
) -> Folds:
    """The folds of `folds.json`: over the rows of `items` labelled for `target` (all rows when `target` is None),
    with `inner_k` nested folds inside each outer fold's training part."""
    if k < 2:
        raise InputError(Problem(source, "need at least 2 folds", field="--folds", value=k))
    rows = items if target is None else items[np.isfinite(items[target].astype(float).to_numpy())]
    ids = rows["video_id"].astype(str).tolist()
    groups = rows[group_column].astype(str).tolist()
    y = None if target is None else rows[target].astype(float).to_numpy()
    folds = [sorted(f) for f in split_folds(ids, groups, k, seed, y, n_bins=n_bins, source=source)]
    inner: dict[int, list[list[str]]] = {}
    if inner_k:
        outer = Folds(folds)
        for f in range(k):
            part = rows[rows["video_id"].astype(str).isin(set(outer.train_ids(f)))]
            inner[f] = make_folds(
                part, target, inner_k, seed + 1000 + f, group_column=group_column, n_bins=n_bins, source=source
            ).folds
    return Folds(folds, seed=seed, group_column=group_column, stratify=target, inner=inner)


def split_folds(
    ids: Sequence[str],
    groups: Sequence[str],
    k: int,
    seed: int,
    y: npt.ArrayLike | None = None,
    *,
    n_bins: int = 10,
    source: str = "folds",
    field: str = "--folds",
) -> list[list[str]]:
    """`ids` in K group-aware folds (stratified on `y` when given), each fold in the order of `ids`."""
    id_array = np.asarray(list(ids), dtype=object)
    target = None if y is None else np.asarray(y, dtype=np.float64)
    assignment = _assign(id_array, np.asarray([str(g) for g in groups]), target, k, seed, n_bins, source, field)
    return [id_array[assignment == f].tolist() for f in range(k)]


def holdout(
    ids: Sequence[str], groups: Sequence[str], fraction: float, seed: int, y: npt.ArrayLike | None = None
) -> tuple[list[str], list[str]]:
    """(kept, held out): whole groups held out for early stopping, one of round(1 / fraction) folds of
    `split_folds` (so about `fraction` of the videos, stratified like any fold). Nothing is held out at fraction 0
    or when there are fewer than two groups."""
    if fraction <= 0 or len(set(groups)) < 2:
        return list(ids), []
    k = min(max(2, round(1 / fraction)), len(set(groups)))
    held = set(split_folds(ids, groups, k, seed, y, source="holdout", field="val_fraction")[0])
    return [v for v in ids if v not in held], [v for v in ids if v in held]


def _assign(
    ids: np.ndarray, groups: np.ndarray, y: np.ndarray | None, k: int, seed: int, n_bins: int, source: str, field: str
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    unique, group_index = np.unique(groups, return_inverse=True)
    n_groups = len(unique)
    if n_groups < k:
        raise InputError(
            Problem(
                source,
                f"only {n_groups} groups of labelled videos ({len(ids)} videos), fewer than the folds asked; "
                "use fewer folds",
                field=field,
                value=k,
            )
        )
    if n_groups == len(ids):
        return _stratified_singletons(np.zeros(len(ids)) if y is None else y, k, rng)
    # Greedy group placement on quantile-bin histograms (in the spirit of sklearn's StratifiedGroupKFold).
    bins = _quantile_bins(y, n_bins) if y is not None else np.zeros(len(ids), dtype=np.int64)
    n_b = int(bins.max()) + 1
    hist = np.zeros((n_groups, n_b))
    np.add.at(hist, (group_index, bins), 1.0)
    per_bin = hist.sum(axis=0)
    # Shuffle first so that ties among equal groups are broken by the seed, then order big and skewed groups first.
    order = rng.permutation(n_groups)
    order = order[np.lexsort((-np.std(hist[order] / per_bin, axis=1), -hist[order].sum(axis=1)))]
    fold_hist = np.zeros((k, n_b))
    group_fold = np.empty(n_groups, dtype=np.int64)
    for g in order:
        best, best_cost = 0, (np.inf, np.inf)
        for f in range(k):
            fold_hist[f] += hist[g]
            cost = (float(np.mean(np.std(fold_hist / per_bin, axis=0))), float(fold_hist[f].sum()))
            fold_hist[f] -= hist[g]
            if cost < best_cost:
                best, best_cost = f, cost
        fold_hist[best] += hist[g]
        group_fold[g] = best
    return group_fold[group_index]


def _stratified_singletons(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    order = rng.permutation(n)
    order = order[np.argsort(y[order], kind="stable")]
    assignment = np.empty(n, dtype=np.int64)
    for start in range(0, n, k):
        block = order[start : start + k]
        assignment[block] = rng.permutation(k)[: len(block)]
    return assignment


def _quantile_bins(y: np.ndarray, n_bins: int) -> np.ndarray:
    n_bins = max(1, min(n_bins, len(y) // 2))
    edges = np.quantile(y, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.searchsorted(edges, y, side="right").astype(np.int64)


def fold_sizes(folds: Folds) -> list[int]:
    return [len(f) for f in folds.folds]


def check_disjoint_groups(folds: Folds, items: pd.DataFrame, group_column: str = "group") -> Sequence[str]:
    """Groups that appear in more than one fold (empty for valid folds); used by tests and `memo info`."""
    fold_of = folds.fold_of()
    seen: dict[str, int] = {}
    bad: set[str] = set()
    for vid, group in zip(items["video_id"].astype(str), items[group_column].astype(str), strict=True):
        if vid not in fold_of:
            continue
        if seen.setdefault(group, fold_of[vid]) != fold_of[vid]:
            bad.add(group)
    return sorted(bad)
