"""The GBT ensemble run variant: gradient-boosted trees (and an RBF SVR beside them, see `gbt_members`) on feature
blocks and metadata, tuned inside nested, group-aware cross-validation.

What one `fit` (one outer fold, or the final model) does, using only the training ids it is given:
1. Inner folds: `dataset.folds.inner[fold]` when the prepared dataset has them; for the final model the outer folds
   themselves; otherwise group-aware folds made here over the training ids (no group in two inner folds).
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

Every fit of a transform, a tuning trial, a member or the ensemble is reported to `fit_listeners` with the ids it
saw: the tests use this to prove that no validation id of an outer fold reaches any of them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.errors import InputError, Problem
from mediaeval_memo.features.store import block_fold, list_blocks, load_block
from mediaeval_memo.io import atomic_write_text
from mediaeval_memo.variants.base import ConfigError, Model, Variant, VariantConfig, config_to_dict
from mediaeval_memo.variants.gbt_members import MEMBER_NAMES, get_member
from mediaeval_memo.variants.runner import train_ids

FORMAT_VERSION = 1
MODEL_FILE = "gbt.json"
TRANSFORM_FILE = "transform.npz"
DEFAULT_CATEGORICALS = ("action", "category", "categoryName", "meta_category")

logger = logging.getLogger(__name__)

Listener = Callable[[str, frozenset[str]], None]
fit_listeners: list[Listener] = []
# (dataset root, column) pairs already reported as dropped: said once per process, not once per fold.
_told_dropped: set[tuple[str, str]] = set()


def _report_fit(stage: str, ids: Sequence[str]) -> None:
    if fit_listeners:
        seen = frozenset(ids)
        for listener in fit_listeners:
            listener(stage, seen)


@contextlib.contextmanager
def listen_fits(listener: Listener) -> Iterator[None]:
    """Call `listener(stage, ids)` for every fit made inside the block (a test and audit hook)."""
    fit_listeners.append(listener)
    try:
        yield
    finally:
        fit_listeners.remove(listener)


@dataclass
class GBTConfig(VariantConfig):
    features: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Feature blocks to use, by name or shell pattern (e.g. 'text__*__captions__*'); empty means "
            "every block in the dataset's feature store."
        },
    )
    pca_components: int = field(
        default=64,
        metadata={
            "help": "Components kept by each block's PCA (fitted on training ids only); blocks with at most this "
            "many dimensions are used as they are; 0 disables PCA."
        },
    )
    use_meta: bool = field(default=True, metadata={"help": "Use the item table's numeric meta_* columns as they are."})
    categoricals: list[str] = field(
        default_factory=lambda: list(DEFAULT_CATEGORICALS),
        metadata={
            "help": "Categorical item-table columns to target-encode (cross-fitted, no leakage). Each is used only "
            "when present and known for the videos to predict (a column empty on the test split is dropped)."
        },
    )
    target_smoothing: float = field(
        default=20.0, metadata={"help": "Pseudo-count pulling rare categories' encodings towards the prior mean."}
    )
    members: list[str] = field(
        default_factory=lambda: list(MEMBER_NAMES),
        metadata={"help": f"Ensemble members, any of: {', '.join(MEMBER_NAMES)}."},
    )
    params: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata={
            "help": "Fixed parameters per member, e.g. {lightgbm: {n_estimators: 300}}: they replace the member's "
            "defaults and are never tuned (every trial uses them)."
        },
    )
    n_trials: int = field(
        default=20,
        metadata={"help": "Optuna trials per member and fit, the members' defaults being the first; 1 = no tuning."},
    )
    tune_timeout_s: float = field(
        default=0.0,
        metadata={
            "help": "Time budget in seconds for each member's tuning per fit (0 = none). A budget that stops tuning "
            "early makes results depend on machine speed; the trial budget alone is reproducible."
        },
    )
    inner_folds: int = field(
        default=3,
        metadata={"help": "Inner folds for tuning when the dataset has none for this outer fold (group-aware)."},
    )
    ensemble: Literal["rank_mean", "ridge"] = field(
        default="rank_mean",
        metadata={"help": "rank_mean: average of members' ranks; ridge: non-negative ridge on inner OOF scores."},
    )
    ridge_alpha: float = field(default=1.0, metadata={"help": "L2 strength of the stacking ridge."})
    bagging_seeds: int = field(
        default=1, metadata={"help": "Final members fitted with this many seeds (seed, seed+1, ...) and averaged."}
    )
    n_jobs: int = field(default=2, metadata={"help": "Threads per member fit."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.members:
            raise ConfigError("members", self.members, f"choose at least one of {', '.join(MEMBER_NAMES)}")
        for m in self.members:
            if m not in MEMBER_NAMES:
                raise ConfigError("members", m, f"unknown member (accepted: {', '.join(MEMBER_NAMES)})")
        if len(set(self.members)) != len(self.members):
            raise ConfigError("members", self.members, "each member at most once")
        for m, fixed in self.params.items():
            if m not in self.members:
                raise ConfigError("params", m, f"not one of the chosen members ({', '.join(self.members)})")
            if not isinstance(fixed, dict):
                raise ConfigError("params", fixed, f"the parameters of {m} must be a mapping of name: value")
        if self.pca_components < 0:
            raise ConfigError("pca_components", self.pca_components, "must be >= 0")
        if self.target_smoothing < 0:
            raise ConfigError("target_smoothing", self.target_smoothing, "must be >= 0")
        if self.n_trials < 1:
            raise ConfigError("n_trials", self.n_trials, "must be >= 1 (1 = the members' defaults, no tuning)")
        if self.tune_timeout_s < 0:
            raise ConfigError("tune_timeout_s", self.tune_timeout_s, "must be >= 0 (0 = no time budget)")
        if self.inner_folds < 2:
            raise ConfigError("inner_folds", self.inner_folds, "must be >= 2")
        if self.ensemble not in ("rank_mean", "ridge"):
            raise ConfigError("ensemble", self.ensemble, "accepted: rank_mean, ridge")
        if self.ridge_alpha < 0:
            raise ConfigError("ridge_alpha", self.ridge_alpha, "must be >= 0")
        if self.bagging_seeds < 1:
            raise ConfigError("bagging_seeds", self.bagging_seeds, "must be >= 1")
        if self.n_jobs < 1:
            raise ConfigError("n_jobs", self.n_jobs, "must be >= 1")


# ---------------------------------------------------------------------------------------------------- folds


def group_folds(ids: Sequence[str], groups: Sequence[str], k: int, seed: int) -> list[list[str]]:
    """K folds over `ids` with no group split across folds, as balanced in size as the groups allow, seeded.

    Groups are visited largest first (ties in a seeded random order) and each goes to the currently smallest fold.
    """
    members: dict[str, list[str]] = {}
    for vid, g in zip(ids, groups, strict=True):
        members.setdefault(str(g), []).append(vid)
    if len(members) < k:
        raise InputError(
            Problem("folds", f"{len(members)} groups cannot make {k} group-aware folds", field="inner_folds", value=k)
        )
    rng = np.random.default_rng(seed)
    names = sorted(members)
    order = rng.permutation(len(names))
    ranked = sorted(range(len(names)), key=lambda i: (-len(members[names[i]]), order[i]))
    folds: list[list[str]] = [[] for _ in range(k)]
    for i in ranked:
        smallest = min(range(k), key=lambda j: (len(folds[j]), j))
        folds[smallest].extend(members[names[i]])
    position = {vid: i for i, vid in enumerate(ids)}
    return [sorted(f, key=position.__getitem__) for f in folds]


def inner_folds_for(
    dataset: PreparedDataset, ids: Sequence[str], fold: int | None, config: GBTConfig
) -> list[list[str]]:
    """The inner validation folds over the training ids of outer fold `fold` (see the module docstring)."""
    given: list[list[str]] | None = None
    if dataset.folds is not None:
        if fold is not None and fold in dataset.folds.inner:
            given = dataset.folds.inner[fold]
            leaked = sorted(set(dataset.folds.val_ids(fold)).intersection(v for f in given for v in f))
            if leaked:
                raise InputError(
                    Problem(
                        str(dataset.root / "folds.json"),
                        f"the inner folds of outer fold {fold} hold {len(leaked)} of its validation ids",
                        field="inner",
                        value=leaked[0],
                    )
                )
        elif fold is None and dataset.folds.k >= 2:
            given = dataset.folds.folds
    if given is not None:
        allowed = set(ids)
        folds = [kept for f in given if (kept := [v for v in f if v in allowed])]
        if len(folds) >= 2:
            return folds
    groups = dataset.rows(ids)["group"].astype(str).tolist()
    seed = config.seed + (0 if fold is None else 1 + fold)
    return group_folds(ids, groups, config.inner_folds, seed)


# ---------------------------------------------------------------------------------------------------- features


@dataclass
class Raw:
    """Untransformed inputs of some videos: block matrices, numeric metadata, categorical values, groups."""

    ids: list[str]
    blocks: dict[str, np.ndarray]
    meta: np.ndarray
    cats: dict[str, np.ndarray]
    groups: list[str]

    def take(self, index: np.ndarray) -> Raw:
        return Raw(
            ids=[self.ids[i] for i in index],
            blocks={k: v[index] for k, v in self.blocks.items()},
            meta=self.meta[index],
            cats={k: v[index] for k, v in self.cats.items()},
            groups=[self.groups[i] for i in index],
        )


def _tell_once(dataset: PreparedDataset, col: str, log: Callable[[str], None], message: str) -> None:
    if (str(dataset.root), col) not in _told_dropped:
        _told_dropped.add((str(dataset.root), col))
        log(message.format(col=col) + ", so that CV predicts test")


@dataclass
class Design:
    """Which inputs the model reads: feature blocks (with their dims), numeric metadata, categorical columns."""

    blocks: dict[str, int]
    meta_columns: list[str]
    categoricals: list[str]
    # Each block's extractor signature (from its meta.json): predicting from a block extracted differently is refused.
    signatures: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def choose(
        cls, dataset: PreparedDataset, config: GBTConfig, log: Callable[[str], None], fold: int | None
    ) -> Design:
        # Blocks of another fold (embedded rationales quote scores of that fold's training videos) never enter.
        label = "all" if fold is None else str(fold)
        have = [b for b in list_blocks(dataset.root) if block_fold(dataset.root, b) in (None, label)]
        if config.features:
            chosen = [b for b in have if any(fnmatch.fnmatchcase(b, pattern) for pattern in config.features)]
            unmatched = [p for p in config.features if not any(fnmatch.fnmatchcase(b, p) for b in have)]
            if unmatched:
                raise InputError(
                    [
                        Problem(
                            str(dataset.features_dir),
                            f"no feature block matches (have: {', '.join(have) or 'none'}); "
                            "create it with `memo features`",
                            field="features",
                            value=p,
                        )
                        for p in unmatched
                    ]
                )
        else:
            chosen = have
        items = dataset.items
        test = dataset.split("test")
        meta = []
        for col in items.columns:
            if not (config.use_meta and col.startswith("meta_") and pd.api.types.is_numeric_dtype(items[col])):
                continue
            if len(test) and test[col].isna().all():
                # e.g. VIDEM's annotation counts: known for labelled videos only. Learning from them would make
                # CV look better than test can be.
                _tell_once(dataset, col, log, "numeric column {col!r} is unknown for every test video: not used")
                continue
            meta.append(col)
        cats = []
        for col in config.categoricals:
            if col not in items.columns or col in meta:
                continue
            values = items[col].fillna("").astype(str)
            if values.nunique() < 2:
                continue
            if len(test) and (test[col].fillna("").astype(str) == "").all():
                _tell_once(dataset, col, log, "categorical {col!r} is unknown for every test video: not used")
                continue
            cats.append(col)
        if not chosen and not meta and not cats:
            raise InputError(
                Problem(
                    str(dataset.root),
                    "nothing to learn from: no feature blocks, numeric meta_* columns or categorical columns; "
                    "extract features first (`memo features text --data DIR`)",
                )
            )
        loaded = {name: load_block(dataset.root, name) for name in chosen}
        return cls(
            blocks={name: b.dim for name, b in loaded.items()},
            meta_columns=meta,
            categoricals=cats,
            signatures={name: b.meta.get("signature") for name, b in loaded.items()},
        )

    def raw(self, dataset: PreparedDataset, ids: Sequence[str]) -> Raw:
        rows = dataset.rows(ids)
        blocks = {}
        for name, dim in self.blocks.items():
            block = load_block(dataset.root, name)
            if block.dim != dim or block.meta.get("signature") != self.signatures.get(name):
                raise InputError(
                    Problem(
                        f"features/{name}",
                        f"was extracted differently ({block.dim} dims, signature {block.meta.get('signature')}) "
                        f"from the block the model was trained on ({dim} dims, {self.signatures.get(name)}); "
                        "extract it with the same encoder",
                    )
                )
            blocks[name] = block.aligned(list(ids)).astype(np.float64)
        meta = (
            rows[self.meta_columns].to_numpy(dtype=np.float64)
            if self.meta_columns
            else np.zeros((len(rows), 0), dtype=np.float64)
        )
        cats = {c: rows[c].fillna("").astype(str).to_numpy() for c in self.categoricals}
        return Raw(list(ids), blocks, meta, cats, rows["group"].astype(str).tolist())

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.blocks,
            "signatures": self.signatures,
            "meta_columns": self.meta_columns,
            "categoricals": self.categoricals,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Design:
        return cls(
            {str(k): int(v) for k, v in data["blocks"].items()},
            list(data["meta_columns"]),
            list(data["categoricals"]),
            dict(data["signatures"]),
        )


@dataclass
class TargetEncoding:
    """Smoothed mean target per category; unseen or empty categories get the prior."""

    prior: float
    means: dict[str, float]

    @classmethod
    def fit(cls, values: np.ndarray, y: np.ndarray, smoothing: float) -> TargetEncoding:
        prior = float(np.mean(y))
        frame = pd.DataFrame({"v": values, "y": y})
        stats = frame[frame["v"] != ""].groupby("v", sort=True)["y"].agg(["sum", "count"])
        means = ((stats["sum"] + smoothing * prior) / (stats["count"] + smoothing)).astype(float)
        return cls(prior, {str(k): float(v) for k, v in means.items()})

    def apply(self, values: np.ndarray) -> np.ndarray:
        return np.array([self.means.get(str(v), self.prior) for v in values], dtype=np.float64)


@dataclass
class Transform:
    """Fitted on training ids only: a PCA (mean, components) per block and a target encoding per categorical."""

    design: Design
    pca: dict[str, tuple[np.ndarray, np.ndarray]]
    encodings: dict[str, TargetEncoding]

    @classmethod
    def fit(
        cls, design: Design, raw: Raw, y: np.ndarray, config: GBTConfig, stage: str
    ) -> tuple[Transform, np.ndarray]:
        """The fitted transform and the training matrix, whose categorical columns are cross-fitted."""
        from sklearn.decomposition import PCA

        _report_fit(stage, raw.ids)
        pca = {}
        for name in design.blocks:
            X = raw.blocks[name]
            k = min(config.pca_components, X.shape[0] - 1, X.shape[1])
            if config.pca_components == 0 or X.shape[1] <= config.pca_components or k < 1:
                continue
            fitted = PCA(n_components=k, svd_solver="full").fit(X)
            pca[name] = (fitted.mean_.astype(np.float64), fitted.components_.astype(np.float64))
        encodings = {c: TargetEncoding.fit(raw.cats[c], y, config.target_smoothing) for c in design.categoricals}
        transform = cls(design, pca, encodings)
        X = transform.apply(raw)
        if design.categoricals:
            # Each training row's encoding comes from the other (group-aware) parts only.
            n_parts = min(5, len(set(raw.groups)))
            if n_parts >= 2:
                parts = group_folds(raw.ids, raw.groups, n_parts, config.seed)
                position = {v: i for i, v in enumerate(raw.ids)}
                base = X.shape[1] - len(design.categoricals)
                for part in parts:
                    held = np.array([position[v] for v in part])
                    rest = np.setdiff1d(np.arange(len(raw.ids)), held)
                    for j, c in enumerate(design.categoricals):
                        enc = TargetEncoding.fit(raw.cats[c][rest], y[rest], config.target_smoothing)
                        X[held, base + j] = enc.apply(raw.cats[c][held])
        return transform, X

    def apply(self, raw: Raw) -> np.ndarray:
        parts = []
        for name in self.design.blocks:
            X = raw.blocks[name]
            if name in self.pca:
                mean, components = self.pca[name]
                X = (X - mean) @ components.T
            parts.append(X)
        parts.append(raw.meta)
        parts.extend(self.encodings[c].apply(raw.cats[c])[:, None] for c in self.design.categoricals)
        return np.ascontiguousarray(np.hstack(parts), dtype=np.float64)

    def column_groups(self) -> np.ndarray:
        """A label per column of `apply`'s matrix: one shared by all the columns of a feature block, one of its own
        for every metadata and categorical column (what a scale-sensitive member scales together)."""
        sizes = [self.pca[n][1].shape[0] if n in self.pca else dim for n, dim in self.design.blocks.items()]
        sizes += [1] * (len(self.design.meta_columns) + len(self.design.categoricals))
        return np.repeat(np.arange(len(sizes)), sizes)

    def save(self, directory: Path) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {}
        names = sorted(self.pca)
        for i, name in enumerate(names):
            arrays[f"mean_{i}"], arrays[f"components_{i}"] = self.pca[name]
        with open(directory / TRANSFORM_FILE, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
        return {
            "pca_blocks": names,
            "encodings": {c: {"prior": e.prior, "means": e.means} for c, e in self.encodings.items()},
        }

    @classmethod
    def load(cls, directory: Path, design: Design, data: dict[str, Any]) -> Transform:
        pca = {}
        with np.load(directory / TRANSFORM_FILE, allow_pickle=False) as arrays:
            for i, name in enumerate(data["pca_blocks"]):
                pca[name] = (arrays[f"mean_{i}"], arrays[f"components_{i}"])
        encodings = {c: TargetEncoding(float(e["prior"]), dict(e["means"])) for c, e in data["encodings"].items()}
        return cls(design, pca, encodings)


# ---------------------------------------------------------------------------------------------------- ensemble


def _mid_ranks(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's position within the sorted `reference` as a fraction in [0, 1] (ties at their middle)."""
    lo = np.searchsorted(reference, values, side="left")
    hi = np.searchsorted(reference, values, side="right")
    return (lo + hi) / (2.0 * len(reference))


