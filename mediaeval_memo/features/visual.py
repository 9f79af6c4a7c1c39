"""Visual features over a prepared dataset's frames, one feature block per encoder.

Encoders:
- a Hugging Face image model by hub name or local folder (ViT, CLIP, SigLIP, ... through transformers): each
  frame embedded (`get_image_features` where the model has it, as CLIP and SigLIP do; else the first token of
  the last hidden state, ViT's CLS; else the pooled output), then averaged over the video's frames;
- `hsv-hist` and `rgb-hist`: weight-free colour histograms (24 bins per channel, each channel's histogram summing
  to 1, as the VIDEM organisers ship them), averaged over frames: visual features that need no download;
- `videm:<Name>`: the VIDEM organisers' per-video `.npy` features (e.g. `videm:ViT`, `videm:HSVHistogram`), shaped
  (frames, dim) or (dim,), imported as a block (frames averaged, or concatenated with `pooling="flatten"`).

torch and transformers are imported only for Hugging Face encoders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.features.extract import ExtractResult, extract_block, model_label, resolve_device

HISTOGRAM_ENCODERS = {"hsv-hist": "HSV", "rgb-hist": "RGB"}
HISTOGRAM_BINS = 24
VIDEM_PREFIX = "videm:"
# The VIDEM release keeps organiser features at <split folder>/features/<Name>/<id>.npy (FORMATS.md).
VIDEM_SPLIT_FOLDERS = ("devset", "testset")
POOLINGS = ("mean", "flatten")


def colour_histogram(image: Any, mode: str, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Per-channel histograms of a PIL image in `mode` (HSV or RGB), each normalised to sum 1, concatenated."""
    pixels = np.asarray(image.convert(mode), dtype=np.uint8).reshape(-1, 3)
    hists = [np.bincount((pixels[:, c].astype(np.int64) * bins) // 256, minlength=bins) for c in range(3)]
    return np.concatenate([h / max(h.sum(), 1) for h in hists]).astype(np.float32)


def _frames_of(dataset: PreparedDataset, ids: Sequence[str]) -> dict[str, list[Path]]:
    frames = {vid: dataset.frame_paths(vid) for vid in ids}
    if not any(frames.values()):
        raise InputError(
            Problem(
                str(dataset.root / "frames"),
                "the dataset has no prepared frames; prepare it again from a release that has videos or frames",
            )
        )
    return frames


def histogram_encoder(frames: dict[str, list[Path]], mode: str) -> Callable[[Sequence[str]], np.ndarray]:
    from PIL import Image

    def encode(ids: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(ids), 3 * HISTOGRAM_BINS), dtype=np.float32)
        for row, vid in enumerate(ids):
            hists = []
            for path in frames[vid]:
                with Image.open(path) as image:
                    hists.append(colour_histogram(image, mode))
            if hists:
                out[row] = np.mean(hists, axis=0)
        return out

    return encode


def load_image_encoder(name_or_path: str, device: str) -> tuple[Any, Any]:
    """(image processor, model) by hub name or local folder; never runs remote code."""
    from transformers import AutoImageProcessor, AutoModel

    try:
        processor = AutoImageProcessor.from_pretrained(name_or_path)
        model = AutoModel.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise InputError(
            Problem(
                "command line",
                field="--encoder",
                message=f"cannot load this image encoder ({str(exc).splitlines()[0]}); give a local folder or a hub "
                "name reachable from here, or hsv-hist, rgb-hist, videm:<Name>",
                value=name_or_path,
            )
        ) from None
    return processor, model.to(device).eval()


def image_embeddings(model: Any, pixel_values: Any) -> Any:
    """One vector per image: CLIP/SigLIP image features, else the CLS token, else the pooled output."""
    if hasattr(model, "get_image_features"):
        out = model.get_image_features(pixel_values=pixel_values)
        if hasattr(out, "pooler_output"):  # transformers versions that return a ModelOutput here
            out = out.pooler_output
        return out
    out = model(pixel_values=pixel_values)
    hidden = getattr(out, "last_hidden_state", None)
    if hidden is not None and hidden.ndim == 3:
        return hidden[:, 0]
    return out.pooler_output.flatten(1)


def hf_encoder(
    frames: dict[str, list[Path]], processor: Any, model: Any, device: str, batch_size: int
) -> Callable[[Sequence[str]], np.ndarray]:
    import torch
    from PIL import Image

    def encode(ids: Sequence[str]) -> np.ndarray:
        paths = [(row, p) for row, vid in enumerate(ids) for p in frames[vid]]
        vectors: list[np.ndarray] = []
        for start in range(0, len(paths), batch_size):
            images = []
            for _, p in paths[start : start + batch_size]:
                with Image.open(p) as image:
                    images.append(image.convert("RGB"))
            inputs = processor(images=images, return_tensors="pt")
            with torch.inference_mode():
                emb = image_embeddings(model, inputs["pixel_values"].to(device))
            vectors.append(emb.float().cpu().numpy())
        if not vectors:
            dim = int(getattr(model.config, "projection_dim", 0) or model.config.hidden_size)
            return np.zeros((len(ids), dim), dtype=np.float32)
        flat = np.concatenate(vectors)
        out = np.zeros((len(ids), flat.shape[1]), dtype=np.float64)
        counts = np.zeros(len(ids))
        owners = np.array([row for row, _ in paths])
        np.add.at(out, owners, flat)
        np.add.at(counts, owners, 1)
        return (out / np.maximum(counts, 1)[:, None]).astype(np.float32)

    return encode


def videm_feature_dirs(dataset: PreparedDataset, name: str) -> list[Path]:
    """Where the organiser features `name` live: the manifest's `videm_features` entry when the reader recorded
    one, else `<source_root>/{devset,testset}/features/<name>/`."""
    listed = dataset.manifest.get("videm_features", {})
    source = Path(str(dataset.manifest.get("source_root", "")))
    if isinstance(listed, dict) and name in listed:
        entries = listed[name] if isinstance(listed[name], list) else [listed[name]]
        return [p if p.is_absolute() else source / p for p in map(Path, map(str, entries))]
    return [source / split / "features" / name for split in VIDEM_SPLIT_FOLDERS]


def videm_encoder(dirs: Sequence[Path], pooling: str) -> Callable[[Sequence[str]], np.ndarray]:
    def encode(ids: Sequence[str]) -> np.ndarray:
        rows = []
        for vid in ids:
            path = next((d / f"{vid}.npy" for d in dirs if (d / f"{vid}.npy").is_file()), None)
            if path is None:
                raise InputError(
                    Problem(str(dirs[0].parent), f"no {vid}.npy in {', '.join(map(str, dirs))}", field="video_id")
                )
            array = np.load(path, allow_pickle=False).astype(np.float32)
            if not np.isfinite(array).all():
                raise InputError(Problem(str(path), "holds non-finite values"))
            rows.append(array.reshape(-1) if pooling == "flatten" or array.ndim == 1 else array.mean(axis=0))
        shapes = {r.shape for r in rows}
        if len(shapes) > 1:
            raise InputError(Problem(str(dirs[0]), f"feature files differ in shape: {sorted(shapes)}"))
        return np.stack(rows)

    return encode


def extract_visual_features(
    data_dir: str | Path,
    encoder: str,
    *,
    device: str = "cpu",
    batch_size: int = 32,
    pooling: str = "mean",
    chunk_size: int = 256,
    overwrite: bool = False,
    progress: Reporter | None = None,
) -> ExtractResult:
    """The block `visual__<encoder>__<pooling>` (or `videm__<Name>__<pooling>`) over every video: the organiser's
    features of a VIDEM release (`_organiser_block`) or an encoder over the prepared frames (`_frame_block`)."""
    progress = progress or Reporter.silent()
    dataset = PreparedDataset.load(data_dir)
    if pooling not in POOLINGS:
        raise InputError(
            Problem(
                "command line",
                field="--pooling",
                message=f"unknown pooling (accepted: {', '.join(POOLINGS)})",
                value=pooling,
            )
        )
    store = _Store(dataset, dataset.items["video_id"].astype(str).tolist(), chunk_size, overwrite, progress)
    if encoder.startswith(VIDEM_PREFIX):
        return _organiser_block(store, encoder, pooling)
    if pooling != "mean":
        raise InputError(
            Problem(
                "command line",
                field="--pooling",
                message="frames vary in number per video: only mean pooling applies here",
                value=pooling,
            )
        )
    return _frame_block(store, encoder, device, batch_size)


@dataclass(frozen=True)
class _Store:
    """Where and how a block is written: the dataset, every video id in item-table order, and the write settings."""

    dataset: PreparedDataset
    ids: list[str]
    chunk_size: int
    overwrite: bool
    progress: Reporter

    def extract(
        self,
        signature: dict[str, object],
        make: Callable[[], Callable[[Sequence[str]], np.ndarray]],
        extra_meta: dict[str, object],
    ) -> ExtractResult:
        return extract_block(
            self.dataset.root,
            signature,
            self.ids,
            make,
            chunk_size=self.chunk_size,
            overwrite=self.overwrite,
            progress=self.progress,
            extra_meta=extra_meta,
        )


def _organiser_block(store: _Store, encoder: str, pooling: str) -> ExtractResult:
    """`videm__<Name>__<pooling>`: the organiser's per-frame features of a VIDEM release, pooled per video."""
    name = encoder[len(VIDEM_PREFIX) :]
    dirs = videm_feature_dirs(store.dataset, name)
    if not name or not any(d.is_dir() for d in dirs):
        raise InputError(
            Problem(
                "command line",
                field="--encoder",
                message=f"no organiser features of that name (looked in {', '.join(map(str, dirs))})",
                value=encoder,
            )
        )
    signature: dict[str, object] = {"extractor": "videm", "model": name, "pooling": pooling}
    return store.extract(
        signature, lambda: videm_encoder(dirs, pooling), {"encoder": encoder, "sources": [str(d) for d in dirs]}
    )


def _frame_block(store: _Store, encoder: str, device: str, batch_size: int) -> ExtractResult:
    """`visual__<encoder>__mean`: colour histograms or an image model over each video's prepared frames, averaged;
    a video without frames gets zeros (and the count is said)."""
    frames = _frames_of(store.dataset, store.ids)
    missing = sum(1 for f in frames.values() if not f)
    if missing:
        store.progress.say(f"{missing} videos have no prepared frames: their vectors are zeros")
    n_frames = max(len(f) for f in frames.values())
    if encoder in HISTOGRAM_ENCODERS:
        signature: dict[str, object] = {"extractor": "visual", "model": encoder, "frames": n_frames, "pooling": "mean"}
        mode = HISTOGRAM_ENCODERS[encoder]
        return store.extract(
            signature,
            lambda: histogram_encoder(frames, mode),
            {"encoder": encoder, "bins": HISTOGRAM_BINS, "missing_frames": missing},
        )
    device = resolve_device(device)
    signature = {"extractor": "visual", "model": model_label(encoder), "frames": n_frames, "pooling": "mean"}

    def make() -> Callable[[Sequence[str]], np.ndarray]:
        processor, model = load_image_encoder(encoder, device)
        return hf_encoder(frames, processor, model, device, batch_size)

    return store.extract(signature, make, {"encoder": encoder, "device": device, "missing_frames": missing})
