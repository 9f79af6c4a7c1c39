"""`memo rationales`: write an LLM rationale for every video and fold that a fold-safe model will need.

Fold k's rationales cover the videos of the outer folds (train and validation parts of fold k alike), with
exemplars from fold k's training part only; fold `all` covers every video (test included) with exemplars from all
labelled videos. A model fitted for fold k therefore reads rationales that never quote a score of fold k.
The texts also land in the item table as columns `rationale_<fold>`, ready for `memo features text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_path
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset
from mediaeval_memo.rationales.aspects import AspectSet, load_aspects
from mediaeval_memo.rationales.backends import Backend, GenerationSettings
from mediaeval_memo.rationales.cache import RationaleCache, RationaleRecord
from mediaeval_memo.rationales.prompt import Exemplar, build_prompt, prompt_hash
from mediaeval_memo.rationales.retrieval import (
    FINAL,
    Embedder,
    RetrievalSettings,
    candidate_pool,
    choose_exemplars,
    similarity,
)

RATIONALES_FILE = Path("rationales") / "rationales.jsonl"


@dataclass(frozen=True)
class Job:
    video_id: str
    fold: str
    prompt: str
    prompt_hash: str
    exemplars: list[str]


@dataclass
class RationaleRun:
    path: Path
    generated: int = 0
    cached: int = 0
    folds: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.generated + self.cached


def fold_labels(dataset: PreparedDataset, fold: str | None) -> list[str]:
    """The folds to write: one outer fold ('0', '1', ...), 'all', or (None) every outer fold and then 'all'."""
    k = dataset.folds.k if dataset.folds is not None else 0
    if fold is None:
        return [str(i) for i in range(k)] + [FINAL]
    if fold == FINAL:
        return [FINAL]
    if not fold.isdigit() or not 0 <= int(fold) < k:
        accepted = f"0..{k - 1} or {FINAL}" if k else f"{FINAL} (the dataset has no folds.json)"
        raise InputError(Problem("command line", f"no such fold (accepted: {accepted})", field="--fold", value=fold))
    return [str(int(fold))]


def fold_members(dataset: PreparedDataset, fold: str) -> list[str]:
    """Videos that need a rationale for `fold`, in item-table order."""
    ids = dataset.items["video_id"].astype(str).tolist()
    if fold == FINAL:
        return ids
    assert dataset.folds is not None
    members = set(dataset.folds.all_ids())
    return [v for v in ids if v in members]


def plan_jobs(
    dataset: PreparedDataset,
    aspects: AspectSet,
    folds: Sequence[str],
    model: str,
    generation: GenerationSettings,
    retrieval: RetrievalSettings,
    max_field_chars: int = 600,
    embed: Embedder | None = None,
) -> list[Job]:
    """Every (video, fold) prompt with its exemplars, retrieved from the fold's training part only."""
    targets = dataset.targets
    if not targets:
        raise InputError(Problem(str(dataset.root / "manifest.json"), "the dataset has no target column"))
    sim = similarity(dataset, retrieval, embed)
    items = dataset.items.reset_index(drop=True)
    ids = items["video_id"].astype(str).to_numpy()
    row_of = {v: i for i, v in enumerate(ids)}
    groups = items["group"].astype(str).to_numpy()
    records = items.to_dict("records")
    jobs: list[Job] = []
    for fold in folds:
        pool = np.array([row_of[v] for v in candidate_pool(dataset, fold, targets)], dtype=np.int64)
        for vid in fold_members(dataset, fold):
            q = row_of[vid]
            chosen = choose_exemplars(q, pool, sim, groups, retrieval.k, retrieval.exclude_same_group)
            exemplars = [Exemplar(str(ids[i]), records[i], {t: float(records[i][t]) for t in targets}) for i in chosen]
            prompt = build_prompt(aspects, records[q], exemplars, max_field_chars)
            digest = prompt_hash(prompt, model, generation.as_dict())
            jobs.append(Job(vid, fold, prompt, digest, [e.video_id for e in exemplars]))
    return jobs


def generate_rationales(
    dataset: PreparedDataset,
    backend: Backend,
    *,
    out: str | Path | None = None,
    aspects_path: str | Path | None = None,
    fold: str | None = None,
    generation: GenerationSettings | None = None,
    retrieval: RetrievalSettings | None = None,
    batch_size: int = 8,
    max_field_chars: int = 600,
    embed: Embedder | None = None,
    progress: Reporter | None = None,
) -> RationaleRun:
    """Generate the rationales missing from the cache at `out` (default DATA/rationales/rationales.jsonl).

    Progress is reported after each batch. Re-running after a kill generates only what is missing.
    """
    progress = progress or Reporter.silent()
    generation = generation or GenerationSettings()
    retrieval = retrieval or RetrievalSettings()
    aspects = load_aspects(aspects_path)
    path = Path(out) if out is not None else dataset.root / RATIONALES_FILE
    labels = fold_labels(dataset, fold)
    jobs = plan_jobs(dataset, aspects, labels, backend.model, generation, retrieval, max_field_chars, embed)
    cache = RationaleCache(path)
    todo = [j for j in jobs if (j.video_id, j.fold, backend.model, j.prompt_hash) not in cache]
    run = RationaleRun(path=path, cached=len(jobs) - len(todo), folds=labels)
    with progress.task("rationales", total=len(jobs)) as task:
        task.update(completed=run.cached)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            texts = backend.generate([j.prompt for j in batch], generation)
            if len(texts) != len(batch):
                raise RuntimeError(f"backend returned {len(texts)} texts for {len(batch)} prompts")
            cache.append(
                RationaleRecord(j.video_id, j.fold, backend.model, j.prompt_hash, t, j.exemplars, aspects.tag)
                for j, t in zip(batch, texts, strict=True)
            )
            run.generated += len(batch)
            task.update(completed=run.total)
    write_rationale_columns(dataset, cache, backend.model, labels)
    return run


def rationale_column(fold: str) -> str:
    return f"rationale_{fold}"


def write_rationale_columns(dataset: PreparedDataset, cache: RationaleCache, model: str, folds: Sequence[str]) -> None:
    """Copy the rationales of `model` into the item table as text columns `rationale_<fold>` ('' where a video has
    none for that fold), so that `memo features text --field rationale_<fold>` embeds them like any text field."""
    latest = {(r.video_id, r.fold): r.text for r in cache.records if r.model == model}
    items = dataset.items.copy()
    for fold in folds:
        items[rationale_column(fold)] = [latest.get((str(v), fold), "") for v in items["video_id"]]
    with atomic_path(dataset.root / ITEMS_FILE) as tmp:
        items.reset_index(drop=True).to_parquet(tmp, index=False)
    dataset.items = items
