"""`memo score`, `memo compare` and `memo leaderboard`: Spearman with bootstrap and closed-form intervals, paired
tests, ranked tables; the numbers come from `evaluation`, the tables from `evaluation.render`."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# The one table of interval methods gives `--method` its choices and help (it imports numpy, nothing heavier).
from mediaeval_memo.evaluation.ci import interval_methods

if TYPE_CHECKING:  # imported inside the commands: `memo --help` stays light
    from mediaeval_memo.evaluation.gold import Gold
    from mediaeval_memo.evaluation.pipeline import Settings


@dataclass(frozen=True)
class StatsArgs:
    """What every scoring command was asked: where the gold labels are, how to compute, how to print."""

    gold: Path | None
    split: str | None
    target: str | None
    n_resamples: int
    seed: int
    confidence: float
    method: str
    device: str
    profile_name: str | None
    clusters: str | None
    as_json: bool

    def load_gold(self) -> Gold:
        from mediaeval_memo.evaluation.gold import load_gold

        assert self.gold is not None  # required by every command but `memo report MODEL_DIR`
        return load_gold(self.gold, self.split, self.target)

    def settings(self, gold_required: bool = True) -> Settings:
        from mediaeval_memo.evaluation.clusters import load_clusters
        from mediaeval_memo.evaluation.pipeline import Settings
        from mediaeval_memo.submission.profiles import load_profile

        profile = None if self.profile_name is None else load_profile(self.profile_name)
        clusters = None
        if self.clusters is not None:
            assert self.gold is not None or not gold_required
            clusters = None if self.gold is None else load_clusters(self.clusters, self.gold)
        return Settings(
            self.n_resamples, self.seed, self.confidence, self.method, _device(self.device), profile, clusters
        )


def stats_options(func: Callable[..., Any], *, gold_required: bool = True) -> Callable[..., Any]:
    """The options every scoring command shares, handed to the command as one `stats: StatsArgs`."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        names = [f.name for f in dataclasses.fields(StatsArgs)]
        stats = StatsArgs(**{name: kwargs.pop(name) for name in names})
        return func(*args, stats=stats, **kwargs)

    options = [
        click.option(
            "--gold",
            required=gold_required,
            type=click.Path(path_type=Path),
            help="Gold labels: a CSV (video_id plus one value column, or video_id,score) or a prepared dataset dir.",
        ),
        click.option(
            "--split",
            type=click.Choice(["train", "dev", "test"]),
            default=None,
            help="With a dataset dir: the split to score against (default: every labelled video).",
        ),
        click.option("--target", default=None, help="Gold column (default: the dataset's first target / the CSV's)."),
        click.option(
            "--bootstrap",
            "n_resamples",
            type=click.IntRange(min=0),
            default=10_000,
            show_default=True,
            help="Bootstrap resamples of the videos (0: Fisher intervals only).",
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resamples."),
        click.option(
            "--confidence",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.95,
            show_default=True,
            help="Confidence level of the intervals.",
        ),
        click.option(
            "--method",
            type=click.Choice([m.name for m in interval_methods()]),
            default="bca",
            show_default=True,
            help="Interval reported: "
            + "; ".join(f"{m.name}, {m.help}" for m in interval_methods())
            + ". A paired comparison needs one of "
            + ", ".join(m.name for m in interval_methods() if m.paired)
            + ".",
        ),
        click.option(
            "--clusters",
            default=None,
            metavar="FILE|COLUMN",
            help="Resample whole clusters instead of videos (e.g. channels: how a run generalises to new channels). "
            "FILE: a CSV video_id,group. COLUMN: with a prepared dataset as --gold, a column of its item table, "
            "e.g. group. BCa's jackknife then leaves out one cluster at a time.",
        ),
        click.option(
            "--device",
            type=click.Choice(["auto", "cpu", "cuda"]),
            default="auto",
            show_default=True,
            help="Where the bootstrap runs (numpy on the CPU, or torch on a CUDA GPU); auto uses a GPU when one is "
            "present and the job is large enough to gain from it.",
        ),
        click.option(
            "--profile",
            "profile_name",
            default=None,
            help="Read the FILEs as official run files of this profile (me19, me23, me25 or a JSON path) "
            "instead of predictions CSVs.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _device(device: str) -> str:
    """`cuda` is checked here (a usage error without a GPU); `auto` is decided later, knowing the amount of work."""
    if device != "cuda":
        return device
    from mediaeval_memo.evaluation.bootstrap import resolve_device

    try:
        return resolve_device(device)
    except RuntimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None


def _console() -> Any:
    from rich.console import Console

    return Console(width=max(100, Console().width))


def _show(renderables: list[Any]) -> None:
    console = _console()
    for r in renderables:
        console.print(r, highlight=False, soft_wrap=True)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@stats_options
def score(file: Path, stats: StatsArgs) -> None:
    """Score a predictions FILE (video_id,score): Spearman (official), Pearson and MSE with confidence intervals.

    Every number comes with a signature recording what produced it. Intervals: bootstrap over videos or, with
    --clusters, over clusters (percentile or BCa) and, for the correlations, the Fisher z interval published tables
    use (too narrow for Spearman: --method fisher-bw gives Bonett and Wright's).
    """
    import json

    from mediaeval_memo.core.progress import Reporter
    from mediaeval_memo.evaluation.render import score_view
    from mediaeval_memo.evaluation.score import score_run

    report = score_run(file, stats.load_gold(), stats.settings(), Reporter())
    if stats.as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    _show(score_view(report, str(file), stats.confidence))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@stats_options
def compare(files: tuple[Path, ...], stats: StatsArgs) -> None:
    """Paired bootstrap comparison of two or more prediction FILES on the same gold labels.

    Every run is scored on one shared resample matrix (with --clusters, the same cluster draws for every run); for
    each pair: the Spearman difference, its interval and a two-sided p-value (c + 1) / (B + 1). With more than two
    files, p-values are also Holm-adjusted over all pairs.
    """
    import json

    from mediaeval_memo.core.progress import Reporter
    from mediaeval_memo.evaluation.compare import compare_runs
    from mediaeval_memo.evaluation.render import comparison_view

    result = compare_runs(files, stats.load_gold(), stats.settings(), Reporter())
    if stats.as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    _show(comparison_view(result, stats.method, stats.confidence))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@stats_options
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output prefix, e.g. leaderboards/dev: writes dev.md, dev.csv, dev.json, dev.png as asked.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["md", "csv", "json", "latex", "html"]),
    multiple=True,
    default=("md",),
    show_default=True,
    help="Format to write (repeatable): md, csv, json, latex (a booktabs table, NAME.tex) or html (one offline "
    "page, NAME.html: the table, forest plot, paired differences, correlations between runs, the LaTeX table).",
)
@click.option("--plot", is_flag=True, help="Also write a PNG forest plot (Spearman and interval per run).")
@click.option("--force", is_flag=True, help="Replace existing leaderboard files.")
def leaderboard(
    files: tuple[Path, ...], stats: StatsArgs, out: Path, formats: tuple[str, ...], plot: bool, force: bool
) -> None:
    """Rank prediction FILES by Spearman with confidence intervals and write the table (and a forest plot)."""
    from mediaeval_memo.core.errors import InputError, Problem
    from mediaeval_memo.core.progress import Reporter
    from mediaeval_memo.evaluation.leaderboard import (
        build_leaderboard,
        check_output,
        output_path,
        render_json,
        require_matplotlib,
        write_leaderboard,
    )
    from mediaeval_memo.evaluation.render import leaderboard_view

    if plot or "html" in formats:
        require_matplotlib()  # before the bootstrap, not after it
    check_output(out)
    tables = [f for f in formats if f != "html"]
    page_path = output_path(out, "html") if "html" in formats else None
    if page_path is not None and page_path.exists() and not force:
        raise InputError(Problem(str(page_path), "exists; pass --force to replace it"))
    if page_path is not None:
        from mediaeval_memo.report.board import build_board_page, write_board_page

        page = build_board_page(files, stats.load_gold(), stats.settings(), Reporter())
        board = page.board
    else:
        board = build_leaderboard(files, stats.load_gold(), stats.settings(), Reporter())
    written = write_leaderboard(board, out, tables, plot=plot, force=force)  # type: ignore[arg-type]
    if page_path is not None:
        written.append(write_board_page(page, page_path))
    if stats.as_json:
        click.echo(render_json(board), nl=False)
    else:
        _show(leaderboard_view(board))
    for path in written:
        click.echo(f"wrote {path}", err=True)


COMMANDS = [score, compare, leaderboard]
