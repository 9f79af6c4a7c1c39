"""Cross-validated training and prediction for any registered variant: what `memo train` and `memo predict` run.

The runner owns every id. For each fit (outer fold k, or the final model on every labelled video) it builds the
`FitContext`: the training ids (the other folds' labelled videos), the part of them held out for early stopping
and the inner folds for tuning (both carved by `data.splits`, group-aware, from those training ids only, as the
variant's `splits(config)` asks), and a view of the dataset that knows only those ids' labels. It then scores the
fitted model itself, by calling `predict` on the fold's validation ids; no prediction made during the fit crosses
that boundary.

A model directory holds:
    variant.json              which variant, toolkit version, dataset name and items sha256
    run.json                  where the dataset was (for `memo report`), when the run started, the job's plan
    config.yaml               the resolved config (recipe + command-line overrides)
    train.log                 every progress line of every run into this folder, timestamped
    folds/fold_<k>/oof.csv    out-of-fold predictions of outer fold k; its presence means the fold is done
    folds/fold_<k>/fit.json   the fit's split (training, early-stopping and inner-fold ids) and what it reported
    oof_predictions.csv       all out-of-fold predictions (video_id,score,fold)
    cv.json                   per-fold and pooled Spearman, and each fit's split sizes and report
    error_analysis/           scatter.png of OOF prediction vs ground truth, best_worst.csv/.md with captions
    model/                    the final model, fitted on every labelled row (its split in final/fit.json)
    predictions_test.csv      the final model's test-split predictions (when the dataset has a test split)
    prompt_example.txt ...    what the variant's model read (`Model.artifacts`), from the run's first fit
Folds already done are skipped on a re-run with the same config, so a killed job resumes where it stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mediaeval_memo import __version__
from mediaeval_memo.core.config import config_to_dict, resolve_config
from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import (
    atomic_dir,
    atomic_write_text,
    require_output_file,
    require_output_folder,
    sha256_file,
)
from mediaeval_memo.core.metric import srcc
from mediaeval_memo.core.predictions import read_predictions, write_predictions
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset, read_json_file
from mediaeval_memo.data.splits import holdout, split_folds
from mediaeval_memo.variants import get_variant
from mediaeval_memo.variants.base import AnyVariant, FitContext, Job, Model, VariantConfig

VARIANT_FILE = "variant.json"
RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
LOG_FILE = "train.log"
MODEL_DIR = "model"
FIT_FILE = "fit.json"
ERROR_ANALYSIS_DIR = "error_analysis"


@dataclass
class TrainResult:
    out: Path
    config: VariantConfig
    fold_srcc: dict[int, float]
    oof_srcc: float | None
    test_predictions: Path | None


def parse_folds(spec: str, k: int) -> list[int]:
    """'all' -> every fold, 'none' -> no CV, '0,2' -> those folds."""
    if spec == "all":
        return list(range(k))
    if spec == "none":
        return []
    try:
        chosen = sorted({int(s) for s in spec.split(",") if s.strip()})
    except ValueError:
        raise InputError(Problem("--folds", "expected all, none or fold numbers like 0,1", value=spec)) from None
    bad = [f for f in chosen if not 0 <= f < k]
    if bad:
        raise InputError(Problem("--folds", f"fold out of range 0..{k - 1}", value=bad[0]))
    return chosen


# ---------------------------------------------------------------------------------------------------- fit contexts


def training_ids(dataset: PreparedDataset, target: str, fold: int | None) -> list[str]:
    """Labelled ids outside outer fold `fold` (all labelled ids when None), in item-table order."""
    labelled = dataset.labelled(target)["video_id"].tolist()
    if fold is None:
        return labelled
    if dataset.folds is None:
        raise InputError(Problem(str(dataset.root), "the dataset has no folds.json; prepare it again"))
    allowed = set(dataset.folds.train_ids(fold))
    return [v for v in labelled if v in allowed]


def fit_context(
    dataset: PreparedDataset,
    variant: AnyVariant,
    config: VariantConfig,
    fold: int | None,
    workdir: Path,
    progress: Reporter | None = None,
) -> FitContext:
    """The context of one fit: what it learns from, early-stops on and tunes on, all carved from the training ids
    of outer fold `fold` (every labelled video when None), and a dataset view with only those labels."""
    target = dataset.check_target(config.target)
    pool = training_ids(dataset, target, fold)
    if not pool:
        raise InputError(Problem(str(dataset.root), "no labelled training videos", field="target", value=target))
    request = variant.splits(config)
    rows = dataset.rows(pool)
    groups = rows["group"].astype(str).tolist()
    y = rows[target].astype(float).to_numpy()
    # Each fit carves with its own seed, so that the final model's split is not fold 0's.
    seed = config.seed + (0 if fold is None else 1 + fold)
    fit_ids, stop_ids = holdout(pool, groups, request.holdout, seed, y)
    inner: list[list[str]] = []
    if request.inner_folds:
        inner = _inner_folds(dataset, target, fold, fit_ids, request.inner_folds, seed)
    return FitContext(
        dataset=dataset.with_labels_of([*fit_ids, *stop_ids]),
        target=target,
        train_ids=tuple(fit_ids),
        stop_ids=tuple(stop_ids),
        inner_folds=tuple(tuple(f) for f in inner),
        fold="all" if fold is None else str(fold),
        seed=config.seed,
        workdir=workdir,
        progress=progress or Reporter.silent(),
    )


def _inner_folds(
    dataset: PreparedDataset, target: str, fold: int | None, ids: list[str], k: int, seed: int
) -> list[list[str]]:
    """Inner folds over `ids`: the dataset's nested folds of outer fold `fold` when it has them, the outer folds
    themselves for the final model, otherwise `k` group-aware folds made here."""
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
    rows = dataset.rows(ids)
    groups = rows["group"].astype(str).tolist()
    y = rows[target].astype(float).to_numpy()
    return split_folds(ids, groups, k, seed, y, source="inner folds", field="inner_folds")


def split_record(ctx: FitContext, model: Model) -> dict[str, Any]:
    """What fit.json says of a fit: its ids by role, the groups held out, and the model's own report."""
    groups = ctx.dataset.rows(list(ctx.stop_ids))["group"].astype(str) if ctx.stop_ids else pd.Series([], dtype=str)
    return {
        "fit": ctx.name,
        "n_train": len(ctx.train_ids),
        "n_stop": len(ctx.stop_ids),
        "stop_groups": sorted(set(groups)),
        "inner_folds": [len(f) for f in ctx.inner_folds],
        "report": model.report(),
        "train_ids": list(ctx.train_ids),
        "stop_ids": list(ctx.stop_ids),
    }


