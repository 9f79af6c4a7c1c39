"""The label contract over every release reader: what a reader declares a label, no fit sees outside its ids.

`test_contract.py` checks each variant on the Memento10k sample, shuffling the labels that dataset lists. Here
every reader's sample is checked against its reader's own declaration (`data/readers.py`), not against the
prepared dataset's idea of its labels, so a reader or a column that forgets a label fails:
- every column of a prepared item table has a declared role (id, split, group, captions, media, target, label,
  feature), and the manifest's label columns include every label the reader declares;
- the dataset a fit receives hides every declared label outside the fit's ids;
- shuffling every declared label column of outer fold 0's videos leaves fold 0's predictions byte-identical, for a
  test double that reads every number it is given (it fails wherever a label is left unmasked: TRECVid's raw
  short-term score was) and for each variant that can run on the reader's sample.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.declare import Role
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset
from mediaeval_memo.data.readers import DATASETS, reader
from mediaeval_memo.experiments.runner import train
from mediaeval_memo.features.visual import extract_visual_features
from mediaeval_memo.variants import REGISTRY
from mediaeval_memo.variants.base import FitContext, Model, Variant, VariantConfig
from tests.variants.test_contract import TINY

ROLES: set[Role] = {"id", "split", "group", "captions", "media", "target", "label", "feature"}

# The variants that can run on each reader's sample in seconds, with their tiny settings (gbt on colour
# histograms of the frames; the movies sample has no media, so gbt reads its numeric meta column there).
GBT_META = {**TINY["gbt"], "features": [], "use_meta": True}
ON_SAMPLE: dict[str, list[tuple[str, dict[str, object]]]] = {
    "memento10k": [("gbt", TINY["gbt"])],
    "trecvid": [("gbt", TINY["gbt"])],
    "videomem": [("gbt", TINY["gbt"])],
    "videm": [("gbt", TINY["gbt"])],
    "movies": [("gbt", GBT_META)],
}
# The neural variants on the readers `test_contract.py` does not cover: minutes on a CPU, so marked slow.
NEURAL_ON_SAMPLE = [
    (name, variant) for name in ("trecvid", "videomem", "videm") for variant in ("qwen-vl", "gemma-fusion")
]


@pytest.fixture(scope="module")
def samples(
    sample_memento10k: Path,
    sample_videomem: Path,
    sample_videm: Path,
    sample_trecvid_2021: Path,
    sample_movies: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """Every reader's prepared sample, copied, with a colour-histogram feature block where it has frames."""
    base = tmp_path_factory.mktemp("contract-readers")
    prepared = {
        "memento10k": sample_memento10k,
        "trecvid": sample_trecvid_2021,
        "videomem": sample_videomem,
        "videm": sample_videm,
        "movies": sample_movies,
    }
    assert sorted(prepared) == sorted(DATASETS), "a registered reader has no sample here"
    out = {}
    for name, path in prepared.items():
        shutil.copytree(path, base / name)
        if (base / name / "frames").is_dir():
            extract_visual_features(base / name, "hsv-hist")
        out[name] = base / name
    return out


def declared_labels(name: str, dataset: PreparedDataset) -> list[str]:
    """The label columns the reader declares (movies: its mapping's targets too) that the item table has."""
    declared = [*reader(name).labels, *dataset.targets]
    return [c for c in dict.fromkeys(declared) if c in dataset.items.columns]


@pytest.mark.parametrize("name", DATASETS)
def test_every_column_of_a_prepared_item_table_is_declared(name: str, samples: dict[str, Path]) -> None:
    ds = PreparedDataset.load(samples[name])
    roles = ds.manifest["columns"]
    undeclared = [c for c in ds.items.columns if roles.get(c) not in ROLES]
    assert not undeclared, (
        f"{name}: item-table columns that are neither a label, a feature nor an id, split, group, captions or "
        f"media column: {undeclared}"
    )
    missing = [c for c in declared_labels(name, ds) if c not in ds.manifest["labels"]]
    assert not missing, f"{name}: declared labels the manifest does not record: {missing}"
    assert set(ds.label_columns) >= set(declared_labels(name, ds))


# ------------------------------------------------------------------------------------- a double that reads all


@dataclass
class GreedyConfig(VariantConfig):
    pass


class GreedyModel(Model):
    """Remembers, for every video, the sum of every finite number its fit's dataset holds for it (labels
    included, where the dataset shows them), and scores a video by it: any label left unmasked reaches a score."""

    def __init__(self, sums: dict[str, float]):
        self.sums = sums

    def predict(self, dataset: PreparedDataset, ids: Sequence[str], progress: object = None) -> pd.Series:
        ids = list(ids)
        # A per-video offset keeps the scores from being constant where a dataset has no number but its labels.
        return pd.Series([self.sums.get(v, 0.0) + sum(map(ord, v)) % 97 / 1000 for v in ids], index=ids, dtype=float)

    def save(self, directory: Path) -> None:
        (directory / "sums.json").write_text(json.dumps(self.sums))

    @classmethod
    def load(cls, directory: Path) -> GreedyModel:
        return cls(json.loads((directory / "sums.json").read_text()))


