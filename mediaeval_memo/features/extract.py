"""Resumable, chunked extraction into the feature store, shared by the text and visual extractors.

An extractor names its block by a signature (`store.signature_name`), lists the video ids to cover and gives a
function that turns a chunk of ids into a float32 matrix. `extract_block` then:
- does nothing, and says so, when a complete block of the same signature over the same ids already exists;
- writes each finished chunk to `features/.<name>.chunks/NNNNN.npy` (atomically), so that a killed extraction
  resumes at the first missing chunk;
- assembles the block through `store.write_block` (atomic) and removes the chunks.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mediaeval_memo import __version__
from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_path, atomic_write_text
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.feature_store import block_dir, has_block, signature_name, write_block
from mediaeval_memo.data.items import FEATURES_DIR

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass
class ExtractResult:
    """What one extraction did: the block's name and folder, its shape, and whether it was already there."""

    name: str
    path: Path
    rows: int
    dim: int
    skipped: bool
    seconds: float


def chunks_dir(dataset_root: Path, name: str) -> Path:
    return dataset_root / FEATURES_DIR / f".{name}.chunks"


def extract_block(
    dataset_root: str | Path,
    signature: Mapping[str, object],
    ids: Sequence[str],
    make_encoder: Callable[[], Encode],
    *,
    chunk_size: int = 256,
    overwrite: bool = False,
    progress: Reporter | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> ExtractResult:
    """Extract (or resume, or skip) the block of `signature` over `ids`.

    `make_encoder()` returns a function mapping a chunk of ids to a (len(chunk), dim) matrix; it is called once,
    only when there is work left, so that a skipped or fully chunked block never loads its encoder.
    """
    progress = progress or Reporter.silent()
    log = progress.say
    root = Path(dataset_root)
    name = signature_name(signature)
    target = block_dir(root, name)
    full_signature = {k: str(v) for k, v in signature.items()}
    started = time.perf_counter()
    if has_block(root, name) and not overwrite:
        meta = json.loads((target / "meta.json").read_text("utf-8"))
        have_ids = json.loads((target / "ids.json").read_text("utf-8"))
        if meta.get("signature") != full_signature:
            raise InputError(
                Problem(
                    str(target),
                    f"holds a block of another signature ({meta.get('signature')}); pass --overwrite to replace it",
                )
            )
        if have_ids == list(ids):
            log(f"{name}: already extracted ({meta['rows']} x {meta['dim']}), nothing to do")
            return ExtractResult(name, target, int(meta["rows"]), int(meta["dim"]), True, 0.0)
        log(f"{name}: the dataset's videos changed since this block was made; extracting again")
        overwrite = True

    work = chunks_dir(root, name)
    plan = {"signature": full_signature, "chunk_size": chunk_size, "n": len(ids), "ids_head": list(ids[:3])}
    plan_path = work / "plan.json"
    if work.exists() and (overwrite or not plan_path.is_file() or json.loads(plan_path.read_text("utf-8")) != plan):
        # Chunks of another plan (other ids or chunk size) cannot be stitched together: start over.
        shutil.rmtree(work)

    starts = list(range(0, len(ids), chunk_size))
    todo = [s for s in starts if not (work / f"{s // chunk_size:05d}.npy").is_file()]
    if len(todo) < len(starts):
        log(f"{name}: resuming, {len(starts) - len(todo)} of {len(starts)} chunks done earlier")
    if todo:
        encoder = make_encoder()  # loaded before the progress bar starts, so its errors print cleanly
        # The chunk folder is made only once the encoder has loaded: a bad --encoder leaves nothing to "resume".
        work.mkdir(parents=True, exist_ok=True)
        atomic_write_text(plan_path, json.dumps(plan) + "\n")
        left = sum(len(ids[s : s + chunk_size]) for s in todo)
        with progress.task(name, total=len(ids)) as task:
            task.update(completed=len(ids) - left)
            for s in todo:
                chunk = list(ids[s : s + chunk_size])
                vectors = np.asarray(encoder(chunk), dtype=np.float32)
                if vectors.ndim != 2 or vectors.shape[0] != len(chunk):
                    raise RuntimeError(f"encoder returned shape {vectors.shape} for {len(chunk)} videos")
                with atomic_path(work / f"{s // chunk_size:05d}.npy") as tmp:
                    np.save(tmp, vectors, allow_pickle=False)
                task.advance(len(chunk))
    parts = [np.load(work / f"{s // chunk_size:05d}.npy", allow_pickle=False) for s in starts]
    vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    seconds = time.perf_counter() - started
    meta = {
        "signature": full_signature,
        "seconds": round(seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "memo": __version__,
        **(extra_meta or {}),
    }
    write_block(root, name, ids, vectors, meta, overwrite=True)
    if work.exists():  # absent only when there were no ids to extract
        shutil.rmtree(work)
    log(f"{name}: wrote {vectors.shape[0]} x {vectors.shape[1]} to {target}")
    return ExtractResult(name, target, int(vectors.shape[0]), int(vectors.shape[1]), False, seconds)


def model_label(name_or_path: str) -> str:
    """The part of an encoder's name that goes into a block name: a hub name without its owner, a path's folder."""
    path = Path(name_or_path)
    if path.exists():
        return path.resolve().name
    return name_or_path.rstrip("/").split("/")[-1]


def resolve_device(device: str) -> str:
    """'cpu', 'cuda' or 'cuda:N'; asking for CUDA without a GPU is an input error, not a crash deep in torch."""
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                Problem(
                    "command line",
                    field="--device",
                    message="CUDA is not available on this machine (accepted: cpu)",
                    value=device,
                )
            )
        return device
    raise InputError(
        Problem("command line", field="--device", message="unknown device (accepted: cpu, cuda, cuda:N)", value=device)
    )
