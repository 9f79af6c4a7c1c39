"""The GBT ensemble on the real Memento10k annotations (MediaEval 2021 layout, captions only).

    python benchmarks/memento10k_gbt.py [--root ../shared/data/memento10k] [--work /tmp/memo-bench/memento10k]
                                        [--config runs/gbt.yaml] [--set KEY=VALUE ...]

Steps (each resumable: a re-run reuses the prepared dataset, the feature block and every finished fold):
1. `memo prepare memento10k` of the release into WORK/prepared (7000 labelled training videos, 1500 test videos,
   5 group-aware folds);
2. `memo features text` of the captions (MiniLM, the packaged offline encoder);
3. 5-fold CV of the GBT recipe: each outer fold tunes inside its own inner folds; every member's and the ensemble's
   out-of-fold predictions are scored with a 10,000-resample percentile bootstrap CI of Spearman;
4. the final model on all 7000 labelled videos predicts the 1500 test videos; the run file is packaged (me25
   profile) and validated against the test ids.
Prints a table of CV Spearman with CIs per member and for the ensemble, wall time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd

from mediaeval_memo.core.config import config_to_dict, resolve_config
from mediaeval_memo.core.predictions import read_predictions, write_predictions
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.evaluation.gold import load_gold
from mediaeval_memo.evaluation.pipeline import Settings
from mediaeval_memo.evaluation.score import score_run
from mediaeval_memo.experiments.runner import fit_context
from mediaeval_memo.features.text import extract_text_features
from mediaeval_memo.variants.gbt import GBTConfig, GBTVariant

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "memento10k")
    parser.add_argument("--work", type=Path, default=Path("/tmp/memo-bench/memento10k"))
    parser.add_argument("--config", type=Path, default=REPO / "runs" / "gbt.yaml")
    parser.add_argument("--set", dest="pairs", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--bootstrap", type=int, default=10_000)
    args = parser.parse_args()
    started = time.perf_counter()
    progress = Reporter()

    prepared = args.work / "prepared"
    if not (prepared / "items.parquet").is_file():
        from mediaeval_memo.data.prepare import PrepareOptions, prepare

        progress.say(f"preparing {args.root} into {prepared}")
        prepare("memento10k", args.root, prepared, PrepareOptions(frames=0, folds=5, seed=0))
    extract_text_features(prepared, fields=["captions"], batch_size=128, progress=progress)
    dataset = PreparedDataset.load(prepared)
    assert dataset.folds is not None

    overrides = dict(pair.split("=", 1) for pair in args.pairs)
    config = resolve_config(GBTConfig, args.config, overrides)
    target = dataset.check_target(config.target)
    print(f"config {args.config}: {json.dumps(config_to_dict(config), sort_keys=True)}")
    variant = GBTVariant()
    runs = args.work / "runs" / args.config.stem
    fold_seconds: dict[int, float] = {}
    parts = []
    for k in range(dataset.folds.k):
        path = runs / f"fold_{k}" / "members.csv"
        if not path.is_file():
            t0 = time.perf_counter()
            ctx = fit_context(dataset, variant, config, k, runs / f"fold_{k}" / "work", progress)
            model = variant.fit(config, ctx)
            frame = model.predict_members(dataset.with_labels_of(()), dataset.folds.val_ids(k))
            fold_seconds[k] = time.perf_counter() - t0
            frame["seconds"] = fold_seconds[k]
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, float_format="%.10g")
        frame = pd.read_csv(path, dtype={"video_id": str}).set_index("video_id")
        fold_seconds[k] = float(frame.pop("seconds").iloc[0])
        frame["fold"] = k
        parts.append(frame)
    oof = pd.concat(parts)
    gold = load_gold(prepared, target=target)
    rows = []
    for column in [c for c in oof.columns if c != "fold"]:
        pred_path = runs / f"oof_{column}.csv"
        write_predictions(oof[column], pred_path, folds=oof["fold"])
        report = score_run(pred_path, gold, Settings(args.bootstrap, 0, method="percentile"))
        srcc = report.scores["srcc"]
        assert srcc.interval is not None
        rows.append((column, srcc.value, srcc.interval.low, srcc.interval.high, srcc.signature))

    final_dir = runs / "final"
    test_path = runs / "predictions_test.csv"
    if not test_path.is_file():
        t0 = time.perf_counter()
        model = variant.fit(config, fit_context(dataset, variant, config, None, final_dir / "work", progress))
        model.save(final_dir / "model")
        write_predictions(model.predict(dataset.with_labels_of(()), "test"), test_path)
        fold_seconds[-1] = time.perf_counter() - t0
    test = read_predictions(test_path)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    print()
    print(f"Memento10k (MediaEval 2021 layout), {len(oof)} labelled training videos, 5-fold group-aware CV")
    print("| model | CV Spearman | 95% CI (percentile bootstrap) | signature |")
    print("|---|---|---|---|")
    for name, value, low, high, sig in rows:
        print(f"| {name} | {value:.4f} | [{low:.4f}, {high:.4f}] | `{sig}` |")
    print()
    print("seconds per outer fold (tuning + final members): " + ", ".join(f"{s:.0f}" for s in fold_seconds.values()))
    wall = time.perf_counter() - started
    print(f"wall time of this invocation: {wall:.0f} s; peak memory (max RSS): {peak_gib:.2f} GiB")
    print(f"test predictions: {test_path} ({len(test)} videos)")
    package_and_validate(test_path, prepared, args.work / "submissions")


def package_and_validate(predictions: Path, prepared: Path, out: Path) -> None:
    """Package the test predictions as a me25 run file and validate it against the prepared test ids."""
    from mediaeval_memo.submission.profiles import load_profile
    from mediaeval_memo.submission.validator import validate_paths
    from mediaeval_memo.submission.writer import package_run

    profile = load_profile("me25")
    packaged = package_run(
        [str(predictions)], team="memo", subtask="1", run=1, profile=profile, out_dir=out, data=prepared, force=True
    )
    ids = PreparedDataset.load(prepared).split("test")["video_id"].astype(str).tolist()
    result = validate_paths([packaged.path], profile, ids)
    problems = [*result.problems, *(p for f in result.files for p in f.problems)]
    print(f"run file: {packaged.path} ({packaged.rows} rows, profile {profile.name})")
    print(f"validation: {'valid, no problems' if result.ok else '; '.join(map(str, problems))}")


if __name__ == "__main__":
    main()
