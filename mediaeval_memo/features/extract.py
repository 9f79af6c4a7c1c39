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


@dataclass(frozen=True)
class BlockSpec:
    """One block an extraction writes: its signature and what its meta.json adds to it."""

    signature: Mapping[str, object]
    extra_meta: Mapping[str, Any] | None = None


# Given the positions (in the extraction's list of blocks) of the blocks still to make, a function mapping a chunk
# of ids to one matrix per such block.
MakeViews = Callable[[list[int]], Callable[[Sequence[str]], list[np.ndarray]]]


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

    def make(_: list[int]) -> Callable[[Sequence[str]], list[np.ndarray]]:
        encoder = make_encoder()
        return lambda chunk: [encoder(chunk)]

    spec = BlockSpec(signature, extra_meta)
    return extract_blocks(
        dataset_root, [spec], ids, make, chunk_size=chunk_size, overwrite=overwrite, progress=progress
    )[0]


def _existing(root: Path, name: str, full_signature: dict[str, str], ids: Sequence[str]) -> dict[str, Any] | None:
    """The meta of a complete block `name` of this signature over exactly `ids`; None when it must be made (again).
    A folder of another signature is an error."""
    target = block_dir(root, name)
    meta = json.loads((target / "meta.json").read_text("utf-8"))
    if meta.get("signature") != full_signature:
        raise InputError(
            Problem(
                str(target),
                f"holds a block of another signature ({meta.get('signature')}); pass --overwrite to replace it",
            )
        )
    have_ids = json.loads((target / "ids.json").read_text("utf-8"))
    return meta if have_ids == list(ids) else None


def extract_blocks(
    dataset_root: str | Path,
    blocks: Sequence[BlockSpec],
    ids: Sequence[str],
    make_views: MakeViews,
    *,
    chunk_size: int = 256,
    overwrite: bool = False,
    progress: Reporter | None = None,
) -> list[ExtractResult]:
    """Extract (or resume, or skip) several blocks over `ids` that one pass of an encoder gives together (the
    poolings of one text encoder): each chunk of videos goes through the encoder once for every block still to
    make. A block already complete is skipped, as `extract_block` does, and the encoder is asked only for the
    others; each block resumes from its own chunk folder. One result per block, in order."""
    progress = progress or Reporter.silent()
    log = progress.say
    root = Path(dataset_root)
    started = time.perf_counter()
    names = [signature_name(b.signature) for b in blocks]
    signatures = [{k: str(v) for k, v in b.signature.items()} for b in blocks]
    results: dict[int, ExtractResult] = {}
    pending: list[int] = []
    for i, name in enumerate(names):
        if has_block(root, name) and not overwrite:
            meta = _existing(root, name, signatures[i], ids)
            if meta is not None:
                log(f"{name}: already extracted ({meta['rows']} x {meta['dim']}), nothing to do")
                results[i] = ExtractResult(name, block_dir(root, name), int(meta["rows"]), int(meta["dim"]), True, 0.0)
                continue
            log(f"{name}: the dataset's videos changed since this block was made; extracting again")
        pending.append(i)

    starts = list(range(0, len(ids), chunk_size))
    todo: set[int] = set()
    for i in pending:
        work = chunks_dir(root, names[i])
        plan = {"signature": signatures[i], "chunk_size": chunk_size, "n": len(ids), "ids_head": list(ids[:3])}
        plan_path = work / "plan.json"
        fresh = overwrite or has_block(root, names[i])  # a block being replaced: its old chunks are of no use
        if work.exists() and (fresh or not plan_path.is_file() or json.loads(plan_path.read_text("utf-8")) != plan):
            # Chunks of another plan (other ids or chunk size) cannot be stitched together: start over.
            shutil.rmtree(work)
        missing = [s for s in starts if not (work / f"{s // chunk_size:05d}.npy").is_file()]
        if len(missing) < len(starts):
            log(f"{names[i]}: resuming, {len(starts) - len(missing)} of {len(starts)} chunks done earlier")
        todo.update(missing)
    if todo:
        encoder = make_views(pending)  # loaded before the progress bar starts, so its errors print cleanly
        # The chunk folders are made only once the encoder has loaded: a bad --encoder leaves nothing to "resume".
        for i in pending:
            work = chunks_dir(root, names[i])
            work.mkdir(parents=True, exist_ok=True)
            plan = {"signature": signatures[i], "chunk_size": chunk_size, "n": len(ids), "ids_head": list(ids[:3])}
            atomic_write_text(work / "plan.json", json.dumps(plan) + "\n")
        left = sum(len(ids[s : s + chunk_size]) for s in todo)
        title = " + ".join(names[i] for i in pending)
        with progress.task(title, total=len(ids)) as task:
            task.update(completed=len(ids) - left)
            for s in sorted(todo):
                chunk = list(ids[s : s + chunk_size])
                views = encoder(chunk)
                if len(views) != len(pending):
                    raise RuntimeError(f"encoder returned {len(views)} views for {len(pending)} blocks")
                for i, matrix in zip(pending, views, strict=True):
                    vectors = np.asarray(matrix, dtype=np.float32)
                    if vectors.ndim != 2 or vectors.shape[0] != len(chunk):
                        raise RuntimeError(f"encoder returned shape {vectors.shape} for {len(chunk)} videos")
                    with atomic_path(chunks_dir(root, names[i]) / f"{s // chunk_size:05d}.npy") as tmp:
                        np.save(tmp, vectors, allow_pickle=False)
                task.advance(len(chunk))
    seconds = time.perf_counter() - started
    for i in pending:
        name, work = names[i], chunks_dir(root, names[i])
        parts = [np.load(work / f"{s // chunk_size:05d}.npy", allow_pickle=False) for s in starts]
        vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        meta = {
            "signature": signatures[i],
            "seconds": round(seconds, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "memo": __version__,
            **(blocks[i].extra_meta or {}),
        }
        if len(pending) > 1:
            meta["same_pass_as"] = [names[j] for j in pending if j != i]
        write_block(root, name, ids, vectors, meta, overwrite=True)
        if work.exists():  # absent only when there were no ids to extract
            shutil.rmtree(work)
        log(f"{name}: wrote {vectors.shape[0]} x {vectors.shape[1]} to {block_dir(root, name)}")
        results[i] = ExtractResult(
            name, block_dir(root, name), int(vectors.shape[0]), int(vectors.shape[1]), False, seconds
        )
    return [results[i] for i in range(len(blocks))]


def model_label(name_or_path: str) -> str:
    """The part of an encoder's name that goes into a block name: a hub name without its owner, a path's folder."""
    path = Path(name_or_path)
    if path.exists():
        return path.resolve().name
    return name_or_path.rstrip("/").split("/")[-1]


def resolve_device(device: str) -> str:
    """'auto' (CUDA when this machine has it, else the CPU), 'cpu', 'cuda' or 'cuda:N'; asking for CUDA without a GPU
    is an input error, not a crash deep in torch."""
    if device == "cpu":
        return device
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                Problem(
                    "command line",
                    field="--device",
                    message="CUDA is not available on this machine (accepted: auto, cpu)",
                    value=device,
                )
            )
        return device
    raise InputError(
        Problem(
            "command line",
            field="--device",
            message="unknown device (accepted: auto, cpu, cuda, cuda:N)",
            value=device,
        )
    )
