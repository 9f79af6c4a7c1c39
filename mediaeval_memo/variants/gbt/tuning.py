"""Tuning one member: Optuna TPE over its search space, the objective the mean Spearman over the inner folds
(carved from the fit's training ids by the runner), the member's defaults as the first trial."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mediaeval_memo.core.config import config_to_dict
from mediaeval_memo.core.metric import srcc
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.variants.gbt.config import GBTConfig
from mediaeval_memo.variants.gbt.members import Inputs, fixed_params, get_member

# Told the ids of every fit a tuning makes (stage, ids): the tests use it to prove no outer validation id is seen.
Audit = Callable[[str, Sequence[str]], None]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """The tuning objective's Spearman: a degenerate trial (a constant prediction) counts as 0, not NaN, so that
    Optuna ranks it as worthless instead of failing the study."""
    return srcc(a, b, degenerate="zero")


@dataclass
class InnerFold:
    train: np.ndarray  # positions within the outer training ids
    val: np.ndarray
    train_inputs: Inputs  # transformed by a transform fitted on `train` only
    val_inputs: Inputs


@dataclass
class Tuned:
    member: str
    params: dict[str, Any]
    inner_srcc: float
    oof: np.ndarray
    trials: int
    seconds: float


def tune_member(
    member_name: str,
    view: Callable[[Inputs], Inputs],
    inner: list[InnerFold],
    y: np.ndarray,
    ids: Sequence[str],
    config: GBTConfig,
    progress: Reporter,
    name: str,
    audit: Audit | None = None,
) -> Tuned:
    """Optuna TPE over the member's search space; objective = mean inner-fold Spearman. Defaults go first.
    `view` picks what the member reads of the inputs (`Design.view`); `name` says which fit this is in the
    progress lines ("fold 0", "final model")."""
    import optuna

    member = get_member(member_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    oof_of_trial: dict[int, np.ndarray] = {}

    def evaluate(params: dict[str, Any], trial_number: int) -> float:
        oof = np.full(len(y), np.nan)
        scores = []
        for f in inner:
            if audit is not None:
                audit(f"tune:{member_name}", [ids[i] for i in f.train])
            fitted = member.fit(view(f.train_inputs), y[f.train], params, config.seed, config.n_jobs)
            oof[f.val] = member.predict(fitted, view(f.val_inputs))
            scores.append(spearman(oof[f.val], y[f.val]))
        oof_of_trial[trial_number] = oof
        return float(np.mean(scores))

    fixed = fixed_params(config.params, member_name)

    def objective(trial: optuna.Trial) -> float:
        params = member.suggest(trial) if trial.number else member.default_params()
        return evaluate({**params, **fixed}, trial.number)

    def trial_done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        task.advance(note=f"best inner Spearman {study.best_value:.4f}")

    started = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    with progress.task(f"{name}: tuning {member_name} ({len(inner)} inner folds)", total=config.n_trials) as task:
        # The defaults are trial 0 (evaluated as they are, outside the search space's grid).
        study.optimize(
            objective, n_trials=config.n_trials, timeout=config.tune_timeout_s or None, callbacks=[trial_done]
        )
    best = study.best_trial
    params = {**(member.default_params() if best.number == 0 else dict(best.params)), **fixed}
    seconds = time.perf_counter() - started
    progress.say(
        f"{name}: {member_name} inner Spearman {best.value:.4f} (trial {best.number} of {len(study.trials)}, "
        f"{seconds:.0f} s)"
    )
    assert best.value is not None  # a completed trial always has its value
    return Tuned(member_name, params, best.value, oof_of_trial[best.number], len(study.trials), seconds)


def tuning_key(config: GBTConfig, ids: Sequence[str], inner: Sequence[Sequence[str]], member: str) -> str:
    """What a saved tuning must match to be reused: the config (bar bagging), the ids, the inner folds, the member."""
    relevant = {k: v for k, v in config_to_dict(config).items() if k not in ("bagging_seeds",)}
    payload = json.dumps([relevant, list(ids), [list(f) for f in inner], member], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
