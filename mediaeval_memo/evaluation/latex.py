"""A leaderboard as a LaTeX booktabs table for a working-notes paper: per run, each metric and its `[low, high]`
interval, the best value of each column in bold, the signatures as comments. It needs only `\\usepackage{booktabs}`
and compiles as it is inside a document (`\\input{dev.tex}`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mediaeval_memo.evaluation.ci import Interval, interval_method

if TYPE_CHECKING:  # leaderboard imports this module for its `latex` format
    from mediaeval_memo.evaluation.leaderboard import Leaderboard

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def tex_escape(text: str) -> str:
    """`text` as LaTeX text: every special character written as itself; line breaks become spaces."""
    return "".join(_SPECIAL.get(c, c) for c in " ".join(str(text).split()))


def _comment(text: str) -> str:
    return "% " + " ".join(str(text).split())


def _value(x: float, digits: int, bold: bool) -> str:
    if not math.isfinite(x):
        return "--"
    text = f"{x:.{digits}f}"
    return rf"\textbf{{{text}}}" if bold else text


def _interval(iv: Interval | None, digits: int) -> str:
    if iv is None or not (math.isfinite(iv.low) and math.isfinite(iv.high)):
        return "--"
    return f"[{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def render_latex(board: Leaderboard, digits: int = 3) -> str:
    """The table: rank, run, Spearman and its interval, Pearson and its interval, MSE and its interval."""

    entries = board.entries
    iv = next((e.interval for e in entries if e.interval is not None), None)
    level = f"{board.confidence * 100:.10g}%"
    method = "no interval" if iv is None else f"{level} {interval_method(iv.method).label} intervals"
    clustered = "" if board.clusters is None else f", {board.clusters} clusters resampled whole"
    boot = f"{board.n_resamples} bootstrap resamples, seed {board.seed}" if board.n_resamples else "no bootstrap"

    def best(values: list[float], high: bool) -> float | None:
        finite = [v for v in values if math.isfinite(v)]
        return None if not finite else (max(finite) if high else min(finite))

    best_srcc = best([e.srcc for e in entries], True)
    best_plcc = best([e.plcc for e in entries], True)
    best_mse = best([e.mse for e in entries], False)

    def is_best(x: float, b: float | None, places: int = digits) -> bool:
        # Ties at the printed precision are all bold: the table cannot tell them apart.
        return b is not None and math.isfinite(x) and round(x, places) == round(b, places)

    lines = [
        _comment(f"memo leaderboard: {len(entries)} runs against {board.gold.source}, n = {board.n}{clustered}"),
        _comment(f"{method}, {boot}; needs \\usepackage{{booktabs}}"),
        _comment("signatures:"),
        *(_comment(f"{e.name}: {e.signature}") for e in entries),
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{rlrlrlrl}",
        r"\toprule",
        r"Rank & Run & SRCC & CI & PLCC & CI & MSE & CI \\",
        r"\midrule",
    ]
    for e in entries:
        cells = [
            str(e.rank),
            tex_escape(e.name),
            _value(e.srcc, digits, is_best(e.srcc, best_srcc)),
            _interval(e.interval, digits),
            _value(e.plcc, digits, is_best(e.plcc, best_plcc)),
            _interval(e.plcc_interval, digits),
            _value(e.mse, digits + 2, is_best(e.mse, best_mse, digits + 2)),
            _interval(e.mse_interval, digits + 2),
        ]
        lines.append(" & ".join(cells) + r" \\")
    caption = (
        f"Runs ranked by Spearman's rank correlation (SRCC) on {board.n} videos, with Pearson (PLCC) and MSE; "
        f"brackets: {method}, {boot}{clustered}. Best value per column in bold."
    )
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{tex_escape(caption)}}}",
        r"\label{tab:leaderboard}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
