"""Exact, fast bootstrap and jackknife of Spearman, Pearson and MSE over videos.

A bootstrap resample of n videos is a vector of counts c (how often each video was drawn; they sum to N = n).
Nothing is sorted per resample: with the items in a variable's sorted order, the cumulative sum S of the counts
ends every tie group, and the T copies of a group share the average rank `S_end - (T - 1) / 2` (scipy's "average"
ties). Spearman is the count-weighted Pearson of those ranks. Two identities keep it cheap and exact:

- `v = 2 * rank - 1 = 2 S_end - T` is an integer, and since the ranks of every resample sum to N (N + 1) / 2,
  sum(c * v) = N^2: the centred cross term is sum(c * v_gold * v_pred) - N^3, with no centring pass;
- the weighted sum of squared centred ranks is (N^3 - sum T^3) / 12 (the classical tie correction), which is the
  same for every variable without ties in the data (T is then the item's own count);
- so Spearman = 3 * (sum(c * v_gold * v_pred) - N^3) / sqrt(D_gold * D_pred) with D = N^3 - sum T^3.

All sums are integers, accumulated exactly in int64, so only the final division rounds: the values equal scipy's
`spearmanr` on the explicit resample to the last bit or two.

Count matrices are (resamples x items) in int16 (int32 beyond n = 16,383), so every cumulative sum runs along
contiguous, narrow memory.
Resamples are drawn on the CPU with numpy in fixed blocks of `DRAW_ROWS`, so they depend on the seed and n only,
never on the chunking or the device; each chunk is scored on the CPU (numpy) or a CUDA GPU (torch). Pearson and MSE
come from the same counts through one matrix product per chunk. The jackknife (for BCa) reuses the code with count
vectors of ones and one zero.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Metric = Literal["srcc", "plcc", "mse"]
METRICS: tuple[Metric, ...] = ("srcc", "plcc", "mse")
Device = Literal["auto", "cpu", "cuda"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DRAW_ROWS = 16  # resamples per RNG call: fixed, so that the stream never depends on the chunk size
DEFAULT_CHUNK_BYTES = 256 * 2**20
# About 3 s of CPU work (n = 1500 with 10,000 resamples is 17 million): importing torch and starting CUDA costs as much.
AUTO_GPU_MIN_WORK = 200_000_000
_LIVE_ARRAYS = 12  # (rows x n) arrays alive at the peak of a chunk, for sizing chunks against the memory budget
# CPU chunks of about this many counts stay in cache: measured fastest for n = 1500 (64 resamples) and 7000 (16).
_CPU_CHUNK_ELEMENTS = 2**17
# Integer widths by N (the resample size): v = 2 * rank - 1 <= 2N must fit the counts' type, and products such as
# c * v <= 2 N^2 the product type. int16 arrays halve the memory traffic and double the SIMD width of int32 ones.
_INT16_MAX_N = 16_383


@dataclass(frozen=True)
class _RankPlan:
    """How to rank one variable from counts: its sort order and tie groups, computed once per variable."""

    order: Any  # item index at each sorted position; None when the items are already in sorted order
    inverse: Any  # sorted position of each item (None with order)
    group_end: Any  # last sorted position of each tie group; None when the variable has no ties
    group_of: Any  # tie group of each sorted position (with ties)


def _rank_plan(values: FloatArray) -> _RankPlan:
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.empty(len(values), dtype=bool)
    starts[:1] = True
    starts[1:] = ordered[1:] != ordered[:-1]
    ties = not bool(starts.all())
    identity = bool(np.array_equal(order, np.arange(len(values))))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(values))
    return _RankPlan(
        order=None if identity else order,
        inverse=None if identity else inverse,
        group_end=np.flatnonzero(np.append(starts[1:], True)) if ties else None,
        group_of=np.cumsum(starts) - 1 if ties else None,
    )


class _Backend:
    """The array operations the scorer needs, on numpy (CPU) or torch (CUDA)."""

    def __init__(self, device: str, n: int):
        self.device = device
        self.torch: Any = None
        if device != "cpu":
            import torch

            self.torch = torch
        small = n <= _INT16_MAX_N
        self.int_dtype: type[np.signedinteger[Any]] = np.int16 if small else np.int32
        self.product_dtype: type[np.signedinteger[Any]] = np.int32 if small else np.int64

    def asarray(self, a: np.ndarray) -> Any:
        if self.torch is None:
            return a
        return self.torch.as_tensor(a, device=self.device)

    def plan(self, plan: _RankPlan) -> _RankPlan:
        if self.torch is None:
            return plan

        def move(a: Any) -> Any:
            return None if a is None else self.asarray(np.asarray(a, dtype=np.int64))

        return _RankPlan(
            order=move(plan.order),
            inverse=move(plan.inverse),
            group_end=move(plan.group_end),
            group_of=move(plan.group_of),
        )

    def counts(self, draws: npt.NDArray[np.unsignedinteger[Any]], n: int) -> Any:
        """(rows, n) drawn item indices -> (rows, n) integer counts, by one bincount over row * n + item."""
        rows = draws.shape[0]
        if self.torch is None:
            flat = draws.astype(np.intp)
            flat += np.arange(0, rows * n, n, dtype=np.intp)[:, None]
            return np.bincount(flat.ravel(), minlength=rows * n).astype(self.int_dtype).reshape(rows, n)
        torch = self.torch
        flat = torch.as_tensor(draws.astype(np.int32), device=self.device).long()
        flat += torch.arange(0, rows * n, n, device=self.device)[:, None]
        return torch.bincount(flat.ravel(), minlength=rows * n).reshape(rows, n)

    def leave_one_out(self, start: int, stop: int, n: int) -> Any:
        """Counts (stop - start, n) of the jackknife resamples that drop items start..stop-1."""
        rows = np.arange(stop - start)
        counts = np.ones((stop - start, n), dtype=self.int_dtype)
        counts[rows, start + rows] = 0
        return self.asarray(counts if self.torch is None else counts.astype(np.int64))

    def ones(self, n: int) -> Any:
        return self.asarray(np.ones((1, n), dtype=self.int_dtype if self.torch is None else np.int64))

    def copy(self, a: Any) -> Any:
        return a.copy() if self.torch is None else a.clone()

    def cumsum(self, a: Any) -> Any:
        """Cumulative sum along each resample (row), in the counts' integer type."""
        if self.torch is None:
            return np.cumsum(a, axis=1, dtype=a.dtype)
        return self.torch.cumsum(a, 1)

    def mul(self, a: Any, b: Any) -> Any:
        """a * b in a type wide enough for products of counts and ranks."""
        if self.torch is None:
            return np.multiply(a, b, dtype=self.product_dtype)
        return a * b

    def rowdot(self, a: Any, b: Any) -> IntArray:
        """Per resample (row), the sum of a * b, exactly (int64 accumulation)."""
        if self.torch is None:
            return np.einsum("ij,ij->i", a, b, dtype=np.int64)
        return np.asarray((a * b).sum(1).cpu().numpy(), dtype=np.int64)

    def weighted_sums(self, counts: Any, columns: Any) -> FloatArray:
        """(rows, m): for every resample, the count-weighted sum of each of m value columns, given as (m, n)."""
        if self.torch is None:
            # One matrix-vector product per column: a (rows x n) @ (n x m) product with m this small runs an order of
            # magnitude slower in multithreaded OpenBLAS on busy cores (measured).
            weights = counts.astype(np.float64)
            return np.stack([weights @ column for column in columns], axis=1)
        return self.to_numpy(counts.to(self.torch.float64) @ columns.T)

    def to_numpy(self, a: Any) -> FloatArray:
        if self.torch is None:
            return np.asarray(a, dtype=np.float64)
        return np.asarray(a.detach().to("cpu", dtype=self.torch.float64).numpy())


