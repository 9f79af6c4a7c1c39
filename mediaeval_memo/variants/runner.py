"""Cross-validated training and prediction for any registered variant: what `memo train` and `memo predict` run.

A model directory holds:
    variant.json              which variant, toolkit version, dataset name and items sha256
    config.yaml               the resolved config (recipe + command-line overrides)
    folds/fold_<k>/oof.csv    out-of-fold predictions of outer fold k; its presence means the fold is done
    oof_predictions.csv       all out-of-fold predictions (video_id,score,fold)
    cv.json                   per-fold and pooled Spearman of the out-of-fold predictions
    error_analysis/           scatter.png of OOF prediction vs ground truth, best_worst.csv/.md with captions
    model/                    the final model, fitted on every labelled row
    predictions_test.csv      the final model's test-split predictions (when the dataset has a test split)
Folds already done are skipped on a re-run with the same config, so a killed job resumes where it stopped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from scipy.stats import spearmanr

from mediaeval_memo import __version__
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset
from mediaeval_memo.errors import InputError, Problem
from mediaeval_memo.io import atomic_dir, atomic_write_text, sha256_file
from mediaeval_memo.predictions import read_predictions, write_predictions
from mediaeval_memo.variants import get_variant
from mediaeval_memo.variants.base import Model, VariantConfig, config_to_dict, resolve_config

VARIANT_FILE = "variant.json"
CONFIG_FILE = "config.yaml"
MODEL_DIR = "model"
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
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Cross-validate `variant_name` on the dataset's folds, then fit the final model on all labelled rows."""
    variant = get_variant(variant_name)
    dataset = PreparedDataset.load(data_dir)
    config = resolve_config(variant.Config, recipe, overrides)
    config.target = dataset.check_target(config.target)
    out = Path(out)
    resolved = {"variant": variant.name, "config": config_to_dict(config)}
    resolved_text = yaml.safe_dump(resolved, sort_keys=False)
    identity = {
        "variant": variant.name,
        "memo": __version__,
        "dataset": dataset.name,
        "items_sha256": sha256_file(dataset.root / ITEMS_FILE),
    }
    _claim_out_dir(out, resolved_text, identity, resume, force)

    chosen = parse_folds(folds, dataset.folds.k) if dataset.folds is not None else []
    if folds not in ("none", "all") and dataset.folds is None:
        raise InputError(Problem(str(dataset.root), "the dataset has no folds.json; prepare it again"))
    fold_srcc: dict[int, float] = {}
    for k in chosen:
        assert dataset.folds is not None
        oof_path = out / "folds" / f"fold_{k}" / "oof.csv"
        if oof_path.is_file():
            log(f"fold {k}: done earlier, reusing {oof_path}")
            oof = read_predictions(oof_path).set_index("video_id")["score"]
        else:
            log(f"fold {k}: fitting on {len(dataset.folds.train_ids(k))} videos")
            model = variant.fit(dataset, config, k, out / "folds" / f"fold_{k}" / "work")
            oof = model.predict(dataset, dataset.folds.val_ids(k))
            write_predictions(oof, oof_path)
        gold = dataset.rows(list(oof.index)).set_index("video_id")[config.target]
        fold_srcc[k] = float(spearmanr(oof.to_numpy(), gold.to_numpy()).statistic)
        log(f"fold {k}: Spearman {fold_srcc[k]:.4f} on {len(oof)} videos")

    oof_srcc = None
    if chosen:
        assert dataset.folds is not None
        parts, fold_col = [], []
        for k in chosen:
            part = read_predictions(out / "folds" / f"fold_{k}" / "oof.csv").set_index("video_id")["score"]
            parts.append(part)
            fold_col.append(pd.Series(k, index=part.index))
        pooled = pd.concat(parts)
        write_predictions(pooled, out / "oof_predictions.csv", folds=pd.concat(fold_col))
        gold = dataset.rows(list(pooled.index)).set_index("video_id")[config.target]
        oof_srcc = float(spearmanr(pooled.to_numpy(), gold.to_numpy()).statistic)
        summary = {
            "target": config.target,
            "folds": {str(k): v for k, v in fold_srcc.items()},
            "oof_srcc": oof_srcc,
            "n": len(pooled),
        }
        atomic_write_text(out / "cv.json", json.dumps(summary, indent=2) + "\n")
        log(f"out-of-fold Spearman {oof_srcc:.4f} over {len(pooled)} videos")
        from mediaeval_memo.variants.error_analysis import write_error_analysis

        write_error_analysis(dataset, pooled, config.target, out / ERROR_ANALYSIS_DIR)
        log(f"error analysis (scatter plot, best and worst videos): {out / ERROR_ANALYSIS_DIR}")

    test_path = None
    if final:
        log(f"final model: fitting on all {len(dataset.labelled(config.target))} labelled videos")
        model = variant.fit(dataset, config, None, out / "final" / "work")
        with atomic_dir(out / MODEL_DIR, overwrite=True) as tmp:
            model.save(tmp)
        if len(dataset.split("test")):
            test_path = out / "predictions_test.csv"
            write_predictions(model.predict(dataset, "test"), test_path)
            log(f"test predictions: {test_path}")
    return TrainResult(out, config, fold_srcc, oof_srcc, test_path)