def describe_split(ctx: FitContext) -> str:
    parts = [f"{ctx.name}: fitting on {len(ctx.train_ids)} videos"]
    if ctx.stop_ids:
        n_groups = ctx.dataset.rows(list(ctx.stop_ids))["group"].nunique()
        groups = f"{n_groups} group" + ("s" if n_groups != 1 else "")
        parts.append(
            f"holding out {len(ctx.stop_ids)} of its training videos ({groups}) for early stopping and keep-best"
        )
    if ctx.inner_folds:
        parts.append(f"tuning on {len(ctx.inner_folds)} inner folds")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------- train


def train(
    variant_name: str,
    data_dir: str | Path,
    out: str | Path,
    recipe: str | Path | None = None,
    overrides: Mapping[str, object] | None = None,
    folds: str = "all",
    final: bool = True,
    resume: bool = False,
    force: bool = False,
    progress: Reporter | None = None,
) -> TrainResult:
    """Cross-validate `variant_name` on the dataset's folds, then fit the final model on all labelled rows."""
    progress = progress or Reporter()
    variant = get_variant(variant_name)
    dataset = PreparedDataset.load(data_dir)
    config = resolve_config(variant.Config, recipe, overrides)
    config.target = dataset.check_target(config.target)
    chosen = parse_folds(folds, dataset.folds.k) if dataset.folds is not None else []
    if folds not in ("none", "all") and dataset.folds is None:
        raise InputError(Problem(str(dataset.root), "the dataset has no folds.json; prepare it again"))
    out = Path(out)
    require_output_folder(out, "the folder the run is written to")
    # Settings left to the data are fixed once for the whole job, from its size alone (no label is shown), so the
    # folds run what the final model runs, and config.yaml records them.
    n_labelled = len(dataset.labelled(config.target))
    outer = dataset.folds.k if dataset.folds is not None else 0
    job = Job(dataset.with_labels_of(()), config.target, n_labelled, len(chosen) + final, outer)
    planned = variant.plan(config, job)
    config = planned.config
    resolved = {"variant": variant.name, "config": config_to_dict(config)}
    resolved_text = yaml.safe_dump(resolved, sort_keys=False)
    identity = {
        "variant": variant.name,
        "memo": __version__,
        "dataset": dataset.name,
        "items_sha256": sha256_file(dataset.root / ITEMS_FILE),
    }
    fresh = not out.exists() or not any(out.iterdir())
    _claim_out_dir(out, resolved_text, identity, resume, force)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    run_record = {"data": str(dataset.root.resolve()), "started": started, "plan": list(planned.lines)}
    atomic_write_text(out / RUN_FILE, json.dumps(run_record, indent=2) + "\n")
    try:
        with progress.attach(out / LOG_FILE):
            progress.say(f"{variant.name} on {dataset.name} ({config.target}) into {out}")
            for line in planned.lines:
                progress.say(line)
            fold_srcc = _cross_validate(variant, dataset, config, chosen, out, progress)
            oof_srcc = _pool_folds(dataset, config, chosen, fold_srcc, out, progress) if chosen else None
            test_path = _fit_final(variant, dataset, config, out, progress) if final else None
    except InputError:
        _forget_unfinished(out, fresh)
        raise
    return TrainResult(out, config, fold_srcc, oof_srcc, test_path)


