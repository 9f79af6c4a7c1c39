"""`memo package` and `memo validate`: official run files written from predictions, and checked against a profile
and the test ids."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--predictions",
    "predictions",
    multiple=True,
    required=True,
    metavar="FILE|SOURCE=FILE",
    help="Predictions CSV (video_id,score). A subtask with several score columns takes SOURCE=FILE per column.",
)
@click.option("--team", required=True, help="Team name as registered (the profile says which characters).")
@click.option("--subtask", required=True, help="Subtask as the profile names it, e.g. 1, 2.1, 2.2 (me25).")
@click.option("--run", "run_number", type=int, required=True, help="Run number, 1..the profile's cap.")
@click.option(
    "--profile",
    "profile_name",
    default="me25",
    show_default=True,
    help="Run-file profile: me19, me23, me25, or a path to a profile JSON.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Prepared dataset: ids and their order come from its --split (default: the predictions file's).",
)
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--tag", default=None, help="Run tag where the profile has them (me19: required | general).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("submissions"),
    show_default=True,
    help="Folder to write the run file into.",
)
@click.option(
    "--rescale",
    type=click.Choice(["rank", "minmax"]),
    default=None,
    help="Map the scores into the profile's range: rank (average ranks, (rank - 1/2)/n: ties stay ties, the "
    "Spearman is kept exactly) or minmax (linear: the spacing is kept too).",
)
@click.option(
    "--clip",
    is_flag=True,
    help="Clip scores into the profile's range instead of refusing them (ties them at the bounds: changes the "
    "Spearman; prefer --rescale).",
)
@click.option("--force", is_flag=True, help="Replace an existing run file.")
def package(
    predictions: tuple[str, ...],
    team: str,
    subtask: str,
    run_number: int,
    profile_name: str,
    data_dir: Path | None,
    split: str,
    tag: str | None,
    out_dir: Path,
    rescale: str | None,
    clip: bool,
    force: bool,
) -> None:
    """Write an official run file from predictions, named and formatted as the profile says, validated first.

    Prints the Spearman between the raw predictions and the scores as written: 1 unless --clip tied some of them
    (or the profile's float format rounds distinct scores together)."""
    import math
    from typing import cast

    from mediaeval_memo.submission.profiles import load_profile
    from mediaeval_memo.submission.writer import Rescale, package_run

    profile = load_profile(profile_name)
    result = package_run(
        predictions,
        team=team,
        subtask=subtask,
        run=run_number,
        profile=profile,
        out_dir=out_dir,
        data=data_dir,
        split=split,
        tag=tag,
        force=force,
        clip=clip,
        rescale=cast("Rescale | None", rescale),  # click's choices are exactly the literal's values
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for column, srcc in result.srcc_raw.items():
        how = result.changed.get(column, "unchanged")
        value = "n/a (constant scores)" if math.isnan(srcc) else f"{srcc:.6f}"
        click.echo(f"scores {column}: {how}; Spearman between the raw and the packaged scores: {value}")
    if profile.status == "assumed":
        click.echo(
            f"note: profile {profile.name} is an assumption: the organisers have not published this format "
            "(see docs/submission.md)",
            err=True,
        )
    click.echo(f"wrote {result.path} ({result.rows} rows, profile {profile.name}, subtask {result.subtask.key})")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Prepared dataset whose --split lists the videos every run must score.",
)
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option(
    "--ids",
    "ids_file",
    type=click.Path(path_type=Path),
    default=None,
    help="The test video ids instead of --data: a CSV with a video_id column, or one id per line.",
)
@click.option(
    "--profile",
    "profile_name",
    default="me25",
    show_default=True,
    help="Run-file profile: me19, me23, me25, or a path to a profile JSON.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def validate(
    ctx: click.Context,
    files: tuple[Path, ...],
    data_dir: Path | None,
    split: str,
    ids_file: Path | None,
    profile_name: str,
    as_json: bool,
) -> None:
    """Check run FILES (or folders of them) against a profile and the test ids; list every problem.

    Problems print as `file:line: message` and make the exit code 1; what the profile tolerates (a UTF-8 BOM, CRLF
    line ends, no final newline) prints as a warning. Folders are searched for run files and runs are counted per
    team and subtask.
    """
    import json

    from mediaeval_memo.data.items import PreparedDataset
    from mediaeval_memo.submission.profiles import load_profile
    from mediaeval_memo.submission.validator import read_ids, validate_paths

    if (data_dir is None) == (ids_file is None):
        raise click.UsageError("give the test ids with exactly one of --data DIR or --ids FILE")
    profile = load_profile(profile_name)
    if data_dir is not None:
        ids = PreparedDataset.load(data_dir).split(split)["video_id"].astype(str).tolist()
    else:
        assert ids_file is not None
        ids = read_ids(ids_file)
    # The ids name a split only when they come from --data; an --ids file is the test ids (its help says so).
    result = validate_paths(files, profile, ids, split if data_dir is not None else "test")
    if as_json:
        payload = {
            "ok": result.ok,
            "profile": profile.name,
            "files": [f.to_json() for f in result.files],
            "problems": [str(p) for p in result.problems],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        for report in result.files:
            for warning in report.warnings:
                click.echo(str(warning), err=True)
            for problem in report.problems:
                click.echo(str(problem))
        for problem in result.problems:
            click.echo(str(problem))
        rows = sum(f.rows for f in result.files)
        if result.ok:
            click.echo(f"valid: {len(result.files)} run file(s), {rows} rows, profile {profile.name}")
        else:
            bad = sum(not f.ok for f in result.files)
            click.echo(
                f"invalid: {bad} of {len(result.files)} run file(s) with problems, "
                f"{result.problem_count} problem(s), profile {profile.name}"
            )
    if not result.ok:
        ctx.exit(1)


COMMANDS = [package, validate]
