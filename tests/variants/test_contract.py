"""The contract every registered variant keeps, checked over the registry the way peft tests every method.

On the embedded Memento10k sample, with each variant's tiny setting, through the runner as `memo train` runs it:
1. two runs give byte-identical out-of-fold predictions, test predictions and run files (the global random
   generators are scrambled before each run, as a fresh process would find them);
2. shuffling the labels of outer fold 0's validation videos leaves fold 0's predictions byte-identical: no fit
   sees the labels it is scored on;
3. a saved model, loaded again, predicts the same scores;
4. the out-of-fold predictions cover every labelled video exactly once.
A variant gets these tests by being registered and shipping its tiny setting as `runs/<variant>-tiny.yaml`.
Test doubles that peek at the scored labels or draw unseeded random numbers show that the checks catch both.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from mediaeval_memo.core.predictions import write_predictions
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset
from mediaeval_memo.experiments.runner import load_model, train
from mediaeval_memo.features.visual import extract_visual_features
from mediaeval_memo.submission.profiles import load_profile
from mediaeval_memo.submission.writer import package_run
from mediaeval_memo.variants import REGISTRY
from mediaeval_memo.variants.base import FitContext, Model, Variant, VariantConfig

RUNS = Path(__file__).resolve().parents[2] / "runs"


def tiny_setting(variant: str) -> dict[str, object] | None:
    """The variant's tiny setting, shipped beside its other recipes as `runs/<variant>-tiny.yaml`: toy size (seconds
    on a CPU) and every code path a real run takes (held-out early stopping for the neural variants, inner-fold
    tuning for gbt). None when the variant ships none."""
    path = RUNS / f"{variant}-tiny.yaml"
    if not path.is_file():
        return None
    recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert recipe["variant"] == variant, f"{path} is a recipe for {recipe['variant']}"
    return dict(recipe["config"])


# Each registered variant's tiny setting (test doubles add their own).
TINY: dict[str, dict[str, object]] = {v: s for v in sorted(REGISTRY) if (s := tiny_setting(v)) is not None}


@pytest.fixture(scope="module")
def sample(sample_memento10k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Memento10k sample with one cheap feature block (colour histograms of its frames)."""
    root = tmp_path_factory.mktemp("contract") / "m10k"
    shutil.copytree(sample_memento10k, root)
    extract_visual_features(root, "hsv-hist")
    return root


def scramble_global_generators() -> None:
    """What a fresh process finds: torch seeds its own generator at random; numpy and random too."""
    torch.seed()
    np.random.seed(None)
    random.seed()


def run(variant: str, data: Path, out: Path, folds: str, final: bool) -> Path:
    scramble_global_generators()
    train(variant, data, out, overrides=TINY[variant], folds=folds, final=final, progress=Reporter.silent())
    return out


