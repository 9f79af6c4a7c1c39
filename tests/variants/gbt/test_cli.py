"""`memo train gbt` / `memo predict` with the GBT recipes, their error paths, and the demo's modelling steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.core.predictions import read_predictions
from mediaeval_memo.demo import QUICK_RECIPE
from tests.conftest import REPO
from tests.variants.gbt.gbt_data import make_dataset

SMALL = "params={lightgbm: {n_estimators: 30, min_data_in_leaf: 5}, histgb: {max_iter: 30, min_samples_leaf: 5}}"


def test_recipes_resolve_and_quick_matches_the_demo() -> None:
    from mediaeval_memo.core.config import resolve_config
    from mediaeval_memo.variants.gbt import GBTConfig

    full = resolve_config(GBTConfig, REPO / "runs" / "gbt.yaml")
    assert full.members == ["lightgbm", "xgboost", "catboost", "histgb", "svr", "tfidf"] and full.n_trials == 0
    assert full.budget_minutes == 30 and full.ensemble == "select"
    quick = yaml.safe_load((REPO / "runs" / "gbt-quick.yaml").read_text())
    assert quick["variant"] == "gbt"
    assert quick["config"] == QUICK_RECIPE


def test_train_and_predict_happy_path(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds")
    out = tmp_path / "model"
    args = ["train", "gbt", "--data", str(data), "--config", str(REPO / "runs" / "gbt-quick.yaml")]
    result = CliRunner().invoke(cli, [*args, "--set", SMALL, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "out-of-fold Spearman: " in result.output
    oof = read_predictions(out / "oof_predictions.csv")
    assert len(oof) == 96 and sorted(oof["fold"].unique()) == [0, 1, 2, 3]
    srcc = float(result.output.split("out-of-fold Spearman: ")[1].split()[0])
    assert srcc > 0.5
    # The planned members, each kept one with its file (which are kept depends on the data).
    saved = json.loads((out / "model" / "gbt.json").read_text())
    assert saved["report"]["settings"]["members"] == ["svr", "tfidf", "lightgbm", "histgb"]
    suffix = {"svr": ".npz", "tfidf": ".npz", "lightgbm": ".txt", "histgb": ".npz"}
    kept = [m for m, row in saved["report"]["members"].items() if row["kept"]]
    assert kept and sorted(p.name for p in (out / "model").iterdir()) == sorted(
        ["gbt.json", "transform.npz", *(f"{m}_0{suffix[m]}" for m in kept)]
    )
    pred = CliRunner().invoke(
        cli, ["predict", "--model", str(out), "--data", str(data), "--split", "test", "--out", str(tmp_path / "p.csv")]
    )
    assert pred.exit_code == 0, pred.output
    written = read_predictions(tmp_path / "p.csv")
    assert written["score"].tolist() == read_predictions(out / "predictions_test.csv")["score"].tolist()
    assert len(written) == 24


def test_help_config_lists_every_field() -> None:
    result = CliRunner().invoke(cli, ["train", "gbt", "--data", "x", "--out", "y", "--help-config"])
    assert result.exit_code == 0
    for name in ("features", "pca_components", "members", "n_trials", "tune_timeout_s", "ensemble", "bagging_seeds"):
        assert f"\n{name} (" in "\n" + result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--set", "members=lightgbm,catbost"],
            "error: command line: members 'catbost': unknown member "
            "(accepted: lightgbm, xgboost, catboost, histgb, svr, tfidf)\n",
        ),
        (
            ["--set", "ensemble=vote"],
            "error: command line: ensemble 'vote': expected one of 'select', 'ridge', 'rank_mean'\n",
        ),
        (["--set", "n_trial=3"], None),
    ],
)
def test_train_config_errors(tmp_path: Path, extra: list[str], message: str | None) -> None:
    data = make_dataset(tmp_path / "ds")
    result = CliRunner().invoke(cli, ["train", "gbt", "--data", str(data), "--out", str(tmp_path / "m"), *extra])
    assert result.exit_code == 1
    if message is None:
        assert result.output.startswith("error: command line: n_trial: unknown config field for GBTConfig; did you ")
        assert "did you mean 'n_trials'?" in result.output
    else:
        assert result.output == message
    assert not (tmp_path / "m" / "model").exists()


def test_train_without_matching_features(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds")
    args = ["train", "gbt", "--data", str(data), "--out", str(tmp_path / "m"), "--set", "features=[text__*]"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"error: {data}/features: features 'text__*': no feature block matches (have: emb); create it with "
        "`memo features`"
    )


def test_nothing_to_learn_from(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds", with_block=False)
    items = pd.read_parquet(data / "items.parquet").drop(columns=["meta_duration", "action"])
    items.to_parquet(data / "items.parquet", index=False)
    result = CliRunner().invoke(cli, ["train", "gbt", "--data", str(data), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "nothing to learn from: no feature blocks, numeric meta_* columns or categorical columns" in result.output


def test_predict_with_a_missing_feature_block(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds")
    out = tmp_path / "model"
    args = ["train", "gbt", "--data", str(data), "--config", str(REPO / "runs" / "gbt-quick.yaml"), "--set", SMALL]
    assert CliRunner().invoke(cli, [*args, "--out", str(out), "--folds", "none"]).exit_code == 0
    other = make_dataset(tmp_path / "other", with_block=False)
    result = CliRunner().invoke(
        cli, ["predict", "--model", str(out), "--data", str(other), "--out", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"error: {other}/features/emb: no such feature block (have: none); create it with `memo features`\n"
    )
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow  # about 40 s: loads MiniLM; tests/test_demo.py runs the whole demo, these steps included
def test_demo_modelling_steps(sample_memento10k: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's steps after `prepare`, on the prepared sample, with one small model to stay fast."""
    from mediaeval_memo import demo
    from mediaeval_memo.demo import DemoContext

    data = tmp_path / "prepared" / "memento10k"
    shutil.copytree(sample_memento10k, data)
    monkeypatch.setitem(demo.QUICK_RECIPE, "params", yaml.safe_load(SMALL.split("=", 1)[1]))
    monkeypatch.setattr(demo, "DEMO_MODELS", {"gbt-text-hist": demo.DEMO_MODELS["gbt-text-hist"]})
    lines: list[str] = []
    ctx = DemoContext(out=tmp_path, echo=lines.append)
    ctx.prepared["memento10k"] = data
    before_modelling = (demo.write_samples, demo.prepare_samples, demo.show_summaries)
    for _, step in demo.STEPS:
        if step not in before_modelling:
            step(ctx)
    text = "\n".join(lines)
    assert ctx.srcc["gbt-text-hist"] > 0.3
    assert (tmp_path / "leaderboards" / "demo.png").is_file()
    assert "test predictions" in text and str(tmp_path / "leaderboards" / "demo.md") in text
