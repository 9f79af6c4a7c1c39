"""The GBT ensemble variant: members, nested CV without leakage, determinism, save/load, ensembles, configs."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from mediaeval_memo.core.config import resolve_config
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.experiments.runner import fit_context
from mediaeval_memo.variants import get_variant
from mediaeval_memo.variants.gbt import GBTConfig, GBTModel, GBTVariant, TargetEncoding
from mediaeval_memo.variants.gbt.members import MEMBERS, Inputs, KernelMachine, TreeArrays, get_member
from tests.variants.gbt.gbt_data import make_dataset

FAST: dict[str, dict[str, Any]] = {
    "lightgbm": {"n_estimators": 40, "min_data_in_leaf": 5},
    "xgboost": {"n_estimators": 40},
    "catboost": {"iterations": 40},
    "histgb": {"max_iter": 40, "min_samples_leaf": 5},
    "svr": {},
    "tfidf": {},
}


def fast_config(members: list[str], **kw: Any) -> GBTConfig:
    params = {m: FAST[m] for m in members}
    return GBTConfig(members=members, params=params, n_jobs=1, **{"n_trials": 1, **kw})


def dense(X: np.ndarray, groups: list[int] | None = None) -> Inputs:
    """A member's inputs of a bare matrix: each column its own group unless told, no captions."""
    labels = np.arange(X.shape[1]) if groups is None else np.asarray(groups)
    return Inputs(X, labels, [""] * len(X))


def fit(
    dataset: PreparedDataset,
    config: GBTConfig,
    fold: int | None,
    workdir: Path | None = None,
    audit: Any = None,
    progress: Reporter | None = None,
) -> GBTModel:
    """A fit as the runner makes it: the fold's context (training ids, inner folds, labels of its own ids only)."""
    variant = GBTVariant(audit=audit)
    ctx = fit_context(dataset, variant, config, fold, workdir or Path(tempfile.mkdtemp(prefix="gbt-")), progress)
    return variant.fit(config, ctx)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    return PreparedDataset.load(make_dataset(tmp_path_factory.mktemp("gbt") / "ds"))


def _val_srcc(model: GBTModel, dataset: PreparedDataset, fold: int) -> float:
    assert dataset.folds is not None
    ids = dataset.folds.val_ids(fold)
    pred = model.predict(dataset, ids)
    gold = dataset.rows(ids)["mem_score"].to_numpy()
    return float(spearmanr(pred.to_numpy(), gold).statistic)


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_every_member_learns_the_planted_signal(dataset: PreparedDataset, member: str) -> None:
    model = fit(dataset, fast_config([member]), 0)
    assert list(model.fitted) == [member]
    assert _val_srcc(model, dataset, 0) > 0.5


def test_nested_cv_never_shows_an_outer_validation_id(tmp_path: Path) -> None:
    dataset = PreparedDataset.load(make_dataset(tmp_path / "ds"))
    assert dataset.folds is not None
    config = fast_config(["lightgbm", "histgb"], n_trials=3)
    seen: list[tuple[str, frozenset[str]]] = []
    fit(dataset, config, 1, audit=lambda stage, ids: seen.append((stage, frozenset(ids))))
    stages = {stage.split(":")[0] for stage, _ in seen}
    assert stages == {"transform", "tune", "ensemble", "member"}
    # 3 inner folds x 3 trials x 2 members tuning fits, each on an inner training part only.
    tune_fits = [ids for stage, ids in seen if stage.startswith("tune")]
    assert len(tune_fits) == 3 * 3 * 2
    outer_val = set(dataset.folds.val_ids(1))
    train = set(dataset.folds.train_ids(1))
    for stage, ids in seen:
        assert not ids & outer_val, stage
        assert ids <= train, stage
    # Each tuning fit and inner transform leaves its inner validation fold out: never the whole training part.
    assert all(len(ids) < len(train) for stage, ids in seen if stage.startswith(("tune", "transform:inner")))


