"""The page of several runs (`memo leaderboard --format html`, `memo report FILES --gold`): the leaderboard table
with every metric and its interval, the forest plot, the paired-bootstrap difference of every pair with its
Holm-adjusted p-value, the Spearman correlation between the runs' predictions, and the LaTeX table ready to copy.

Every number comes from `evaluation`: the table and the plot from `build_leaderboard`, the pairs from
`compare_runs` (the same settings, so the same resamples), the LaTeX from `evaluation.latex`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_write_text
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.evaluation.agreement import prediction_correlations
from mediaeval_memo.evaluation.ci import interval_method
from mediaeval_memo.evaluation.compare import Comparison, compare_runs
from mediaeval_memo.evaluation.gold import Gold
from mediaeval_memo.evaluation.latex import render_latex
from mediaeval_memo.evaluation.leaderboard import Leaderboard, build_leaderboard
from mediaeval_memo.evaluation.pipeline import Settings
from mediaeval_memo.report import html, plots
from mediaeval_memo.report.html import Markup


@dataclass(frozen=True)
class BoardPage:
    """What the page shows: the leaderboard, and (two runs or more, a bootstrap method) their paired comparison
    and the correlations between their predictions, in the comparison's run order."""

    board: Leaderboard
    comparison: Comparison | None
    correlations: npt.NDArray[np.float64] | None
    why_no_comparison: str = ""


def build_board_page(
    paths: Sequence[str | Path], gold: Gold, settings: Settings, progress: Reporter | None = None
) -> BoardPage:
    board = build_leaderboard(paths, gold, settings, progress)
    if len(paths) < 2:
        return BoardPage(board, None, None, "one run: nothing to compare")
    if not interval_method(settings.method).paired or settings.n_resamples < 1:
        why = f"--method {settings.method} has no paired test; use --method percentile or bca for the pairs"
        return BoardPage(board, None, None, why)
    comparison = compare_runs(paths, gold, settings, progress)
    return BoardPage(board, comparison, prediction_correlations(comparison.runs))


def _signature(text: str) -> Markup:
    return html.tag("code", text, class_="sig")


def leaderboard_table(board: Leaderboard) -> Markup:
    level = f"{board.confidence * 100:.10g}% CI"
    header = ["rank", "run", "Spearman", level, "Pearson", level, "MSE", level]
    rows = []
    finite = [e for e in board.entries if np.isfinite(e.srcc)]
    best = {
        "srcc": max((e.srcc for e in finite), default=None),
        "plcc": max((e.plcc for e in board.entries if np.isfinite(e.plcc)), default=None),
        "mse": min((e.mse for e in board.entries if np.isfinite(e.mse)), default=None),
    }

    def cell(x: float, key: str, digits: int = 4) -> Markup:
        bold = best[key] is not None and np.isfinite(x) and x == best[key]
        return html.tag("span", html.number(x, digits), class_="best" if bold else None)

    def iv(i: object) -> str:
        from mediaeval_memo.evaluation.ci import Interval

        return html.interval(i.low, i.high) if isinstance(i, Interval) else "n/a"

    for e in board.entries:
        rows.append(
            [
                str(e.rank),
                e.name,
                cell(e.srcc, "srcc"),
                iv(e.interval),
                cell(e.plcc, "plcc"),
                iv(e.plcc_interval),
                cell(e.mse, "mse", 5),
                iv(e.mse_interval),
            ]
        )
    numeric = [True, False, True, False, True, False, True, False]
    return html.table(header, rows, numeric=numeric, class_="leaderboard")


def _pairs_matrix(comparison: Comparison, order: Sequence[str]) -> Markup:
    """Row A, column B: the Spearman difference A - B, its interval and its p-value (Holm-adjusted over every
    pair when there are more than two runs)."""
    cells: dict[tuple[str, str], str] = {}
    holm = len(comparison.runs) > 2
    for p in comparison.pairs:
        for a, b, sign in ((p.a, p.b, 1.0), (p.b, p.a, -1.0)):
            low, high = sorted((sign * p.interval.low, sign * p.interval.high))
            q = p.p_holm if holm and p.p_holm is not None else p.p_value
            label = "p (Holm)" if holm else "p"
            cells[(a, b)] = f"{sign * p.difference:+.4f} {html.interval(low, high)}; {label} = {q:.4g}"
    rows = [[a, *(cells.get((a, b), "—") for b in order)] for a in order]
    return html.table(["A \\ B", *order], rows, numeric=[False] * (len(order) + 1), sortable=False)


