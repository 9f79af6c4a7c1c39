"""The GBT ensemble's settings: which inputs, which members, how much tuning, how they are combined."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mediaeval_memo.core.config import ConfigError
from mediaeval_memo.variants.base import VariantConfig
from mediaeval_memo.variants.gbt.members import MEMBER_NAMES

DEFAULT_CATEGORICALS = ("action", "category", "categoryName", "meta_category")


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
