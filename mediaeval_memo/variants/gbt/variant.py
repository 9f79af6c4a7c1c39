"""The GBT ensemble run variant: gradient-boosted trees, an RBF SVR and a TF-IDF ridge (see `members`) on feature
blocks, captions and metadata, tuned inside nested, group-aware cross-validation and kept by merit.

Before the first fit the job is planned (`plan`): what the config leaves to the data (members, PCA, tuning
trials) is chosen from the job's rows and columns and its time budget, once, so every fit runs the same settings.
What one `fit` (one outer fold, or the final model) does, using only the training ids its context gives it:
1. Inner folds: carved by the runner from those training ids (`FitContext.inner_folds`): the prepared dataset's
   nested folds when it has them, the outer folds for the final model, otherwise group-aware folds.
2. Features: each chosen feature block as it is or reduced by its own PCA; numeric `meta_*` columns as they are;
   categorical columns (e.g. the VIDEM category) as smoothed target means that are cross-fitted, so that no row's
   own target ever reaches its own encoding; the captions as text for `tfidf`. Every one of these is fitted on
   training ids only: inside tuning, on each inner fold's training part.
3. Tuning: per member, an Optuna TPE study whose objective is the mean inner-fold Spearman, with a trial and an
   optional time budget. The first trial is always the member's defaults.
4. Ensemble, fitted on the best trials' inner out-of-fold predictions: `select` (Caruana's greedy selection with
   replacement), `ridge` or `rank_mean` (see `ensemble`). Members with weight 0 are dropped.
5. Final members: the kept ones, refitted on all training ids with the best params, once per bagging seed (once
   for a deterministic member), averaged.

Every fit of a transform, a tuning trial, a member or the ensemble is told to the variant's `audit` callable
(when it has one) with the ids it saw: the tests use this to prove that no outer validation id reaches any of them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from functools import partial
from typing import Any

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_write_text
from mediaeval_memo.report.panels import Panel, RunFiles, TablePanel
from mediaeval_memo.variants.base import FitContext, Job, Planned, Variant
from mediaeval_memo.variants.gbt.config import GBTConfig
from mediaeval_memo.variants.gbt.design import Design, Transform, has_captions
from mediaeval_memo.variants.gbt.ensemble import Ensemble
from mediaeval_memo.variants.gbt.members import get_member
from mediaeval_memo.variants.gbt.model import GBTModel
from mediaeval_memo.variants.gbt.plan import Shape, make_plan
from mediaeval_memo.variants.gbt.tuning import Audit, InnerFold, Tuned, spearman, tune_member, tuning_key


class GBTVariant(Variant[GBTConfig, GBTModel]):
    """An ensemble of tree libraries, an SVR and a TF-IDF ridge on feature blocks, captions and metadata."""

    name = "gbt"
    Config = GBTConfig
    Model = GBTModel

    def __init__(self, audit: Audit | None = None):
        self.audit = audit

    def _saw(self, stage: str, ids: Any) -> None:
        if self.audit is not None:
            self.audit(stage, list(ids))

    def plan(self, config: GBTConfig, job: Job) -> Planned[GBTConfig]:
        design = Design.choose(job.dataset, config, lambda _: None, "all")
        design.check_members(config.members, str(job.dataset.features_dir))
        if config.planned:
            # Everything that sizes the job is set: the trials too, so they all run (no early stop unless asked).
            return Planned(dataclasses.replace(config, tune_patience=max(config.tune_patience, 0)))
        shape = Shape(
            n_labelled=job.n_labelled,
            fits=max(job.fits, 1),
            inner_folds=config.inner_folds,
            final_inner_folds=job.outer_folds if job.outer_folds >= 2 else config.inner_folds,
            blocks=tuple(design.blocks.items()),
            n_other_columns=len(design.meta_columns) + len(design.categoricals),
            has_text=has_captions(job.dataset.items),
        )
        plan = make_plan(config, shape)
        return Planned(plan.config, tuple(plan.lines))

    def report_panels(self, run: RunFiles) -> list[Panel]:
        """Per fit: each member's inner out-of-fold Spearman, ensemble weight, tuning trials, time and the
        parameters it chose; and the ensemble's own inner Spearman."""
        rows: list[list[str | int | float | None]] = []
        ensemble: list[list[str | int | float | None]] = []
        for fit, report in run.fits.items():
            for m, row in (report.get("members") or {}).items():
                params = ", ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (row.get("params") or {}).items()
                )
                rows.append(
                    [
                        fit,
                        m,
                        row.get("inner_srcc"),
                        row.get("weight"),
                        "yes" if row.get("kept") else "no",
                        row.get("trials"),
                        row.get("pruned", 0),
                        row.get("stopped", ""),
                        row.get("seconds"),
                        params,
                    ]
                )
            settings = report.get("settings") or {}
            ensemble.append(
                [
                    fit,
                    settings.get("ensemble"),
                    report.get("inner_srcc_ensemble"),
                    report.get("n_train"),
                    report.get("n_features"),
                    report.get("seconds"),
                ]
            )
        if not rows:
            return []
        return [
            TablePanel(
                "Ensemble members",
                [
                    "fit",
                    "member",
                    "inner Spearman",
                    "weight",
                    "kept",
                    "trials",
                    "pruned",
                    "study stopped on",
                    "seconds",
                    "chosen parameters",
                ],
                rows,
                "Inner Spearman: the member's out-of-fold Spearman over the fit's inner folds (its training videos "
                "only), with its best tuning trial. Weight 0: the ensemble dropped it. Pruned: trials cut after an "
                "inner fold where they trailed the best; a study stops on its trial budget or on no gain.",
                {"weight": 2, "seconds": 1},
            ),
            TablePanel(
                "Ensemble per fit",
                ["fit", "ensemble", "inner Spearman", "training videos", "feature columns", "seconds"],
                ensemble,
                digits={"seconds": 1},
            ),
        ]

    def fit(self, config: GBTConfig, ctx: FitContext) -> GBTModel:
        if not config.planned:
            # Called outside the runner (which plans once per job): plan for this fit alone.
            job = Job(ctx.dataset.with_labels_of(()), ctx.target, len(ctx.train_ids), 1)
            planned = self.plan(config, job)
            for line in planned.lines:
                ctx.progress.say_once(line)
            config = planned.config
        dataset, ids, say = ctx.dataset, list(ctx.train_ids), ctx.progress.say
        if len(ids) < 2 * config.inner_folds:
            raise InputError(Problem(str(dataset.root), f"only {len(ids)} labelled training videos", field="target"))
        started = time.perf_counter()
        design = Design.choose(dataset, config, ctx.progress.say_once, ctx.fold)
        design.check_members(config.members, str(dataset.features_dir))
        raw = design.raw(dataset, ids)
        y = dataset.rows(ids)[ctx.target].to_numpy(dtype=np.float64)
        position = {v: i for i, v in enumerate(ids)}
        inner = []
        for j, val_ids in enumerate(ctx.inner_folds):
            val = np.array(sorted(position[v] for v in val_ids))
            train = np.setdiff1d(np.arange(len(ids)), val)
            self._saw(f"transform:inner{j}", (ids[i] for i in train))
            transform, train_inputs = Transform.fit(design, raw.take(train), y[train], config)
            inner.append(InnerFold(train, val, train_inputs, transform.inputs(raw.take(val))))
        width = inner[0].train_inputs.X.shape[1]
        say(f"{ctx.name}: {len(ids)} videos, {len(inner)} inner folds, {width} feature columns")

        tuned = {m: self._tuned(m, config, ctx, design, inner, y, ids) for m in config.members}
        self._saw("ensemble", ids)
        oof = {m: t.oof for m, t in tuned.items()}
        ensemble = Ensemble.fit(config.ensemble, oof, y, config.ridge_alpha)
        inner_ensemble = spearman(ensemble.combine(oof), y)
        self._saw("transform:final", ids)
        transform, inputs = Transform.fit(design, raw, y, config)
        fitted: dict[str, list[Any]] = {}
        seconds = {m: t.seconds for m, t in tuned.items()}
        for m in ensemble.kept():
            member = get_member(m)
            member_started = time.perf_counter()
            # Seed bagging averages away a member's randomness; a deterministic member would only be refitted.
            fitted[m] = []
            for s in range(config.bagging_seeds if member.seeded else 1):
                self._saw(f"member:{m}", ids)
                fitted[m].append(member.fit(design.view(m, inputs), y, tuned[m].params, config.seed + s, config.n_jobs))
            seconds[m] += time.perf_counter() - member_started
        weights = ensemble.weights()
        members = {
            m: {
                "inner_srcc": t.inner_srcc,
                "weight": weights[m],
                "kept": m in fitted,
                "trials": t.trials,
                "pruned": t.pruned,
                "stopped": t.stopped,
                "seconds": round(seconds[m], 1),
                "params": t.params,
            }
            for m, t in tuned.items()
        }
        for m, row in members.items():
            verdict = f"weight {row['weight']:.2f}" if row["kept"] else "weight 0: dropped, adds nothing"
            tuning = f"{row['trials']} trial{'s' if row['trials'] != 1 else ''}"
            if row["pruned"]:
                tuning += f", {row['pruned']} pruned"
            if row["stopped"]:
                tuning += f", stopped on {row['stopped']}"
            say(f"{ctx.name}: {m}: inner Spearman {row['inner_srcc']:.4f}, {verdict}, {tuning}, {row['seconds']:.0f} s")
        say(f"{ctx.name}: ensemble ({config.ensemble}) inner out-of-fold Spearman {inner_ensemble:.4f}")
        report = {
            "fold": ctx.fold,
            "n_train": len(ids),
            "n_features": int(inputs.X.shape[1]),
            "settings": {
                "members": config.members,
                "pca_components": config.pca_components,
                "n_trials": config.n_trials,
                "tune_patience": config.tune_patience,
                "tune_min_gain": config.tune_min_gain,
                "ensemble": config.ensemble,
                "budget_minutes": config.budget_minutes,
            },
            "members": members,
            "inner_srcc_ensemble": inner_ensemble,
            "seconds": round(time.perf_counter() - started, 1),
        }
        params = {m: tuned[m].params for m in fitted}
        return GBTModel(ctx.target, design, transform, fitted, params, ensemble, report)

    def _tuned(
        self,
        m: str,
        config: GBTConfig,
        ctx: FitContext,
        design: Design,
        inner: list[InnerFold],
        y: np.ndarray,
        ids: list[str],
    ) -> Tuned:
        """Member `m` tuned on the inner folds, or its tuning from an earlier, interrupted run of the same fit."""
        key = tuning_key(config, ids, ctx.inner_folds, m)
        cached = ctx.workdir / f"tuned_{m}.json"
        if cached.is_file():
            saved = json.loads(cached.read_text("utf-8"))
            if saved.get("key") == key:
                ctx.progress.say(f"{ctx.name}: {m} tuned earlier, reusing {cached}")
                return Tuned(
                    m,
                    saved["params"],
                    saved["inner_srcc"],
                    np.asarray(saved["oof"]),
                    saved.get("trials", 0),
                    0.0,
                    saved.get("pruned", 0),
                    saved.get("stopped", ""),
                )
        tuned = tune_member(m, partial(design.view, m), inner, y, ids, config, ctx.progress, ctx.name, self.audit)
        record = {
            "key": key,
            "params": tuned.params,
            "inner_srcc": tuned.inner_srcc,
            "trials": tuned.trials,
            "pruned": tuned.pruned,
            "stopped": tuned.stopped,
        }
        atomic_write_text(cached, json.dumps({**record, "oof": tuned.oof.tolist()}) + "\n")
        return tuned