def test_inner_folds_from_the_dataset_are_used(tmp_path: Path) -> None:
    dataset = PreparedDataset.load(make_dataset(tmp_path / "ds", inner=True))
    assert dataset.folds is not None
    inner = dataset.folds.inner[2]
    seen: list[frozenset[str]] = []
    fit(
        dataset,
        fast_config(["lightgbm"]),
        2,
        audit=lambda stage, ids: seen.append(frozenset(ids)) if stage.startswith("transform:inner") else None,
    )
    train = set(dataset.folds.train_ids(2))
    assert seen == [frozenset(train - set(inner[0])), frozenset(train - set(inner[1]))]


def test_inner_folds_holding_outer_validation_ids_are_refused(tmp_path: Path) -> None:
    import json

    root = make_dataset(tmp_path / "ds", inner=True)
    folds = json.loads((root / "folds.json").read_text())
    folds["inner"]["0"][0].append(folds["folds"][0][0])
    (root / "folds.json").write_text(json.dumps(folds))
    dataset = PreparedDataset.load(root)
    with pytest.raises(InputError, match=r"folds.json: inner '\w+': the inner folds of outer fold 0 hold 1 of its"):
        fit(dataset, fast_config(["lightgbm"]), 0)


def test_same_seed_same_predictions_and_save_load_round_trip(dataset: PreparedDataset, tmp_path: Path) -> None:
    # rank_mean keeps every member (select could drop some), so that each member's files are checked.
    config = fast_config(sorted(MEMBERS), n_trials=2, bagging_seeds=2, ensemble="rank_mean")
    first = fit(dataset, config, None)
    second = fit(dataset, config, None)
    a = first.predict_members(dataset, dataset.split_ids("test"))
    b = second.predict_members(dataset, dataset.split_ids("test"))
    assert a.equals(b)
    first.save(tmp_path / "model")
    loaded = GBTModel.load(tmp_path / "model")
    assert loaded.predict_members(dataset, dataset.split_ids("test")).equals(a)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted(
        [
            "gbt.json",
            "transform.npz",
            "catboost_0.cbm",
            "catboost_1.cbm",
            "histgb_0.npz",
            "histgb_1.npz",
            "lightgbm_0.txt",
            "lightgbm_1.txt",
            "xgboost_0.json",
            "xgboost_1.json",
            "svr_0.npz",  # deterministic: fitted once whatever bagging_seeds says
            "tfidf_0.npz",
        ]
    )


def test_predicting_from_a_block_extracted_differently_is_refused(tmp_path: Path) -> None:
    from mediaeval_memo.data.feature_store import load_block, write_block

    root = make_dataset(tmp_path / "ds")
    dataset = PreparedDataset.load(root)
    model = fit(dataset, fast_config(["lightgbm"]), None)
    block = load_block(root, "emb")
    write_block(root, "emb", block.ids, block.vectors, {"signature": {"extractor": "other"}}, overwrite=True)
    with pytest.raises(InputError, match=r"features/emb: was extracted differently \(12 dims, signature \{'extractor'"):
        model.predict(dataset, dataset.split_ids("test"))


def test_ridge_stacking(dataset: PreparedDataset) -> None:
    model = fit(dataset, fast_config(["lightgbm", "xgboost"], ensemble="ridge"), 0)
    assert model.ensemble.kind == "ridge"
    assert (model.ensemble.coef >= 0).all()
    assert _val_srcc(model, dataset, 0) > 0.5


def test_rank_mean_is_on_the_target_scale_and_per_video(dataset: PreparedDataset) -> None:
    model = fit(dataset, fast_config(["lightgbm", "histgb"]), None)
    test_ids = dataset.split("test")["video_id"].tolist()
    whole = model.predict(dataset, test_ids)
    one_by_one = [model.predict(dataset, [v]).iloc[0] for v in test_ids[:5]]
    assert whole.iloc[:5].tolist() == one_by_one
    y = dataset.labelled("mem_score")["mem_score"]
    assert y.min() <= whole.min() and whole.max() <= y.max()