def resolve_device(device: str = "auto", work: int | None = None) -> str:
    """`auto` is `cuda` when torch is installed and sees a CUDA GPU, else `cpu` (numpy); with `work` (counts to
    score) below `AUTO_GPU_MIN_WORK` it stays on the CPU, which finishes before torch and CUDA have started."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu" or (device == "auto" and work is not None and work < AUTO_GPU_MIN_WORK):
        return "cpu"
    # Importing torch takes seconds: look for an NVIDIA driver before paying for it.
    have_driver = Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None
    have_torch = importlib.util.find_spec("torch") is not None
    if device == "auto" and (not have_driver or not have_torch):
        return "cpu"
    if not have_torch:
        raise RuntimeError("device 'cuda' needs torch (pip install torch with CUDA)")
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU")
    return "cpu"


class _Scorer:
    """Scores count matrices for one gold vector and k prediction vectors that share the resamples."""

    def __init__(self, gold: FloatArray, preds: Sequence[FloatArray], metrics: Sequence[Metric], backend: _Backend):
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; available: {', '.join(METRICS)}")
        self.metrics = tuple(m for m in METRICS if m in metrics)
        self.backend = backend
        self.k = len(preds)
        self.gold_plan = backend.plan(_rank_plan(gold))
        self.pred_plans = [backend.plan(_rank_plan(p)) for p in preds]
        # Centre the raw values once so that the weighted moments lose no precision.
        g = gold - gold.mean()
        columns = [g, g * g]
        for p in preds:
            pc = p - p.mean()
            columns += [pc, pc * pc, pc * g]
        columns += [(p - gold) ** 2 for p in preds]
        self.moments = backend.asarray(np.stack(columns))  # (m, n): each row contiguous

    def _twice_ranks(self, counts: Any, plan: _RankPlan, total: IntArray) -> tuple[Any, Any, IntArray | None]:
        """v = 2 * average rank - 1 = 2 * S_end - T at every sorted position (an integer), the counts in sorted
        order, and the tie term D = N^3 - sum T^3 when the variable has ties (None otherwise: it is then the same for
        every variable, T being each item's own count)."""
        be = self.backend
        in_order = counts if plan.order is None else counts[:, plan.order]
        cum = be.cumsum(in_order)
        if plan.group_end is None:
            cum *= 2
            cum -= in_order
            return cum, in_order, None
        end = cum[:, plan.group_end]
        group_total = be.copy(end)
        group_total[:, 1:] -= end[:, :-1]
        v = 2 * end - group_total
        return v[:, plan.group_of], in_order, total**3 - be.rowdot(be.mul(group_total, group_total), group_total)

    def score(self, counts: Any, total: int | IntArray) -> dict[Metric, FloatArray]:
        """Per metric, a (k, rows) array of the statistic on each count vector (row) of `counts`; `total` is the sum
        of every row's counts, or one sum per row (a cluster resample draws a different number of videos)."""
        be = self.backend
        out: dict[Metric, FloatArray] = {}
        total = np.asarray(total, dtype=np.int64)  # int64: N^3 must not overflow (N < 2 million)
        if "srcc" in self.metrics:
            v_gold, _, d_gold = self._twice_ranks(counts, self.gold_plan, total)
            if self.gold_plan.inverse is not None:  # back to item order (replicates() sorts by gold: no-op there)
                v_gold = v_gold[:, self.gold_plan.inverse]
            d_no_ties = total**3 - be.rowdot(be.mul(counts, counts), counts)
            d_gold = d_no_ties if d_gold is None else d_gold
            # sum(c * v) = N^2 for every variable, so the centred cross term is sum(c * v_g * v_p) - N^3.
            offset = total**3
            rows = []
            for plan in self.pred_plans:
                v_pred, counts_pred, d_pred = self._twice_ranks(counts, plan, total)
                # Cross term in the prediction's sorted order: bring the gold ranks there (one row gather).
                v_gold_here = v_gold if plan.order is None else v_gold[:, plan.order]
                cross = be.rowdot(be.mul(v_gold_here, counts_pred), v_pred) - offset
                d_pred = d_no_ties if d_pred is None else d_pred
                with np.errstate(invalid="ignore", divide="ignore"):
                    rows.append(3.0 * cross.astype(np.float64) / np.sqrt(d_gold.astype(np.float64) * d_pred))
            out["srcc"] = np.clip(np.stack(rows), -1.0, 1.0)  # rounding can step past +-1 by an ulp
        if "plcc" in self.metrics or "mse" in self.metrics:
            sums = be.weighted_sums(counts, self.moments) / (total[:, None] if total.ndim else total)
            g1, g2 = sums[:, 0], sums[:, 1]
            if "plcc" in self.metrics:
                plcc = []
                for j in range(self.k):
                    p1, p2, pg = sums[:, 2 + 3 * j], sums[:, 3 + 3 * j], sums[:, 4 + 3 * j]
                    with np.errstate(invalid="ignore", divide="ignore"):
                        plcc.append((pg - p1 * g1) / np.sqrt((p2 - p1 * p1) * (g2 - g1 * g1)))
                out["plcc"] = np.clip(np.stack(plcc), -1.0, 1.0)
            if "mse" in self.metrics:
                out["mse"] = np.ascontiguousarray(sums[:, 2 + 3 * self.k :].T)
        return out


def _draw_blocks(n: int, n_resamples: int, seed: int) -> Iterator[npt.NDArray[np.unsignedinteger[Any]]]:
    rng = np.random.Generator(np.random.PCG64(seed))
    dtype = np.uint16 if n <= 2**16 else np.uint32  # fewer random bits per draw: the RNG is the serial part
    for start in range(0, n_resamples, DRAW_ROWS):
        yield rng.integers(0, n, size=(min(DRAW_ROWS, n_resamples - start), n), dtype=dtype)


def _rechunk(
    blocks: Iterable[npt.NDArray[np.unsignedinteger[Any]]], rows: int
) -> Iterator[npt.NDArray[np.unsignedinteger[Any]]]:
    pending: list[npt.NDArray[np.unsignedinteger[Any]]] = []
    have = 0
    for block in blocks:
        pending.append(block)
        have += len(block)
        while have >= rows:
            joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
            yield joined[:rows]
            rest = joined[rows:]
            pending = [rest] if len(rest) else []
            have = len(rest)
    if have:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)


