"""The CV runner behind `memo train` / `memo predict`, driven by a small least-squares variant defined here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.core.config import ConfigError
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.data.items import Folds, PreparedDataset, write_items, write_json
from mediaeval_memo.experiments.runner import parse_folds
from mediaeval_memo.variants import REGISTRY, get_variant
from mediaeval_memo.variants.base import FitContext, Model, Variant, VariantConfig


@dataclass
class LineConfig(VariantConfig):
    ridge: float = field(default=1.0, metadata={"help": "L2 penalty"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ridge < 0:
            raise ConfigError("ridge", self.ridge, "must be >= 0")


class LineModel(Model):
    def __init__(self, w: float, b: float):
        self.w, self.b = w, b

    def predict(self, dataset: PreparedDataset, ids: Sequence[str], progress: object = None) -> pd.Series:
        rows = dataset.rows(ids)
        return pd.Series(self.w * rows["meta_x"].to_numpy() + self.b, index=rows["video_id"].to_numpy())

    def save(self, directory: Path) -> None:
        (directory / "line.json").write_text(json.dumps({"w": self.w, "b": self.b}))

    @classmethod
    def load(cls, directory: Path) -> LineModel:
        return cls(**json.loads((directory / "line.json").read_text()))


class LineVariant(Variant[LineConfig, LineModel]):
    """A toy variant registered from this test module: its own folder (here, this module) and one registry line
    (the fixture below) are all a variant needs; the default `splits` reads no field it lacks."""

    name = "line"
    Config = LineConfig
    Model = LineModel
    fits: ClassVar[list[int | None]] = []

    def fit(self, config: LineConfig, ctx: FitContext) -> LineModel:
        LineVariant.fits.append(None if ctx.fold == "all" else int(ctx.fold))
        rows = ctx.dataset.rows(list(ctx.train_ids))
        x, y = rows["meta_x"].to_numpy(), rows[config.target].to_numpy()
        w = float(np.cov(x, y)[0, 1] / (np.var(x, ddof=1) + config.ridge * 1e-3))
        return LineModel(w, float(y.mean() - w * x.mean()))


@pytest.fixture
def line_variant(monkeypatch: pytest.MonkeyPatch) -> type[LineVariant]:
    monkeypatch.setitem(REGISTRY, "line", f"{__name__}:LineVariant")
    LineVariant.fits = []
    return LineVariant


@pytest.fixture
def toy_dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n_train, n_test = 40, 10
    x = rng.normal(size=n_train + n_test)
    ids = [f"v{i:03d}" for i in range(n_train + n_test)]
    items = pd.DataFrame(
        {
            "video_id": ids,
            "split": ["train"] * n_train + ["test"] * n_test,
            "mem_score": np.r_[0.8 + 0.05 * x[:n_train] + rng.normal(0, 0.01, n_train), [np.nan] * n_test],
            "n_annotations": 10,
            "captions": [["a caption"]] * (n_train + n_test),
            "group": ids,
            "media_path": "",
            "meta_x": x,
        }
    )
    root = tmp_path / "ds"
    root.mkdir()
    write_items(root, items)
    write_json(root / "manifest.json", {"dataset": "toy", "targets": ["mem_score"]})
    folds = Folds(folds=[ids[k:n_train:4] for k in range(4)], seed=0)
    write_json(root / "folds.json", folds.to_json())
    return root


def test_parse_folds() -> None:
    assert parse_folds("all", 3) == [0, 1, 2]
    assert parse_folds("none", 3) == []
    assert parse_folds("2,0", 3) == [0, 2]


def test_train_predict_and_resume(tmp_path: Path, toy_dataset: Path, line_variant: type[LineVariant]) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(cli, ["train", "line", "--data", str(toy_dataset), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert line_variant.fits == [0, 1, 2, 3, None]
    cv = json.loads((out / "cv.json").read_text())
    assert cv["n"] == 40 and cv["oof_srcc"] > 0.9
    oof = pd.read_csv(out / "oof_predictions.csv")
    assert sorted(oof["fold"].unique()) == [0, 1, 2, 3]
    assert len(pd.read_csv(out / "predictions_test.csv")) == 10

    # Same config again: refused without --resume; with it, finished folds are reused, not refitted.
    again = runner.invoke(cli, ["train", "line", "--data", str(toy_dataset), "--out", str(out)])
    assert again.exit_code == 1
    assert "pass --resume to continue it" in again.output
    (out / "folds" / "fold_2" / "oof.csv").unlink()
    line_variant.fits = []
    resumed = runner.invoke(cli, ["train", "line", "--data", str(toy_dataset), "--out", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert line_variant.fits == [2, None]

    # Another config in the same folder needs --force.
    other = runner.invoke(cli, ["train", "line", "--data", str(toy_dataset), "--out", str(out), "--set", "ridge=2"])
    assert other.exit_code == 1 and "another config" in other.output

    preds = tmp_path / "p.csv"
    result = runner.invoke(cli, ["predict", "--model", str(out), "--data", str(toy_dataset), "--out", str(preds)])
    assert result.exit_code == 0, result.output
    assert preds.read_bytes() == (out / "predictions_test.csv").read_bytes()


def test_train_bad_config_is_one_line(tmp_path: Path, toy_dataset: Path, line_variant: type[LineVariant]) -> None:
    args = ["train", "line", "--data", str(toy_dataset), "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(cli, [*args, "--set", "ridge=-1"])
    assert result.exit_code == 1
    assert result.output == "error: command line: ridge -1.0: must be >= 0\n"
    result = CliRunner().invoke(cli, [*args, "--target", "brand"])
    assert result.exit_code == 1
    assert "target 'brand': unknown target (this dataset has: mem_score)" in result.output
    result = CliRunner().invoke(cli, [*args, "--head", "generate"])
    assert result.exit_code == 1
    assert "head: unknown config field for LineConfig" in result.output
    assert not (tmp_path / "r").exists()


def test_predict_errors(tmp_path: Path, toy_dataset: Path) -> None:
    result = CliRunner().invoke(
        cli, ["predict", "--model", str(tmp_path), "--data", str(toy_dataset), "--out", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 1
    assert "not a model directory (no variant.json)" in result.output
    result = CliRunner().invoke(
        cli, ["predict", "--model", str(tmp_path), "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 1
    assert "not a prepared dataset directory" in result.output


def test_a_registry_entry_that_is_not_a_variant_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "not-a-variant", f"{__name__}:LineModel")
    with pytest.raises(InputError, match="the registry entry of not-a-variant is not a Variant subclass"):
        get_variant("not-a-variant")
    monkeypatch.setitem(REGISTRY, "missing", f"{__name__}:NoSuchClass")
    with pytest.raises(InputError, match="the registry entry of missing is not a Variant subclass"):
        get_variant("missing")


def test_the_default_splits_read_the_configs_own_fields(line_variant: type[LineVariant]) -> None:
    from mediaeval_memo.variants.base import SplitRequest
    from mediaeval_memo.variants.gbt import GBTConfig, GBTVariant

    assert line_variant().splits(LineConfig()) == SplitRequest()
    assert GBTVariant().splits(GBTConfig(inner_folds=4)) == SplitRequest(holdout=0.0, inner_folds=4)
    fusion = get_variant("gemma-fusion")
    assert fusion.splits(fusion.Config(val_fraction=0.25)) == SplitRequest(holdout=0.25, inner_folds=0)