def _forget_unfinished(out: Path, fresh: bool) -> None:
    """A job this call started that a fit refuses (bad input found only then) leaves nothing behind, unless a
    fold already finished: that work is kept for --resume. A kill (not an input error) keeps everything."""
    if fresh and not any(out.glob("folds/fold_*/oof.csv")):
        shutil.rmtree(out, ignore_errors=True)


def _cross_validate(
    variant: AnyVariant,
    dataset: PreparedDataset,
    config: VariantConfig,
    chosen: list[int],
    out: Path,
    progress: Reporter,
) -> dict[int, float]:
    assert dataset.folds is not None or not chosen
    unlabelled = dataset.with_labels_of(())
    fold_srcc: dict[int, float] = {}
    for k in chosen:
        assert dataset.folds is not None
        fold_dir = out / "folds" / f"fold_{k}"
        oof_path = fold_dir / "oof.csv"
        if oof_path.is_file():
            progress.say(f"fold {k}: done earlier, reusing {oof_path}")
            oof = read_predictions(oof_path).set_index("video_id")["score"]
        else:
            ctx = fit_context(dataset, variant, config, k, fold_dir / "work", progress)
            progress.say(describe_split(ctx))
            model = variant.fit(config, ctx)
            write_artifacts(out, model, replace=False)
            oof = model.predict(unlabelled, dataset.folds.val_ids(k), progress)
            # After predicting, so the report can say how the fold's predictions went (qwen-vl: invalid answers).
            atomic_write_text(fold_dir / FIT_FILE, json.dumps(split_record(ctx, model), indent=1) + "\n")
            write_predictions(oof, oof_path)
        gold = dataset.rows(list(oof.index)).set_index("video_id")[config.target]
        fold_srcc[k] = srcc(oof.to_numpy(), gold.to_numpy())
        progress.say(f"fold {k}: Spearman {fold_srcc[k]:.4f} on {len(oof)} videos")
    return fold_srcc


def _pool_folds(
    dataset: PreparedDataset,
    config: VariantConfig,
    chosen: list[int],
    fold_srcc: dict[int, float],
    out: Path,
    progress: Reporter,
) -> float:
    parts, fold_col, fits = [], [], {}
    for k in chosen:
        fold_dir = out / "folds" / f"fold_{k}"
        part = read_predictions(fold_dir / "oof.csv").set_index("video_id")["score"]
        parts.append(part)
        fold_col.append(pd.Series(k, index=part.index))
        if (fold_dir / FIT_FILE).is_file():
            fit = json.loads((fold_dir / FIT_FILE).read_text("utf-8"))
            fits[str(k)] = {key: value for key, value in fit.items() if key not in ("train_ids",)}
    pooled = pd.concat(parts)
    write_predictions(pooled, out / "oof_predictions.csv", folds=pd.concat(fold_col))
    gold = dataset.rows(list(pooled.index)).set_index("video_id")[config.target]
    oof_srcc = srcc(pooled.to_numpy(), gold.to_numpy())
    summary = {
        "target": config.target,
        "folds": {str(k): v for k, v in fold_srcc.items()},
        "oof_srcc": oof_srcc,
        "n": len(pooled),
        "fits": fits,
    }
    atomic_write_text(out / "cv.json", json.dumps(summary, indent=2) + "\n")
    progress.say(f"out-of-fold Spearman {oof_srcc:.4f} over {len(pooled)} videos")
    from mediaeval_memo.experiments.error_analysis import write_error_analysis

    write_error_analysis(dataset, pooled, config.target, out / ERROR_ANALYSIS_DIR)
    progress.say(f"error analysis (scatter plot, best and worst videos): {out / ERROR_ANALYSIS_DIR}")
    return oof_srcc


