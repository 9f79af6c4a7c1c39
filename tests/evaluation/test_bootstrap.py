"""Golden tests of the count-based bootstrap against scipy, and its determinism."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from mediaeval_memo.evaluation.bootstrap import _draw_blocks, count_statistics, replicates
from mediaeval_memo.evaluation.ci import bca_ci, percentile_ci


def _data(n: int, ties: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = rng.beta(8, 3, size=n)
    pred = gold + rng.normal(scale=0.1, size=n)
    if ties:
        gold, pred = np.round(gold, 2), np.round(pred, 1)
    return gold, pred


@pytest.mark.parametrize("ties", [False, True])
def test_count_spearman_equals_scipy_on_explicit_resamples(ties: bool) -> None:
    gold, pred = _data(300, ties)
    rng = np.random.default_rng(1)
    draws = rng.integers(0, len(gold), size=(40, len(gold)))
    counts = np.stack([np.bincount(d, minlength=len(gold)) for d in draws])
    got = count_statistics(gold, [pred, -pred], counts)
    want = np.array([stats.spearmanr(pred[d], gold[d]).statistic for d in draws])
    np.testing.assert_allclose(got["srcc"][0], want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["srcc"][1], -want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["plcc"][0], [stats.pearsonr(pred[d], gold[d]).statistic for d in draws], atol=1e-12)
    np.testing.assert_allclose(got["mse"][0], [np.mean((pred[d] - gold[d]) ** 2) for d in draws], atol=1e-12)


def test_wide_integer_path_and_extreme_counts_equal_scipy() -> None:
    gold, pred = _data(20_000, ties=True)  # beyond int16: the int32 / int64 path
    draws = np.random.default_rng(2).integers(0, len(gold), size=(3, len(gold)))
    counts = np.stack([np.bincount(d, minlength=len(gold)) for d in draws])
    got = count_statistics(gold, [pred], counts)["srcc"][0]
    np.testing.assert_allclose(got, [stats.spearmanr(pred[d], gold[d]).statistic for d in draws], atol=1e-12)
    small_gold, small_pred = _data(300, ties=False)
    skewed = np.zeros(300, dtype=int)
    skewed[[0, 1, 2]] = [250, 40, 10]  # one video drawn 250 times
    want = stats.spearmanr(np.repeat(small_pred, skewed), np.repeat(small_gold, skewed)).statistic
    assert count_statistics(small_gold, [small_pred], skewed)["srcc"][0, 0] == pytest.approx(want, abs=1e-12)
    single = np.zeros(300, dtype=int)
    single[7] = 300  # every copy the same video: Spearman is undefined
    assert np.isnan(count_statistics(small_gold, [small_pred], single)["srcc"][0, 0])


def test_bootstrap_replicates_are_spearman_of_the_drawn_resamples() -> None:
    gold, pred = _data(200, ties=True)
    reps = replicates(gold, [pred], n_resamples=40, seed=3, metrics=("srcc",), jackknife=False, device="cpu")
    order = np.argsort(gold, kind="stable")  # replicates() draws over the items in gold order
    draws = np.concatenate(list(_draw_blocks(len(gold), 40, 3)))
    want = [stats.spearmanr(pred[order][d], gold[order][d]).statistic for d in draws]
    np.testing.assert_allclose(reps.bootstrap["srcc"][0], want, rtol=0, atol=1e-12)
    assert reps.estimate["srcc"][0] == pytest.approx(stats.spearmanr(pred, gold).statistic, abs=1e-14)


def test_jackknife_equals_leave_one_out_spearman() -> None:
    gold, pred = _data(120, ties=True)
    reps = replicates(gold, [pred], n_resamples=0, metrics=("srcc", "plcc"), device="cpu")
    assert reps.jackknife is not None
    want = [stats.spearmanr(np.delete(pred, i), np.delete(gold, i)).statistic for i in range(len(gold))]
    np.testing.assert_allclose(reps.jackknife["srcc"][0], want, rtol=0, atol=1e-12)
    want_p = [stats.pearsonr(np.delete(pred, i), np.delete(gold, i)).statistic for i in range(len(gold))]
    np.testing.assert_allclose(reps.jackknife["plcc"][0], want_p, rtol=0, atol=1e-12)


def test_same_seed_same_replicates_whatever_the_chunking_and_threads() -> None:
    gold, pred = _data(500, ties=True)
    base = replicates(gold, [pred], n_resamples=300, seed=7, device="cpu", threads=1)
    other = replicates(gold, [pred], n_resamples=300, seed=7, device="cpu", threads=2, max_chunk_bytes=200_000)
    np.testing.assert_array_equal(base.bootstrap["srcc"], other.bootstrap["srcc"])
    assert base.jackknife is not None and other.jackknife is not None
    np.testing.assert_array_equal(base.jackknife["srcc"], other.jackknife["srcc"])
    np.testing.assert_allclose(base.bootstrap["plcc"], other.bootstrap["plcc"], rtol=0, atol=1e-13)
    different = replicates(gold, [pred], n_resamples=300, seed=8, device="cpu")
    assert not np.array_equal(base.bootstrap["srcc"], different.bootstrap["srcc"])


def test_paired_runs_share_resamples() -> None:
    gold, pred = _data(300, ties=False)
    both = replicates(gold, [pred, pred], n_resamples=200, seed=0, jackknife=False, device="cpu")
    np.testing.assert_array_equal(both.bootstrap["srcc"][0], both.bootstrap["srcc"][1])
    alone = replicates(gold, [pred], n_resamples=200, seed=0, jackknife=False, device="cpu")
    np.testing.assert_array_equal(alone.bootstrap["srcc"][0], both.bootstrap["srcc"][0])


def _vectorised_spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    rx, ry = stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    return (rx * ry).sum(axis) / np.sqrt((rx * rx).sum(axis) * (ry * ry).sum(axis))


def test_bca_matches_scipy_on_the_same_bootstrap_distribution() -> None:
    gold, pred = _data(150, ties=True)
    reps = replicates(gold, [pred], n_resamples=2000, seed=0, metrics=("srcc",), device="cpu")
    assert reps.jackknife is not None
    boot = reps.bootstrap["srcc"][0]
    ours = bca_ci(boot, float(reps.estimate["srcc"][0]), reps.jackknife["srcc"][0])
    theirs = stats.bootstrap(
        (pred, gold),
        _vectorised_spearman,
        paired=True,
        n_resamples=0,
        method="BCa",
        bootstrap_result=SimpleNamespace(bootstrap_distribution=boot),
    ).confidence_interval
    assert ours.low == pytest.approx(theirs.low, abs=1e-10)
    assert ours.high == pytest.approx(theirs.high, abs=1e-10)


def test_bca_and_percentile_agree_with_scipy_within_monte_carlo_error() -> None:
    gold, pred = _data(400, ties=True)
    reps = replicates(gold, [pred], n_resamples=5000, seed=0, metrics=("srcc",), device="cpu")
    assert reps.jackknife is not None
    boot = reps.bootstrap["srcc"][0]
    for method, ours in (
        ("BCa", bca_ci(boot, float(reps.estimate["srcc"][0]), reps.jackknife["srcc"][0])),
        ("percentile", percentile_ci(boot)),
    ):
        theirs = stats.bootstrap(
            (pred, gold), _vectorised_spearman, paired=True, n_resamples=5000, method=method, rng=1
        ).confidence_interval
        # Independent resamples: the bounds differ by Monte Carlo error only (about 0.001 here).
        assert ours.low == pytest.approx(theirs.low, abs=0.006)
        assert ours.high == pytest.approx(theirs.high, abs=0.006)


def test_memory_stays_small_for_100k_videos() -> None:
    gold, pred = _data(100_000, ties=True)
    tracemalloc.start()
    try:
        replicates(gold, [pred], n_resamples=16, metrics=("srcc",), jackknife=False, device="cpu", threads=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * 2**30


def test_bad_arguments_are_refused() -> None:
    gold, pred = _data(10, ties=False)
    with pytest.raises(ValueError, match="at least 3"):
        replicates(gold[:2], [pred[:2]])
    with pytest.raises(ValueError, match="length"):
        replicates(gold, [pred[:5]])
    with pytest.raises(ValueError, match="finite"):
        replicates(gold, [np.full(10, np.nan)])
    with pytest.raises(ValueError, match="unknown metrics"):
        replicates(gold, [pred], metrics=("auc",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same total"):
        count_statistics(gold, [pred], np.array([[1] * 10, [2] * 10]))


def test_torch_code_path_gives_the_numpy_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU path's torch code, run on torch's CPU device, so that machines without a GPU test it too."""
    torch = pytest.importorskip("torch")
    from mediaeval_memo.evaluation import bootstrap

    numpy_init = bootstrap._Backend.__init__

    def torch_on_cpu(self: bootstrap._Backend, device: str, n: int) -> None:
        numpy_init(self, "cpu", n)
        if device == "torch-cpu":
            self.torch, self.device = torch, "cpu"

    monkeypatch.setattr(bootstrap._Backend, "__init__", torch_on_cpu)
    monkeypatch.setattr(bootstrap, "resolve_device", lambda device="auto", work=None: device)
    gold, pred = _data(300, ties=True)
    other = np.random.default_rng(5).normal(size=300)
    cpu = replicates(gold, [pred, other], n_resamples=100, seed=0, device="cpu")
    tch = replicates(gold, [pred, other], n_resamples=100, seed=0, device="torch-cpu")
    assert cpu.jackknife is not None and tch.jackknife is not None
    for m in cpu.metrics:
        np.testing.assert_allclose(tch.bootstrap[m], cpu.bootstrap[m], rtol=0, atol=1e-12)
        np.testing.assert_allclose(tch.jackknife[m], cpu.jackknife[m], rtol=0, atol=1e-12)


def test_auto_device_keeps_small_work_on_the_cpu() -> None:
    from mediaeval_memo.evaluation.bootstrap import AUTO_GPU_MIN_WORK, resolve_device

    assert resolve_device("auto", work=AUTO_GPU_MIN_WORK - 1) == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        resolve_device("tpu")


@pytest.mark.gpu
def test_cuda_gives_the_cpu_values() -> None:
    pytest.importorskip("torch")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    gold, pred = _data(1500, ties=True)
    cpu = replicates(gold, [pred], n_resamples=500, seed=0, device="cpu")
    gpu = replicates(gold, [pred], n_resamples=500, seed=0, device="cuda")
    np.testing.assert_allclose(gpu.bootstrap["srcc"], cpu.bootstrap["srcc"], rtol=0, atol=1e-12)
    assert gpu.jackknife is not None and cpu.jackknife is not None
    np.testing.assert_allclose(gpu.jackknife["srcc"], cpu.jackknife["srcc"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(gpu.bootstrap["plcc"], cpu.bootstrap["plcc"], rtol=0, atol=1e-12)
