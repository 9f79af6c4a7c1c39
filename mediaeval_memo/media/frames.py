"""Frame extraction with PyAV into a prepared dataset's `frames/<video_id>/000.jpg, 001.jpg, ...`.

`--frames N` picks N frames evenly spaced over the whole clip, first and last included (N=3: first, middle,
last, the frames the Qwen-VL recipe feeds the model; N=1: the middle frame). Releases that ship frames instead of
videos (VIDEM's 1-fps folders) are sampled the same way without decoding. Beside the frames, `times.json` says
where in the clip each was taken: `{"fps": ..., "indices": [...], "seconds": [...]}` (frame index / fps, as Qwen's
video processors time frames), so that a model reading the frames as a video gets the clip's real time line.

Each video is written to a hidden sibling folder and renamed into place, so a video's folder exists only when
all its frames do: a killed run resumes by skipping those folders. A missing or undecodable video is reported,
never raised; the caller decides (with `--strict`) whether that fails the command.
"""

from __future__ import annotations

import json
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
TIMES_FILE = "times.json"  # beside them: where in the clip each frame was taken
# Releases that ship frame folders instead of videos ship one frame per second (VIDEM).
FOLDER_FPS = 1.0


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


@dataclass(frozen=True)
class FrameTimes:
    """Where in the clip each sampled frame was taken: its index among the clip's frames and its time in seconds
    (index / fps); `fps` is the clip's frame rate (None when the container does not say)."""

    fps: float | None
    indices: list[int]
    seconds: list[float]

    def to_json(self) -> dict[str, Any]:
        return {"fps": self.fps, "indices": self.indices, "seconds": self.seconds}


def read_times(folder: Path) -> FrameTimes | None:
    """The times of a video's prepared frames, or None when they were prepared before times were stored (or the
    file is unreadable)."""
    try:
        data = json.loads((folder / TIMES_FILE).read_text(encoding="utf-8"))
        fps = None if data["fps"] is None else float(data["fps"])
        return FrameTimes(fps, [int(i) for i in data["indices"]], [float(t) for t in data["seconds"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_complete(folder: Path, n: int, with_times: bool = False) -> bool:
    """Whether `folder` holds exactly `n` frames (and, with_times, their `times.json`)."""
    return (
        folder.is_dir()
        and all((folder / frame_file_name(i)).is_file() for i in range(n))
        and not (folder / frame_file_name(n)).exists()
        and (not with_times or (folder / TIMES_FILE).is_file())
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
        elif is_complete(frames_dir / job.video_id, n, with_times=True):  # folders from before times: redone
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
        sample = _sample_folder if job.kind == "frames" else _decode
        images, times = sample(job.source, n, max_side)
        for i, image in enumerate(images):
            image.save(partial / frame_file_name(i), "JPEG", quality=JPEG_QUALITY)
        (partial / TIMES_FILE).write_text(json.dumps(times.to_json()) + "\n", encoding="utf-8")
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


def _decode(path: Path, n: int, max_side: int) -> tuple[list[Any], FrameTimes]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise FrameError("no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
            count = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        wanted = frame_indices(count, n)
        if not wanted:
            raise FrameError("no frames")
        picked: dict[int, Any] = {}
        stamps: dict[int, float | None] = {}
        last, last_index = None, 0
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            targets = set(wanted)
            for i, frame in enumerate(container.decode(stream)):
                if i in targets:
                    w, h = _fit(frame.width, frame.height, max_side)
                    picked[i] = frame.reformat(width=w, height=h, format="rgb24").to_image()
                    stamps[i] = frame.time
                last, last_index = frame, i
                if i >= wanted[-1]:
                    break
    except av.FFmpegError as exc:
        raise FrameError(f"cannot decode: {exc}") from exc
    if last is None:
        raise FrameError("no decodable frames")
    if len(picked) < len(targets):
        # The container over-reported its frame count: the clip's real last frame stands in for the missing tail.
        w, h = _fit(last.width, last.height, max_side)
        picked[last_index], stamps[last_index] = last.reformat(width=w, height=h, format="rgb24").to_image(), last.time
        wanted = [i if i in picked else last_index for i in wanted]
    # Seconds as Qwen's video processors count them (index / fps); the stream's own clock when it has no rate.
    seconds = [i / fps if fps else float(stamps.get(i) or 0.0) for i in wanted]
    return [picked[i] for i in wanted], FrameTimes(fps, wanted, seconds)


def _sample_folder(folder: Path, n: int, max_side: int) -> tuple[list[Any], FrameTimes]:
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
    return images, FrameTimes(FOLDER_FPS, wanted, [i / FOLDER_FPS for i in wanted])