def check_reruns_are_byte_identical(variant: str, data: Path, tmp: Path) -> None:
    a = run(variant, data, tmp / "a", "0", final=True)
    b = run(variant, data, tmp / "b", "0", final=True)
    for name in ("folds/fold_0/oof.csv", "predictions_test.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{variant}: {name} differs between two runs"
    profile = load_profile("me25")
    runs = [
        package_run(
            [str(x / "predictions_test.csv")],
            team="t",
            subtask="1",
            run=1,
            profile=profile,
            out_dir=x / "sub",
            data=data,
        )
        for x in (a, b)
    ]
    assert runs[0].path.read_bytes() == runs[1].path.read_bytes(), f"{variant}: the run files differ"


def check_scored_labels_are_never_read(variant: str, data: Path, tmp: Path) -> None:
    shuffled = tmp / "shuffled"
    shutil.copytree(data, shuffled)
    ds = PreparedDataset.load(shuffled)
    assert ds.folds is not None
    items = ds.items.copy()
    scored = items["video_id"].isin(set(ds.folds.val_ids(0))).to_numpy()
    rng = np.random.default_rng(0)
    for column in ds.label_columns:
        values = items.loc[scored, column].to_numpy()
        items.loc[scored, column] = values[rng.permutation(len(values))]
    items.to_parquet(shuffled / ITEMS_FILE, index=False)
    original = run(variant, data, tmp / "original", "0", final=False)
    changed = run(variant, shuffled, tmp / "changed", "0", final=False)
    oof = "folds/fold_0/oof.csv"
    assert (original / oof).read_bytes() == (changed / oof).read_bytes(), (
        f"{variant}: fold 0's predictions changed when only fold 0's labels were shuffled"
    )


def check_save_load_and_coverage(variant: str, data: Path, tmp: Path) -> None:
    out = run(variant, data, tmp / "full", "all", final=True)
    _, model = load_model(out)
    dataset = PreparedDataset.load(data)
    again = write_predictions(model.predict(dataset.with_labels_of(()), dataset.split_ids("test")), tmp / "again.csv")
    assert again.read_bytes() == (out / "predictions_test.csv").read_bytes(), f"{variant}: a reloaded model differs"
    oof = pd.read_csv(out / "oof_predictions.csv", dtype={"video_id": str})
    labelled = PreparedDataset.load(data).labelled(json.loads((out / "cv.json").read_text())["target"])
    assert sorted(oof["video_id"]) == sorted(labelled["video_id"]), f"{variant}: out-of-fold ids != labelled ids"


@pytest.mark.parametrize("variant", sorted(REGISTRY))
def test_every_variant_has_a_tiny_setting(variant: str) -> None:
    assert variant in TINY, (
        f"registered variant {variant!r} needs a tiny setting, runs/{variant}-tiny.yaml, to be tested"
    )


@pytest.mark.parametrize("variant", sorted(TINY))
def test_reruns_are_byte_identical(variant: str, sample: Path, tmp_path: Path) -> None:
    check_reruns_are_byte_identical(variant, sample, tmp_path)


@pytest.mark.parametrize("variant", sorted(TINY))
def test_scored_labels_are_never_read(variant: str, sample: Path, tmp_path: Path) -> None:
    check_scored_labels_are_never_read(variant, sample, tmp_path)


@pytest.mark.parametrize("variant", sorted(TINY))
def test_saved_model_predicts_the_same_and_oof_covers_every_labelled_video(
    variant: str, sample: Path, tmp_path: Path
) -> None:
    check_save_load_and_coverage(variant, sample, tmp_path)


# ---------------------------------------------------------------------------------------------------- test doubles


@dataclass
class MeanConfig(VariantConfig):
    noise: float = field(default=0.0, metadata={"help": "Unseeded noise added to every score (a broken variant)."})


class MeanModel(Model):
    """Scores each video by the mean label of its fit's training videos plus a per-video offset, or by the label
    it remembers for the video (what a model that saw the scored labels would do, in the extreme)."""

    def __init__(self, level: float, noise: float, known: dict[str, float] | None = None):
        self.level, self.noise, self.known = level, noise, known or {}

    def predict(self, dataset: PreparedDataset, ids: Sequence[str], progress: object = None) -> pd.Series:
        offsets = np.array([self.known.get(v, self.level + sum(map(ord, v)) % 97 / 1000) for v in ids])
        noise = np.random.default_rng().normal(0, self.noise, len(ids)) if self.noise else 0.0
        return pd.Series(offsets + noise, index=ids)

    def save(self, directory: Path) -> None:
        state = {"level": self.level, "noise": self.noise, "known": self.known}
        (directory / "mean.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, directory: Path) -> MeanModel:
        return cls(**json.loads((directory / "mean.json").read_text()))


class Honest(Variant[MeanConfig, MeanModel]):
    name = "honest"
    Config = MeanConfig
    Model = MeanModel

    def fit(self, config: MeanConfig, ctx: FitContext) -> MeanModel:
        level = float(ctx.dataset.rows(list(ctx.train_ids))[ctx.target].mean())
        return MeanModel(level, config.noise)


class Peeking(Honest):
    """Reads the whole item table from disk, as a variant that keeps its own copy of the data might: the labels
    of the videos it will be scored on then reach its fit."""

    name = "peeking"

    def fit(self, config: MeanConfig, ctx: FitContext) -> MeanModel:
        everything = PreparedDataset.load(ctx.dataset.root).labelled(ctx.target)
        known = dict(zip(everything["video_id"], everything[ctx.target].astype(float), strict=True))
        return MeanModel(0.5, 0.0, known)


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, cls in (("honest", "Honest"), ("peeking", "Peeking")):
        monkeypatch.setitem(REGISTRY, name, f"{__name__}:{cls}")
        monkeypatch.setitem(TINY, name, {})


def test_an_honest_double_passes_every_check(doubles: None, sample: Path, tmp_path: Path) -> None:
    check_reruns_are_byte_identical("honest", sample, tmp_path / "1")
    check_scored_labels_are_never_read("honest", sample, tmp_path / "2")
    check_save_load_and_coverage("honest", sample, tmp_path / "3")


def test_a_peeking_double_fails_the_shuffle_check(doubles: None, sample: Path, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="fold 0's predictions changed when only fold 0's labels"):
        check_scored_labels_are_never_read("peeking", sample, tmp_path)


def test_a_nondeterministic_double_fails_the_rerun_check(doubles: None, sample: Path, tmp_path: Path) -> None:
    TINY["honest"] = {"noise": 0.01}
    with pytest.raises(AssertionError, match="differs between two runs"):
        check_reruns_are_byte_identical("honest", sample, tmp_path)


def test_a_fit_sees_only_its_own_labels(
    doubles: None, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The structure behind check 2: the dataset a fit receives hides every label outside its ids, and its folds."""
    seen: list[FitContext] = []

    def spy(self: Honest, config: MeanConfig, ctx: FitContext) -> MeanModel:
        seen.append(ctx)
        return MeanModel(0.5, 0.0)

    monkeypatch.setattr(Honest, "fit", spy)
    train("honest", sample, tmp_path / "run", folds="1", final=False, progress=Reporter.silent())
    ds = PreparedDataset.load(sample)
    assert ds.folds is not None
    ctx = seen[0]
    known = set(ctx.dataset.labelled(ctx.target)["video_id"])
    assert known == set(ctx.train_ids) | set(ctx.stop_ids)
    assert not known & set(ds.folds.val_ids(1)) and ctx.dataset.folds is None
