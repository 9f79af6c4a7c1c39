"""Benchmark: how often each 95% interval of Spearman's rho covers the population value.

Two distributions, each at population Spearman 0.2, 0.5 and 0.75 and n = 85 (VIDEM's test set), 300 and 1500
(Memento10k's):
- `normal`: bivariate normal; Pearson rho = 2 sin(pi rho_s / 6) gives the population Spearman rho_s exactly.
- `skewed-tied`: a log-normal "prediction" x (right-skewed), gold y = x + s * Exp(1) (skewed noise, so the
  dependence is not a Gaussian copula), then gold floored to steps of 1/8 on log(1 + y) (about 19 distinct values
  among 1500 videos: heavy ties, as in annotation scores) and the prediction rounded to 0.1 (ties too). s is found
  by bisection so that the Spearman of 2,000,000 draws (average ranks) equals the target; that value is the
  population Spearman (its Monte Carlo error, printed, is far below the intervals' widths).
For each cell and replication: draw n pairs, then the toolkit's percentile and BCa intervals (B resamples, the
count-based bootstrap `memo score` uses) and the closed-form `fisher` (variance 1/(n-3)) and `fisher-bw` (Bonett
and Wright, (1 + r^2/2)/(n-3)) intervals. Coverage = the share of replications whose interval holds the population
value; its Monte Carlo standard error is sqrt(0.95 * 0.05 / R), 0.007 at R = 1000.

    python benchmarks/coverage.py                 # small: R = 100 replications per cell, B = 2000 (minutes)
    python benchmarks/coverage.py --full          # R = 1000 per cell (the table in docs/evaluation.md)
    python benchmarks/coverage.py --reps 300 --workers 2 --resamples 2000 --seed 0

Same arguments, same table: every replication's data and resamples come from seeds derived from --seed.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from mediaeval_memo.evaluation.bootstrap import replicates
from mediaeval_memo.evaluation.ci import bca_ci, fisher_bw_ci, fisher_ci, percentile_ci

DISTRIBUTIONS = ("normal", "skewed-tied")
SIZES = (85, 300, 1500)
RHOS = (0.2, 0.5, 0.75)
METHODS = ("percentile", "bca", "fisher", "fisher-bw")
CALIBRATION_DRAWS = 2_000_000


@dataclass(frozen=True)
class Cell:
    distribution: str
    n: int
    rho: float  # population Spearman
    param: float  # Pearson rho of the normal, or the noise scale s of skewed-tied


def _normal(n: int, param: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal(n)
    y = param * x + math.sqrt(1.0 - param * param) * rng.standard_normal(n)
    return y, x  # (gold, prediction)


def _skewed_tied(n: int, param: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = np.exp(0.8 * rng.standard_normal(n))
    y = x + param * rng.exponential(size=n)
    return np.floor(8.0 * np.log1p(y)) / 8.0, np.round(x, 1)


DRAW: dict[str, Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]] = {
    "normal": _normal,
    "skewed-tied": _skewed_tied,
}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def calibrate(rho: float, seed: int) -> tuple[float, float]:
    """The noise scale s of `skewed-tied` whose population Spearman is `rho` (bisection on one fixed large sample,
    so that the Spearman is a smooth, decreasing function of s), and the Spearman of an independent sample at that s."""
    rng = np.random.default_rng([seed, 7919])
    u, e = rng.standard_normal(CALIBRATION_DRAWS), rng.exponential(size=CALIBRATION_DRAWS)
    x = np.exp(0.8 * u)
    pred = np.round(x, 1)

    def at(s: float) -> float:
        return spearman(np.floor(8.0 * np.log1p(x + s * e)) / 8.0, pred)

    low, high = 0.0, 64.0
    for _ in range(24):  # s to within 64 / 2^24
        mid = (low + high) / 2
        low, high = (mid, high) if at(mid) > rho else (low, mid)
    s = (low + high) / 2
    check = spearman(*_skewed_tied(CALIBRATION_DRAWS, s, np.random.default_rng([seed, 104729])))
    return s, check


def _replicate(cell: Cell, rep: int, seed: int, n_resamples: int) -> dict[str, tuple[bool, float]]:
    """(covered, width) of every method on one replication."""
    rng = np.random.default_rng([seed, DISTRIBUTIONS.index(cell.distribution), cell.n, round(cell.rho * 100), rep])
    gold, pred = DRAW[cell.distribution](cell.n, cell.param, rng)
    reps = replicates(
        gold, [pred], n_resamples=n_resamples, seed=rep, metrics=("srcc",), jackknife=True, device="cpu", threads=1
    )
    assert reps.jackknife is not None
    r = float(reps.estimate["srcc"][0])
    boot = reps.bootstrap["srcc"][0]
    intervals = {
        "percentile": percentile_ci(boot),
        "bca": bca_ci(boot, r, reps.jackknife["srcc"][0]),
        "fisher": fisher_ci(r, cell.n),
        "fisher-bw": fisher_bw_ci(r, cell.n),
    }
    # A NaN bound (a degenerate bootstrap distribution) covers nothing: it counts against the method.
    return {m: (bool(iv.low <= cell.rho <= iv.high), iv.high - iv.low) for m, iv in intervals.items()}


def _run_chunk(args: tuple[Cell, range, int, int]) -> tuple[Cell, dict[str, list[tuple[bool, float]]]]:
    cell, reps, seed, n_resamples = args
    out: dict[str, list[tuple[bool, float]]] = {m: [] for m in METHODS}
    for rep in reps:
        for m, value in _replicate(cell, rep, seed, n_resamples).items():
            out[m].append(value)
    return cell, out


def _chunks(cells: list[Cell], reps: int, seed: int, n_resamples: int, size: int) -> Iterator[tuple]:
    for cell in cells:
        for start in range(0, reps, size):
            yield cell, range(start, min(reps, start + size)), seed, n_resamples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="1000 replications per cell (default: 100)")
    parser.add_argument("--reps", type=int, default=None, help="replications per cell (overrides --full)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples B")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=max(1, min(4, (os.cpu_count() or 1) - 1)))
    args = parser.parse_args()
    reps = args.reps if args.reps is not None else (1000 if args.full else 100)

    start = time.perf_counter()
    params: dict[tuple[str, float], float] = {}
    print(f"calibrating skewed-tied on {CALIBRATION_DRAWS:,} draws per target ...", flush=True)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        calibrated = list(pool.map(calibrate, RHOS, [args.seed] * len(RHOS)))
        for rho, (s, check) in zip(RHOS, calibrated, strict=True):
            params[("normal", rho)] = 2.0 * math.sin(math.pi * rho / 6.0)
            params[("skewed-tied", rho)] = s
            print(f"  rho_s {rho}: s = {s:.6f}; an independent sample of the same size gives {check:.4f}", flush=True)
        cells = [Cell(d, n, rho, params[(d, rho)]) for d in DISTRIBUTIONS for n in SIZES for rho in RHOS]
        # Chunks small enough to spread the n = 1500 cells, which cost most, over the workers.
        jobs = list(_chunks(cells, reps, args.seed, args.resamples, size=max(1, reps // 10)))
        results: dict[Cell, dict[str, list[tuple[bool, float]]]] = {c: {m: [] for m in METHODS} for c in cells}
        for done, (cell, out) in enumerate(pool.map(_run_chunk, jobs), start=1):
            for m in METHODS:
                results[cell][m].extend(out[m])
            if done % max(1, len(jobs) // 20) == 0:
                print(f"  {done}/{len(jobs)} chunks, {time.perf_counter() - start:.0f} s", flush=True)

    se = math.sqrt(0.95 * 0.05 / reps)
    print()
    print(
        f"Coverage of nominal 95% intervals for Spearman's rho: {reps} replications per cell, B = {args.resamples}, "
        f"seed {args.seed} (Monte Carlo SE of a coverage near 0.95: {se:.3f}); mean width in brackets."
    )
    print()
    print("| distribution | n | rho_s | percentile | BCa | fisher | fisher-bw |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cell in cells:
        row = []
        for m in METHODS:
            covered = [c for c, _ in results[cell][m]]
            widths = [w for _, w in results[cell][m] if math.isfinite(w)]
            row.append(f"{np.mean(covered):.3f} ({np.mean(widths):.3f})")
        print(f"| {cell.distribution} | {cell.n} | {cell.rho} | " + " | ".join(row) + " |")
    print()
    for m in METHODS:
        values = [float(np.mean([c for c, _ in results[cell][m]])) for cell in cells]
        print(f"{m}: coverage {min(values):.3f} to {max(values):.3f} over the {len(cells)} cells")
    print(f"\n{time.perf_counter() - start:.0f} s with {args.workers} worker(s)")


if __name__ == "__main__":
    main()