def _fit_final(
    variant: AnyVariant, dataset: PreparedDataset, config: VariantConfig, out: Path, progress: Reporter
) -> Path | None:
    ctx = fit_context(dataset, variant, config, None, out / "final" / "work", progress)
    progress.say(describe_split(ctx))
    model = variant.fit(config, ctx)
    write_artifacts(out, model, replace=False)
    atomic_write_text(out / "final" / FIT_FILE, json.dumps(split_record(ctx, model), indent=1) + "\n")
    with atomic_dir(out / MODEL_DIR, overwrite=True) as tmp:
        model.save(tmp)
    if not len(dataset.split("test")):
        return None
    test_path = out / "predictions_test.csv"
    write_predictions(model.predict(dataset.with_labels_of(()), dataset.split_ids("test"), progress), test_path)
    progress.say(f"test predictions: {test_path}")
    return test_path


def _read_identity(path: Path) -> Any:
    """The run's variant.json, or None when it is damaged (then the folder holds no run this one can resume)."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (ValueError, OSError):
        return None


def _claim_out_dir(out: Path, resolved_text: str, identity: dict[str, Any], resume: bool, force: bool) -> None:
    """Make `out` ours: fresh, replaced (--force), or an earlier run of the same config and data (--resume)."""
    config_path = out / CONFIG_FILE
    if out.exists() and any(out.iterdir()):
        ident_path = out / VARIANT_FILE
        same = config_path.is_file() and config_path.read_text(encoding="utf-8") == resolved_text
        same = same and ident_path.is_file() and _read_identity(ident_path) == identity
        if force:
            shutil.rmtree(out)
        elif not same:
            raise InputError(
                Problem(
                    str(out),
                    "holds a run with another config or dataset; choose another --out or pass --force to replace it",
                )
            )
        elif not resume:
            raise InputError(
                Problem(
                    str(out),
                    "holds an earlier run of this config; pass --resume to continue "
                    "it (finished folds and checkpoints are kept) or --force to start over",
                )
            )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config_path, resolved_text)
    atomic_write_text(out / VARIANT_FILE, json.dumps(identity, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------- predict


def load_model(model_dir: str | Path) -> tuple[str, Model]:
    """The variant name and the final model of a `memo train` output directory."""
    model_dir = Path(model_dir)
    ident_path = model_dir / VARIANT_FILE
    if not ident_path.is_file():
        raise InputError(
            Problem(str(model_dir), "not a model directory (no variant.json); train one with `memo train`")
        )
    ident = read_json_file(ident_path, dict, "the variant record `memo train` writes")
    name = ident.get("variant")
    if not isinstance(name, str):
        raise InputError(Problem(str(ident_path), "no variant name: damaged or not written by `memo train`"))
    if not (model_dir / MODEL_DIR).is_dir():
        raise InputError(Problem(str(model_dir), "has no final model (model/); train without --no-final"))
    variant = get_variant(name)
    try:
        return name, variant.Model.load(model_dir / MODEL_DIR)
    except InputError:
        raise
    except Exception as exc:  # each library fails its own way on a damaged file; to the user it is one thing
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise InputError(
            Problem(str(model_dir / MODEL_DIR), f"the saved model cannot be loaded ({reason}): train it again")
        ) from exc


def predict(
    model_dir: str | Path, data_dir: str | Path, split: str, out: str | Path, progress: Reporter | None = None
) -> Path:
    """Score a split of a prepared dataset with a trained model and write a predictions file."""
    require_output_file(out, "the predictions file to write")  # before the model runs, not after
    dataset = PreparedDataset.load(data_dir)
    rows = dataset.split(split)
    if rows.empty:
        raise InputError(Problem(str(dataset.root), "the split has no videos", field="split", value=split))
    _, model = load_model(model_dir)
    scores = model.predict(dataset.with_labels_of(()), dataset.split_ids(split), progress or Reporter())
    check_scores(scores, rows["video_id"].tolist())
    path = write_predictions(scores.reindex(rows["video_id"]), out)
    write_artifacts(path.parent, model)
    return path


def write_artifacts(folder: Path, model: Model, replace: bool = True) -> None:
    """The model's `artifacts()` (e.g. `prompt_example.txt`) into `folder`; with replace=False, only those not there
    yet (a training folder keeps its first fit's)."""
    for name, text in model.artifacts().items():
        if replace or not (folder / name).exists():
            atomic_write_text(folder / name, text)


def check_scores(scores: pd.Series, ids: Sequence[str]) -> None:
    missing = set(ids) - set(scores.index)
    if missing:
        raise RuntimeError(f"model returned no score for {len(missing)} videos, e.g. {sorted(missing)[:3]}")
