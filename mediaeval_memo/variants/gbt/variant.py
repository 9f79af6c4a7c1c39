"""The GBT ensemble run variant: gradient-boosted trees (and an RBF SVR beside them, see `members`) on feature
blocks and metadata, tuned inside nested, group-aware cross-validation.

What one `fit` (one outer fold, or the final model) does, using only the training ids its context gives it:
1. Inner folds: carved by the runner from those training ids (`FitContext.inner_folds`): the prepared dataset's
   nested folds when it has them, the outer folds for the final model, otherwise group-aware folds.
2. Features: each chosen feature block reduced by its own PCA; numeric `meta_*` columns as they are; categorical
   columns (e.g. the Memento10k action label, the VIDEM category) as smoothed target means that are cross-fitted,
   so that no row's own target ever reaches its own encoding. Every one of these is fitted on training ids only:
   inside tuning, on each inner fold's training part.
3. Tuning: per member, an Optuna TPE study whose objective is the mean inner-fold Spearman, with a trial and a
   time budget. The first trial is always the member's defaults.
4. Ensemble, fitted on the best trials' inner out-of-fold predictions: `rank_mean` (each member's score mapped to
   its rank among its own inner out-of-fold scores, the ranks averaged and mapped onto the training targets'
   quantiles, so predictions stay on the target's scale and do not depend on which other videos are scored) or
   `ridge` (a non-negative ridge regression stacked on the members' scores).
5. Final members: refitted on all training ids with the best params, once per bagging seed (once for a
   deterministic member), averaged.

Every fit of a transform, a tuning trial, a member or the ensemble is told to the variant's `audit` callable
(when it has one) with the ids it saw: the tests use this to prove that no outer validation id reaches any of them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_write_text
from mediaeval_memo.variants.base import FitContext, SplitRequest, Variant, VariantConfig
from mediaeval_memo.variants.gbt.config import GBTConfig
from mediaeval_memo.variants.gbt.design import Design, Transform
from mediaeval_memo.variants.gbt.ensemble import Ensemble
from mediaeval_memo.variants.gbt.members import get_member
from mediaeval_memo.variants.gbt.model import GBTModel
from mediaeval_memo.variants.gbt.tuning import Audit, InnerFold, Tuned, spearman, tune_member, tuning_key


class GBTVariant(Variant):
    """Gradient-boosted tree ensemble (LightGBM, XGBoost, CatBoost, HistGB, SVR) on feature blocks and metadata."""

    name = "gbt"
    Config = GBTConfig
    Model = GBTModel

    def __init__(self, audit: Audit | None = None):
        self.audit = audit

    def _saw(self, stage: str, ids: Any) -> None:
        if self.audit is not None:
            self.audit(stage, list(ids))

    def splits(self, config: VariantConfig) -> SplitRequest:
        assert isinstance(config, GBTConfig)
        return SplitRequest(inner_folds=config.inner_folds)

    def fit(self, config: VariantConfig, ctx: FitContext) -> GBTModel:
        assert isinstance(config, GBTConfig)
        dataset, ids, say = ctx.dataset, list(ctx.train_ids), ctx.progress.say
        if len(ids) < 2 * config.inner_folds:
            raise InputError(Problem(str(dataset.root), f"only {len(ids)} labelled training videos", field="target"))
        design = Design.choose(dataset, config, ctx.progress.say_once, ctx.fold)
        raw = design.raw(dataset, ids)
        y = dataset.rows(ids)[ctx.target].to_numpy(dtype=np.float64)
        position = {v: i for i, v in enumerate(ids)}
        inner = []
        for j, val_ids in enumerate(ctx.inner_folds):
            val = np.array(sorted(position[v] for v in val_ids))
            train = np.setdiff1d(np.arange(len(ids)), val)
            self._saw(f"transform:inner{j}", (ids[i] for i in train))
            transform, X_train = Transform.fit(design, raw.take(train), y[train], config)
            val_X = transform.apply(raw.take(val))
            inner.append(InnerFold(train, val, X_train, val_X, transform.column_groups()))
        say(f"{ctx.name}: {len(ids)} videos, {len(inner)} inner folds, {inner[0].X_train.shape[1]} features")

        tuned: dict[str, Tuned] = {}
        for m in config.members:
            key = tuning_key(config, ids, ctx.inner_folds, m)
            cached = ctx.workdir / f"tuned_{m}.json"
            if cached.is_file():
                saved = json.loads(cached.read_text("utf-8"))
                if saved.get("key") == key:
                    tuned[m] = Tuned(m, saved["params"], saved["inner_srcc"], np.asarray(saved["oof"]), 0, 0.0)
                    say(f"{ctx.name}: {m} tuned earlier, reusing {cached}")
                    continue
            tuned[m] = tune_member(m, inner, y, ids, config, ctx.progress, ctx.name, self.audit)
            record = {"key": key, "params": tuned[m].params, "inner_srcc": tuned[m].inner_srcc}
            atomic_write_text(cached, json.dumps({**record, "oof": tuned[m].oof.tolist()}) + "\n")

        self._saw("ensemble", ids)
        ensemble = Ensemble.fit(config.ensemble, {m: t.oof for m, t in tuned.items()}, y, config.ridge_alpha)
        inner_ensemble = spearman(ensemble.combine({m: t.oof for m, t in tuned.items()}), y)
        self._saw("transform:final", ids)
        transform, X = Transform.fit(design, raw, y, config)
        fitted: dict[str, list[Any]] = {}
        groups = transform.column_groups()
        for m in config.members:
            member = get_member(m)
            fitted[m] = []
            # Seed bagging averages away a member's randomness; a deterministic member would only be refitted.
            for s in range(config.bagging_seeds if member.seeded else 1):
                self._saw(f"member:{m}", ids)
                fitted[m].append(member.fit(X, y, tuned[m].params, config.seed + s, config.n_jobs, groups))
        report = {
            "fold": ctx.fold,
            "n_train": len(ids),
            "n_features": int(X.shape[1]),
            "inner_srcc": {m: t.inner_srcc for m, t in tuned.items()},
            "inner_srcc_ensemble": inner_ensemble,
            "trials": {m: t.trials for m, t in tuned.items()},
        }
        say(f"{ctx.name}: ensemble ({config.ensemble}) inner out-of-fold Spearman {inner_ensemble:.4f}")
        params = {m: t.params for m, t in tuned.items()}
        return GBTModel(ctx.target, design, transform, fitted, params, ensemble, report)