@dataclass
class Ensemble:
    kind: str
    members: list[str]
    references: dict[str, np.ndarray]  # rank_mean: each member's sorted inner OOF scores
    target_quantiles: np.ndarray  # rank_mean: the sorted training targets
    coef: np.ndarray  # ridge
    intercept: float

    @classmethod
    def fit(cls, kind: str, oof: dict[str, np.ndarray], y: np.ndarray, alpha: float, ids: Sequence[str]) -> Ensemble:
        _report_fit("ensemble", ids)
        members = list(oof)
        if kind == "ridge":
            from sklearn.linear_model import Ridge

            P = np.column_stack([oof[m] for m in members])
            ridge = Ridge(alpha=alpha, positive=True).fit(P, y)
            return cls(kind, members, {}, np.zeros(0), ridge.coef_.astype(np.float64), float(ridge.intercept_))
        refs = {m: np.sort(oof[m]) for m in members}
        return cls(kind, members, refs, np.sort(y.astype(np.float64)), np.zeros(0), 0.0)

    def combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        if self.kind == "ridge":
            P = np.column_stack([scores[m] for m in self.members])
            return self.intercept + P @ self.coef
        u = np.mean([_mid_ranks(self.references[m], scores[m]) for m in self.members], axis=0)
        return np.quantile(self.target_quantiles, np.clip(u, 0.0, 1.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "members": self.members,
            "references": {m: r.tolist() for m, r in self.references.items()},
            "target_quantiles": self.target_quantiles.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ensemble:
        return cls(
            data["kind"],
            list(data["members"]),
            {m: np.asarray(r, dtype=np.float64) for m, r in data["references"].items()},
            np.asarray(data["target_quantiles"], dtype=np.float64),
            np.asarray(data["coef"], dtype=np.float64),
            float(data["intercept"]),
        )


# ---------------------------------------------------------------------------------------------------- tuning


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho; a constant prediction (a degenerate trial) counts as 0 rather than NaN."""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    r = float(spearmanr(a, b).statistic)
    return r if math.isfinite(r) else 0.0


@dataclass
class InnerFold:
    train: np.ndarray  # positions within the outer training ids
    val: np.ndarray
    X_train: np.ndarray
    X_val: np.ndarray
    column_groups: np.ndarray


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
    inner: list[InnerFold],
    y: np.ndarray,
    ids: Sequence[str],
    config: GBTConfig,
    log: Callable[[str], None],
) -> Tuned:
    """Optuna TPE over the member's search space; objective = mean inner-fold Spearman. Defaults go first."""
    import optuna

    member = get_member(member_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    oof_of_trial: dict[int, np.ndarray] = {}

    def evaluate(params: dict[str, Any], trial_number: int) -> float:
        oof = np.full(len(y), np.nan)
        scores = []
        for f in inner:
            _report_fit(f"tune:{member_name}", [ids[i] for i in f.train])
            fitted = member.fit(f.X_train, y[f.train], params, config.seed, config.n_jobs, f.column_groups)
            oof[f.val] = member.predict(fitted, f.X_val)
            scores.append(_spearman(oof[f.val], y[f.val]))
        oof_of_trial[trial_number] = oof
        return float(np.mean(scores))

    fixed = config.params.get(member_name, {})

    def objective(trial: optuna.Trial) -> float:
        params = member.suggest(trial) if trial.number else member.default_params()
        return evaluate({**params, **fixed}, trial.number)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    # A transient bar on stderr, drawn only on a terminal (logs and tests stay clean).
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(f"tuning {member_name} ({len(inner)} inner folds)", total=config.n_trials)
        # The defaults are trial 0 (evaluated as they are, outside the search space's grid).
        study.optimize(
            objective,
            n_trials=config.n_trials,
            timeout=config.tune_timeout_s or None,
            callbacks=[lambda _study, _trial: bar.advance(task)],
        )
    best = study.best_trial
    params = {**(member.default_params() if best.number == 0 else dict(best.params)), **fixed}
    seconds = time.perf_counter() - started
    log(
        f"  {member_name}: inner Spearman {best.value:.4f} (trial {best.number} of {len(study.trials)}, "
        f"{seconds:.0f} s)"
    )
    assert best.value is not None  # a completed trial always has its value
    return Tuned(member_name, params, best.value, oof_of_trial[best.number], len(study.trials), seconds)


def _tuning_key(config: GBTConfig, ids: Sequence[str], inner: list[list[str]], member: str) -> str:
    relevant = {k: v for k, v in config_to_dict(config).items() if k not in ("bagging_seeds",)}
    payload = json.dumps([relevant, list(ids), inner, member], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------- model


@dataclass
class GBTModel(Model):
    """A fitted GBT ensemble: the design, its transform, the members (one per bagging seed each), the ensemble."""

    target: str
    design: Design
    transform: Transform
    fitted: dict[str, list[Any]]
    params: dict[str, dict[str, Any]]
    ensemble: Ensemble
    report: dict[str, Any] = field(default_factory=dict)

    def _raw(self, dataset: PreparedDataset, split: str | Sequence[str]) -> Raw:
        ids = dataset.split(split)["video_id"].astype(str).tolist() if isinstance(split, str) else list(split)
        return self.design.raw(dataset, ids)

    def predict_members(self, dataset: PreparedDataset, split: str | Sequence[str]) -> pd.DataFrame:
        """Each member's (seed-averaged) score and the ensemble's, one row per video."""
        raw = self._raw(dataset, split)
        X = self.transform.apply(raw)
        scores = {m: np.mean([get_member(m).predict(f, X) for f in fits], axis=0) for m, fits in self.fitted.items()}
        frame = pd.DataFrame(scores, index=pd.Index(raw.ids, name="video_id"))
        frame["ensemble"] = self.ensemble.combine(scores)
        return frame

    def predict(self, dataset: PreparedDataset, split: str | Sequence[str]) -> pd.Series:
        return self.predict_members(dataset, split)["ensemble"].rename("score")

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        members: dict[str, Any] = {}
        for m, fits in self.fitted.items():
            member = get_member(m)
            files = []
            for i, f in enumerate(fits):
                name = f"{m}_{i}{member.suffix}"
                member.save(f, directory / name)
                files.append(name)
            members[m] = {"params": self.params[m], "files": files}
        data = {
            "format_version": FORMAT_VERSION,
            "target": self.target,
            "design": self.design.to_json(),
            "transform": self.transform.save(directory),
            "members": members,
            "ensemble": self.ensemble.to_json(),
            "report": self.report,
        }
        atomic_write_text(directory / MODEL_FILE, json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, directory: Path) -> GBTModel:
        directory = Path(directory)
        path = directory / MODEL_FILE
        if not path.is_file():
            raise InputError(Problem(str(directory), f"not a GBT model folder (no {MODEL_FILE})"))
        data = json.loads(path.read_text("utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(
                Problem(str(path), f"unsupported format (accepted: {FORMAT_VERSION})", value=data.get("format_version"))
            )
        design = Design.from_json(data["design"])
        fitted = {
            m: [get_member(m).load(directory / name) for name in spec["files"]] for m, spec in data["members"].items()
        }
        return cls(
            target=data["target"],
            design=design,
            transform=Transform.load(directory, design, data["transform"]),
            fitted=fitted,
            params={m: spec["params"] for m, spec in data["members"].items()},
            ensemble=Ensemble.from_json(data["ensemble"]),
            report=data.get("report", {}),
        )


class GBTVariant(Variant):
    """Gradient-boosted tree ensemble (LightGBM, XGBoost, CatBoost, HistGB) on feature blocks and metadata."""

    name = "gbt"
    Config = GBTConfig
    Model = GBTModel

    def __init__(self, log: Callable[[str], None] | None = None):
        # Progress goes to the `mediaeval_memo.variants.gbt` logger (INFO) unless a callable is given; the one
        # warning (a categorical column dropped) is a WARNING, which Python prints to stderr by default.
        self.log: Callable[[str], None] = log or logger.info
        self.warn: Callable[[str], None] = log or logger.warning

    def fit(
        self, dataset: PreparedDataset, config: VariantConfig, fold: int | None, workdir: Path | None = None
    ) -> GBTModel:
        assert isinstance(config, GBTConfig)
        target = dataset.check_target(config.target)
        ids = train_ids(dataset, target, fold)
        if len(ids) < 2 * config.inner_folds:
            raise InputError(Problem(str(dataset.root), f"only {len(ids)} labelled training videos", field="target"))
        design = Design.choose(dataset, config, self.warn, fold)
        raw = design.raw(dataset, ids)
        y = dataset.rows(ids)[target].to_numpy(dtype=np.float64)
        inner_ids = inner_folds_for(dataset, ids, fold, config)
        position = {v: i for i, v in enumerate(ids)}
        inner = []
        for j, val_ids in enumerate(inner_ids):
            val = np.array(sorted(position[v] for v in val_ids))
            train = np.setdiff1d(np.arange(len(ids)), val)
            transform, X_train = Transform.fit(design, raw.take(train), y[train], config, f"transform:inner{j}")
            val_X = transform.apply(raw.take(val))
            inner.append(InnerFold(train, val, X_train, val_X, transform.column_groups()))
        what = "final model" if fold is None else f"outer fold {fold}"
        self.log(f"gbt {what}: {len(ids)} videos, {len(inner)} inner folds, {inner[0].X_train.shape[1]} features")

        tuned: dict[str, Tuned] = {}
        for m in config.members:
            key = _tuning_key(config, ids, inner_ids, m)
            cached = workdir / f"tuned_{m}.json" if workdir is not None else None
            if cached is not None and cached.is_file():
                saved = json.loads(cached.read_text("utf-8"))
                if saved.get("key") == key:
                    tuned[m] = Tuned(m, saved["params"], saved["inner_srcc"], np.asarray(saved["oof"]), 0, 0.0)
                    self.log(f"  {m}: tuned earlier, reusing {cached}")
                    continue
            tuned[m] = tune_member(m, inner, y, ids, config, self.log)
            if cached is not None:
                record = {
                    "key": key,
                    "params": tuned[m].params,
                    "inner_srcc": tuned[m].inner_srcc,
                    "oof": tuned[m].oof.tolist(),
                }
                atomic_write_text(cached, json.dumps(record) + "\n")

        ensemble = Ensemble.fit(config.ensemble, {m: t.oof for m, t in tuned.items()}, y, config.ridge_alpha, ids)
        inner_ensemble = _spearman(ensemble.combine({m: t.oof for m, t in tuned.items()}), y)
        transform, X = Transform.fit(design, raw, y, config, "transform:final")
        fitted: dict[str, list[Any]] = {}
        groups = transform.column_groups()
        for m in config.members:
            member = get_member(m)
            fitted[m] = []
            # Seed bagging averages away a member's randomness; a deterministic member would only be refitted.
            for s in range(config.bagging_seeds if member.seeded else 1):
                _report_fit(f"member:{m}", ids)
                fitted[m].append(member.fit(X, y, tuned[m].params, config.seed + s, config.n_jobs, groups))
        report = {
            "fold": fold,
            "n_train": len(ids),
            "n_features": int(X.shape[1]),
            "inner_srcc": {m: t.inner_srcc for m, t in tuned.items()},
            "inner_srcc_ensemble": inner_ensemble,
            "trials": {m: t.trials for m, t in tuned.items()},
        }
        self.log(f"  ensemble ({config.ensemble}): inner out-of-fold Spearman {inner_ensemble:.4f}")
        return GBTModel(target, design, transform, fitted, {m: t.params for m, t in tuned.items()}, ensemble, report)
