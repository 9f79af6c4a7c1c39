"""The page of one trained run (`memo report MODEL_DIR`): what the run is, its cross-validation with intervals,
its out-of-fold predictions against the truth (scatter, calibration, the groups it gets most wrong), the videos it
predicts best and worst, what the variant has to say, and its test predictions beside its out-of-fold ones.

`RunPage` holds what the page shows, assembled by `experiments.report` from the run's files, the dataset and
`evaluation.score` (so every number is the one `memo score` prints); this module only draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mediaeval_memo.evaluation.bootstrap import Metric
from mediaeval_memo.evaluation.ci import interval_method
from mediaeval_memo.evaluation.pipeline import METRIC_NAMES
from mediaeval_memo.evaluation.score import ScoreReport
from mediaeval_memo.report import html, plots
from mediaeval_memo.report.html import Markup
from mediaeval_memo.report.panels import Panel, render_panel


@dataclass(frozen=True)
class Identity:
    variant: str
    dataset: str
    items_sha256: str
    memo_version: str
    target: str
    model_dir: str
    data_dir: str
    trained: str  # when the run started (train.log), or ""
    config_text: str
    plan: Sequence[str] = ()


@dataclass(frozen=True)
class Video:
    video_id: str
    gold: float
    prediction: float
    rank_error: float
    text: str  # captions, or title / transcript excerpt
    thumbnails: Sequence[bytes] = ()  # JPEG


@dataclass(frozen=True)
class GroupRow:
    group: str
    n: int
    mean_rank_error: float  # signed: prediction's percentile rank minus the truth's
    mean_abs_rank_error: float


@dataclass(frozen=True)
class RunPage:
    identity: Identity
    pooled: ScoreReport | None  # out-of-fold predictions of every fold run, scored together
    folds: Sequence[tuple[str, ScoreReport]] = ()
    gold: npt.NDArray[np.float64] = field(default_factory=lambda: np.array([]))  # aligned with `oof`
    oof: npt.NDArray[np.float64] = field(default_factory=lambda: np.array([]))
    deciles: Sequence[tuple[float, float, int]] = ()  # mean prediction, mean truth, videos
    groups: Sequence[tuple[str, Sequence[GroupRow]]] = ()  # column -> its groups, most wrong first
    group_min: int = 5  # the fewest videos of a group shown
    best: Sequence[Video] = ()
    worst: Sequence[Video] = ()
    panels: Sequence[Panel] = ()
    test: npt.NDArray[np.float64] | None = None
    notes: Sequence[str] = ()


def _iv(report: ScoreReport, metric: Metric) -> str:
    s = report.scores[metric]
    return "n/a" if s.interval is None else html.interval(s.interval.low, s.interval.high)


def _method(report: ScoreReport) -> str:
    iv = report.scores["srcc"].interval
    return "" if iv is None else f"{iv.confidence * 100:.10g}% {interval_method(iv.method).label}"


def header_section(ident: Identity) -> Markup:
    pairs: list[tuple[str, html.Content]] = [
        ("variant", ident.variant),
        ("dataset", ident.dataset),
        ("items sha256", html.tag("code", ident.items_sha256)),
        ("target", ident.target),
        ("trained", ident.trained or "unknown"),
        ("trained with", f"mediaeval-memo {ident.memo_version}"),
        ("model folder", html.tag("code", ident.model_dir)),
        ("dataset folder", html.tag("code", ident.data_dir)),
    ]
    parts = [html.key_values(pairs)]
    if ident.plan:
        parts.append(html.tag("h3", "What the variant chose for this job"))
        parts.append(html.tag("ul", (html.tag("li", line) for line in ident.plan)))
    parts.append(html.details("resolved config (config.yaml)", html.pre(ident.config_text)))
    return html.join(parts)


def cv_section(page: RunPage) -> Markup:
    pooled = page.pooled
    if pooled is None:
        return html.note("No cross-validation in this run (trained with --folds none): no out-of-fold predictions.")
    cards = []
    metrics: tuple[Metric, ...] = ("srcc", "plcc", "mse")
    for metric in metrics:
        s = pooled.scores[metric]
        digits = 5 if metric == "mse" else 4
        cards.append(
            html.tag(
                "div",
                html.tag("span", f"{METRIC_NAMES[metric]} (out of fold)"),
                html.tag("b", html.number(s.value, digits), class_=f"metric-{metric}"),
                html.tag("span", f"{_method(pooled)} CI {_iv(pooled, metric)}"),
            )
        )
    clustered = "" if pooled.clusters is None else f", {pooled.clusters} clusters resampled whole"
    labels = [name for name, _ in page.folds] + ["pooled"]
    reports = [r for _, r in page.folds] + [pooled]
    ivs = [r.scores["srcc"].interval for r in reports]
    dots = plots.dot_intervals(
        labels,
        [r.scores["srcc"].value for r in reports],
        [None if iv is None else iv.low for iv in ivs],
        [None if iv is None else iv.high for iv in ivs],
        f"Spearman, {_method(pooled)} interval",
        emphasis=len(labels) - 1,
    )
    rows = [
        [
            name,
            str(r.n),
            html.number(r.scores["srcc"].value),
            _iv(r, "srcc"),
            html.number(r.scores["plcc"].value),
            _iv(r, "plcc"),
            html.number(r.scores["mse"].value, 5),
            _iv(r, "mse"),
        ]
        for name, r in [*page.folds, ("pooled", pooled)]
    ]
    level = f"{_method(pooled)} CI"
    table = html.table(
        ["fold", "videos", "Spearman", level, "Pearson", level, "MSE", level],
        rows,
        numeric=[False, True, True, False, True, False, True, False],
        class_="folds",
    )
    return html.join(
        [
            html.tag(
                "p",
                f"Pooled: every out-of-fold prediction scored together ({pooled.n} videos, {pooled.n_resamples} "
                f"bootstrap resamples, seed {pooled.seed}{clustered}); the same numbers `memo score` prints for "
                "oof_predictions.csv against this dataset.",
                class_="intro",
            ),
            html.tag("div", cards, class_="headline"),
            html.tag("p", "Signature: ", html.tag("code", pooled.scores["srcc"].signature, class_="sig")),
            html.figure(
                dots,
                "Spearman of each outer fold's validation videos (dot) and its interval (bar); "
                "the pooled value at the bottom.",
            ),
            table,
        ]
    )


def predictions_section(page: RunPage) -> Markup:
    if page.pooled is None or not page.oof.size:
        return html.note("No out-of-fold predictions.")
    rho = page.pooled.scores["srcc"].value
    target = page.identity.target
    figures = [
        html.figure(
            plots.scatter(page.gold, page.oof, f"ground truth ({target})", f"Spearman {rho:.4f}, n = {len(page.oof)}"),
            "Each video's out-of-fold prediction against its ground truth; the dashed line is y = x.",
        )
    ]
    if page.deciles:
        figures.append(
            html.figure(
                plots.calibration(
                    [d[0] for d in page.deciles], [d[1] for d in page.deciles], "mean prediction", f"mean {target}"
                ),
                "Videos in ten equal groups by prediction: the mean ground truth of each against its mean "
                "prediction. A rising line ranks well; distance from y = x is a shift of scale, which Spearman "
                "ignores and MSE does not.",
            )
        )
    parts = [html.tag("div", figures, class_="grid")]
    for column, rows in page.groups:
        parts.append(html.tag("h3", f"Residual by {column}"))
        parts.append(
            html.table(
                [column, "videos", "mean rank error (prediction - truth)", "mean |rank error|"],
                ([r.group, str(r.n), f"{r.mean_rank_error:+.3f}", f"{r.mean_abs_rank_error:.3f}"] for r in rows),
                numeric=[False, True, True, True],
            )
        )
    if page.groups:
        parts.append(
            html.note(
                "Rank errors are differences of percentile ranks (0 to 1): +0.2 means the run places the group's "
                "videos 20 percentiles higher than the truth does. Groups the run gets most wrong first (groups of "
                f"at least {page.group_min} videos)."
            )
        )
    return html.join(parts)


def _video_rows(videos: Sequence[Video], frames: bool) -> list[list[html.Content]]:
    rows: list[list[html.Content]] = []
    for v in videos:
        thumbs = [html.image(t, "image/jpeg", f"frame of {v.video_id}", class_="thumb") for t in v.thumbnails]
        rows.append(
            [
                v.video_id,
                *([html.tag("span", thumbs, class_="thumbs") if thumbs else ""] if frames else []),
                html.number(v.gold),
                html.number(v.prediction),
                f"{v.rank_error:.3f}",
                html.tag("span", v.text, class_="caption"),
            ]
        )
    return rows


def videos_section(page: RunPage) -> Markup:
    if not page.best and not page.worst:
        return html.note("No out-of-fold predictions.")
    frames = any(v.thumbnails for v in (*page.best, *page.worst))
    header = ["video", *(["frames"] if frames else []), "truth", "prediction", "rank error", "captions"]
    numeric = [False, *([False] if frames else []), True, True, True, False]
    return html.join(
        [
            html.tag("h3", f"{len(page.best)} predicted best"),
            html.table(header, _video_rows(page.best, frames), numeric=numeric, class_="videos best-videos"),
            html.tag("h3", f"{len(page.worst)} predicted worst"),
            html.table(header, _video_rows(page.worst, frames), numeric=numeric, class_="videos worst-videos"),
            html.note("Rank error: |percentile rank of the prediction - percentile rank of the truth|."),
        ]
    )


def variant_section(page: RunPage) -> Markup:
    if not page.panels:
        return html.note(f"The {page.identity.variant} variant reports nothing more for this run.")
    return html.join(render_panel(p) for p in page.panels)


def test_section(page: RunPage) -> Markup:
    if page.test is None:
        return html.note("No test predictions (predictions_test.csv) in this run.")
    series: dict[str, npt.ArrayLike] = {"test": page.test}
    if page.oof.size:
        series = {"out of fold": page.oof, "test": page.test}
    rows = []
    for name, values in series.items():
        a = np.asarray(values, dtype=np.float64)
        q = np.quantile(a, [0.05, 0.5, 0.95]) if a.size else [np.nan] * 3
        rows.append(
            [
                name,
                str(a.size),
                html.number(float(a.mean())),
                html.number(float(a.std())),
                *(html.number(float(x)) for x in q),
            ]
        )
    return html.join(
        [
            html.figure(
                plots.distributions(series, "predicted score", "Predicted scores: out of fold and test"),
                "The test predictions come from the final model (every labelled video); the out-of-fold "
                "ones from the fold models. A clear shift means the test videos differ from the labelled "
                "ones, or the final model from the fold models: look before submitting.",
            ),
            html.table(
                ["predictions", "videos", "mean", "sd", "5%", "median", "95%"],
                rows,
                numeric=[False, True, True, True, True, True, True],
                sortable=False,
            ),
        ]
    )


def render_run_page(page: RunPage) -> str:
    ident = page.identity
    headline = ""
    if page.pooled is not None:
        s = page.pooled.scores["srcc"]
        headline = f": out-of-fold Spearman {html.number(s.value)}"
    subtitle = f"{ident.variant} on {ident.dataset} ({ident.target}){headline}"
    sections: list[tuple[str, str, Markup]] = [
        ("run", "The run", header_section(ident)),
        ("cv", "Cross-validation", cv_section(page)),
        ("predictions", "Predictions against the truth", predictions_section(page)),
        ("videos", "Best and worst predicted videos", videos_section(page)),
        ("variant", f"What {ident.variant} says", variant_section(page)),
        ("test", "Test predictions", test_section(page)),
    ]
    if page.notes:
        sections.append(("notes", "Notes", html.tag("ul", (html.tag("li", n) for n in page.notes))))
    return html.page(f"Run report: {ident.variant} on {ident.dataset}", subtitle, sections)
