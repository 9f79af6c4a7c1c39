"""`memo demo`, `memo prepare` and `memo info`: the embedded sample end to end, a release made a prepared dataset,
and what a prepared dataset holds."""

from __future__ import annotations

from pathlib import Path

import click

from mediaeval_memo.cli.common import key_values
from mediaeval_memo.data.readers import DATASETS


@click.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True, help="Folder to write."
)
@click.option("--force", is_flag=True, help="Replace a previous demo output in --out.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample and of every step.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes decoding videos in parallel."
)
def demo(out: Path, force: bool, seed: int, workers: int) -> None:
    """Run the toolkit end to end on the embedded sample (CPU, nothing downloaded).

    Writes sample releases in the official layouts under --out and prepares them; extracts caption and colour
    histogram features; trains the quick GBT recipe with cross-validation; predicts the test split; packages and
    validates a run file; scores the out-of-fold predictions with bootstrap CIs; writes a leaderboard with its
    plot; and prints where each artifact is.
    """
    from mediaeval_memo.demo import run_demo

    run_demo(out, force=force, echo=click.echo, seed=seed, workers=workers)


@click.command()
@click.argument("dataset", type=click.Choice(DATASETS))
@click.option(
    "--root", required=True, type=click.Path(path_type=Path), help="The release folder, as the organisers ship it."
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Prepared dataset directory to write.")
@click.option(
    "--frames",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Frames per video (0: none; 3: first, middle, last).",
)
@click.option(
    "--max-side",
    type=click.IntRange(min=16),
    default=448,
    show_default=True,
    help="Cap on the long side of stored frames (px).",
)
@click.option("--folds", "k", type=click.IntRange(min=2), default=5, show_default=True, help="Cross-validation folds.")
@click.option(
    "--inner-folds",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Nested inner folds per outer fold (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold assignment.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes decoding videos in parallel."
)
@click.option(
    "--media",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder holding the videos (memento10k default: <root>/videos; trecvid, videomem default: anywhere under "
    "--root).",
)
@click.option(
    "--mapping",
    type=click.Path(path_type=Path),
    default=None,
    help="movies: YAML column mapping (table, delimiter, id, targets, text, captions, media, split, group, meta).",
)
@click.option("--column", "columns", multiple=True, metavar="KEY=COLUMN", help="movies: override one mapping key.")
@click.option("--strict", is_flag=True, help="Fail when a video is missing or cannot be decoded.")
@click.option("--force", is_flag=True, help="Replace --out if it exists (its frames are reused).")
def prepare(
    dataset: str,
    root: Path,
    out: Path,
    frames: int,
    max_side: int,
    k: int,
    inner_folds: int,
    seed: int,
    workers: int,
    media: Path | None,
    mapping: Path | None,
    columns: tuple[str, ...],
    strict: bool,
    force: bool,
) -> None:
    """Turn an official release into a prepared dataset: item table, manifest, folds and frames.

    DATASET is the release layout, one of the registered readers (`memo info --readers` lists them with what
    each reads).
    """
    from mediaeval_memo.core.progress import Reporter
    from mediaeval_memo.data.info import render_summary, summarize
    from mediaeval_memo.data.prepare import PrepareOptions
    from mediaeval_memo.data.prepare import prepare as run_prepare

    options = PrepareOptions(
        frames=frames,
        folds=k,
        inner_folds=inner_folds,
        seed=seed,
        workers=workers,
        max_side=max_side,
        strict=strict,
        force=force,
        media=media,
        mapping=mapping,
        columns=key_values(columns, "--column", "KEY=COLUMN"),
    )
    result = run_prepare(dataset, root, out, options, progress=Reporter())
    click.echo(render_summary(summarize(result.out)))


@click.command()
@click.argument("directory", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--readers", is_flag=True, help="List the release readers (the datasets `memo prepare` reads).")
def info(directory: Path | None, as_json: bool, readers: bool) -> None:
    """Summarize a prepared dataset: rows per split, targets and label columns, folds, media and frames found or
    missing. With --readers, list the release readers instead."""
    import json

    from mediaeval_memo.data.info import reader_list, render_summary, summarize

    if readers or directory is None:
        if not readers:
            raise click.UsageError("give a prepared dataset DIRECTORY, or --readers")
        listing = reader_list()
        click.echo(
            json.dumps(listing, indent=2) if as_json else "\n".join(f"{r['name']:11s} {r['title']}" for r in listing)
        )
        return
    summary = summarize(directory)
    click.echo(json.dumps(summary, indent=2) if as_json else render_summary(summary))


COMMANDS = [demo, prepare, info]