class Greedy(Variant[GreedyConfig, GreedyModel]):
    name = "greedy"
    Config = GreedyConfig
    Model = GreedyModel

    def fit(self, config: GreedyConfig, ctx: FitContext) -> GreedyModel:
        numbers = ctx.dataset.items.select_dtypes("number").astype(float)
        sums = numbers.where(np.isfinite(numbers), 0.0).sum(axis=1).round(12)
        return GreedyModel(dict(zip(ctx.dataset.items["video_id"], sums, strict=True)))


@pytest.fixture
def greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "greedy", f"{__name__}:Greedy")


def shuffled_copy(name: str, data: Path, out: Path) -> Path:
    """A copy of `data` with every declared label column permuted among outer fold 0's videos."""
    shutil.copytree(data, out)
    ds = PreparedDataset.load(out)
    assert ds.folds is not None
    items = ds.items.copy()
    scored = items["video_id"].isin(set(ds.folds.val_ids(0))).to_numpy()
    rng = np.random.default_rng(0)
    columns = declared_labels(name, ds)
    for column in columns:
        values = items.loc[scored, column].to_numpy()
        items.loc[scored, column] = values[rng.permutation(len(values))]
    assert not items.equals(ds.items), f"{name}: the shuffle changed nothing"
    items.to_parquet(out / ITEMS_FILE, index=False)
    return out


def check_fold_0_ignores_its_labels(
    name: str, variant: str, settings: dict[str, object], data: Path, tmp: Path
) -> None:
    changed = shuffled_copy(name, data, tmp / "data-shuffled")
    runs = []
    for label, source in (("original", data), ("changed", changed)):
        out = tmp / label
        train(variant, source, out, overrides=dict(settings), folds="0", final=False, progress=Reporter.silent())
        runs.append((out / "folds" / "fold_0" / "oof.csv").read_bytes())
    assert runs[0] == runs[1], f"{variant} on {name}: fold 0's predictions changed when only its labels were shuffled"


@pytest.mark.parametrize("name", DATASETS)
def test_a_fit_sees_no_declared_label_outside_its_ids(name: str, samples: dict[str, Path], greedy: None) -> None:
    ds = PreparedDataset.load(samples[name])
    assert ds.folds is not None
    view = ds.with_labels_of(ds.folds.train_ids(0))
    outside = ~view.items["video_id"].isin(set(ds.folds.train_ids(0))).to_numpy()
    for column in declared_labels(name, ds):
        visible = view.items.loc[outside, column].notna()
        assert not visible.any(), f"{name}: {column} is visible for {int(visible.sum())} videos outside the fit's ids"


@pytest.mark.parametrize("name", DATASETS)
def test_a_double_reading_every_number_keeps_fold_0_unchanged(
    name: str, samples: dict[str, Path], greedy: None, tmp_path: Path
) -> None:
    check_fold_0_ignores_its_labels(name, "greedy", {}, samples[name], tmp_path)


@pytest.mark.parametrize(
    ("name", "variant", "settings"),
    [(name, variant, settings) for name, pairs in ON_SAMPLE.items() for variant, settings in pairs],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_shuffling_declared_labels_keeps_fold_0_unchanged(
    name: str, variant: str, settings: dict[str, object], samples: dict[str, Path], tmp_path: Path
) -> None:
    check_fold_0_ignores_its_labels(name, variant, settings, samples[name], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "variant"), NEURAL_ON_SAMPLE)
def test_shuffling_declared_labels_keeps_fold_0_unchanged_neural(
    name: str, variant: str, samples: dict[str, Path], tmp_path: Path
) -> None:
    check_fold_0_ignores_its_labels(name, variant, TINY[variant], samples[name], tmp_path)


def test_the_greedy_double_catches_an_unmasked_label(
    samples: dict[str, Path], greedy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: with TRECVid's raw short-term score left out of the masked columns (as it was
    before readers declared their labels), the double's fold 0 moves."""
    original = PreparedDataset.label_columns.fget  # type: ignore[attr-defined]

    def forgetful(self: PreparedDataset) -> list[str]:
        return [c for c in original(self) if c != "short_term_raw"]

    monkeypatch.setattr(PreparedDataset, "label_columns", property(forgetful))
    with pytest.raises(AssertionError, match="fold 0's predictions changed"):
        check_fold_0_ignores_its_labels("trecvid", "greedy", {}, samples["trecvid"], tmp_path)
