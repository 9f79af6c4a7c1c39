"""`memo report`: one offline HTML page of a trained model folder, or of several run files against gold labels.
The page is assembled by `experiments.report` (a run) or `report.board` (several runs) and written atomically."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from mediaeval_memo.cli.evaluation import StatsArgs, stats_options


@click.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="MODEL_DIR | FILE...")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The HTML file to write.")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="With MODEL_DIR: its prepared dataset (default: the one the run recorded in run.json).",
)
@click.option("--title", default=None, help="With run FILEs: the page title (default: Leaderboard).")
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@partial(stats_options, gold_required=False)
def report(
    targets: tuple[Path, ...], out: Path, data_dir: Path | None, title: str | None, force: bool, stats: StatsArgs
) -> None:
    """Write one self-contained HTML page (no network needed to read it) of a trained MODEL_DIR, or of several run
    FILEs scored against --gold.

    MODEL_DIR (a folder `memo train` wrote): what the run is, its cross-validation with intervals, predictions
    against the truth, the best and worst videos, what its variant reports, and its test predictions.
    FILEs with --gold: the leaderboard table, forest plot, paired differences with Holm-adjusted p-values, the
    correlation between the runs' predictions and the LaTeX table (as `memo leaderboard --format html`).
    """
    from mediaeval_memo.core.errors import InputError, Problem
    from mediaeval_memo.core.io import require_output_file
    from mediaeval_memo.core.progress import Reporter
    from mediaeval_memo.experiments.report import build_run_page, is_model_dir, write_run_page

    require_output_file(out, "the HTML file to write")
    if out.exists() and not force:
        raise InputError(Problem(str(out), "exists; pass --force to replace it", field="--out"))
    if len(targets) == 1 and targets[0].is_dir():
        model_dir = targets[0]
        if not is_model_dir(model_dir):
            raise InputError(
                Problem(str(model_dir), "not a model folder (no variant.json); give a folder `memo train` wrote")
            )
        if stats.gold is not None:
            raise InputError(
                Problem("--gold", "a model folder is scored against its own dataset; --gold applies to run FILEs")
            )
        settings = stats.settings(gold_required=False)
        page = build_run_page(model_dir, data_dir, settings, Reporter(), stats.clusters)
        click.echo(f"wrote {write_run_page(page, out)}")
        return
    if stats.gold is None:
        raise InputError(Problem("--gold", "run FILEs need gold labels: --gold FILE|DATASET_DIR", field="--gold"))
    if data_dir is not None:
        raise InputError(Problem("--data", "--data applies to a model folder, not to run FILEs", field="--data"))
    from mediaeval_memo.report.board import build_board_page, write_board_page

    page_data = build_board_page(targets, stats.load_gold(), stats.settings(), Reporter())
    click.echo(f"wrote {write_board_page(page_data, out, title)}")


COMMANDS = [report]
