"""Tuning one member: Optuna TPE over its search space, the objective the mean Spearman over the inner folds
(carved from the fit's training ids by the runner), the member's defaults as the first trial.

With a patience (`tune_patience`, planned from the data's size when the trials are) the trial count is a ceiling,
not a target: the study stops once that many trials in a row have not raised its best by `tune_min_gain`, and a
trial that trails the best one after an inner fold is pruned there (`EarlyStop`). Both count trials and compare
scores, never time, so a study stops at the same trial on any machine."""

from __future__ import annotations

import hashlib
import json
import math
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
    pruned: int = 0
    stopped: str = ""  # why the study ended: its trial budget, or no gain for `patience` trials


@dataclass
class EarlyStop:
    """When a member's study ends before its trial budget, decided from scores alone (deterministic).

    - A trial is pruned after an inner fold when its mean Spearman so far trails the best trial's mean over the same
      folds: a setting worse than the best where it has been tried is not fitted on the remaining folds.
    - The study stops once `patience` trials in a row (pruned ones included) have not raised the best mean inner
      Spearman by at least `min_gain`. Patience 0 turns both off: every trial runs on every inner fold.
    """

    patience: int
    min_gain: float
    best: float = -math.inf
    best_folds: tuple[float, ...] = ()
    since_gain: int = 0
    pruned: int = 0
    stopped: str = ""

    def prune(self, fold_scores: Sequence[float]) -> bool:
        """After an inner fold of a trial (not its last): whether to stop fitting it."""
        if self.patience <= 0 or not self.best_folds or len(fold_scores) >= len(self.best_folds):
            return False
        done = len(fold_scores)
        return float(np.mean(fold_scores)) < float(np.mean(self.best_folds[:done]))

    def finished(self, value: float | None, fold_scores: Sequence[float]) -> bool:
        """After a trial (value None: pruned): whether the study stops here."""
        if value is None:
            self.pruned += 1
        if value is not None and value >= self.best + self.min_gain:
            self.since_gain = 0
        else:
            self.since_gain += 1
        if value is not None and value > self.best:
            self.best, self.best_folds = value, tuple(fold_scores)
        if self.patience > 0 and self.since_gain >= self.patience:
            self.stopped = (
                f"no gain of {self.min_gain:g} in the last {self.patience} trial{'s' if self.patience != 1 else ''}"
            )
            return True
        return False


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
    folds_of_trial: dict[int, list[float]] = {}
    stop = EarlyStop(max(config.tune_patience, 0), config.tune_min_gain)

    def evaluate(params: dict[str, Any], trial: optuna.Trial) -> float:
        oof = np.full(len(y), np.nan)
        scores: list[float] = []
        folds_of_trial[trial.number] = scores
        for f in inner:
            if audit is not None:
                audit(f"tune:{member_name}", [ids[i] for i in f.train])
            fitted = member.fit(view(f.train_inputs), y[f.train], params, config.seed, config.n_jobs)
            oof[f.val] = member.predict(fitted, view(f.val_inputs))
            scores.append(spearman(oof[f.val], y[f.val]))
            if stop.prune(scores):
                trial.report(float(np.mean(scores)), len(scores) - 1)
                raise optuna.TrialPruned()
        oof_of_trial[trial.number] = oof
        return float(np.mean(scores))

    fixed = fixed_params(config.params, member_name)

    def objective(trial: optuna.Trial) -> float:
        params = member.suggest(trial) if trial.number else member.default_params()
        return evaluate({**params, **fixed}, trial)

    def trial_done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        complete = trial.state == optuna.trial.TrialState.COMPLETE
        if stop.finished(trial.value if complete else None, folds_of_trial[trial.number]):
            study.stop()
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
    stopped = stop.stopped or (
        f"the trial budget ({config.n_trials})" if len(study.trials) >= config.n_trials else "the time budget"
    )
    pruned = f", {stop.pruned} pruned" if stop.pruned else ""
    progress.say(
        f"{name}: {member_name} inner Spearman {best.value:.4f} (trial {best.number} of {len(study.trials)}{pruned}, "
        f"stopped on {stopped}, {seconds:.0f} s)"
    )
    assert best.value is not None  # a completed trial always has its value
    trials = len(study.trials)
    return Tuned(member_name, params, best.value, oof_of_trial[best.number], trials, seconds, stop.pruned, stopped)


def tuning_key(config: GBTConfig, ids: Sequence[str], inner: Sequence[Sequence[str]], member: str) -> str:
    """What a saved tuning must match to be reused: the config (bar bagging), the ids, the inner folds, the member."""
    relevant = {k: v for k, v in config_to_dict(config).items() if k not in ("bagging_seeds",)}
    payload = json.dumps([relevant, list(ids), [list(f) for f in inner], member], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
