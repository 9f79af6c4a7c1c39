"""The interface every run variant implements, and the context a fit receives.

A variant is a `Variant[ConfigT, ModelT]` subclass with a `Config` dataclass (every field typed, defaulted,
documented through `metadata={"help": ...}` and validated in `__post_init__`, see `core.config`) and a `Model`
class; the type parameters make `fit`, `splits` and `plan` receive the variant's own config type, so no variant
checks the type of what it is handed.

    fit(config: ConfigT, ctx: FitContext) -> ModelT
    Model.predict(dataset, ids) -> pandas.Series               (float, indexed by video_id, in the order of ids)
    Model.save(dir) / Model.load(dir)                          (no pickle of untrusted data)

The runner turns a split name into ids (`PreparedDataset.split_ids`); a model only ever sees ids.

The runner (`mediaeval_memo.experiments`) owns every id: it builds the `FitContext` of each fit, holding the ids
the fit may learn from, the ids it may early-stop or select on (carved from those training ids, never the ids it
will be scored on), the seed, a work folder and a progress reporter; it scores a fitted model by calling
`predict` itself. A variant says what it needs carved through `splits(config)` and never calls back into the
runner. The dataset a fit receives knows the labels of its own ids only, and no folds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import pandas as pd

from mediaeval_memo.core.config import Config, ConfigError
from mediaeval_memo.core.metric import srcc
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.report.panels import Panel, RunFiles


@dataclass
class VariantConfig(Config):
    """Fields every variant has. Subclasses add their own and call super().__post_init__()."""

    target: str = field(
        default="",
        metadata={
            "help": "Target column to learn; empty means the dataset's first "
            "target (mem_score, memorability_score, ...)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed for every random choice; same seed, same predictions."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seed < 0:
            raise ConfigError("seed", self.seed, "must be >= 0")


@dataclass(frozen=True)
class SplitRequest:
    """What a fit asks the runner to carve, group-aware, from its training ids.

    `holdout`: the fraction of the training videos (whole groups) held out as `FitContext.stop_ids`, for early
    stopping and keep-best; `inner_folds`: K inner folds over `FitContext.train_ids`, for tuning.
    """

    holdout: float = 0.0
    inner_folds: int = 0


@dataclass(frozen=True)
class FitContext:
    """Everything one fit may use; built by the runner, never by a variant.

    `dataset` knows the labels of `train_ids` and `stop_ids` only (every other label is NaN) and has no folds.
    `train_ids` are what the fit learns from; `stop_ids` (disjoint from them, both inside the outer training part)
    are for early stopping and keep-best; `inner_folds` partition `train_ids` for tuning. `fold` names the outer
    fold ("0", "1", ...) or "all" for the final model: it selects per-fold inputs such as rationales written for
    that fold. `workdir` is private to this fit (checkpoints, caches): a fit that finds its own checkpoints there
    resumes from them.
    """

    dataset: PreparedDataset
    target: str
    train_ids: tuple[str, ...]
    stop_ids: tuple[str, ...]
    inner_folds: tuple[tuple[str, ...], ...]
    fold: str
    seed: int
    workdir: Path
    progress: Reporter = field(default_factory=Reporter.silent)

    @property
    def name(self) -> str:
        """How logs name this fit: "fold 0" or "final model"."""
        return "final model" if self.fold == "all" else f"fold {self.fold}"

    def held_out_spearman(self, predict: Callable[[list[str]], pd.Series]) -> Callable[[object], float] | None:
        """The early-stopping and keep-best metric every neural variant uses: the Spearman (`core.metric.srcc`,
        NaN when undefined, which never counts as an improvement) of `predict(stop_ids)` (scores indexed by
        video_id) against the held-out videos' labels. None when the runner held nothing out. The returned callable
        ignores its argument, the model being trained, so it fits `training.train_loop`'s `eval_fn`."""
        if not self.stop_ids:
            return None
        stop = list(self.stop_ids)
        gold = self.dataset.rows(stop).set_index("video_id")[self.target].astype(float)

        def evaluate(_: object) -> float:
            scores = predict(stop)
            return srcc(scores.to_numpy(), gold.reindex(scores.index).to_numpy())

        return evaluate