def test_histgb_tree_export_matches_sklearn() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) + rng.normal(0, 0.2, 200)
    est = HistGradientBoostingRegressor(max_iter=25, early_stopping=False, random_state=0).fit(X, y)
    assert np.array_equal(TreeArrays.from_sklearn(est).predict(X), est.predict(X))


def test_svr_arrays_match_sklearn_and_round_trip(tmp_path: Path) -> None:
    from sklearn.svm import SVR

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)) * rng.uniform(0.1, 10, size=8)  # columns on very different scales
    y = 5 + 2 * np.tanh(X[:, 0] / 3) + rng.normal(0, 0.3, 300)
    member = get_member("svr")
    params = {"C": 2.0, "epsilon": 0.2, "gamma_scale": 0.5}
    fitted = member.fit(dense(X), y, params, 0, 1)
    Z = (X - X.mean(0)) / X.std(0)
    ref = SVR(C=2.0, epsilon=0.2, gamma=0.5 / 8).fit(Z, (y - y.mean()) / y.std())
    X_new = rng.normal(size=(50, 8)) * 3
    expected = y.mean() + y.std() * ref.predict((X_new - X.mean(0)) / X.std(0))
    np.testing.assert_allclose(member.predict(fitted, dense(X_new)), expected, rtol=1e-9, atol=1e-9)
    member.save(fitted, tmp_path / "svr.npz")
    again = member.load(tmp_path / "svr.npz")
    assert isinstance(again, KernelMachine)
    assert np.array_equal(member.predict(again, dense(X_new)), member.predict(fitted, dense(X_new)))


def test_svr_scales_a_feature_block_as_a_whole() -> None:
    rng = np.random.default_rng(2)
    block = rng.normal(size=(300, 4)) * np.array([4.0, 2.0, 1.0, 0.1])  # PCA-like: falling variances
    X = np.column_stack([block, 100 + 50 * rng.normal(size=300)])  # and a metadata column on its own scale
    y = block[:, 0] + rng.normal(0, 0.5, 300)
    fitted = get_member("svr").fit(dense(X, [0, 0, 0, 0, 1]), y, get_member("svr").default_params(), 0, 1)
    block_scale = np.sqrt(block.var(0).mean())
    np.testing.assert_allclose(fitted.x_scale, [block_scale] * 4 + [X[:, 4].std()])
    alone = get_member("svr").fit(dense(X), y, get_member("svr").default_params(), 0, 1)  # each column alone
    np.testing.assert_allclose(alone.x_scale, X.std(0))
    with pytest.raises(ValueError, match="column_groups has shape"):
        get_member("svr").fit(dense(X, [0, 1]), y, get_member("svr").default_params(), 0, 1)


def test_column_groups_follow_the_design(dataset: PreparedDataset) -> None:
    model = fit(dataset, fast_config(["svr"], pca_components=3), 0)
    groups = model.transform.column_groups()
    design = model.design
    singles = len(design.meta_columns) + len(design.categoricals)
    sizes = [min(3, dim) for dim in design.blocks.values()] + [1] * singles
    assert np.array_equal(np.bincount(groups), sizes)
    fitted = model.fitted["svr"][0]
    assert len(fitted.x_scale) == len(groups)


def test_svr_fills_missing_values_with_training_means() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    y = X[:, 0] + rng.normal(0, 0.1, 200)
    X[::7, 1] = np.nan
    X[:, 3] = np.nan  # a column missing everywhere
    member = get_member("svr")
    fitted = member.fit(dense(X), y, member.default_params(), 0, 1)
    pred = member.predict(fitted, dense(X))
    assert np.isfinite(pred).all() and spearmanr(pred, y).statistic > 0.9
    row = X[:1].copy()
    row[0, 1] = np.nan
    filled = row.copy()
    filled[0, 1] = fitted.x_mean[1]
    assert member.predict(fitted, dense(row))[0] == member.predict(fitted, dense(filled))[0]


