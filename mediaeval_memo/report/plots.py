"""Plots as inline SVG (matplotlib's SVG backend, text kept as text in the reader's own sans-serif font). A scatter
of thousands of points is rasterised inside its SVG (one embedded PNG), which keeps a 7,000-video page small.

Every function takes plain numbers and labels and returns `Markup`; matplotlib escapes the labels it writes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.report.html import Markup

INK = "#1d3557"
ACCENT = "#3b6ea5"
SECOND = "#e07a2f"
GREY = "#8a94a3"
RASTER_ABOVE = 600  # points: a scatter with more is rasterised inside its SVG


def require_matplotlib() -> None:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise InputError(Problem("report", "plots need matplotlib: pip install 'mediaeval-memo[plot]'"))


@contextmanager
def _style() -> Iterator[Any]:
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rc: dict[str, Any] = {
        "svg.fonttype": "none",  # text stays text: smaller, selectable, the page's own font
        "svg.hashsalt": "memo",  # ids inside the SVG do not change from one run to the next
        "font.family": "sans-serif",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e3e6ea",
        "grid.linewidth": 0.7,
        "axes.axisbelow": True,
    }
    with plt.rc_context(rc):  # type: ignore[arg-type]
        yield plt


def _svg(fig: Any, plt: Any) -> Markup:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None}, dpi=110)
    plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")
    svg = text[start:]
    # Matplotlib names its fonts "DejaVu Sans"; the page uses whatever sans-serif the reader has.
    svg = re.sub(r"font-family:[^;\"']*", "font-family: system-ui, Arial, sans-serif", svg)
    return Markup(svg)


def _finite(values: Sequence[float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    a = np.asarray(values, dtype=np.float64)
    return a[np.isfinite(a)]


def dot_intervals(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    xlabel: str,
    *,
    emphasis: int | None = None,
    title: str | None = None,
) -> Markup:
    """One row per label (first on top): the estimate as a dot and its interval as a bar, values written beside;
    row `emphasis` (e.g. the pooled value) is drawn darker. Forest plots and per-fold plots are this."""
    with _style() as plt:
        k = len(labels)
        fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.36 * k))
        ys = list(range(k))[::-1]
        for i, (y, v, lo, hi) in enumerate(zip(ys, values, lows, highs, strict=True)):
            colour = INK if i == emphasis else ACCENT
            text = f"{v:.3f}" if math.isfinite(v) else "n/a"
            if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=colour, linewidth=2.2, solid_capstyle="butt")
                for x in (lo, hi):
                    ax.plot([x, x], [y - 0.14, y + 0.14], color=colour, linewidth=1.1)
                text += f" [{lo:.3f}, {hi:.3f}]"
            if math.isfinite(v):
                ax.plot([v], [y], marker="D" if i == emphasis else "o", color=colour, markersize=5.5, zorder=3)
            ax.annotate(text, xy=(1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8.5)
        ax.set_yticks(ys)
        ax.set_yticklabels(list(labels))
        ax.set_ylim(-0.7, k - 0.3)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
        if title:
            ax.set_title(title, fontsize=9.5)
        fig.tight_layout()
        return _svg(fig, plt)


def scatter(gold: npt.ArrayLike, prediction: npt.ArrayLike, xlabel: str, title: str) -> Markup:
    """Prediction against ground truth with the y = x line; rasterised points above RASTER_ABOVE."""
    x, y = np.asarray(gold, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(4.6, 4.4))
        many = len(x) > RASTER_ABOVE
        ax.scatter(x, y, s=4 if many else 10, alpha=0.35 if many else 0.7, color=ACCENT, linewidths=0, rasterized=many)
        both = _finite(np.concatenate([x, y]))
        if both.size:
            lo, hi = float(both.min()), float(both.max())
            ax.plot([lo, hi], [lo, hi], color=GREY, linewidth=0.9, linestyle="--", label="y = x")
            ax.legend(loc="upper left", frameon=False, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("out-of-fold prediction")
        ax.set_title(title, fontsize=9.5)
        fig.tight_layout()
        return _svg(fig, plt)


def calibration(mean_prediction: Sequence[float], mean_gold: Sequence[float], xlabel: str, ylabel: str) -> Markup:
    """Mean ground truth per decile of prediction, against the decile's mean prediction, with y = x."""
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(4.4, 4.0))
        ax.plot(mean_prediction, mean_gold, marker="o", color=ACCENT, markersize=4.5, linewidth=1.4)
        both = _finite([*mean_prediction, *mean_gold])
        if both.size:
            lo, hi = float(both.min()), float(both.max())
            ax.plot([lo, hi], [lo, hi], color=GREY, linewidth=0.9, linestyle="--", label="y = x")
            ax.legend(loc="upper left", frameon=False, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title("Calibration: deciles of the prediction", fontsize=9.5)
        fig.tight_layout()
        return _svg(fig, plt)


def distributions(series: Mapping[str, npt.ArrayLike], xlabel: str, title: str) -> Markup:
    """Overlaid density histograms of several samples on shared bins."""
    samples = {k: _finite(v) for k, v in series.items()}
    pooled = _finite(np.concatenate([v for v in samples.values()])) if samples else np.array([])
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(5.2, 3.2))
        if pooled.size:
            lo, hi = float(pooled.min()), float(pooled.max())
            bins = np.linspace(lo, hi if hi > lo else lo + 1e-9, 31)
            for (name, values), colour in zip(samples.items(), (ACCENT, SECOND, INK, GREY), strict=False):
                if values.size:
                    ax.hist(
                        values,
                        bins=bins,
                        density=True,
                        histtype="step",
                        linewidth=1.6,
                        color=colour,
                        label=f"{name} (n = {values.size})",
                    )
            ax.legend(frameon=False, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.set_title(title, fontsize=9.5)
        fig.tight_layout()
        return _svg(fig, plt)


def lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, title: str
) -> Markup:
    """One line per named series of (x, y) points (e.g. a fit's loss per epoch)."""
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(4.8, 3.2))
        for name, (xs, ys) in series.items():
            ax.plot(list(xs), list(ys), marker="o", markersize=3, linewidth=1.3, label=name)
        if len(series) > 1:
            ax.legend(frameon=False, fontsize=7.5)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9.5)
        fig.tight_layout()
        return _svg(fig, plt)


def heatmap(labels: Sequence[str], values: npt.ArrayLike, title: str, *, fmt: str = "{:.2f}") -> Markup:
    """A square matrix with its values written in the cells (NaN cells left blank)."""
    m = np.asarray(values, dtype=np.float64)
    k = len(labels)
    with _style() as plt:
        size = 1.6 + 0.55 * k
        fig, ax = plt.subplots(figsize=(size + 1.0, size))
        image = ax.imshow(
            np.ma.masked_invalid(m), cmap="Blues", vmin=np.nanmin(m) if np.isfinite(m).any() else 0, vmax=1.0
        )
        for i in range(k):
            for j in range(k):
                if math.isfinite(m[i, j]):
                    dark = m[i, j] > (np.nanmin(m) + 1.0) / 2
                    ax.text(
                        j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8, color="white" if dark else INK
                    )
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(list(labels), rotation=40, ha="right")
        ax.set_yticklabels(list(labels))
        ax.grid(False)
        ax.set_title(title, fontsize=9.5)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        return _svg(fig, plt)