def _claim_out_dir(out: Path, resolved_text: str, identity: dict[str, Any], resume: bool, force: bool) -> None:
    """Make `out` ours: fresh, replaced (--force), or an earlier run of the same config and data (--resume)."""
    config_path = out / CONFIG_FILE
    if out.exists() and any(out.iterdir()):
        ident_path = out / VARIANT_FILE
        same = config_path.is_file() and config_path.read_text(encoding="utf-8") == resolved_text
        same = same and ident_path.is_file() and json.loads(ident_path.read_text("utf-8")) == identity
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


def load_model(model_dir: str | Path) -> tuple[str, Model]:
    """The variant name and the final model of a `memo train` output directory."""
    model_dir = Path(model_dir)
    ident_path = model_dir / VARIANT_FILE
    if not ident_path.is_file():
        raise InputError(
            Problem(str(model_dir), "not a model directory (no variant.json); train one with `memo train`")
        )
    name = json.loads(ident_path.read_text("utf-8"))["variant"]
    if not (model_dir / MODEL_DIR).is_dir():
        raise InputError(Problem(str(model_dir), "has no final model (model/); train without --no-final"))
    variant = get_variant(name)
    return name, variant.Model.load(model_dir / MODEL_DIR)


def predict(model_dir: str | Path, data_dir: str | Path, split: str, out: str | Path) -> Path:
    """Score a split of a prepared dataset with a trained model and write a predictions file."""
    dataset = PreparedDataset.load(data_dir)
    rows = dataset.split(split)
    if rows.empty:
        raise InputError(Problem(str(dataset.root), "the split has no videos", field="split", value=split))
    _, model = load_model(model_dir)
    scores = model.predict(dataset, split)
    missing = set(rows["video_id"]) - set(scores.index)
    if missing:
        raise RuntimeError(f"model returned no score for {len(missing)} videos, e.g. {sorted(missing)[:3]}")
    return write_predictions(scores.reindex(rows["video_id"]), out)


def train_ids(dataset: PreparedDataset, target: str, fold: int | None) -> list[str]:
    """Labelled training ids of outer fold `fold` (all labelled ids when None), in item-table order."""
    labelled = dataset.labelled(target)["video_id"].tolist()
    if fold is None:
        return labelled
    if dataset.folds is None:
        raise InputError(Problem(str(dataset.root), "the dataset has no folds.json; prepare it again"))
    allowed = set(dataset.folds.train_ids(fold))
    return [v for v in labelled if v in allowed]


def val_ids(dataset: PreparedDataset, fold: int) -> Sequence[str]:
    assert dataset.folds is not None
    return dataset.folds.val_ids(fold)
