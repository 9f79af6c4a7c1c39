"""Frame extraction with PyAV into a prepared dataset's `frames/<video_id>/000.jpg, 001.jpg, ...`.

`--frames N` picks N frames evenly spaced over the whole clip, first and last included (N=3: first, middle,
last, the frames the Qwen-VL recipe feeds the model; N=1: the middle frame). Releases that ship frames instead of
videos (VIDEM's 1-fps folders) are sampled the same way without decoding.

Each video is written to a hidden sibling folder and renamed into place, so a video's folder exists only when
all its frames do: a killed run resumes by skipping those folders. A missing or undecodable video is reported,
never raised; the caller decides (with `--strict`) whether that fails the command.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mediaeval_memo.core.progress import Reporter

SourceKind = Literal["video", "frames"]
DEFAULT_FRAMES = 3
DEFAULT_MAX_SIDE = 448
JPEG_QUALITY = 90
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FRAMES_DIR = "frames"  # a prepared dataset's frames/<video_id>/000.jpg, 001.jpg, ...


def frame_file_name(index: int) -> str:
    """Frames are stored as frames/<video_id>/000.jpg, 001.jpg, ... so that a name sort is temporal order."""
    return f"{index:03d}.jpg"


@dataclass(frozen=True)
class FrameJob:
    """One video to sample: its id, and the video file or shipped-frames folder (None when the release has none)."""

    video_id: str
    source: Path | None
    kind: SourceKind = "video"


@dataclass
class FrameReport:
    """What an extraction did: videos done now, videos already complete, and the ones that failed."""

    frames_per_video: int
    max_side: int
    extracted: int = 0
    reused: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.extracted + self.reused

    @property
    def failed(self) -> int:
        return len(self.missing) + len(self.corrupt)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames_per_video": self.frames_per_video,
            "max_side": self.max_side,
            "videos_with_frames": self.ok,
            "extracted": self.extracted,
            "reused": self.reused,
            "missing": sorted(self.missing),
            "corrupt": dict(sorted(self.corrupt.items())),
        }


class FrameError(Exception):
    """A video that cannot be sampled (undecodable, no video stream, no frames)."""


def frame_indices(count: int, n: int) -> list[int]:
    """Indices of `n` frames evenly spaced over `count` frames, first and last included (n=1: the middle)."""
    if count <= 0 or n <= 0:
        return []
    if n == 1:
        return [(count - 1) // 2]
    return [int(i) for i in np.linspace(0, count - 1, n).round().astype(int)]


def is_complete(folder: Path, n: int) -> bool:
    return (
        folder.is_dir()
        and all((folder / frame_file_name(i)).is_file() for i in range(n))
        and not (folder / frame_file_name(n)).exists()
    )


def extract_frames(
    jobs: Sequence[FrameJob],
    frames_dir: Path,
    n: int = DEFAULT_FRAMES,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    workers: int = 1,
    progress: Reporter | None = None,
) -> FrameReport:
    """Sample `n` frames of every job into `frames_dir/<video_id>/`, skipping videos whose frames are complete."""
    progress = progress or Reporter.silent()
    frames_dir.mkdir(parents=True, exist_ok=True)
    report = FrameReport(n, max_side)
    todo: list[FrameJob] = []
    for job in jobs:
        if job.source is None or not job.source.exists():
            report.missing.append(job.video_id)
        elif is_complete(frames_dir / job.video_id, n):
            report.reused += 1
        else:
            todo.append(job)
    if report.reused:
        progress.say(f"frames: {report.reused} videos already complete, {len(todo)} to extract")

    def record(video_id: str, error: str | None) -> None:
        if error is None:
            report.extracted += 1
        else:
            report.corrupt[video_id] = error

    with progress.task("frames", total=len(todo)) as task:
        if workers <= 1 or len(todo) <= 1:
            for job in todo:
                record(job.video_id, extract_one(job, frames_dir, n, max_side))
                task.advance()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(extract_one, job, frames_dir, n, max_side): job for job in todo}
                for future in as_completed(futures):
                    record(futures[future].video_id, future.result())
                    task.advance()
    report.missing.sort()
    return report


def extract_one(job: FrameJob, frames_dir: Path, n: int, max_side: int) -> str | None:
    """Write one video's frames; returns None on success or why the video could not be sampled."""
    assert job.source is not None
    final = frames_dir / job.video_id
    partial = frames_dir / f".{job.video_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        images = _sample_folder(job.source, n, max_side) if job.kind == "frames" else _decode(job.source, n, max_side)
        for i, image in enumerate(images):
            image.save(partial / frame_file_name(i), "JPEG", quality=JPEG_QUALITY)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        return None
    except FrameError as exc:
        return str(exc)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    # Even sizes keep every pixel format's chroma subsampling happy.
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _decode(path: Path, n: int, max_side: int) -> list[Any]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise FrameError("no video stream")
            stream = container.streams.video[0]
            count = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        wanted = frame_indices(count, n)
        if not wanted:
            raise FrameError("no frames")
        picked: dict[int, Any] = {}
        last = None
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            targets = set(wanted)
            for i, frame in enumerate(container.decode(stream)):
                if i in targets:
                    w, h = _fit(frame.width, frame.height, max_side)
                    picked[i] = frame.reformat(width=w, height=h, format="rgb24").to_image()
                last = frame
                if i >= wanted[-1]:
                    break
    except av.FFmpegError as exc:
        raise FrameError(f"cannot decode: {exc}") from exc
    if last is None:
        raise FrameError("no decodable frames")
    if len(picked) < len(targets):
        # The container over-reported its frame count: the clip's real last frame stands in for the missing tail.
        w, h = _fit(last.width, last.height, max_side)
        tail = last.reformat(width=w, height=h, format="rgb24").to_image()
        return [picked.get(i, tail) for i in wanted]
    return [picked[i] for i in wanted]


def _sample_folder(folder: Path, n: int, max_side: int) -> list[Any]:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    wanted = frame_indices(len(files), n)
    if not wanted:
        raise FrameError("frame folder holds no images")
    images = []
    for i in wanted:
        try:
            with Image.open(files[i]) as img:
                rgb = img.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise FrameError(f"cannot read {files[i].name}: {exc}") from exc
        if max(rgb.size) > max_side:
            rgb = rgb.resize(_fit(*rgb.size, max_side), Image.Resampling.BICUBIC)
        images.append(rgb)
    return images
