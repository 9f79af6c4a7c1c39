"""The cluster bootstrap: resamples of whole clusters, exact against scipy, leave-one-cluster-out jackknife,
paired across runs, recorded in the signature, and `--clusters` on score, compare and leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from mediaeval_memo.cli import cli
from mediaeval_memo.evaluation.bootstrap import _draw_blocks, replicates
from mediaeval_memo.evaluation.clusters import Clusters, load_clusters, match_clusters
from mediaeval_memo.evaluation.gold import load_gold
from mediaeval_memo.evaluation.pipeline import Settings
from mediaeval_memo.evaluation.score import score_run

G, PER = 12, 20  # 12 channels of 20 videos


def clustered_sample(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gold and a run whose agreement lives between channels: each channel has its own level (which both follow)
    and its own error in the run. Within a channel the videos barely differ, so 240 videos carry about as much
    information as 12 channels: resampling videos is far too confident about how the run does on new channels."""
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(G), PER)
    level = rng.normal(size=G)
    miss = rng.normal(scale=0.8, size=G)
    gold = level[codes] + rng.normal(scale=0.3, size=G * PER)
    pred = level[codes] + miss[codes] + rng.normal(scale=0.3, size=G * PER)
    return np.round(gold, 1), pred, codes  # rounded gold: ties, as in real labels


def _width(iv: object) -> float:
    return float(iv.high - iv.low)  # type: ignore[attr-defined]


def test_cluster_interval_is_much_wider_than_the_video_interval(tmp_path: Path) -> None:
    gold, pred, codes = clustered_sample()
    ids = [f"v{i:03d}" for i in range(len(gold))]
    pd.DataFrame({"video_id": ids, "score": gold}).to_csv(tmp_path / "gold.csv", index=False)
    pd.DataFrame({"video_id": ids, "score": pred}).to_csv(tmp_path / "run.csv", index=False)
    pd.DataFrame({"video_id": ids, "group": [f"channel-{c}" for c in codes]}).to_csv(tmp_path / "c.csv", index=False)
    g = load_gold(tmp_path / "gold.csv")
    clusters = load_clusters(str(tmp_path / "c.csv"), tmp_path / "gold.csv")
    for method in ("percentile", "bca"):
        videos = score_run(tmp_path / "run.csv", g, Settings(2000, 0, method=method)).scores["srcc"]
        channels = score_run(tmp_path / "run.csv", g, Settings(2000, 0, method=method, clusters=clusters)).scores[
            "srcc"
        ]
        assert channels.value == videos.value  # the estimate does not change, only its uncertainty
        assert _width(channels.interval) > 2.5 * _width(videos.interval), method
        assert "|clusters:12@" in channels.signature and "clusters" not in videos.signature
        assert "fisher" not in channels.intervals  # a closed form assumes independent videos


def test_cluster_resamples_are_spearman_of_the_drawn_clusters() -> None:
    gold, pred, codes = clustered_sample(1)
    shuffle = np.random.default_rng(2).permutation(len(gold))  # the caller's order does not matter
    gold, pred, codes = gold[shuffle], pred[shuffle], codes[shuffle]
    reps = replicates(gold, [pred], n_resamples=40, seed=3, clusters=codes, device="cpu")
    draws = np.concatenate(list(_draw_blocks(G, 40, 3)))  # cluster draws: they depend on the seed and G only
    members = [np.flatnonzero(codes == c) for c in range(G)]
    want = []
    for d in draws:
        take = np.concatenate([members[c] for c in d])
        want.append(stats.spearmanr(pred[take], gold[take]).statistic)
    np.testing.assert_allclose(reps.bootstrap["srcc"][0], want, rtol=0, atol=1e-12)
    pearson = [
        stats.pearsonr(pred[t], gold[t]).statistic for t in (np.concatenate([members[c] for c in d]) for d in draws)
    ]
    np.testing.assert_allclose(reps.bootstrap["plcc"][0], pearson, rtol=0, atol=1e-12)
    assert reps.jackknife is not None and reps.jackknife["srcc"].shape == (1, G) and reps.n_clusters == G
    left_out = [stats.spearmanr(pred[codes != c], gold[codes != c]).statistic for c in range(G)]
    np.testing.assert_allclose(reps.jackknife["srcc"][0], left_out, rtol=0, atol=1e-12)


