"""Error analysis written beside every run's out-of-fold predictions: a scatter plot and the best/worst videos.

The paper behind the qwen-vl variant reads its model through these two views (its Figures 5 and 6): predictions
against ground truth, and the videos predicted best and worst with their captions. Errors are measured on
percentile ranks, so that they mean the same for any score scale (Spearman only sees ranks too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mediaeval_memo.core.io import atomic_path, atomic_write_text
from mediaeval_memo.core.metric import srcc
from mediaeval_memo.data.items import PreparedDataset

SCATTER_FILE = "scatter.png"
TABLE_FILE = "best_worst.csv"
REPORT_FILE = "best_worst.md"


def rank_errors(predictions: pd.Series, gold: pd.Series) -> pd.DataFrame:
    """video_id, gold, prediction, their percentile ranks and the absolute rank error, best first."""
    frame = pd.DataFrame({"gold": gold.reindex(predictions.index).astype(float), "prediction": predictions})
    frame["gold_pct"] = frame["gold"].rank(pct=True)
    frame["prediction_pct"] = frame["prediction"].rank(pct=True)
    frame["rank_error"] = (frame["prediction_pct"] - frame["gold_pct"]).abs()
    frame = frame.rename_axis("video_id").reset_index()
    return frame.sort_values(["rank_error", "video_id"], kind="mergesort").reset_index(drop=True)


def write_error_analysis(
    dataset: PreparedDataset, predictions: pd.Series, target: str, out_dir: Path, n: int = 10
) -> list[Path]:
    """Write scatter.png, best_worst.csv and best_worst.md into `out_dir`; returns the paths written."""
    gold = dataset.rows(list(predictions.index)).set_index("video_id")
    errors = rank_errors(predictions, gold[target])
    captions = gold["captions"].map(lambda c: " | ".join(str(x) for x in list(c)))
    picked = pd.concat([errors.head(n).assign(group="best"), errors.tail(n).iloc[::-1].assign(group="worst")])
    picked["captions"] = picked["video_id"].map(captions)
    columns = ["group", "video_id", "gold", "prediction", "rank_error", "captions"]
    written = [
        atomic_write_text(
            out_dir / TABLE_FILE, picked[columns].to_csv(index=False, float_format="%.6g", lineterminator="\n")
        )
    ]
    rho = srcc(errors["prediction"], errors["gold"])
    lines = [f"# Error analysis: {target}, {len(errors)} videos, Spearman {rho:.4f}", ""]
    for group in ("best", "worst"):
        lines += [
            f"## {n} {group} predicted (percentile-rank error)",
            "",
            "| video | gold | prediction | rank error | captions |",
            "|---|---|---|---|---|",
        ]
        for row in picked[picked["group"] == group].itertuples():
            text = str(row.captions).replace("|", "/")
            lines.append(f"| {row.video_id} | {row.gold:.4f} | {row.prediction:.4f} | {row.rank_error:.3f} | {text} |")
        lines.append("")
    written.append(atomic_write_text(out_dir / REPORT_FILE, "\n".join(lines)))
    written.append(_scatter(errors, target, rho, out_dir / SCATTER_FILE))
    return written


def _scatter(errors: pd.DataFrame, target: str, rho: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.scatter(errors["gold"], errors["prediction"], s=8, alpha=0.6)
    low = float(np.nanmin([errors["gold"].min(), errors["prediction"].min()]))
    high = float(np.nanmax([errors["gold"].max(), errors["prediction"].max()]))
    ax.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel(f"ground truth ({target})")
    ax.set_ylabel("prediction")
    ax.set_title(f"Spearman {rho:.4f}, n={len(errors)}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    return path
