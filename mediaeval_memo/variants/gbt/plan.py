"""The settings a GBT job runs with when the config leaves them to the data: which members, how far each feature
block is reduced, how many tuning trials, all sized to the job's rows and columns and its time budget.

Why sizes matter: on a few hundred videos (VIDEM) every member fits in a second, PCA keeps the trees from chasing
noise in hundreds of dimensions, and tuning is cheap; on 7000 videos of 384-dimensional caption embeddings
(Memento10k) the RBF SVR on the raw blocks is the strongest member, PCA to a few dozen components loses signal,
the trees add little, and a tuning trial of the SVR costs seconds times inner folds times fits. The plan:

- members: an SVR whenever there are feature blocks, `tfidf` whenever videos have captions, and the trees where
  they pay: `lightgbm` and `histgb` on small data (below `LARGE_ROWS` labelled videos), and `lightgbm` on large
  data only when there are numeric metadata or categorical columns for it to split on. On large data each block
  gets an SVR of its own (`svr@BLOCK`): on Memento10k captions, SVRs on MiniLM's mean and layers 2-6 blocks
  blended with tfidf reach 0.631 CV, one SVR on both blocks with tfidf 0.628. On small data one SVR reads every
  column (a kernel per block would be fitted on too few videos to weigh). Ensemble selection then keeps the
  members that help (`ensemble.select`).
- PCA: none on large data for blocks up to `RAW_DIM_MAX` dimensions (wider ones keep `RAW_DIM_MAX` components);
  on small data about one component per ten videos (8 to 64). When the members cannot fit the budget even
  untuned (four tree libraries on 7000 x 768 raw dimensions take hours), the blocks are reduced to the largest of
  `PCA_STEPS` that fits.
- trials: the most (up to `MAX_TRIALS`) whose estimated cost fits the budget, from the cost model below. The
  budget is planned, not timed: results never depend on the machine's speed, and the log puts the estimate
  beside the time actually taken. A config that sets members, pca_components or n_trials keeps its values.
- patience: planned trials are a ceiling, not a target. A study stops once `patience(n)` trials in a row have not
  raised its best inner Spearman by `tune_min_gain`, and prunes a trial that trails the best after an inner fold
  (`tuning.EarlyStop`). The patience shrinks with the data: on Memento10k's 7000 videos every SVR and TF-IDF
  study of issue 12 kept its defaults (trial 0) and the untuned recipe matched the tuned one, so one trial
  without gain ends a study there; on a few hundred videos the defaults are a rougher guess and the trials are
  cheap, so a study keeps looking for several. A config that sets n_trials runs exactly those (patience 0).

The cost model holds seconds per fit on this project's reference machine (2 CPU cores), measured by
`benchmarks/gbt_costs.py`; a faster machine finishes early, a slower one late, and the log says which.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mediaeval_memo.variants.gbt.config import GBTConfig
from mediaeval_memo.variants.gbt.members import block_of, fixes, get_member, member_name

LARGE_ROWS = 2000  # from here the kernel and the text model carry the ensemble (see the module's docstring)
RAW_DIM_MAX = 1024  # large data: blocks up to this width enter as they are
MAX_TRIALS = 30
PCA_STEPS = (256, 128, 64, 32, 16)  # what a job too dear for its budget reduces its blocks to, largest first
PATIENCE_VIDEOS = 4000  # patience(n) = PATIENCE_VIDEOS / n trials, at least 1: 7000 videos 1, 500 videos 8
BUDGET_SHARE = 0.8  # of the budget planned for member fits; the rest goes to transforms, predictions and files

# Seconds for one fit of a member's defaults on n rows of d dense columns with one thread, on the reference
# machine (2 cores): `python benchmarks/gbt_costs.py --threads 1` (n x d of 32k-256k) and real Memento10k fits at
# 3733 x 64 and 3733 x 768 (LightGBM 1.3 and 22 s, XGBoost 1.3 and 27 s, CatBoost 4.7 and 81 s, HistGB 1.7 and
# 23 s); svr and tfidf from real captions, which are longer than the benchmark's. A line through the two real
# points per tree library, floored at its small-data cost. Trials average a little dearer than the defaults.
_SECONDS_PER = {
    "svr": lambda n, d: 2.2e-10 * n * n * max(d, 16),
    "tfidf": lambda n, d: 2.5e-4 * n,
    "lightgbm": lambda n, d: max(0.8, 8.0e-6 * n * d - 0.6),
    "histgb": lambda n, d: max(0.7, 8.2e-6 * n * d - 0.3),
    "xgboost": lambda n, d: max(1.0, 9.9e-6 * n * d - 1.1),
    "catboost": lambda n, d: max(4.5, 2.9e-5 * n * d - 2.2),
}


@dataclass(frozen=True)
class Shape:
    """What the plan reads of a job: labelled videos (the final model's rows), fits (outer folds run + final
    model), inner folds per fold's fit and for the final model (which tunes on the outer folds), the feature
    blocks' widths, the other dense columns, and whether there is text."""

    n_labelled: int
    fits: int
    inner_folds: int
    final_inner_folds: int
    blocks: tuple[tuple[str, int], ...]  # (name, dims) in the design's order
    n_other_columns: int
    has_text: bool


