"""Seconds per fit of each GBT member, measured beside the plan's cost model (`variants/gbt/plan.py`).

    python benchmarks/gbt_costs.py [--rows 1000 4000] [--dims 64 384] [--members svr tfidf lightgbm ...]

Each member is fitted once with its defaults on synthetic data (Gaussian features, a target with a linear and a
non-linear part, captions of random words) with the thread count the default config uses (2). The plan sizes a
job's tuning from these estimates; rerun this on a new machine class and update `_SECONDS_PER` if the ratio
column drifts far from 1.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from mediaeval_memo.variants.gbt.members import MEMBER_NAMES, Inputs, get_member
from mediaeval_memo.variants.gbt.plan import fit_seconds

WORDS = [f"w{i}" for i in range(400)]


def synthetic(n: int, d: int, seed: int = 0) -> tuple[Inputs, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, :8].sum(1) + np.tanh(X[:, 8:16]).sum(1) + rng.normal(0, 1, n)
    texts = [" ".join(rng.choice(WORDS, size=40)) for _ in range(n)]
    return Inputs(X, np.zeros(d, dtype=np.int64), texts), y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 384])
    parser.add_argument("--members", nargs="+", default=list(MEMBER_NAMES), choices=MEMBER_NAMES)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"{'member':<10}{'rows':>7}{'dims':>6}{'measured s':>12}{'model s':>10}{'ratio':>8}")
    for n in args.rows:
        for d in args.dims:
            inputs, y = synthetic(n, d)
            for name in args.members:
                member = get_member(name)
                started = time.perf_counter()
                member.fit(inputs, y, member.default_params(), 0, args.threads)
                took = time.perf_counter() - started
                model = fit_seconds(name, n, d)
                print(f"{name:<10}{n:>7}{d:>6}{took:>12.2f}{model:>10.2f}{took / model:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
