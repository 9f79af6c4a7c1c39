"""Frame extraction speed on the sample's videos: videos per second with 1 and 2 worker processes.

Usage: python benchmarks/frames.py [--videos N] [--frames 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mediaeval_memo.data.sample import write_memento10k
from mediaeval_memo.media.frames import FrameJob, extract_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=240)
    parser.add_argument("--frames", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write_memento10k(Path(tmp) / "release", seed=0, n_train=args.videos, n_dev=0, n_test=0)
        videos = sorted((root / "videos").iterdir())
        jobs = [FrameJob(p.stem, p) for p in videos]
        print(f"frames: {len(jobs)} sample videos (64x64 to 96x72, 8-16 frames, MPEG-4), {args.frames} frames each")
        for workers in (1, 2):
            out = Path(tmp) / f"frames-{workers}"
            start = time.perf_counter()
            report = extract_frames(jobs, out, args.frames, workers=workers)
            seconds = time.perf_counter() - start
            assert report.extracted == len(jobs), report
            print(f"  workers={workers}: {len(jobs) / seconds:.1f} videos/s ({seconds:.2f} s)")


if __name__ == "__main__":
    main()