def test_categorical_encoding_is_cross_fitted(dataset: PreparedDataset) -> None:
    from mediaeval_memo.variants.gbt import Design, Transform

    config = fast_config(["lightgbm"], features=["emb"], use_meta=False, target_smoothing=0.0)
    design = Design.choose(dataset, config, lambda _: None, "all")
    assert design.categoricals == ["action"]
    ids = dataset.labelled("mem_score")["video_id"].tolist()
    raw = design.raw(dataset, ids)
    # Give every video its own category: a leaky encoding would copy each video's own target.
    raw.cats["action"] = np.array(ids)
    y = dataset.rows(ids)["mem_score"].to_numpy()
    _, inputs = Transform.fit(design, raw, y, config)
    assert not np.isclose(inputs.X[:, -1], y).any()
    enc = TargetEncoding.fit(np.array(["a", "a", "b", ""]), np.array([1.0, 3.0, 5.0, 7.0]), smoothing=0.0)
    assert enc.apply(np.array(["a", "b", "zzz", ""])).tolist() == [2.0, 5.0, 4.0, 4.0]


def test_columns_unknown_on_test_are_dropped(tmp_path: Path) -> None:
    import pandas as pd

    from mediaeval_memo.variants.gbt import Design

    root = make_dataset(tmp_path / "ds")
    items = pd.read_parquet(root / "items.parquet")
    items.loc[items["split"] == "test", "action"] = ""
    items.loc[items["split"] == "test", "meta_duration"] = float("nan")
    items.to_parquet(root / "items.parquet", index=False)
    stream = io.StringIO()
    reporter = Reporter(stream)
    design = Design.choose(PreparedDataset.load(root), GBTConfig(), reporter.say_once, "all")
    assert design.categoricals == [] and design.meta_columns == []
    logs = stream.getvalue().splitlines()
    assert logs == [
        "numeric column 'meta_duration' is unknown for every test video: not used, so that CV predicts test",
        "categorical 'action' is unknown for every test video: not used, so that CV predicts test",
    ]
    Design.choose(PreparedDataset.load(root), GBTConfig(), reporter.say_once, "0")
    assert len(stream.getvalue().splitlines()) == 2  # said once, not once per fold


def test_config_validation_names_field_and_value() -> None:
    with pytest.raises(InputError, match=r"members 'ligthgbm': unknown member \(accepted: lightgbm, xgboost"):
        resolve_config(GBTConfig, None, {"members": "ligthgbm"})
    with pytest.raises(InputError, match=r"n_trials -1: must be >= 1 \(1 = the members' defaults\), or 0 \(planned\)"):
        resolve_config(GBTConfig, None, {"n_trials": "-1"})
    with pytest.raises(InputError, match=r"params 'catboost': not one of the chosen members \(lightgbm\)"):
        resolve_config(GBTConfig, None, {"members": "lightgbm", "params": "{catboost: {depth: 3}}"})
    config = resolve_config(GBTConfig, None, {"params": "{lightgbm: {n_estimators: 5}}", "ensemble": "ridge"})
    assert config.params == {"lightgbm": {"n_estimators": 5}}
    assert isinstance(get_variant("gbt"), GBTVariant)


def test_missing_feature_block_is_an_input_error(dataset: PreparedDataset) -> None:
    with pytest.raises(InputError, match=r"features 'text__\*': no feature block matches \(have: emb\)"):
        fit(dataset, fast_config(["lightgbm"], features=["text__*"]), 0)


def test_tuning_resumes_from_the_workdir(dataset: PreparedDataset, tmp_path: Path) -> None:
    config = fast_config(["lightgbm"], n_trials=2)
    first = fit(dataset, config, 0, tmp_path / "work")
    assert (tmp_path / "work" / "tuned_lightgbm.json").is_file()
    logs = io.StringIO()
    again = fit(dataset, config, 0, tmp_path / "work", progress=Reporter(logs))
    assert "tuned earlier, reusing" in logs.getvalue()
    assert again.predict(dataset, dataset.split_ids("test")).equals(first.predict(dataset, dataset.split_ids("test")))