def test_paired_runs_share_the_cluster_draws() -> None:
    gold, pred, codes = clustered_sample(2)
    other = pred[::-1].copy()
    both = replicates(gold, [pred, other], n_resamples=300, seed=5, clusters=codes, device="cpu")
    alone = replicates(gold, [other], n_resamples=300, seed=5, clusters=codes, device="cpu")
    np.testing.assert_array_equal(both.bootstrap["srcc"][1], alone.bootstrap["srcc"][0])
    assert both.jackknife is not None and alone.jackknife is not None
    np.testing.assert_array_equal(both.jackknife["srcc"][1], alone.jackknife["srcc"][0])


def test_torch_code_path_gives_the_numpy_cluster_values(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from mediaeval_memo.evaluation import bootstrap

    numpy_init = bootstrap._Backend.__init__

    def torch_on_cpu(self: bootstrap._Backend, device: str, n: int) -> None:
        numpy_init(self, "cpu", n)
        if device == "torch-cpu":
            self.torch, self.device = torch, "cpu"

    monkeypatch.setattr(bootstrap._Backend, "__init__", torch_on_cpu)
    monkeypatch.setattr(bootstrap, "resolve_device", lambda device="auto", work=None: device)
    gold, pred, codes = clustered_sample(3)
    cpu = replicates(gold, [pred], n_resamples=50, seed=0, clusters=codes, device="cpu")
    tch = replicates(gold, [pred], n_resamples=50, seed=0, clusters=codes, device="torch-cpu")
    assert cpu.jackknife is not None and tch.jackknife is not None
    for m in cpu.metrics:
        np.testing.assert_allclose(tch.bootstrap[m], cpu.bootstrap[m], rtol=0, atol=1e-12)
        np.testing.assert_allclose(tch.jackknife[m], cpu.jackknife[m], rtol=0, atol=1e-12)


def test_bad_cluster_codes_are_refused() -> None:
    gold, pred, codes = clustered_sample()
    with pytest.raises(ValueError, match="at least 2 clusters"):
        replicates(gold, [pred], n_resamples=10, clusters=np.zeros(len(gold), dtype=int))
    with pytest.raises(ValueError, match="every code used"):
        replicates(gold, [pred], n_resamples=10, clusters=codes * 2)
    with pytest.raises(ValueError, match="one non-negative integer code per video"):
        replicates(gold, [pred], n_resamples=10, clusters=codes[:-1])


def test_match_clusters_digest_names_the_grouping() -> None:
    ids = ["a", "b", "c", "d"]
    one = match_clusters(Clusters({"a": "x", "b": "x", "c": "y", "d": "y", "e": "z"}, "f"), ids, "gold")
    again = match_clusters(Clusters({"d": "y", "c": "y", "b": "x", "a": "x"}, "g"), ids, "gold")
    other = match_clusters(Clusters({"a": "x", "b": "y", "c": "y", "d": "y"}, "f"), ids, "gold")
    assert one.codes.tolist() == [0, 0, 1, 1] and one.n_clusters == 2
    assert one.field() == again.field() != other.field()


# ---------------------------------------------------------------- the command line


def _invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def release(tmp_path: Path) -> dict[str, Path]:
    """A prepared dataset whose `group` column holds the channels, its gold labels as a CSV, two runs, and a
    clusters file."""
    gold, pred, codes = clustered_sample()
    ids = [f"v{i:03d}" for i in range(len(gold))]
    root = tmp_path / "ds"
    root.mkdir()
    channels = [f"channel-{c}" for c in codes]
    items = pd.DataFrame(
        {
            "video_id": ids,
            "split": "dev",
            "memorability_score": gold,
            "captions": [["c"]] * len(ids),
            "group": channels,
            "media_path": "",
        }
    )
    items.to_parquet(root / "items.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"dataset": "tiny", "targets": ["memorability_score"]}))
    out = {"data": root, "gold": tmp_path / "gold.csv", "clusters": tmp_path / "channels.csv"}
    pd.DataFrame({"video_id": ids, "score": gold}).to_csv(out["gold"], index=False)
    pd.DataFrame({"video_id": ids, "group": channels}).to_csv(out["clusters"], index=False)
    for k, run in enumerate((pred, pred + np.random.default_rng(9).normal(scale=0.5, size=len(ids))), start=1):
        out[f"run{k}"] = tmp_path / f"run{k}.csv"
        pd.DataFrame({"video_id": ids, "score": run}).to_csv(out[f"run{k}"], index=False)
    return out


def test_score_clusters_file_and_group_column_agree(release: dict[str, Path]) -> None:
    common = ("--bootstrap", 500, "--json")
    by_file = _invoke("score", release["run1"], "--gold", release["gold"], "--clusters", release["clusters"], *common)
    by_column = _invoke("score", release["run1"], "--gold", release["data"], "--clusters", "group", *common)
    videos = _invoke("score", release["run1"], "--gold", release["gold"], *common)
    assert by_file.exit_code == 0, by_file.output
    assert by_column.exit_code == 0, by_column.output
    a, b, v = (json.loads(r.output) for r in (by_file, by_column, videos))  # type: ignore[attr-defined]
    assert a["clusters"] == b["clusters"] == 12 and v["clusters"] is None
    assert a["metrics"]["srcc"]["ci"] == b["metrics"]["srcc"]["ci"]
    sig = a["metrics"]["srcc"]["signature"]
    assert sig.split("|")[:5] == ["srcc", "n:240", "boot:500", "ci:bca95", "seed:0"] and sig.split("|")[5].startswith(
        "clusters:12@"
    )
    assert sig.split("|")[5] == b["metrics"]["srcc"]["signature"].split("|")[5]
    table = _invoke("score", release["run1"], "--gold", release["data"], "--clusters", "group", "--bootstrap", 300)
    assert "12 clusters resampled whole" in " ".join(table.output.split())  # type: ignore[attr-defined]


def test_compare_and_leaderboard_take_clusters(release: dict[str, Path], tmp_path: Path) -> None:
    args = ("--gold", release["data"], "--clusters", "group", "--bootstrap", 400, "--method", "percentile")
    result = _invoke("compare", release["run1"], release["run2"], *args, "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads(result.output)  # type: ignore[attr-defined]
    assert data["clusters"] == 12 and "|clusters:12@" in data["pairs"][0]["signature"]
    board = _invoke("leaderboard", release["run1"], release["run2"], *args, "--out", tmp_path / "lb", "--format", "md")
    assert board.exit_code == 0, board.output  # type: ignore[attr-defined]
    md = (tmp_path / "lb.md").read_text()
    assert "resampled in 12 clusters" in md and md.count("|clusters:12@") == 2


ONE_CLUSTER = (
    "error: {data} (column split): --clusters: the 240 videos of {data} (labelled rows, memorability_score) fall in "
    "1 cluster; resampling clusters needs at least 2"
)
CLUSTER_ERRORS = {
    "fisher": (
        ("--clusters", "group", "--method", "fisher"),
        "error: --clusters: --method fisher is a closed form that assumes independent videos; a cluster bootstrap "
        "needs --method percentile or bca (and --bootstrap N > 0)",
    ),
    "no_column": (
        ("--clusters", "channel"),
        "error: channel: --clusters: neither a file nor a column of {data}/items.parquet (columns: video_id, "
        "split, memorability_score, group, media_path)",
    ),
    "one_cluster": (("--clusters", "split"), ONE_CLUSTER),
}


@pytest.mark.parametrize("case", sorted(CLUSTER_ERRORS))
def test_cluster_errors_with_a_dataset(release: dict[str, Path], case: str) -> None:
    args, message = CLUSTER_ERRORS[case]
    result = _invoke("score", release["run1"], "--gold", release["data"], "--bootstrap", 100, *args)
    assert result.exit_code == 1
    assert result.output == message.format(data=release["data"]) + "\n"  # type: ignore[attr-defined]


def test_cluster_errors_with_a_csv(release: dict[str, Path], tmp_path: Path) -> None:
    def score(clusters: object) -> tuple[int, str]:
        r = _invoke("score", release["run1"], "--gold", release["gold"], "--bootstrap", 100, "--clusters", clusters)
        return r.exit_code, r.output  # type: ignore[attr-defined]

    assert score("group") == (
        1,
        "error: group: --clusters: file not found (a column name such as `group` works only with a prepared "
        "dataset as --gold)\n",
    )
    partial = tmp_path / "partial.csv"
    partial.write_text("video_id,group\nv000,a\nv001,b\nv001,c\nv002,\n")
    assert score(partial) == (
        1,
        f"error: {partial}:4: video_id 'v001': duplicate video id (first on line 3)\n"
        f"error: {partial}:5: group 'v002': empty cluster label\n",
    )
    partial.write_text("video_id,group\nv000,a\nv001,b\n")
    code, output = score(partial)
    assert code == 1 and output == (
        f"error: {partial}: --clusters: 238 of 240 gold videos have no cluster label (first: v002, v003, v004, "
        "v005, v006)\n"
    )
    partial.write_text("video,channel,extra\nv000,a,b\n")
    assert score(partial) == (
        1,
        f"error: {partial}:1: expected the columns video_id,group (found: video, channel, extra)\n",
    )