def fit_seconds(member: str, n: int, d: int) -> float:
    return float(_SECONDS_PER[member](n, d))


def choose_members(shape: Shape) -> list[str]:
    large = shape.n_labelled >= LARGE_ROWS
    members: list[str] = []
    if large and len(shape.blocks) > 1:
        members.extend(f"svr@{name}" for name, _ in shape.blocks)
    elif shape.blocks:
        members.append("svr")
    if shape.has_text:
        members.append("tfidf")
    if not large or shape.n_other_columns or not members:
        members.append("lightgbm")
    if not large:
        members.append("histgb")
    return members


def choose_patience(shape: Shape, trials: int) -> int:
    """Trials in a row without gain after which a planned study stops: fewer the more videos (see the module)."""
    return max(1, min(trials, round(PATIENCE_VIDEOS / max(shape.n_labelled, 1))))


def choose_pca(shape: Shape) -> int:
    if shape.n_labelled >= LARGE_ROWS:
        return 0 if all(d <= RAW_DIM_MAX for _, d in shape.blocks) else RAW_DIM_MAX
    return max(8, min(64, shape.n_labelled // 10))


def member_width(shape: Shape, member: str, pca: int) -> int:
    """Columns member reads: its block's (NAME@BLOCK), or each block as it is or reduced plus the other columns."""
    reduced = {name: d if pca == 0 or d <= pca else pca for name, d in shape.blocks}
    block = block_of(member)
    return reduced.get(block, 0) if block else sum(reduced.values()) + shape.n_other_columns


def estimate_seconds(shape: Shape, members: list[str], pca: int, trials: int, bagging_seeds: int) -> float:
    """The job's member fits: per fit, `trials` x inner folds on the inner training parts, then the member's
    fits on all of the fit's rows. Every fit is costed at the final model's size (folds are a little smaller)."""
    n = shape.n_labelled

    def one_fit(k: int) -> float:
        seconds = 0.0
        for m in members:
            name, d = member_name(m), member_width(shape, m, pca)
            seeds = bagging_seeds if get_member(m).seeded else 1  # as the fit does: no bagging without randomness
            seconds += trials * k * fit_seconds(name, n * (k - 1) // k, d) + seeds * fit_seconds(name, n, d)
        return seconds

    return (shape.fits - 1) * one_fit(shape.inner_folds) + one_fit(shape.final_inner_folds)


@dataclass(frozen=True)
class Plan:
    config: GBTConfig  # every setting concrete
    estimate_s: float
    lines: list[str]  # what was chosen and why, for the log


def make_plan(config: GBTConfig, shape: Shape) -> Plan:
    """The concrete config of a job: each setting the config leaves open (members [], pca_components -1,
    n_trials 0) chosen from the job's shape and budget; the others kept."""
    members = list(config.members) or choose_members(shape)
    budget_s = config.budget_minutes * 60.0
    pca_note = ""
    if config.pca_components >= 0:
        pca = config.pca_components
    else:
        pca = choose_pca(shape)
        untuned = estimate_seconds(shape, members, pca, 1, config.bagging_seeds)
        smaller = [k for k in PCA_STEPS if pca == 0 or k < pca]
        if untuned > BUDGET_SHARE * budget_s and smaller:
            # Too dear even untuned (trees on hundreds of raw dimensions): reduce the blocks as far as needed.
            fits = [
                k
                for k in smaller
                if estimate_seconds(shape, members, k, 1, config.bagging_seeds) <= BUDGET_SHARE * budget_s
            ]
            pca = fits[0] if fits else smaller[-1]
            pca_note = f", to fit the budget: unreduced blocks would take {untuned / 60:.0f} min untuned"
    if config.n_trials >= 1:
        trials = config.n_trials
    else:
        affordable = [
            t
            for t in range(1, MAX_TRIALS + 1)
            if estimate_seconds(shape, members, pca, t, config.bagging_seeds) <= BUDGET_SHARE * budget_s
        ]
        trials = affordable[-1] if affordable else 1
    if config.tune_patience >= 0:
        patience = config.tune_patience
    else:
        patience = choose_patience(shape, trials) if config.n_trials < 1 and trials > 1 else 0
    estimate = estimate_seconds(shape, members, pca, trials, config.bagging_seeds)
    # Fixed parameters of members the plan left out (a recipe's small trees, on large data) have nothing to fix.
    params = {m: p for m, p in config.params.items() if any(fixes(m, s) for s in members)}
    planned = dataclasses.replace(
        config, members=members, pca_components=pca, n_trials=trials, params=params, tune_patience=patience
    )
    origin = {
        "members": "set" if config.members else "planned",
        "pca": "set" if config.pca_components >= 0 else "planned",
        "trials": "set" if config.n_trials >= 1 else "planned",
        "patience": "set" if config.tune_patience >= 0 else "planned",
    }
    dims = ", ".join(str(d) for _, d in shape.blocks) or "none"
    lines = [
        f"plan: {shape.n_labelled} labelled videos, feature blocks of {dims} dims, {shape.n_other_columns} other "
        f"columns, {'captions' if shape.has_text else 'no captions'}; {shape.fits} fits, tuning on "
        f"{shape.inner_folds} inner folds ({shape.final_inner_folds} for the final model)",
        f"plan: members {', '.join(members)} ({origin['members']}); "
        + (f"PCA to {pca} components per block" if pca else "blocks used as they are (no PCA)")
        + f" ({origin['pca']}{pca_note}); {trials} tuning trial{'s' if trials != 1 else ''} per member and fit "
        f"({origin['trials']}{'; 1 = the defaults' if trials == 1 else ''})"
        + (
            f", at most: a study stops after {patience} trial{'s' if patience != 1 else ''} in a row without a gain "
            f"of {config.tune_min_gain:g} and prunes a trial trailing the best after an inner fold "
            f"({origin['patience']})"
            if patience
            else ""
        ),
        f"plan: estimated {estimate / 60:.1f} min of member fits "
        + ("if every trial runs " if patience else "")
        + f"against a budget of {config.budget_minutes:g} min",
    ]
    if estimate > budget_s:
        lines.append(
            f"plan: over budget even so ({estimate / 60:.1f} min); fewer members (--set members=...), fewer "
            "feature blocks (--set features=...) or a larger --budget would settle it"
        )
    return Plan(planned, estimate, lines)