@dataclass(frozen=True)
class Job:
    """What a variant may know of a whole training job before its first fit, to size its settings: the dataset
    with no labels at all, the target, how many labelled videos the largest fit learns from (the final model's),
    how many fits the job makes (outer folds run, plus the final model), and the dataset's outer folds (the
    final model tunes on them; 0 when it has none)."""

    dataset: PreparedDataset
    target: str
    n_labelled: int
    fits: int
    outer_folds: int = 0


ConfigT = TypeVar("ConfigT", bound=VariantConfig)


@dataclass(frozen=True)
class Planned(Generic[ConfigT]):
    """A job's config with every setting concrete, and what was chosen and why (for the log)."""

    config: ConfigT
    lines: tuple[str, ...] = ()


class Model(ABC):
    """A fitted variant."""

    @abstractmethod
    def predict(self, dataset: PreparedDataset, ids: Sequence[str], progress: Reporter | None = None) -> pd.Series:
        """Scores for the videos `ids`: a float Series indexed by video_id, in their order. Labels are never
        needed: the runner predicts from a dataset view without any, a split's ids from `dataset.split_ids`."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything `load` needs into `directory` (safetensors / JSON / native model files)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Model:
        """Read a model written by `save`."""

    def report(self) -> dict[str, Any]:
        """What the fit did that the runner should record beside its split (early stopping, tuning): JSON data."""
        return {}

    def notes(self) -> list[str]:
        """Lines about the last `predict` worth telling the user (qwen-vl's generate head: its invalid answers by
        reason); none by default."""
        return []

    def artifacts(self) -> dict[str, str]:
        """Small text files that show what the model read (file name -> text), e.g. qwen-vl's `prompt_example.txt`:
        after a fit they describe its training inputs, after `predict` the predicted ones. The runner writes them
        into the training output folder and beside the predictions file."""
        return {}


# The Variant class below has an attribute named Model (the contract's name); this alias keeps annotations exact.
AnyModel = Model
ModelT = TypeVar("ModelT", bound=AnyModel)


class Variant(ABC, Generic[ConfigT, ModelT]):
    """A run variant: its name, its Config dataclass, its Model class, what it needs carved, and how to fit one.

    A subclass names its types once, `class GBTVariant(Variant[GBTConfig, GBTModel])`, and sets `Config` and
    `Model` to the same classes; `variants.get_variant` checks that a registry entry is such a subclass."""

    name: ClassVar[str]
    # Class attributes in every subclass; not ClassVar only because a ClassVar cannot hold a type variable.
    Config: type[ConfigT]
    Model: type[ModelT]

    def splits(self, config: ConfigT) -> SplitRequest:
        """What the runner should carve from each fit's training ids. Default: what the config's own fields ask,
        `val_fraction` held out for early stopping (the neural variants' `TrainerConfig`) and `inner_folds` for
        tuning (gbt), each when the config has it; nothing otherwise."""
        holdout = getattr(config, "val_fraction", 0.0)
        inner = getattr(config, "inner_folds", 0)
        return SplitRequest(holdout=float(holdout), inner_folds=int(inner))

    def plan(self, config: ConfigT, job: Job) -> Planned[ConfigT]:
        """The settings every fit of `job` runs with, called once by the runner before the first fit, so that
        the folds and the final model run the same settings. Default: the config as it is."""
        return Planned(config)

    def report_panels(self, run: RunFiles) -> list[Panel]:
        """What this variant has to say on its run's report page (`memo report`), read from the run's own files
        (each fit's `report()`, the artifacts): tables, line charts, texts. Default: nothing."""
        return []

    @abstractmethod
    def fit(self, config: ConfigT, ctx: FitContext) -> ModelT:
        """Train on `ctx.train_ids` (early-stopping on `ctx.stop_ids`, tuning on `ctx.inner_folds`)."""


# What the runner and the registry hold: a variant of any config and model type.
AnyVariant = Variant[Any, Any]


@runtime_checkable
class ZeroShot(Protocol):
    """An optional capability of a variant: predicting without training, from a model named on the command line
    (`memo predict --zero-shot`; qwen-vl: the untrained model on the paper's prompt). A variant has it by defining
    this method; `experiments.zero_shot` asks for it and refuses a variant without it.

    Returns the untrained model and the target it predicts. It may read the labels of videos outside `split` (e.g.
    a fallback mean), never those of `split` itself: its predictions are scored against them."""

    def zero_shot(
        self, model: str, dataset: PreparedDataset, split: str, overrides: Mapping[str, object] | None = None
    ) -> tuple[AnyModel, str]: ...