def default_threads() -> int:
    """CPU threads for scoring chunks (numpy releases the GIL in the heavy loops): the usable cores, at most 4."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, usable))


def _ordered_map(
    func: Callable[[Any], dict[Metric, FloatArray]], items: Iterable[Any], threads: int
) -> Iterator[tuple[Any, dict[Metric, FloatArray]]]:
    """(item, func(item)) in the items' order, computed by `threads` workers with a bounded queue in flight;
    the items (resample draws) are still produced one after another, so the random stream stays sequential."""
    if threads <= 1:
        for item in items:
            yield item, func(item)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[tuple[Any, Future[dict[Metric, FloatArray]]]] = deque()
        for item in items:
            pending.append((item, pool.submit(func, item)))
            if len(pending) >= 2 * threads:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()


def chunk_rows(n: int, device: str, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Resamples scored at once: as many as the memory budget allows on a GPU, a cache-sized few on the CPU."""
    budget = max(1, max_chunk_bytes // (_LIVE_ARRAYS * 8 * n))
    return budget if device != "cpu" else max(1, min(budget, 64, _CPU_CHUNK_ELEMENTS // n))


@dataclass(frozen=True)
class Replicates:
    """Statistics of k prediction vectors against one gold vector: estimates, bootstrap and jackknife values.

    Clustered (`n_clusters` set), a resample draws whole clusters and the jackknife leaves one cluster out: its
    values are (k, n_clusters), in the order of the cluster codes."""

    metrics: tuple[Metric, ...]
    estimate: dict[Metric, FloatArray]  # (k,)
    bootstrap: dict[Metric, FloatArray]  # (k, B); resample b is the same for all k (paired)
    jackknife: dict[Metric, FloatArray] | None  # (k, n), in the caller's item order; (k, G) clustered
    n: int
    n_resamples: int
    seed: int
    device: str
    n_clusters: int | None = None


@dataclass(frozen=True)
class _Clusters:
    """Cluster codes of the items (canonical order) and the size of each cluster."""

    codes: npt.NDArray[np.intp]
    sizes: IntArray

    @classmethod
    def of(cls, codes: npt.ArrayLike, n: int) -> _Clusters:
        c = np.asarray(codes)
        if c.shape != (n,) or not np.issubdtype(c.dtype, np.integer) or (n and c.min() < 0):
            raise ValueError("clusters must be one non-negative integer code per video")
        sizes = np.bincount(c, minlength=int(c.max()) + 1).astype(np.int64)
        if np.any(sizes == 0):
            raise ValueError("cluster codes must be 0..G-1 with every code used")
        if len(sizes) < 2:
            raise ValueError("a clustered bootstrap needs at least 2 clusters")
        return cls(c.astype(np.intp), sizes)

    @property
    def g(self) -> int:
        return len(self.sizes)

    def counts(self, draws: npt.NDArray[np.unsignedinteger[Any]], dtype: Any) -> tuple[np.ndarray, IntArray]:
        """(rows, G) drawn cluster indices -> (rows, n) video counts (each video counted as often as its cluster was
        drawn) and the number of videos each resample holds."""
        rows = draws.shape[0]
        flat = draws.astype(np.intp) + np.arange(0, rows * self.g, self.g, dtype=np.intp)[:, None]
        per_cluster = np.bincount(flat.ravel(), minlength=rows * self.g).reshape(rows, self.g)
        return np.ascontiguousarray(per_cluster[:, self.codes], dtype=dtype), per_cluster @ self.sizes

    def leave_out(self, start: int, stop: int, dtype: Any) -> tuple[np.ndarray, IntArray]:
        """Counts of the jackknife resamples that drop clusters start..stop-1, one row each, and their totals."""
        left = np.arange(start, stop)[:, None]
        counts = (self.codes[None, :] != left).astype(dtype)
        return counts, int(self.sizes.sum()) - self.sizes[start:stop]


def count_statistics(
    gold: npt.ArrayLike,
    preds: Sequence[npt.ArrayLike],
    counts: npt.ArrayLike,
    metrics: Sequence[Metric] = METRICS,
    device: str = "cpu",
) -> dict[Metric, FloatArray]:
    """The statistics on explicit count vectors (rows of `counts`, each summing to the same total)."""
    g = np.asarray(gold, dtype=np.float64)
    c = np.atleast_2d(np.asarray(counts))
    if not np.issubdtype(c.dtype, np.integer) or np.any(c < 0):
        raise ValueError("counts must be non-negative integers")
    totals = c.sum(1)
    if not np.all(totals == totals[0]):
        raise ValueError("every count vector must have the same total")
    backend = _Backend(resolve_device(device), max(len(g), int(totals[0])))
    scorer = _Scorer(g, [np.asarray(p, dtype=np.float64) for p in preds], metrics, backend)
    dtype = backend.int_dtype if backend.torch is None else np.int64
    return scorer.score(backend.asarray(np.ascontiguousarray(c, dtype=dtype)), int(totals[0]))


def replicates(
    gold: npt.ArrayLike,
    preds: Sequence[npt.ArrayLike],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    metrics: Sequence[Metric] = METRICS,
    jackknife: bool = True,
    device: str = "auto",
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    clusters: npt.ArrayLike | None = None,
) -> Replicates:
    """Point estimates, paired bootstrap replicates and (optionally) jackknife values for each prediction vector.

    Every prediction vector is scored on the same resamples, so differences between them are paired. The items are
    put in a canonical order (gold value, then the caller's order) before drawing, so the same data and seed give
    the same resamples whatever the chunk size, thread count or device. `threads` (CPU only) defaults to
    `default_threads()`. `progress` gets the number of resamples (and jackknife
    values) finished after each chunk; the total is n_resamples + n with the jackknife (n_resamples + G clustered).

    `clusters` (one integer code 0..G-1 per video, in the caller's order) makes it a cluster bootstrap: a resample
    draws G clusters with replacement and takes every video of each drawn cluster, so resamples differ in size; the
    jackknife leaves out one cluster at a time (G values), which is what BCa's acceleration needs when the
    clusters, not the videos, are the independent units. The draws depend on the seed and G only.
    """
    g = np.asarray(gold, dtype=np.float64)
    ps = [np.asarray(p, dtype=np.float64) for p in preds]
    n = len(g)
    if g.ndim != 1 or n < 3:
        raise ValueError(f"need a 1-d gold vector of at least 3 videos, got shape {g.shape}")
    if not ps or any(p.shape != g.shape for p in ps):
        raise ValueError("need at least one prediction vector, each of the gold vector's length")
    if not (np.all(np.isfinite(g)) and all(np.all(np.isfinite(p)) for p in ps)):
        raise ValueError("gold and predictions must be finite")
    if n_resamples < 0:
        raise ValueError("n_resamples must be >= 0")
    canonical = np.argsort(g, kind="stable")
    g = g[canonical]
    ps = [p[canonical] for p in ps]
    if clusters is not None and np.shape(clusters) != (n,):
        raise ValueError("clusters must be one non-negative integer code per video")
    groups = None if clusters is None else _Clusters.of(np.asarray(clusters)[canonical], n)
    units = n if groups is None else groups.g  # what a resample draws and the jackknife leaves out
    dev = resolve_device(device, work=n * (n_resamples + (units if jackknife else 0)) * len(ps))
    # A cluster resample can hold more videos than n (a big cluster drawn often): the integer types must fit it.
    backend = _Backend(dev, n if groups is None else units * int(groups.sizes.max()))
    scorer = _Scorer(g, ps, metrics, backend)
    estimate = {m: v[:, 0] for m, v in scorer.score(backend.ones(n), n).items()}
    rows = chunk_rows(n, dev, max_chunk_bytes)
    count_dtype = backend.int_dtype if backend.torch is None else np.int64

    parts: dict[Metric, list[FloatArray]] = {m: [] for m in scorer.metrics}
    workers = 1 if dev != "cpu" else (threads or default_threads())

    def resampled(draws: npt.NDArray[np.unsignedinteger[Any]]) -> dict[Metric, FloatArray]:
        if groups is not None:
            counts, totals = groups.counts(draws, count_dtype)
            return scorer.score(backend.asarray(counts), totals)
        return scorer.score(backend.counts(draws, n), n)

    def left_out(span: tuple[int, int]) -> dict[Metric, FloatArray]:
        if groups is not None:
            counts, totals = groups.leave_out(span[0], span[1], count_dtype)
            return scorer.score(backend.asarray(counts), totals)
        return scorer.score(backend.leave_one_out(span[0], span[1], n), n - 1)

    chunks = _rechunk(_draw_blocks(units, n_resamples, seed), rows)
    for draws, scored in _ordered_map(resampled, chunks, workers):
        for m, v in scored.items():
            parts[m].append(v)
        if progress is not None:
            progress(len(draws))
    boot = {m: np.concatenate(v, axis=1) if v else np.empty((len(ps), 0)) for m, v in parts.items()}

    jack: dict[Metric, FloatArray] | None = None
    if jackknife:
        jparts: dict[Metric, list[FloatArray]] = {m: [] for m in scorer.metrics}
        spans = [(start, min(units, start + rows)) for start in range(0, units, rows)]
        for (start, stop), scored in _ordered_map(left_out, spans, workers):
            for m, v in scored.items():
                jparts[m].append(v)
            if progress is not None:
                progress(stop - start)
        jack = {}
        for m, pieces in jparts.items():
            values = np.concatenate(pieces, axis=1)
            if groups is not None:
                jack[m] = values  # one value per cluster code: no item order to restore
                continue
            restored = np.empty_like(values)
            restored[:, canonical] = values  # back from the canonical order to the caller's
            jack[m] = restored
    return Replicates(
        metrics=scorer.metrics,
        estimate=estimate,
        bootstrap=boot,
        jackknife=jack,
        n=n,
        n_resamples=n_resamples,
        seed=seed,
        device=dev,
        n_clusters=None if groups is None else groups.g,
    )
