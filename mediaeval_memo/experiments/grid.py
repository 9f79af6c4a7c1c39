"""Grid search for any variant: K-fold cross-validation per setting, a CSV and a heatmap of mean Spearman.

`memo train VARIANT --grid "r=16,32,64,128" --grid "alpha=32,256,1024"` runs every combination (the cartesian
product) through `runner.train` without final models, each in `OUT/grid/<setting>/` (so a killed grid resumes with
--resume), then writes `OUT/grid.csv` (one row per setting: its values, per-fold and mean Spearman, pooled
out-of-fold Spearman) and `OUT/grid.png`, the mean Spearman as a heatmap (rows: the other keys, columns: the last
key), as in the paper's Figure 4. Keys are config fields or a variant's short aliases (`Config.aliases`).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_path, atomic_write_text
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.experiments.runner import train
from mediaeval_memo.variants import get_variant
from mediaeval_memo.variants.base import VariantConfig

GRID_CSV = "grid.csv"
GRID_PNG = "grid.png"


@dataclass
class GridResult:
    table: pd.DataFrame
    csv: Path
    heatmap: Path


def parse_grid(specs: Sequence[str], config_cls: type[VariantConfig]) -> tuple[list[str], list[dict[str, str]]]:
    """('r=16,32', 'alpha=64') -> (field names, settings as field -> raw value), in a stable order."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    aliases: Mapping[str, str] = getattr(config_cls, "aliases", {})
    keys: list[str] = []
    values: list[list[str]] = []
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip().replace("-", "_")
        name = aliases.get(key, key)
        choices = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not choices:
            raise InputError(
                Problem("command line", "expected KEY=V1,V2,... (e.g. r=16,32)", field="--grid", value=spec)
            )
        if name not in fields:
            known = ", ".join(sorted(fields | set(aliases)))
            raise InputError(
                Problem("command line", f"unknown config field {key!r} (known: {known})", field="--grid", value=spec)
            )
        if name in keys:
            raise InputError(Problem("command line", f"{name} appears twice", field="--grid", value=spec))
        keys.append(name)
        values.append(choices)
    return keys, [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def setting_name(setting: Mapping[str, str]) -> str:
    return "_".join(f"{k}-{v}" for k, v in setting.items()).replace("/", "-")


def run_grid(
    variant_name: str,
    data_dir: str | Path,
    out: str | Path,
    specs: Sequence[str],
    recipe: str | Path | None = None,
    overrides: Mapping[str, object] | None = None,
    folds: str = "all",
    resume: bool = False,
    force: bool = False,
    progress: Reporter | None = None,
) -> GridResult:
    """Cross-validate every setting of the grid and summarise mean Spearman per setting."""
    progress = progress or Reporter()
    variant = get_variant(variant_name)
    keys, settings = parse_grid(specs, variant.Config)
    if folds == "none":
        raise InputError(
            Problem(
                "command line",
                "a grid compares settings by cross-validation; choose folds",
                field="--folds",
                value=folds,
            )
        )
    out = Path(out)
    rows = []
    for i, setting in enumerate(settings, start=1):
        progress.say(f"grid {i}/{len(settings)}: {', '.join(f'{k}={v}' for k, v in setting.items())}")
        result = train(
            variant_name,
            data_dir,
            out / "grid" / setting_name(setting),
            recipe,
            {**(overrides or {}), **setting},
            folds=folds,
            final=False,
            resume=resume,
            force=force,
            progress=progress,
        )
        per_fold = list(result.fold_srcc.values())
        row: dict[str, object] = {k: getattr(result.config, k) for k in keys}
        row.update(
            mean_srcc=statistics.fmean(per_fold),
            std_srcc=statistics.stdev(per_fold) if len(per_fold) > 1 else 0.0,
            oof_srcc=result.oof_srcc,
            folds=" ".join(f"{v:.4f}" for v in per_fold),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    csv = atomic_write_text(out / GRID_CSV, table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    heatmap = _heatmap(table, keys, out / GRID_PNG)
    best = table.iloc[int(table["mean_srcc"].to_numpy().argmax())]
    progress.say(f"best setting: {', '.join(f'{k}={best[k]}' for k in keys)} (mean Spearman {best['mean_srcc']:.4f})")
    return GridResult(table, csv, heatmap)


def _heatmap(table: pd.DataFrame, keys: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    col = keys[-1]
    row_keys = keys[:-1]
    labels = (
        table[row_keys].astype(str).agg(", ".join, axis=1).radd(", ".join(row_keys) + ": ")
        if row_keys
        else pd.Series(["mean Spearman"] * len(table))
    )
    grid = table.assign(_row=labels.to_numpy()).pivot_table(index="_row", columns=col, values="mean_srcc", sort=False)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * grid.shape[1], 1.0 + 0.6 * grid.shape[0]), dpi=120)
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")  # rows: other keys
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), list(grid.index))
    ax.set_xlabel(col)
    values = grid.to_numpy(dtype=float)
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            if values[r, c] == values[r, c]:  # not NaN: a combination the grid ran
                ax.text(c, r, f"{values[r, c]:.3f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(image, ax=ax, label="mean Spearman")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    return path
