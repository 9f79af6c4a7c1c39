"""`memo prepare`: read a release, check it, make folds, sample frames, and write the prepared dataset atomically.

The output directory appears only when everything in it is complete (built in a temporary sibling, renamed at the
end); bad input leaves nothing behind. Frames are the one long step, so they are staged in `.<out>.frames/` beside
the output: a killed run keeps its finished videos there and the next run skips them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mediaeval_memo import __version__
from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.io import atomic_dir, require_output_folder, sha256_file
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.feature_store import write_block
from mediaeval_memo.data.items import (
    FRAMES_DIR,
    LAYOUT_VERSION,
    MANIFEST_FILE,
    SPLITS,
    check_items,
    write_items,
    write_json,
)
from mediaeval_memo.data.readers import reader
from mediaeval_memo.data.release import ReadOptions, Release
from mediaeval_memo.data.splits import make_folds
from mediaeval_memo.data.tables import display
from mediaeval_memo.media.frames import DEFAULT_FRAMES, DEFAULT_MAX_SIDE, FrameJob, FrameReport, extract_frames

ORGANISER_PREFIX = "organiser__"
FRAME_SETTINGS = ".settings.json"


@dataclass
class PrepareOptions:
    frames: int = DEFAULT_FRAMES
    folds: int = 5
    inner_folds: int = 0
    seed: int = 0
    workers: int = 1
    max_side: int = DEFAULT_MAX_SIDE
    strict: bool = False
    force: bool = False
    media: Path | None = None
    # movies: a YAML mapping file and/or single-column overrides (see data/movies.py).
    mapping: Path | None = None
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class PrepareResult:
    out: Path
    manifest: dict[str, Any]
    frames: FrameReport | None


def read_release(dataset: str, root: Path, options: PrepareOptions) -> Release:
    """Read `root` with the registered reader of `dataset`."""
    read_options = ReadOptions(media=options.media, mapping=options.mapping, columns=dict(options.columns))
    return reader(dataset).read(root, read_options)


def prepare(
    dataset: str, root: Path, out: Path, options: PrepareOptions, progress: Reporter | None = None
) -> PrepareResult:
    progress = progress or Reporter.silent()
    say = progress.say
    reader(dataset)  # an unknown name is the first error
    if not root.is_dir():
        raise InputError(Problem(str(root), "release folder does not exist", field="--root"))
    if out.resolve() == root.resolve() or out.resolve() in root.resolve().parents:
        raise InputError(
            Problem(str(out), "would replace the release itself; choose a folder outside --root", field="--out")
        )
    require_output_folder(out, "the folder the prepared dataset is written to")
    if out.exists() and any(out.iterdir()) and not options.force:
        raise InputError(
            Problem(str(out), "output folder exists and is not empty; pass --force to replace it", field="--out")
        )
    if options.frames < 0:
        raise InputError(
            Problem("memo prepare", "must be 0 (no frames) or more", field="--frames", value=options.frames)
        )
    if options.inner_folds == 1:
        raise InputError(
            Problem("memo prepare", "must be 0 (no inner folds) or at least 2", field="--inner-folds", value=1)
        )
    release = read_release(dataset, root, options)
    check_items(release.items, release.targets, source=f"{dataset} release at {root}")
    say(f"read {len(release.items)} videos from {root} ({release.layout} layout)")
    for note in release.notes:
        say(f"note: {note}")
    folds = make_folds(
        release.items,
        release.targets[0] if release.targets else None,
        options.folds,
        options.seed,
        inner_k=options.inner_folds,
        source=str(root),
    )
    organiser = _load_organiser_features(release)
    sources = {display(p, root): sha256_file(p) for p in sorted(release.sources)}

    frame_report: FrameReport | None = None
    frames_note: str | None = None
    staging = out.parent / f".{out.name}.frames"
    if options.frames > 0:
        if release.media_dir is None:
            frames_note = "no media in the release (pass --media DIR for Memento10k/TRECVid/VideoMem videos)"
            if options.strict:
                raise InputError(Problem(str(root), f"--strict: {frames_note}", field="--frames"))
            say(f"frames: skipped, {frames_note}")
        else:
            frame_report = _frames(release, out, staging, options, progress)
    else:
        frames_note = "not asked (--frames 0)"

    with atomic_dir(out, overwrite=options.force) as tmp:
        write_items(tmp, release.items)
        write_json(tmp / "folds.json", folds.to_json())
        for name, (ids, vectors, shape) in organiser.items():
            write_block(
                tmp,
                ORGANISER_PREFIX + name,
                ids,
                vectors,
                {"extractor": "organiser", "name": name, "shape": list(shape)},
            )
        if frame_report is not None:
            os.replace(staging, tmp / FRAMES_DIR)
        manifest = _manifest(release, options, folds.k, sources, frame_report, frames_note, organiser)
        write_json(tmp / MANIFEST_FILE, manifest)
    return PrepareResult(out, manifest, frame_report)


def _frames(release: Release, out: Path, staging: Path, options: PrepareOptions, progress: Reporter) -> FrameReport:
    # Frames are reused by video id only when they were made from the same release with the same settings.
    settings = {"source_root": str(release.root.resolve()), "frames": options.frames, "max_side": options.max_side}
    settings_file = staging / FRAME_SETTINGS
    if staging.exists() and _read_json(settings_file) != settings:
        shutil.rmtree(staging)
    previous = out / FRAMES_DIR
    if options.force and previous.is_dir() and not staging.exists() and _previous_settings(out) == settings:
        # Re-preparing over an existing dataset reuses its frames (hard links: no copy, no extra disk).
        shutil.copytree(previous, staging, copy_function=_link_or_copy)
    staging.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps(settings), encoding="utf-8")
    jobs = [
        FrameJob(vid, release.media_file(path), release.media_kind)
        for vid, path in zip(release.items["video_id"], release.items["media_path"], strict=True)
    ]
    report = extract_frames(
        jobs,
        staging,
        options.frames,
        max_side=options.max_side,
        workers=options.workers,
        progress=progress,
    )
    # Folders of videos that are no longer in the release must not survive into the prepared dataset.
    wanted = set(release.items["video_id"])
    settings_file.unlink()
    for stale in staging.iterdir():
        if stale.name not in wanted:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    if options.strict and report.failed:
        # --strict promises nothing written: the staged frames go too (a run without --strict would reuse them).
        shutil.rmtree(staging, ignore_errors=True)
        _strict_problems(release, report.missing, report.corrupt)
    return report


def _strict_problems(release: Release, missing: list[str], corrupt: dict[str, str]) -> None:
    problems = ProblemList()
    for vid in missing:
        problems.add(str(release.root), "--strict: video file not found", field="video_id", value=vid)
    for vid, why in sorted(corrupt.items()):
        problems.add(str(release.root), f"--strict: {why}", field="video_id", value=vid)
    problems.raise_if_any()


def _read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it is absent or unreadable (then whatever it described is redone)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _previous_settings(out: Path) -> dict[str, Any] | None:
    manifest = _read_json(out / MANIFEST_FILE)
    try:
        frames = manifest["frames"]
        return {
            "source_root": manifest["source_root"],
            "frames": frames["frames_per_video"],
            "max_side": frames["max_side"],
        }
    except (KeyError, TypeError):
        return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _load_organiser_features(release: Release) -> dict[str, tuple[list[str], np.ndarray, tuple[int, ...]]]:
    """Organiser `.npy` features as (ids, flattened float32 rows, per-video shape), checked for one shape."""
    problems = ProblemList()
    out: dict[str, tuple[list[str], np.ndarray, tuple[int, ...]]] = {}
    for name, entries in sorted(release.organiser_features.items()):
        arrays: list[tuple[str, Path, np.ndarray]] = []
        for vid, path in entries:
            array = _load_npy(path, display(path, release.root), problems)
            if array is not None:
                arrays.append((vid, path, array))
        if not arrays:
            continue
        # The shape most files have is the feature's shape; the odd ones out are the problems.
        shape = Counter(tuple(a.shape) for _, _, a in arrays).most_common(1)[0][0]
        for _, path, array in arrays:
            if tuple(array.shape) != shape:
                problems.add(
                    display(path, release.root),
                    f"shape differs from the other {name} files ({shape})",
                    field="shape",
                    value=str(tuple(array.shape)),
                )
        ids = [vid for vid, _, _ in arrays]
        out[name] = (ids, np.stack([a.astype(np.float32).reshape(-1) for _, _, a in arrays if a.shape == shape]), shape)
    problems.raise_if_any()
    return out


def _load_npy(path: Path, name: str, problems: ProblemList) -> np.ndarray | None:
    """One organiser feature file as a finite float array, or None (and why, in `problems`): an `.npz` under an
    `.npy` name, a pickle, strings or NaN would otherwise reach every model."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        problems.add(name, f"not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else 'empty'})")
        return None
    if not isinstance(array, np.ndarray):  # np.load opens an .npz archive whatever its name
        array.close()
        problems.add(name, "an .npz archive, not one .npy array", field="format", value="npz")
        return None
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        problems.add(name, "not a numeric array", field="dtype", value=str(array.dtype))
        return None
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        problems.add(
            name, "not a finite number", field=f"element {tuple(int(i) for i in bad)}", value=str(array[tuple(bad)])
        )
        return None
    return array


