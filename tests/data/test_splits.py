"""Folds: seeded, group-aware, stratified on target quantiles, nested on request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaeval_memo.core.errors import InputError
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.data.splits import check_disjoint_groups, holdout, make_folds, split_folds


def _items(n: int, groups: list[str] | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"v{i}" for i in range(n)]
    return pd.DataFrame({"video_id": ids, "group": groups or ids, "y": rng.normal(size=n)})


def test_singletons_are_balanced_and_stratified() -> None:
    items = _items(1000)
    folds = make_folds(items, "y", k=5, seed=3)
    assert [len(f) for f in folds.folds] == [200] * 5
    assert sorted(folds.all_ids()) == sorted(items["video_id"])
    y = items.set_index("video_id")["y"]
    means = [y[f].mean() for f in folds.folds]
    # exact quantile stratification: every fold's mean sits within a hair of the overall mean
    assert max(abs(m - y.mean()) for m in means) < 0.02


def test_seed_changes_assignment_and_same_seed_repeats() -> None:
    items = _items(100)
    assert make_folds(items, "y", 5, seed=1).folds == make_folds(items, "y", 5, seed=1).folds
    assert make_folds(items, "y", 5, seed=1).folds != make_folds(items, "y", 5, seed=2).folds


def test_unlabelled_rows_are_left_out() -> None:
    items = _items(20)
    items.loc[:4, "y"] = np.nan
    folds = make_folds(items, "y", 3)
    assert sorted(folds.all_ids()) == sorted(items["video_id"][5:])


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=5, max_size=40),
    k=st.integers(min_value=2, max_value=5),
    seed=st.integers(min_value=0, max_value=100),
)
def test_groups_never_straddle_folds(sizes: list[int], k: int, seed: int) -> None:
    groups = [f"g{g}" for g, size in enumerate(sizes) for _ in range(size)]
    items = _items(len(groups), groups, seed)
    folds = make_folds(items, "y", k, seed)
    assert check_disjoint_groups(folds, items) == []
    assert sorted(folds.all_ids()) == sorted(items["video_id"])
    assert all(folds.folds)  # no empty fold


def test_too_few_groups() -> None:
    items = _items(10, ["a"] * 5 + ["b"] * 5)
    with pytest.raises(InputError) as exc:
        make_folds(items, "y", 3, source="release")
    assert str(exc.value) == (
        "release: --folds 3: only 2 groups of labelled videos (10 videos), fewer than the folds asked; use fewer folds"
    )


def test_inner_folds_partition_each_outer_training_part() -> None:
    items = _items(60, [f"g{i // 3}" for i in range(60)])
    folds = make_folds(items, "y", 4, inner_k=3)
    for k in range(4):
        inner = folds.inner[k]
        assert len(inner) == 3
        assert sorted(v for f in inner for v in f) == sorted(folds.train_ids(k))
        assert check_disjoint_groups(type(folds)(inner), items) == []


def test_videm_sample_folds_keep_channels_together(sample_videm: Path) -> None:
    ds = PreparedDataset.load(sample_videm)
    assert ds.folds is not None
    assert check_disjoint_groups(ds.folds, ds.items) == []
    assert ds.items.groupby("group")["video_id"].count().max() > 1  # channels really repeat
    assert sorted(ds.folds.all_ids()) == sorted(ds.split("dev")["video_id"])


def test_split_folds_keep_groups_together() -> None:
    """The one splitter also makes the inner folds a fit tunes on (it replaced gbt's own group_folds)."""
    ids = [f"v{i}" for i in range(30)]
    groups = [f"g{i % 7}" for i in range(30)]
    folds = split_folds(ids, groups, 3, seed=1)
    assert sorted(v for f in folds for v in f) == sorted(ids)
    fold_of_group: dict[str, int] = {}
    for k, f in enumerate(folds):
        for v in f:
            assert fold_of_group.setdefault(groups[ids.index(v)], k) == k
    assert folds == split_folds(ids, groups, 3, seed=1)
    with pytest.raises(InputError, match="only 2 groups of labelled videos"):
        split_folds(ids[:4], ["a", "b", "a", "b"], 3, seed=0)


def test_holdout_takes_whole_groups_from_the_ids_given() -> None:
    """Early-stopping videos: about `fraction` of the ids, whole groups, none outside the ids given."""
    ids = [f"v{i}" for i in range(60)]
    groups = [f"g{i % 12}" for i in range(60)]
    y = [i % 10 / 10 for i in range(60)]
    kept, held = holdout(ids, groups, 0.25, seed=0, y=y)
    assert sorted(kept + held) == sorted(ids) and 10 <= len(held) <= 20
    assert not {groups[ids.index(v)] for v in kept} & {groups[ids.index(v)] for v in held}
    assert (kept, held) == holdout(ids, groups, 0.25, seed=0, y=y)
    assert holdout(ids, groups, 0.0, seed=0) == (ids, [])
    assert holdout(ids[:3], ["a"] * 3, 0.25, seed=0) == (ids[:3], [])  # one group: nothing to hold out
