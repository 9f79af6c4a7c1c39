"""What a variant may put on its run's report page, as data: tables, line charts and texts. A variant's
`report_panels(run)` returns a list of these from the run's own files (`RunFiles`); `render_panel` draws them.
The page escapes every string in them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaeval_memo.report import html, plots
from mediaeval_memo.report.html import Markup

Cell = str | int | float | None


@dataclass(frozen=True)
class TablePanel:
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    note: str = ""
    digits: Mapping[str, int] = field(default_factory=dict)  # decimals of a float column (default 4)


@dataclass(frozen=True)
class LinesPanel:
    """Line charts side by side: chart title -> series name -> (x, y)."""

    title: str
    charts: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]
    xlabel: str
    ylabels: Mapping[str, str]
    note: str = ""


@dataclass(frozen=True)
class TextPanel:
    title: str
    text: str
    note: str = ""
    collapsed: bool = True


Panel = TablePanel | LinesPanel | TextPanel


@dataclass(frozen=True)
class RunFiles:
    """What a trained model folder holds that a variant may report: each fit's own report (`fit.json`'s `report`,
    by fit name: "fold 0", ..., "final model") and the small text files the model wrote (`Model.artifacts`)."""

    root: Path
    fits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        path = self.root / name
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None

    @classmethod
    def read(cls, root: Path) -> RunFiles:
        fits: dict[str, Mapping[str, Any]] = {}
        folds = sorted((root / "folds").glob("fold_*/fit.json"), key=lambda p: int(p.parent.name.split("_")[-1]))
        for path in [*folds, root / "final" / "fit.json"]:
            if path.is_file():
                record = json.loads(path.read_text(encoding="utf-8"))
                name = "final model" if path.parent.name == "final" else f"fold {path.parent.name.split('_')[-1]}"
                fits[name] = record.get("report") or {}
        return cls(root, fits)


def _cell(value: Cell, digits: int = 4) -> str:
    if isinstance(value, float):
        return html.number(value, digits)
    return "" if value is None else str(value)


def render_panel(panel: Panel) -> Markup:
    parts: list[Markup] = [html.tag("h3", panel.title)]
    if isinstance(panel, TablePanel):
        numeric = [
            bool(panel.rows) and all(isinstance(r[i], int | float) for r in panel.rows if r[i] is not None)
            for i in range(len(panel.columns))
        ]
        digits = [panel.digits.get(c, 4) for c in panel.columns]
        rows = ([_cell(c, d) for c, d in zip(row, digits, strict=True)] for row in panel.rows)
        parts.append(html.table(panel.columns, rows, numeric=numeric))
    elif isinstance(panel, LinesPanel):
        charts = [
            html.figure(plots.lines(series, panel.xlabel, panel.ylabels.get(name, ""), name))
            for name, series in panel.charts.items()
        ]
        parts.append(html.tag("div", charts, class_="grid"))
    else:
        body = html.pre(panel.text)
        parts.append(html.details(f"show {panel.title}", body) if panel.collapsed else body)
    if panel.note:
        parts.append(html.note(panel.note))
    return html.join(parts)