def _manifest(
    release: Release,
    options: PrepareOptions,
    k: int,
    sources: dict[str, str],
    frames: FrameReport | None,
    frames_note: str | None,
    organiser: dict[str, tuple[list[str], np.ndarray, tuple[int, ...]]],
) -> dict[str, Any]:
    items = release.items
    has_media = items["media_path"].astype(bool)
    opts = asdict(options)
    for key in ("media", "mapping"):
        opts[key] = None if opts[key] is None else str(opts[key])
    del opts["force"]
    return {
        "dataset": release.dataset,
        "layout": release.layout,
        "layout_version": LAYOUT_VERSION,
        "source_root": str(release.root.resolve()),
        "media_root": None if release.media_dir is None else str(release.media_dir.resolve()),
        "media_kind": release.media_kind,
        "sources": sources,
        "rows": {s: int((items["split"] == s).sum()) for s in SPLITS},
        "targets": list(release.targets),
        # Every label column (targets, raw scores, decay rates, annotation counts), as the reader declared them:
        # the dataset view a fit receives masks them outside its ids. And every column's role.
        "labels": release.labels,
        "columns": release.roles,
        "notes": release.notes,
        "labelled": {t: int(np.isfinite(items[t].astype(float)).sum()) for t in release.targets},
        "folds": {"k": k, "seed": options.seed, "inner_k": options.inner_folds, "file": "folds.json"},
        "media": {"found": int(has_media.sum()), "missing": int((~has_media).sum())},
        "frames": frames.to_json() if frames is not None else {"skipped": frames_note},
        "organiser_features": {
            name: {"block": ORGANISER_PREFIX + name, "shape": list(shape), "videos": len(ids)}
            for name, (ids, _, shape) in organiser.items()
        },
        "options": opts,
        "extra": release.extra,
        "toolkit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
