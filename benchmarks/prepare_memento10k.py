"""Time `prepare` on the real MediaEval 2021 Memento10k files (7000 train + 1500 test rows, captions only).

Target: under 5 s after imports. Usage: python benchmarks/prepare_memento10k.py [ROOT] [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mediaeval_memo.data.prepare import PrepareOptions, prepare

# shared/ lies beside the clone; from an engineer's worktree (wt/NAME) it is one level further up.
_REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = next(
    (p / "shared" / "data" / "memento10k" for p in (_REPO.parent, _REPO.parent.parent) if (p / "shared").is_dir()),
    _REPO.parent / "shared" / "data" / "memento10k",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not (args.root / "training_set" / "train_scores.csv").is_file():
        print(f"no Memento10k release at {args.root}", file=sys.stderr)
        return 1
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            out = Path(tmp) / f"m10k-{i}"
            start = time.perf_counter()
            result = prepare("memento10k", args.root, out, PrepareOptions(folds=5, seed=0))
            times.append(time.perf_counter() - start)
            shutil.rmtree(out)
    rows = sum(result.manifest["rows"].values())
    print(f"prepare memento10k: {rows} rows from {args.root}")
    print(f"  runs: {', '.join(f'{t:.3f}' for t in times)} s")
    print(f"  median {statistics.median(times):.3f} s, best {min(times):.3f} s (target < 5 s after imports)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