def test_rationale_blocks_enter_only_their_own_fold(tmp_path: Path) -> None:
    """Embedded rationales of fold k quote the scores of fold k's training videos: no other fit may read them."""
    from mediaeval_memo.data.feature_store import write_block
    from mediaeval_memo.variants.gbt import Design

    root = make_dataset(tmp_path / "ds")
    ids = PreparedDataset.load(root).items["video_id"].tolist()
    for label in ("0", "1", "all"):
        vectors = np.zeros((len(ids), 4), dtype=np.float32)
        write_block(root, f"text__enc__rationale_{label}", ids, vectors, {"field": f"rationale_{label}"})
    dataset = PreparedDataset.load(root)
    chosen = {
        fold: sorted(b for b in Design.choose(dataset, GBTConfig(), lambda _: None, fold).blocks if "rationale" in b)
        for fold in ("0", "1", "2", "all")
    }
    assert chosen == {
        "0": ["text__enc__rationale_0"],
        "1": ["text__enc__rationale_1"],
        "2": [],
        "all": ["text__enc__rationale_all"],
    }


def test_selection_drops_a_member_that_adds_nothing() -> None:
    from mediaeval_memo.variants.gbt.ensemble import Ensemble, select_weights

    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    oof = {
        "good": y + rng.normal(0, 1.0, 500),
        "other": y + rng.normal(0, 1.0, 500),  # as good, with errors of its own: worth averaging in
        "noise": rng.normal(size=500),
    }
    weights = select_weights(oof, y)
    assert weights[2] == 0 and weights[0] > 0 and weights[1] > 0 and np.isclose(weights.sum(), 1.0)
    ensemble = Ensemble.fit("select", oof, y, 1.0)
    assert ensemble.kept() == ["good", "other"]
    blended = ensemble.combine(oof)
    assert spearmanr(blended, y).statistic > max(spearmanr(oof[m], y).statistic for m in ("good", "other"))
    assert np.array_equal(Ensemble.from_json(ensemble.to_json()).combine(oof), blended)


