"""The GBT plan: members, PCA and trials sized to the job, the budget kept, what the config sets left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.variants.gbt import GBTConfig
from mediaeval_memo.variants.gbt.plan import BUDGET_SHARE, MAX_TRIALS, Shape, estimate_seconds, make_plan
from tests.variants.gbt.gbt_data import make_dataset

MEMENTO = Shape(7000, 6, 3, 5, (("mean", 384), ("layers2-6", 384)), 0, True)
VIDEM = Shape(500, 6, 3, 5, (("vit", 768), ("text", 384)), 3, True)


def test_large_data_gets_a_kernel_per_block_raw_blocks_and_the_text_model() -> None:
    plan = make_plan(GBTConfig(), MEMENTO)
    assert plan.config.members == ["svr@mean", "svr@layers2-6", "tfidf"]
    assert plan.config.pca_components == 0
    assert 1 <= plan.config.n_trials < MAX_TRIALS
    assert plan.estimate_s <= BUDGET_SHARE * 10 * 60
    more = estimate_seconds(MEMENTO, plan.config.members, 0, plan.config.n_trials + 1, 1)
    assert more > BUDGET_SHARE * 10 * 60  # the most trials the budget affords, not fewer
    assert plan.config.planned


def test_small_data_tunes_every_member_on_reduced_blocks() -> None:
    plan = make_plan(GBTConfig(), VIDEM)
    assert plan.config.members == ["svr", "tfidf", "lightgbm", "histgb"]
    assert plan.config.pca_components == 50
    assert plan.config.n_trials >= 10


def test_planned_trials_are_a_ceiling_with_a_patience_set_by_the_data_size() -> None:
    large, small = make_plan(GBTConfig(), MEMENTO), make_plan(GBTConfig(), VIDEM)
    assert large.config.tune_patience == 1  # 7000 videos: one trial without gain ends a study
    assert 5 <= small.config.tune_patience < small.config.n_trials  # 500 videos: it keeps looking, and can stop
    assert "at most: a study stops after 1 trial in a row without a gain of 0.001" in large.lines[1]
    assert "if every trial runs against a budget of 10 min" in large.lines[2]
    # Trials set: every one runs (no patience) unless a patience is set too.
    assert make_plan(GBTConfig(n_trials=3), MEMENTO).config.tune_patience == 0
    assert make_plan(GBTConfig(n_trials=3, tune_patience=2), MEMENTO).config.tune_patience == 2
    assert make_plan(GBTConfig(tune_patience=0), MEMENTO).config.tune_patience == 0
    assert make_plan(GBTConfig(budget_minutes=0.1), MEMENTO).config.tune_patience == 0  # 1 trial: nothing to stop


def test_a_bigger_budget_buys_more_trials_and_set_fields_are_kept() -> None:
    small = make_plan(GBTConfig(budget_minutes=5), MEMENTO).config.n_trials
    large = make_plan(GBTConfig(budget_minutes=40), MEMENTO).config.n_trials
    assert small < large
    kept = make_plan(GBTConfig(members=["lightgbm"], pca_components=32, n_trials=4), MEMENTO)
    assert (kept.config.members, kept.config.pca_components, kept.config.n_trials) == (["lightgbm"], 32, 4)
    assert "members lightgbm (set); PCA to 32 components per block (set); 4 tuning trials" in kept.lines[1]


def test_a_job_over_budget_says_so_and_what_would_cut_it() -> None:
    plan = make_plan(GBTConfig(budget_minutes=0.1), MEMENTO)
    assert plan.config.n_trials == 1
    assert plan.lines[-1].startswith("plan: over budget even so")
    assert "--set members=" in plan.lines[-1]


def test_members_too_dear_on_raw_blocks_get_them_reduced_to_fit_the_budget() -> None:
    every = ["lightgbm", "xgboost", "catboost", "histgb", "svr", "tfidf"]
    raw = estimate_seconds(MEMENTO, every, 0, 1, 3)
    assert raw > BUDGET_SHARE * 30 * 60  # four tree libraries on 7000 x 768 raw dimensions: hours
    plan = make_plan(GBTConfig(members=every, bagging_seeds=3, budget_minutes=30), MEMENTO)
    assert plan.config.pca_components in (256, 128, 64, 32, 16)
    assert plan.estimate_s <= BUDGET_SHARE * 30 * 60
    assert f"to fit the budget: unreduced blocks would take {raw / 60:.0f} min untuned" in plan.lines[1]
    # A PCA the config sets is kept, even over budget, and the plan says so.
    fixed = make_plan(GBTConfig(members=every, bagging_seeds=3, budget_minutes=30, pca_components=0), MEMENTO)
    assert fixed.config.pca_components == 0 and fixed.lines[-1].startswith("plan: over budget even so")


def test_memo_train_prints_the_plan_and_records_the_settings(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds")
    out = tmp_path / "m"
    result = CliRunner().invoke(cli, ["train", "gbt", "--data", str(data), "--out", str(out), "--budget", "0.5"])
    assert result.exit_code == 0, result.output
    log = (out / "train.log").read_text()
    assert "plan: 96 labelled videos, feature blocks of 12 dims, 2 other columns, captions" in log
    assert "plan: members svr, tfidf, lightgbm, histgb (planned); PCA to 9 components per block (planned)" in log
    assert "against a budget of 0.5 min" in log
    saved = yaml.safe_load((out / "config.yaml").read_text())["config"]
    assert saved["members"] == ["svr", "tfidf", "lightgbm", "histgb"] and saved["budget_minutes"] == 0.5
    assert saved["n_trials"] >= 1 and saved["pca_components"] == 9
    # Every fit reports each member's inner Spearman, weight, time, and whether it was kept.
    import json

    report = json.loads((out / "final" / "fit.json").read_text())["report"]
    assert set(report["members"]) == set(saved["members"])
    for row in report["members"].values():
        assert {"inner_srcc", "weight", "kept", "seconds", "trials"} <= set(row)
        assert row["kept"] == (row["weight"] > 0)
    assert np.isclose(sum(r["weight"] for r in report["members"].values()), 1.0)


def test_budget_must_be_positive(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds")
    result = CliRunner().invoke(
        cli, ["train", "gbt", "--data", str(data), "--out", str(tmp_path / "m"), "--budget", "0"]
    )
    assert result.exit_code == 1
    assert result.output == "error: command line: budget_minutes 0.0: must be > 0\n"


@pytest.mark.parametrize("spec", ["svr@nope", "tfidf@emb"])
def test_member_on_an_unknown_block_is_an_input_error(tmp_path: Path, spec: str) -> None:
    data = make_dataset(tmp_path / "ds")
    result = CliRunner().invoke(
        cli, ["train", "gbt", "--data", str(data), "--out", str(tmp_path / "m"), "--set", f"members={spec}"]
    )
    assert result.exit_code == 1
    if spec == "svr@nope":
        assert result.output == (
            f"error: {data}/features: members 'svr@nope': no such feature block among the model's inputs (have: emb)\n"
        )
    else:
        assert (
            result.output == "error: command line: members 'tfidf@emb': tfidf reads the captions, not a feature block\n"
        )


def test_captions_are_seen_only_where_some_video_has_text() -> None:
    import pandas as pd

    from mediaeval_memo.variants.gbt.design import has_captions

    assert not has_captions(pd.DataFrame({"video_id": ["a"]}))
    assert not has_captions(pd.DataFrame({"captions": [[], None, float("nan"), np.array([""])]}))
    assert has_captions(pd.DataFrame({"captions": [[], np.array(["a dog runs"])]}))
