"""The tables `memo score`, `compare` and `leaderboard` print on a terminal: rich renderables, built here so that the
command line only prints them. Every cell is plain text (an interval "[a, b]" or a run name is never markup)."""

from __future__ import annotations

import math

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from mediaeval_memo.evaluation.ci import Interval, interval_method
from mediaeval_memo.evaluation.compare import Comparison
from mediaeval_memo.evaluation.leaderboard import Leaderboard
from mediaeval_memo.evaluation.pipeline import METRIC_NAMES
from mediaeval_memo.evaluation.score import ScoreReport


def number(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def interval(iv: Interval | None) -> str:
    if iv is None or not (math.isfinite(iv.low) and math.isfinite(iv.high)):
        return "n/a"
    return f"[{number(iv.low)}, {number(iv.high)}]"


def _level(confidence: float) -> str:
    return f"{confidence * 100:.10g}%"


def _row(table: Table, *cells: str) -> None:
    table.add_row(*(Text(c) for c in cells))


def score_view(report: ScoreReport, file: str, confidence: float) -> list[RenderableType]:
    """One row per metric (value, headline interval and its method, Fisher interval), then each signature."""
    level = _level(confidence)
    clustered = "" if report.clusters is None else f", {report.clusters} clusters resampled whole"
    table = Table(title=Text(f"{file} against {report.gold.source}, n = {report.n}{clustered}"))
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"{level} CI")
    table.add_column("method")
    table.add_column(f"Fisher {level} CI")
    for m, s in report.scores.items():
        method = "n/a" if s.interval is None else interval_method(s.interval.method).label
        _row(table, METRIC_NAMES[m], number(s.value), interval(s.interval), method, interval(s.intervals.get("fisher")))
    return [table, *(Text(s.signature) for s in report.scores.values())]


def comparison_view(result: Comparison, method: str, confidence: float) -> list[RenderableType]:
    """One row per pair: both Spearmans, the difference, its interval, p (and Holm's p), then each signature."""
    clustered = "" if result.clusters is None else f", {result.clusters} clusters resampled whole"
    table = Table(
        title=Text(f"Paired comparison on {result.gold.source}, n = {result.n}, B = {result.n_resamples}{clustered}")
    )
    for name in ("A", "B"):
        table.add_column(name)
    for name in ("SRCC A", "SRCC B", "A - B"):
        table.add_column(name, justify="right")
    table.add_column(f"{_level(confidence)} CI ({interval_method(method).label})")
    table.add_column("p", justify="right")
    holm = len(result.runs) > 2
    if holm:
        table.add_column("p (Holm)", justify="right")
    for p in result.pairs:
        row = [p.a, p.b, number(p.srcc_a), number(p.srcc_b), number(p.difference), interval(p.interval)]
        row.append(f"{p.p_value:.4g}")
        if holm and p.p_holm is not None:
            row.append(f"{p.p_holm:.4g}")
        _row(table, *row)
    return [table, *(Text(f"{p.a} vs {p.b}: {p.signature}") for p in result.pairs)]


def leaderboard_view(board: Leaderboard) -> list[RenderableType]:
    """Runs ranked by Spearman with their intervals, Pearson and MSE."""
    clustered = "" if board.clusters is None else f", {board.clusters} clusters resampled whole"
    table = Table(title=Text(f"Leaderboard on {board.gold.source}, n = {board.n}{clustered}"))
    table.add_column("rank", justify="right")
    table.add_column("run")
    table.add_column("Spearman", justify="right")
    table.add_column(board.ci_label())
    table.add_column("Pearson", justify="right")
    table.add_column("MSE", justify="right")
    for e in board.entries:
        _row(table, str(e.rank), e.name, number(e.srcc), interval(e.interval), number(e.plcc), number(e.mse, 5))
    return [table]