def test_a_member_dropped_by_selection_is_never_fitted(
    dataset: PreparedDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediaeval_memo.variants.gbt import ensemble

    # Which member selection drops depends on the data (test_selection_drops_a_member_that_adds_nothing); what
    # happens to a dropped member is tested here: no final fit, no file, a report that says so.
    monkeypatch.setattr(ensemble, "select_weights", lambda oof, y: np.array([1.0, 0.0]))
    model = fit(dataset, fast_config(["svr", "tfidf"]), 0)
    assert list(model.fitted) == ["svr"]
    report = model.report()["members"]
    assert report["tfidf"]["kept"] is False and report["tfidf"]["weight"] == 0
    assert report["svr"]["weight"] == 1.0
    assert model.predict(dataset, dataset.split_ids("test")).notna().all()


def test_text_member_matches_sklearn_and_round_trips(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    words = ["dog", "cat", "runs", "sleeps", "red", "car", "beach", "crowd", "cheers", "slowly"]
    texts = [" ".join(rng.choice(words, size=6)) + ("\nA dog runs" if i % 3 else "") for i in range(80)]
    y = np.array([t.count("dog") + 0.1 * rng.normal() for t in texts])
    member = get_member("tfidf")
    params = {"alpha": 2.0, "min_df": 2, "ngram_max": 2}
    inputs = Inputs(np.zeros((80, 0)), np.zeros(0, dtype=int), texts)
    fitted = member.fit(inputs, y, params, 0, 1)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    ref = Ridge(alpha=2.0).fit(vectorizer.fit_transform(texts), y)
    new = ["a dog and a cat", "nothing known here", ""]
    new_inputs = Inputs(np.zeros((3, 0)), np.zeros(0, dtype=int), new)
    np.testing.assert_allclose(member.predict(fitted, new_inputs), ref.predict(vectorizer.transform(new)), atol=1e-12)
    member.save(fitted, tmp_path / "tfidf.npz")
    again = member.load(tmp_path / "tfidf.npz")
    assert np.array_equal(member.predict(again, new_inputs), member.predict(fitted, new_inputs))


def test_a_member_per_block_reads_that_block_only(dataset: PreparedDataset, tmp_path: Path) -> None:
    config = GBTConfig(members=["svr@emb", "tfidf"], n_trials=1, pca_components=0, ensemble="rank_mean", n_jobs=1)
    model = fit(dataset, config, None)
    assert list(model.fitted) == ["svr@emb", "tfidf"]
    kernel = model.fitted["svr@emb"][0]
    assert kernel.x_mean.shape == (12,)  # the 12-dim block, without the metadata and encoding columns
    model.save(tmp_path / "model")
    assert (tmp_path / "model" / "svr@emb_0.npz").is_file()
    again = GBTModel.load(tmp_path / "model")
    test_ids = dataset.split_ids("test")
    assert again.predict_members(dataset, test_ids).equals(model.predict_members(dataset, test_ids))


def test_early_stop_prunes_trailing_trials_and_stops_after_its_patience() -> None:
    from mediaeval_memo.variants.gbt.tuning import EarlyStop

    stop = EarlyStop(patience=2, min_gain=0.01)
    assert not stop.prune([0.1])  # nothing to compare with before the first trial
    assert not stop.finished(0.50, [0.4, 0.5, 0.6])
    assert stop.prune([0.39]) and not stop.prune([0.41]) and stop.prune([0.45, 0.44])
    assert not stop.prune([0.1, 0.1, 0.1])  # a trial's last fold gives its value: never pruned there
    assert not stop.finished(0.505, [0.4, 0.51, 0.605])  # better, but by less than the gain: no reset
    assert stop.best == 0.505 and stop.since_gain == 1  # ... though it is the new best to beat
    assert stop.finished(None, [0.3]) and stop.pruned == 1
    assert stop.stopped == "no gain of 0.01 in the last 2 trials"
    again = EarlyStop(patience=2, min_gain=0.01)
    for value in (0.5, 0.49, 0.52, 0.51):
        assert not again.finished(value, [value])
    assert again.finished(0.525, [0.525])  # 0.52 reset the count; 0.51 and 0.525 gained less than 0.01
    off = EarlyStop(patience=0, min_gain=0.01)
    assert not off.finished(0.5, [0.5]) and not off.prune([0.0])
    assert not any(off.finished(0.1, [0.1]) for _ in range(50)) and off.stopped == ""


def test_a_planned_study_stops_early_and_a_set_one_runs_every_trial(dataset: PreparedDataset, tmp_path: Path) -> None:
    """The same member and folds: with a patience, tuning ends before its 12 trials (the log and the fit's report
    say on what); with the trials set, all 12 run, as they did before early stopping existed."""
    logs = io.StringIO()
    patient = fit(dataset, fast_config(["lightgbm"], n_trials=12, tune_patience=1), 0, progress=Reporter(logs))
    row = patient.report()["members"]["lightgbm"]
    assert row["trials"] < 12 and row["stopped"] == "no gain of 0.001 in the last 1 trial"
    assert "stopped on no gain of 0.001 in the last 1 trial" in logs.getvalue()
    assert patient.report()["settings"]["tune_patience"] == 1
    full = fit(dataset, fast_config(["lightgbm"], n_trials=12), 0)
    row = full.report()["members"]["lightgbm"]
    assert (row["trials"], row["pruned"], row["stopped"]) == (12, 0, "the trial budget (12)")
    assert full.report()["settings"]["tune_patience"] == 0
