"""Frame extraction: which frames, resumable, parallel, missing and corrupt videos reported, VIDEM folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mediaeval_memo.cli import cli
from mediaeval_memo.data import prepare as prepare_module
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.data.sample import Clip, write_memento10k, write_video
from mediaeval_memo.media import frames as frames_module
from mediaeval_memo.media.frames import TIMES_FILE, FrameJob, FrameTimes, extract_frames, frame_indices, read_times


def test_frame_indices() -> None:
    assert frame_indices(10, 3) == [0, 4, 9]
    assert frame_indices(90, 3) == [0, 44, 89]
    assert frame_indices(9, 1) == [4]
    assert frame_indices(100, 5) == [0, 25, 50, 74, 99]
    assert frame_indices(0, 3) == []
    assert frame_indices(2, 4) == [0, 0, 1, 1]  # short clips repeat frames rather than return fewer


@pytest.fixture
def videos(tmp_path: Path) -> list[FrameJob]:
    jobs = []
    for i in range(4):
        # frame t of clip i: the moving square starts at the left edge and ends at the right edge
        clip = Clip(96, 64, 10 + i, (200, 40, 40), (0, 255, 0))
        path = tmp_path / "videos" / f"v{i}.mp4"
        write_video(path, clip)
        jobs.append(FrameJob(f"v{i}", path))
    return jobs


def test_first_middle_last_and_size_cap(videos: list[FrameJob], tmp_path: Path) -> None:
    report = extract_frames(videos, tmp_path / "frames", 3, max_side=48)
    assert (report.extracted, report.reused, report.failed) == (4, 0, 0)
    names = sorted(p.name for p in (tmp_path / "frames" / "v0").iterdir())
    assert names == ["000.jpg", "001.jpg", "002.jpg", "times.json"]
    first, last = (np.asarray(Image.open(tmp_path / "frames" / "v0" / n)) for n in ("000.jpg", "002.jpg"))
    assert first.shape == (32, 48, 3)
    # the green square is at the left in the first frame and at the right in the last
    green_first = np.argwhere(first[:, :, 1] > 180)[:, 1].mean()
    green_last = np.argwhere(last[:, :, 1] > 180)[:, 1].mean()
    assert green_first < 12 and green_last > 36


def test_frame_times_are_the_clips_own(videos: list[FrameJob], tmp_path: Path) -> None:
    # write_video encodes at 8 fps; v3 has 13 frames: first, middle and last are frames 0, 6 and 12
    extract_frames(videos, tmp_path / "frames", 3)
    assert read_times(tmp_path / "frames" / "v3") == FrameTimes(8.0, [0, 6, 12], [0.0, 0.75, 1.5])
    assert read_times(tmp_path / "frames" / "v0") == FrameTimes(8.0, [0, 4, 9], [0.0, 0.5, 1.125])


def test_folders_without_frame_times_are_redone(videos: list[FrameJob], tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    extract_frames(videos, frames, 3)
    (frames / "v1" / TIMES_FILE).unlink()  # prepared before times were stored
    report = extract_frames(videos, frames, 3)
    assert (report.extracted, report.reused) == (1, 3) and read_times(frames / "v1") is not None


def test_resume_skips_complete_videos(videos: list[FrameJob], tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    extract_frames(videos[:2], frames, 3)
    stamp = (frames / "v0" / "000.jpg").stat().st_mtime_ns
    (frames / ".v2.partial").mkdir()  # leftover of a killed run
    report = extract_frames(videos, frames, 3)
    assert (report.extracted, report.reused) == (2, 2)
    assert (frames / "v0" / "000.jpg").stat().st_mtime_ns == stamp
    assert not (frames / ".v2.partial").exists()
    # asking for more frames redoes the videos
    assert extract_frames(videos, frames, 5).extracted == 4


def test_parallel_matches_serial(videos: list[FrameJob], tmp_path: Path) -> None:
    extract_frames(videos, tmp_path / "a", 3, workers=1)
    extract_frames(videos, tmp_path / "b", 3, workers=2)
    for job in videos:
        for name in ("000.jpg", "001.jpg", "002.jpg"):
            a = (tmp_path / "a" / job.video_id / name).read_bytes()
            assert a == (tmp_path / "b" / job.video_id / name).read_bytes()


def test_missing_and_corrupt_are_reported_not_raised(videos: list[FrameJob], tmp_path: Path) -> None:
    broken = tmp_path / "videos" / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a real video" * 10)
    jobs = [
        *videos,
        FrameJob("gone", tmp_path / "videos" / "gone.mp4"),
        FrameJob("nofile", None),
        FrameJob("broken", broken),
    ]
    report = extract_frames(jobs, tmp_path / "frames", 3, workers=2)
    assert report.extracted == 4
    assert report.missing == ["gone", "nofile"]
    assert list(report.corrupt) == ["broken"] and report.corrupt["broken"].startswith("cannot decode")
    assert not (tmp_path / "frames" / "broken").exists()


def test_shipped_frame_folders_are_sampled(tmp_path: Path) -> None:
    folder = tmp_path / "shipped" / "abc"
    folder.mkdir(parents=True)
    for t in range(7):
        Image.fromarray(np.full((600, 800, 3), 30 * t, dtype=np.uint8)).save(folder / f"frame_{t + 1:04d}.jpg")
    (tmp_path / "shipped" / "empty").mkdir()
    jobs = [FrameJob("abc", folder, "frames"), FrameJob("empty", tmp_path / "shipped" / "empty", "frames")]
    report = extract_frames(jobs, tmp_path / "frames", 3, max_side=100)
    assert report.extracted == 1 and report.corrupt == {"empty": "frame folder holds no images"}
    values = [int(np.asarray(Image.open(tmp_path / "frames" / "abc" / f"00{i}.jpg")).mean()) for i in range(3)]
    assert [round(v / 30) for v in values] == [0, 3, 6]
    assert Image.open(tmp_path / "frames" / "abc" / "000.jpg").size == (100, 76)
    # shipped folders hold one frame per second (VIDEM)
    assert read_times(tmp_path / "frames" / "abc") == FrameTimes(1.0, [0, 3, 6], [0.0, 3.0, 6.0])


def _release_with_problems(tmp_path: Path) -> Path:
    root = write_memento10k(tmp_path / "release", seed=1, n_train=12, n_dev=0, n_test=3)
    videos = sorted((root / "videos").iterdir())
    videos[0].unlink()
    videos[1].write_bytes(b"garbage")
    return root


def test_prepare_lists_missing_and_corrupt_and_strict_fails(tmp_path: Path) -> None:
    root = _release_with_problems(tmp_path)
    args = ["prepare", "memento10k", "--root", str(root), "--folds", "3"]
    strict = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "strict"), "--strict"])
    assert strict.exit_code == 1
    errors = [line for line in strict.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert errors[0].startswith(f"error: {root}: video_id ") and errors[0].endswith(": --strict: video file not found")
    assert ": --strict: cannot decode" in errors[1]
    assert not (tmp_path / "strict").exists()
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "missing videos (1)" in result.output and "corrupt videos (1)" in result.output
    ds = PreparedDataset.load(tmp_path / "ok")
    assert ds.manifest["media"] == {"found": 14, "missing": 1}
    assert len(ds.manifest["frames"]["missing"]) == 1 and len(ds.manifest["frames"]["corrupt"]) == 1
    assert sum(bool(ds.frame_paths(v)) for v in ds.items["video_id"]) == 13


def test_prepare_resumes_frames_after_a_kill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_memento10k(tmp_path / "release", seed=2, n_train=10, n_dev=0, n_test=2)
    out = tmp_path / "prepared"
    args = ["prepare", "memento10k", "--root", str(root), "--out", str(out), "--folds", "2"]
    real = frames_module.extract_one
    calls: list[str] = []

    def killed_on_the_third(job: FrameJob, frames_dir: Path, n: int, max_side: int) -> str | None:
        calls.append(job.video_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(job, frames_dir, n, max_side)

    monkeypatch.setattr(frames_module, "extract_one", killed_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_module.prepare("memento10k", root, out, prepare_module.PrepareOptions(folds=2))
    monkeypatch.undo()
    assert not out.exists()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "frames: 2 videos already complete, 10 to extract" in result.output
    assert not (tmp_path / ".prepared.frames").exists()
    # --force over an existing dataset reuses its frames, unless the frame settings change
    again = CliRunner().invoke(cli, [*args, "--force"])
    assert again.exit_code == 0 and "12 videos already complete, 0 to extract" in again.output
    bigger = CliRunner().invoke(cli, [*args, "--force", "--max-side", "64"])
    assert bigger.exit_code == 0 and "already complete" not in bigger.output