def render_board_page(page: BoardPage, title: str | None = None) -> str:
    board = page.board
    clustered = "" if board.clusters is None else f", {board.clusters} clusters resampled whole"
    resampling = f"{board.n_resamples} bootstrap resamples, seed {board.seed}" if board.n_resamples else "no bootstrap"
    subtitle = f"{len(board.entries)} runs against {board.gold.source}: n = {board.n} videos, {resampling}{clustered}"
    entries = board.entries
    forest = plots.dot_intervals(
        [f"{e.rank}. {e.name}" for e in entries],
        [e.srcc for e in entries],
        [None if e.interval is None else e.interval.low for e in entries],
        [None if e.interval is None else e.interval.high for e in entries],
        f"Spearman's rank correlation, {board.ci_label()}",
    )
    table_body = html.join(
        [
            html.tag(
                "p",
                f"Ranked by Spearman (the official metric); {board.ci_label()}. Best value per column in bold. "
                "Click a header to sort.",
                class_="intro",
            ),
            leaderboard_table(board),
            html.tag("h3", "Signatures"),
            html.tag("ul", (html.tag("li", f"{e.name}: ", _signature(e.signature)) for e in entries)),
        ]
    )
    sections: list[tuple[str, str, Markup]] = [
        ("table", "Leaderboard", table_body),
        (
            "forest",
            "Forest plot",
            html.figure(
                forest,
                "Each run's Spearman (dot) and its interval (bar), best on top; "
                "overlapping bars alone do not make two runs equal: see the "
                "paired differences.",
            ),
        ),
    ]
    order = [e.name for e in entries]
    if page.comparison is not None and page.correlations is not None:
        c = page.comparison
        holm = "Holm-adjusted over all pairs" if len(c.runs) > 2 else "two runs: no adjustment needed"
        pairs = html.join(
            [
                html.tag(
                    "p",
                    f"Row A minus column B: the Spearman difference on {c.n_resamples} paired resamples (every run "
                    f"scored on the same draws), its {board.confidence * 100:.10g}% interval and the two-sided "
                    f"p-value (c + 1) / (B + 1), {holm}.",
                    class_="intro",
                ),
                _pairs_matrix(c, order),
                html.details(
                    "signatures of the differences",
                    html.tag("ul", (html.tag("li", f"{p.a} vs {p.b}: ", _signature(p.signature)) for p in c.pairs)),
                ),
            ]
        )
        names = [r.name for r in c.runs]
        index = [names.index(n) for n in order]
        m = page.correlations[np.ix_(index, index)]
        corr = html.join(
            [
                html.tag(
                    "p",
                    "Spearman correlation between the runs' predictions on the same videos. Two good runs "
                    "with a low correlation make mistakes on different videos: they are the ones worth "
                    "ensembling.",
                    class_="intro",
                ),
                html.figure(plots.heatmap(order, m, "Spearman between predictions")),
                html.table(
                    ["run", *order],
                    [[a, *(html.number(m[i, j], 3) for j in range(len(order)))] for i, a in enumerate(order)],
                    numeric=[False, *([True] * len(order))],
                    sortable=False,
                ),
            ]
        )
        sections += [("pairs", "Paired differences", pairs), ("agreement", "Agreement between runs", corr)]
    else:
        sections.append(("pairs", "Paired differences", html.note(page.why_no_comparison)))
    latex = render_latex(board)
    sections.append(
        (
            "latex",
            "LaTeX table",
            html.join(
                [
                    html.tag(
                        "p",
                        "The same table for a paper (booktabs; `memo leaderboard --format latex` writes it as a file).",
                        class_="intro",
                    ),
                    html.pre(latex),
                ]
            ),
        )
    )
    return html.page(title or "Leaderboard", subtitle, sections)


def write_board_page(page: BoardPage, out: Path, title: str | None = None) -> Path:
    if out.is_dir():
        raise InputError(Problem(str(out), "is a folder; --out names the HTML file to write"))
    return atomic_write_text(out, render_board_page(page, title))
