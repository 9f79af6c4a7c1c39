"""The report panel of a trained network: training loss and held-out Spearman per epoch, one line per fit, from
the `history` each fit's `TrainOutcome.summary()` records in its `fit.json`."""

from __future__ import annotations

import math

from mediaeval_memo.report.panels import LinesPanel, Panel, RunFiles, TablePanel

LOSS = "training loss"
HELD_OUT = "held-out Spearman"


def history_panels(run: RunFiles) -> list[Panel]:
    loss: dict[str, tuple[list[float], list[float]]] = {}
    held: dict[str, tuple[list[float], list[float]]] = {}
    rows = []
    for fit, report in run.fits.items():
        history = report.get("history") or []
        points = [h for h in history if isinstance(h, dict) and "epoch" in h]
        with_loss = [h for h in points if _finite(h.get("train_loss"))]
        with_val = [h for h in points if _finite(h.get("val_spearman"))]
        if with_loss:
            loss[fit] = ([float(h["epoch"]) for h in with_loss], [float(h["train_loss"]) for h in with_loss])
        if with_val:
            held[fit] = ([float(h["epoch"]) for h in with_val], [float(h["val_spearman"]) for h in with_val])
        rows.append(
            [
                fit,
                report.get("steps"),
                report.get("epochs_completed"),
                report.get("best_step"),
                report.get("best_held_out_spearman"),
                "yes" if report.get("stopped_early") else "no",
            ]
        )
    panels: list[Panel] = []
    if rows:
        panels.append(
            TablePanel(
                "Fits",
                ["fit", "steps", "epochs", "best step", "best held-out Spearman", "stopped early"],
                rows,
                "Held-out: the videos each fit kept out of its own training videos for early stopping and "
                "keep-best, never the fold it is scored on.",
            )
        )
    charts = {name: series for name, series in ((LOSS, loss), (HELD_OUT, held)) if series}
    if charts:
        panels.append(
            LinesPanel("Training curves", charts, "epoch", {LOSS: "mean training loss", HELD_OUT: "Spearman"})
        )
    elif rows:
        panels.append(
            TablePanel("Training curves", ["note"], [["no per-epoch history in fit.json (trained before it was kept)"]])
        )
    return panels


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)
