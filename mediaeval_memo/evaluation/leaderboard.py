"""Leaderboards: runs ranked by Spearman with confidence intervals, as Markdown, CSV, JSON or a LaTeX booktabs
table (`evaluation.latex`), and a forest plot. (The HTML page is `report.board`, one layer up.)

All runs are scored on one shared resample matrix, so their intervals come from the same resamples of the videos.
Files are written atomically beside each other: `<out>.md`, `<out>.csv`, `<out>.json`, `<out>.tex`, `<out>.png`.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_path, atomic_write_text, require_output_folder
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.evaluation.ci import Interval, Method, interval_method
from mediaeval_memo.evaluation.gold import Gold
from mediaeval_memo.evaluation.pipeline import Settings, score_files, signature_fields

Format = Literal["md", "csv", "json", "latex"]
FORMATS: tuple[Format, ...] = ("md", "csv", "json", "latex")
SUFFIXES: dict[str, str] = {"md": "md", "csv": "csv", "json": "json", "latex": "tex", "html": "html"}


@dataclass(frozen=True)
class Entry:
    rank: int
    name: str
    path: str
    srcc: float
    interval: Interval | None
    plcc: float
    mse: float
    signature: str
    plcc_interval: Interval | None = None
    mse_interval: Interval | None = None


@dataclass(frozen=True)
class Leaderboard:
    entries: list[Entry]
    gold: Gold
    n: int
    n_resamples: int
    seed: int
    method: Method
    confidence: float
    clusters: int | None = None  # clusters resampled whole (None: videos)

    def ci_label(self) -> str:
        iv = next((e.interval for e in self.entries if e.interval is not None), None)
        return "CI" if iv is None else f"{iv.confidence * 100:.10g}% CI ({interval_method(iv.method).label})"


def build_leaderboard(
    paths: Sequence[str | Path], gold: Gold, settings: Settings | None = None, progress: Reporter | None = None
) -> Leaderboard:
    """Score every run on shared resamples and rank them by Spearman (ties by name)."""
    if not paths:
        raise InputError(Problem("FILES", "a leaderboard needs at least one prediction file"))
    settings = settings or Settings()
    scored = score_files(paths, gold, settings, progress=progress)
    rows = []
    for j, run in enumerate(scored.runs):
        interval = scored.headline("srcc", j)
        sig = scored.signature("srcc", j, interval)
        others = (scored.headline("plcc", j), scored.headline("mse", j))
        rows.append(
            (scored.value("srcc", j), run, interval, scored.value("plcc", j), scored.value("mse", j), sig, others)
        )
    rows.sort(key=lambda r: (-r[0] if math.isfinite(r[0]) else math.inf, r[1].name))
    entries = [
        Entry(rank, run.name, str(run.path), srcc, iv, plcc, mse, sig, *others)
        for rank, (srcc, run, iv, plcc, mse, sig, others) in enumerate(rows, start=1)
    ]
    return Leaderboard(
        entries,
        gold,
        scored.n,
        settings.n_resamples,
        settings.seed,
        settings.method,
        settings.confidence,
        None if scored.clusters is None else scored.clusters.n_clusters,
    )


def _f(x: float | None, digits: int = 4) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def to_records(board: Leaderboard) -> list[dict[str, Any]]:
    return [
        {
            "rank": e.rank,
            "run": e.name,
            "srcc": e.srcc,
            "ci_low": None if e.interval is None else e.interval.low,
            "ci_high": None if e.interval is None else e.interval.high,
            "plcc": e.plcc,
            "mse": e.mse,
            "n": board.n,
            "path": e.path,
            "signature": e.signature,
        }
        for e in board.entries
    ]


def render_markdown(board: Leaderboard) -> str:
    lines = [
        f"| rank | run | Spearman | {board.ci_label()} | Pearson | MSE |",
        "|---:|---|---:|---|---:|---:|",
    ]
    for e in board.entries:
        ci = "" if e.interval is None else f"[{_f(e.interval.low)}, {_f(e.interval.high)}]"
        name = e.name.replace("|", "\\|")  # a pipe in a file name would end the cell
        lines.append(f"| {e.rank} | {name} | {_f(e.srcc)} | {ci} | {_f(e.plcc)} | {_f(e.mse, 5)} |")
    clustered = "" if board.clusters is None else f", resampled in {board.clusters} clusters"
    lines += ["", f"Gold: {board.gold.source}, n = {board.n}{clustered}. Signatures:", ""]
    lines += [f"- {e.name}: `{e.signature}`" for e in board.entries]
    return "\n".join(lines) + "\n"


def render_csv(board: Leaderboard) -> str:
    buf = io.StringIO()
    records = to_records(board)
    fields = ["rank", "run", "srcc", "ci_low", "ci_high", "plcc", "mse", "n", "path", "signature"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow(
            {k: ("" if r[k] is None else (f"{r[k]:.10g}" if isinstance(r[k], float) else r[k])) for k in fields}
        )
    return buf.getvalue()


def render_json(board: Leaderboard) -> str:
    data = {
        "gold": board.gold.source,
        "n": board.n,
        "bootstrap": board.n_resamples,
        "clusters": board.clusters,
        "seed": board.seed,
        "method": board.method,
        "confidence": board.confidence,
        "runs": [
            {
                **{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()},
                "signature_fields": signature_fields(str(r["signature"])),
            }
            for r in to_records(board)
        ],
    }
    return json.dumps(data, indent=2) + "\n"


def render_latex(board: Leaderboard) -> str:
    from mediaeval_memo.evaluation.latex import render_latex as latex

    return latex(board)


RENDERERS: dict[Format, Callable[[Leaderboard], str]] = {
    "md": render_markdown,
    "csv": render_csv,
    "json": render_json,
    "latex": render_latex,
}


def output_prefix(out: str | Path) -> Path:
    """`leaderboards/NAME` (a trailing .md/.csv/.json/.tex/.html/.png is dropped: every format is written beside it)."""
    out = Path(out)
    return out.with_suffix("") if out.suffix.lstrip(".") in (*SUFFIXES.values(), "png") else out


def output_path(out: str | Path, fmt: str) -> Path:
    """Where format `fmt` of the leaderboard `out` goes: `leaderboards/NAME.<suffix>`."""
    prefix = output_prefix(out)
    return prefix.with_name(f"{prefix.name}.{SUFFIXES.get(fmt, fmt)}")


def check_output(out: str | Path) -> None:
    """The folder of `out` can hold the files (checked before the bootstrap, not after it)."""
    require_output_folder(output_prefix(out).parent, "a file prefix in a folder, e.g. leaderboards/dev")


def write_leaderboard(
    board: Leaderboard, out: str | Path, formats: Sequence[Format] = ("md",), *, plot: bool = False, force: bool = True
) -> list[Path]:
    """Write the table in each format (and the forest plot) next to `out`; returns the paths written."""
    check_output(out)
    prefix = output_prefix(out)
    targets = [output_path(prefix, fmt) for fmt in formats]
    if plot:
        targets.append(prefix.with_name(f"{prefix.name}.png"))
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise InputError([Problem(str(t), "exists; pass --force to replace it") for t in existing])
    written = [atomic_write_text(t, RENDERERS[fmt](board)) for t, fmt in zip(targets, formats, strict=False)]
    if plot:
        written.append(forest_plot(board, targets[-1]))
    return written


def require_matplotlib() -> None:
    """Plots need the `plot` extra; say so in one line instead of a traceback."""
    if importlib.util.find_spec("matplotlib") is None:
        raise InputError(Problem("--plot", "needs matplotlib: pip install 'mediaeval-memo[plot]'"))


def forest_plot(board: Leaderboard, path: str | Path) -> Path:
    """A PNG with one row per run (best on top): the Spearman estimate and its interval."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = board.entries
    k = len(entries)
    fig, ax = plt.subplots(figsize=(8.0, 1.2 + 0.45 * k))
    ys = list(range(k))[::-1]
    for y, e in zip(ys, entries, strict=True):
        iv = e.interval
        if iv is not None and math.isfinite(iv.low) and math.isfinite(iv.high):
            ax.plot([iv.low, iv.high], [y, y], color="#3b6ea5", linewidth=2.2, solid_capstyle="butt")
            ax.plot([iv.low, iv.low], [y - 0.15, y + 0.15], color="#3b6ea5", linewidth=1.2)
            ax.plot([iv.high, iv.high], [y - 0.15, y + 0.15], color="#3b6ea5", linewidth=1.2)
            text = f"{e.srcc:.3f} [{iv.low:.3f}, {iv.high:.3f}]"
        else:
            text = f"{e.srcc:.3f}"
        ax.plot([e.srcc], [y], marker="D", color="#1d3557", markersize=6, zorder=3)
        ax.annotate(text, xy=(1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=9)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{e.rank}. {e.name}" for e in entries])
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_xlabel(f"Spearman's rank correlation, {board.ci_label()}")
    resampling = f"{board.n_resamples} bootstrap resamples, seed {board.seed}" if board.n_resamples else "no bootstrap"
    if board.clusters is not None:
        resampling += f", {board.clusters} clusters resampled whole"
    ax.set_title(f"n = {board.n} videos, {resampling}", fontsize=10)
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path
