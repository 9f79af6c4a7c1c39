"""`memo train`, `memo predict` and `memo variants`: cross-validated training of a run variant, predictions from a
trained model (or zero-shot), and the variants there are."""

from __future__ import annotations

from pathlib import Path

import click

from mediaeval_memo.cli.common import key_values


def _overrides(pairs: tuple[str, ...], **flags: object) -> dict[str, object]:
    """The config fields set on the command line: flags that were given, then each --set KEY=VALUE."""
    out: dict[str, object] = {k: v for k, v in flags.items() if v is not None}
    out.update({k.replace("-", "_"): v for k, v in key_values(pairs, "--set").items()})
    return out


@click.command()
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
@click.option(
    "--budget",
    "budget_minutes",
    type=float,
    default=None,
    metavar="MINUTES",
    help="gbt: minutes the settings left to the data (members, PCA, trials) may take for the whole job; the "
    "plan is printed and saved in config.yaml (default 10).",
)
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
    budget_minutes: float | None,
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
    from mediaeval_memo.core.progress import Reporter
    from mediaeval_memo.experiments.runner import train as run_train
    from mediaeval_memo.variants import get_variant

    if help_config:
        from mediaeval_memo.core.config import config_fields

        for name, tp, default, text in config_fields(get_variant(variant).Config):
            click.echo(f"{name} ({getattr(tp, '__name__', tp)}, default {default!r}): {text}")
        return
    overrides = _overrides(
        pairs,
        target=target,
        seed=seed,
        model=model_name,
        max_steps=max_steps,
        head=head,
        report_to=report_to,
        budget_minutes=budget_minutes,
    )
    if grid_specs:
        from mediaeval_memo.experiments.grid import run_grid

        grid = run_grid(
            variant, data_dir, out, grid_specs, recipe, overrides, folds=folds, resume=resume, force=force,
            progress=Reporter(),
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
        progress=Reporter(),
    )
    if result.oof_srcc is not None:
        click.echo(f"out-of-fold Spearman: {result.oof_srcc:.4f}  ({result.out / 'oof_predictions.csv'})")
    if result.test_predictions is not None:
        click.echo(f"test predictions: {result.test_predictions}")


@click.command()
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
    "invalid answers by reason (no number, out of range, truncated).",
)
@click.option(
    "--variant",
    default=None,
    help="With --zero-shot: the variant whose untrained model predicts (default: qwen-vl, the one that can).",
)
@click.option("--head", default=None, help="With --zero-shot: generate (default) or expected.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="With --zero-shot: a qwen-vl config field.")
def predict(
    model_dir: Path,
    data_dir: Path,
    split: str,
    out: Path,
    zero_shot: bool,
    variant: str | None,
    head: str | None,
    pairs: tuple[str, ...],
) -> None:
    """Score a split of a prepared dataset with a trained model (writes video_id,score)."""
    from mediaeval_memo.core.progress import Reporter

    if zero_shot:
        from mediaeval_memo.experiments.zero_shot import predict_zero_shot

        result = predict_zero_shot(
            str(model_dir), data_dir, split, out, _overrides(pairs, head=head), Reporter(), variant=variant or "qwen-vl"
        )
        for note in result.notes:
            click.echo(note)
        if result.srcc is not None:
            click.echo(f"Spearman on {split}: {result.srcc:.4f}  error analysis: {result.analysis}")
        click.echo(f"wrote {result.predictions}")
        return
    if head is not None or pairs or variant is not None:
        raise click.UsageError("--variant, --head and --set apply to --zero-shot only")
    from mediaeval_memo.experiments.runner import predict as run_predict

    path = run_predict(model_dir, data_dir, split, out, Reporter())
    click.echo(f"wrote {path}")


@click.command()
def variants() -> None:
    """List the registered run variants."""
    from mediaeval_memo.variants import REGISTRY

    for name, target in sorted(REGISTRY.items()):
        click.echo(f"{name:15s} {target}")


COMMANDS = [train, predict, variants]
