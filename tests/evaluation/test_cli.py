"""`memo score`, `memo compare` and `memo leaderboard`: happy paths and every error path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.evaluation.ci import fisher_bw_ci, fisher_ci
from mediaeval_memo.evaluation.gold import content_digest, load_gold

N = 120


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    ids = [f"vid{i:04d}" for i in range(N)]
    gold = np.round(rng.beta(8, 3, size=N), 2)
    out = {"gold": tmp_path / "gold.csv"}
    pd.DataFrame({"video_id": ids, "mem_score": gold}).to_csv(out["gold"], index=False)
    for k, noise in enumerate((0.03, 0.1, 0.3), start=1):
        path = tmp_path / f"run{k}.csv"
        frame = pd.DataFrame({"video_id": ids, "score": gold + rng.normal(scale=noise, size=N)})
        frame.sample(frac=1.0, random_state=k).to_csv(path, index=False)
        out[f"run{k}"] = path
    return out


def _dataset(root: Path, with_test_labels: bool = False) -> Path:
    rng = np.random.default_rng(1)
    ids = [f"vid{i:04d}" for i in range(N + 20)]
    split = ["train"] * 80 + ["dev"] * 40 + ["test"] * 20
    mem = rng.beta(8, 3, size=N + 20)
    if not with_test_labels:
        mem[N:] = np.nan
    items = pd.DataFrame(
        {
            "video_id": ids,
            "split": split,
            "mem_score": mem,
            "captions": [["a caption"]] * (N + 20),
            "group": ids,
            "media_path": [""] * (N + 20),
        }
    )
    root.mkdir(parents=True)
    items.to_parquet(root / "items.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"dataset": "tiny", "targets": ["mem_score"]}))
    return root


def _invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_score_prints_three_metrics_with_signatures(files: dict[str, Path]) -> None:
    result = _invoke("score", files["run1"], "--gold", files["gold"], "--bootstrap", 500)
    assert result.exit_code == 0, result.output
    for word in ("Spearman", "Pearson", "MSE", "srcc|n:120|boot:500|ci:bca95|seed:0|gold:"):
        assert word in result.output


def test_score_json_is_reproducible_and_consistent(files: dict[str, Path]) -> None:
    args = ("score", files["run2"], "--gold", files["gold"], "--bootstrap", 400, "--seed", 3, "--json")
    first, second = _invoke(*args), _invoke(*args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    data = json.loads(first.output)
    srcc = data["metrics"]["srcc"]
    assert data["n"] == N and data["bootstrap"] == 400
    assert srcc["ci"]["method"] == "bca" and srcc["ci"]["low"] < srcc["value"] < srcc["ci"]["high"]
    fisher = fisher_ci(srcc["value"], N)
    assert srcc["intervals"]["fisher"]["low"] == pytest.approx(fisher.low)
    assert set(srcc["intervals"]) == {"percentile", "bca", "fisher", "fisher-bw"}
    assert data["metrics"]["plcc"]["intervals"].keys() == {"percentile", "bca", "fisher"}
    assert data["metrics"]["mse"]["intervals"].keys() == {"percentile", "bca"}
    gold = load_gold(files["gold"])
    assert f"gold:{gold.digest}|" in srcc["signature"]


def test_score_fisher_without_bootstrap(files: dict[str, Path]) -> None:
    result = _invoke("score", files["run1"], "--gold", files["gold"], "--bootstrap", 0, "--method", "fisher", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["metrics"]["srcc"]["signature"].startswith("srcc|n:120|ci:fisher95|gold:")
    assert data["metrics"]["mse"]["ci"] is None


def test_score_fisher_bw(files: dict[str, Path]) -> None:
    result = _invoke(
        "score", files["run2"], "--gold", files["gold"], "--bootstrap", 0, "--method", "fisher-bw", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    srcc, plcc = data["metrics"]["srcc"], data["metrics"]["plcc"]
    bw = fisher_bw_ci(srcc["value"], N)
    assert srcc["ci"]["method"] == "fisher-bw" and srcc["ci"]["low"] == pytest.approx(bw.low, abs=1e-15)
    assert srcc["signature"].startswith("srcc|n:120|ci:fisher-bw95|gold:")
    # Pearson's closed form is the plain Fisher interval: Bonett and Wright's variance is Spearman's
    assert plcc["ci"]["method"] == "fisher" and plcc["signature"].startswith("plcc|n:120|ci:fisher95|gold:")
    assert data["metrics"]["mse"]["ci"] is None
    table = _invoke("score", files["run2"], "--gold", files["gold"], "--bootstrap", 0, "--method", "fisher-bw")
    assert table.exit_code == 0 and "fisher-bw" in table.output
    board = _invoke(
        "leaderboard",
        files["run1"],
        files["run2"],
        "--gold",
        files["gold"],
        "--bootstrap",
        0,
        "--method",
        "fisher-bw",
        "--out",
        files["gold"].parent / "lb",
        "--format",
        "json",
    )
    assert board.exit_code == 0, board.output
    runs = json.loads((files["gold"].parent / "lb.json").read_text())["runs"]
    assert [r["signature"].split("|")[2] for r in runs] == ["ci:fisher-bw95", "ci:fisher-bw95"]
    assert "95% CI (Fisher z, Bonett-Wright)" in (board.output)
    refused = _invoke("compare", files["run1"], files["run2"], "--gold", files["gold"], "--method", "fisher-bw")
    assert refused.exit_code == 1 and "a paired comparison needs the bootstrap" in refused.output


def test_help_says_fisher_under_covers_for_spearman() -> None:
    for command in ("score", "compare", "leaderboard"):
        text = " ".join(_invoke(command, "--help").output.split())
        assert "fisher-bw" in text and "it under-covers for Spearman" in text, command


def test_score_against_a_prepared_dataset(tmp_path: Path, files: dict[str, Path]) -> None:
    root = _dataset(tmp_path / "ds")
    gold = pd.read_parquet(root / "items.parquet").iloc[:N]
    pred = tmp_path / "pred.csv"
    pd.DataFrame({"video_id": gold["video_id"], "score": gold["mem_score"] * 2}).to_csv(pred, index=False)
    result = _invoke("score", pred, "--gold", root, "--bootstrap", 200, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["srcc"]["value"] == pytest.approx(1.0)
    dev = tmp_path / "dev.csv"
    dev_rows = gold[gold["split"] == "dev"]
    pd.DataFrame({"video_id": dev_rows["video_id"], "score": -dev_rows["mem_score"]}).to_csv(dev, index=False)
    result = _invoke("score", dev, "--gold", root, "--split", "dev", "--bootstrap", 200, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["srcc"]["value"] == pytest.approx(-1.0)


def test_content_digest_ignores_row_order() -> None:
    assert content_digest(["a", "b"], [1.0, 2.0]) == content_digest(["b", "a"], [2.0, 1.0])
    assert content_digest(["a", "b"], [1.0, 2.0]) != content_digest(["a", "b"], [2.0, 1.0])


def _error(result: object) -> str:
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    return result.output  # type: ignore[attr-defined, no-any-return]


def test_score_error_paths(tmp_path: Path, files: dict[str, Path]) -> None:
    gold = files["gold"]
    out = _error(_invoke("score", tmp_path / "nope.csv", "--gold", gold))
    assert out == f"error: {tmp_path / 'nope.csv'}: file not found\n"

    out = _error(_invoke("score", files["run1"], "--gold", tmp_path / "nogold.csv"))
    assert out.startswith(f"error: {tmp_path / 'nogold.csv'}: file not found (expected a gold CSV or a prepared")

    short = tmp_path / "short.csv"
    frame = pd.read_csv(files["run1"], dtype={"video_id": str})
    frame.iloc[3:].to_csv(short, index=False)
    out = _error(_invoke("score", short, "--gold", gold))
    assert out.startswith(f"error: {short}: video_id: 3 of {N} gold videos have no prediction (first: ")

    extra = tmp_path / "extra.csv"
    pd.concat([frame, pd.DataFrame({"video_id": ["zzz"], "score": [0.5]})]).to_csv(extra, index=False)
    out = _error(_invoke("score", extra, "--gold", gold))
    assert out == f"error: {extra}: video_id: 1 predicted videos are not in the gold set {gold} (first: zzz)\n"

    nan_gold = tmp_path / "nan_gold.csv"
    g = pd.read_csv(gold, dtype={"video_id": str})
    g.loc[4, "mem_score"] = np.nan
    g.to_csv(nan_gold, index=False)
    out = _error(_invoke("score", files["run1"], "--gold", nan_gold))
    assert out == f"error: {nan_gold}:6: mem_score '': gold value must be a finite number\n"

    wide = tmp_path / "wide.csv"
    g.assign(other=1.0).to_csv(wide, index=False)
    out = _error(_invoke("score", files["run1"], "--gold", wide))
    assert (
        out
        == f"error: {wide}: target: several numeric columns (mem_score, other); name the gold column with --target\n"
    )
    with_url = tmp_path / "with_url.csv"
    pd.read_csv(gold, dtype={"video_id": str}).assign(url="http://x").to_csv(with_url, index=False)
    # One numeric column besides the ids: it is the gold, no --target needed.
    assert _invoke("score", files["run1"], "--gold", with_url, "--bootstrap", 0, "--method", "fisher").exit_code == 0
    out = _error(_invoke("score", files["run1"], "--gold", wide, "--target", "nope"))
    assert out == f"error: {wide}: target 'nope': no such column (found: mem_score, other)\n"

    out = _error(_invoke("score", files["run1"], "--gold", gold, "--split", "test"))
    assert out == f"error: {gold}: split: --split applies to a prepared dataset directory, not a CSV\n"

    out = _error(_invoke("score", files["run1"], "--gold", gold, "--bootstrap", 0))
    assert (
        out == "error: --bootstrap: --method bca needs bootstrap resamples; use --bootstrap N > 0 "
        "or --method fisher or fisher-bw\n"
    )

    flat = tmp_path / "flat.csv"
    g.assign(mem_score=0.5).to_csv(flat, index=False)
    out = _error(_invoke("score", files["run1"], "--gold", flat))
    assert out == f"error: {flat}: every gold value is the same; correlations are undefined\n"


def test_score_dataset_error_paths(tmp_path: Path, files: dict[str, Path]) -> None:
    root = _dataset(tmp_path / "ds")
    out = _error(_invoke("score", files["run1"], "--gold", root, "--split", "test"))
    assert out.startswith(f"error: {root / 'items.parquet'}: split 'test': 20 of 20 videos of split 'test' have no")
    assert out.rstrip().endswith("score against a labelled split")
    out = _error(_invoke("score", files["run1"], "--gold", root, "--target", "brand"))
    assert out == f"error: {root / 'manifest.json'}: target 'brand': unknown target (this dataset has: mem_score)\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _error(_invoke("score", files["run1"], "--gold", empty))
    assert out.startswith(f"error: {empty}: not a prepared dataset directory")


def test_score_on_cuda_without_a_gpu_is_a_usage_error(files: dict[str, Path]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = _invoke("score", files["run1"], "--gold", files["gold"], "--device", "cuda")
    assert result.exit_code == 2
    assert "device 'cuda' was asked for, but torch sees no CUDA GPU" in result.output


def test_score_usage_errors_exit_2(files: dict[str, Path]) -> None:
    result = _invoke("score", files["run1"], "--gold", files["gold"], "--confidence", 1.5)
    assert result.exit_code == 2
    result = _invoke("score", files["run1"], "--gold", files["gold"], "--method", "bootstrap")
    assert result.exit_code == 2


def test_compare_two_runs(files: dict[str, Path]) -> None:
    result = _invoke("compare", files["run1"], files["run3"], "--gold", files["gold"], "--bootstrap", 999, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["name"] for r in data["runs"]] == ["run1", "run3"]
    (pair,) = data["pairs"]
    assert pair["a"] == "run1" and pair["b"] == "run3"
    assert pair["difference"] == pytest.approx(pair["srcc_a"] - pair["srcc_b"])
    assert pair["ci"]["low"] > 0  # run1 is much better
    assert pair["p_value"] == pytest.approx(1 / 1000)
    assert pair["p_holm"] is None
    assert pair["signature"].startswith("dsrcc|n:120|boot:999|ci:bca95|seed:0|gold:")
    table = _invoke("compare", files["run1"], files["run3"], "--gold", files["gold"], "--bootstrap", 999)
    assert table.exit_code == 0 and "run1 vs run3: dsrcc|" in table.output


def test_compare_three_runs_adds_holm(files: dict[str, Path]) -> None:
    args = ["compare", files["run1"], files["run2"], files["run3"], "--gold", files["gold"], "--bootstrap", 300]
    result = _invoke(*args, "--method", "percentile", "--json")
    assert result.exit_code == 0, result.output
    pairs = json.loads(result.output)["pairs"]
    assert [(p["a"], p["b"]) for p in pairs] == [("run1", "run2"), ("run1", "run3"), ("run2", "run3")]
    assert all(p["p_holm"] >= p["p_value"] for p in pairs)
    assert "p (Holm)" in _invoke(*args).output


def test_compare_error_paths(files: dict[str, Path]) -> None:
    out = _error(_invoke("compare", files["run1"], "--gold", files["gold"]))
    assert out == "error: FILES: compare needs at least two prediction files\n"
    out = _error(_invoke("compare", files["run1"], files["run2"], "--gold", files["gold"], "--method", "fisher"))
    assert out.startswith("error: --method: a paired comparison needs the bootstrap")


def test_leaderboard_writes_tables_and_plot(tmp_path: Path, files: dict[str, Path]) -> None:
    out = tmp_path / "boards" / "dev"
    runs = [files["run3"], files["run1"], files["run2"]]
    args = [*runs, "--gold", files["gold"], "--bootstrap", 300, "--out", out]
    result = _invoke("leaderboard", *args, "--format", "md", "--format", "csv", "--format", "json", "--plot")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "boards" / "dev.md").read_text()
    assert md.index("| 1 | run1 |") < md.index("| 2 | run2 |") < md.index("| 3 | run3 |")
    csv = pd.read_csv(tmp_path / "boards" / "dev.csv")
    assert csv["run"].tolist() == ["run1", "run2", "run3"]
    assert (csv["ci_low"] < csv["srcc"]).all() and (csv["srcc"] < csv["ci_high"]).all()
    data = json.loads((tmp_path / "boards" / "dev.json").read_text())
    assert [r["rank"] for r in data["runs"]] == [1, 2, 3]
    png = (tmp_path / "boards" / "dev.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

    again = _invoke("leaderboard", *args)
    assert again.exit_code == 1
    assert again.output == f"error: {tmp_path / 'boards' / 'dev.md'}: exists; pass --force to replace it\n"
    forced = _invoke("leaderboard", *args, "--force", "--json")
    assert forced.exit_code == 0
    assert json.loads(forced.output.split("\nwrote")[0])["runs"][0]["run"] == "run1"


def test_leaderboard_error_paths(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,score\nvid0000,abc\n")
    result = _invoke("leaderboard", files["run1"], bad, "--gold", files["gold"], "--out", tmp_path / "lb")
    assert _error(result) == f"error: {bad}:2: score 'abc': score must be a finite number\n"
    assert not list(tmp_path.glob("lb*"))


def test_score_reads_official_run_files_with_a_profile(tmp_path: Path, files: dict[str, Path]) -> None:
    frame = pd.read_csv(files["run1"], dtype={"video_id": str})
    run = tmp_path / "renamed.csv"
    lines = [
        "video_id,memorability_score",
        *(f"{v},{min(1.0, max(0.0, s)):.10g}" for v, s in zip(frame["video_id"], frame["score"], strict=True)),
    ]
    run.write_text("\n".join(lines) + "\n")
    result = _invoke("score", run, "--gold", files["gold"], "--profile", "me25", "--bootstrap", 100, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["srcc"]["value"] > 0.9
    # Without the profile the file is not a predictions CSV.
    plain = _invoke("score", run, "--gold", files["gold"], "--bootstrap", 100)
    assert plain.exit_code == 1 and "missing column" in plain.output
    broken = tmp_path / "broken.csv"
    broken.write_text("video_id,score\nvid0000,2\n")
    out = _error(_invoke("score", broken, "--gold", files["gold"], "--profile", "me25"))
    assert out == f"error: {broken}:2: score '2': score outside the profile's range [0, 1]\n"


def test_leaderboard_plot_without_matplotlib(
    tmp_path: Path, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    result = _invoke("leaderboard", files["run1"], "--gold", files["gold"], "--out", tmp_path / "lb", "--plot")
    assert result.exit_code == 1
    assert result.output == "error: --plot: needs matplotlib: pip install 'mediaeval-memo[plot]'\n"


def test_tables_show_undefined_values_and_bracketed_names_as_text(tmp_path: Path, files: dict[str, Path]) -> None:
    const = tmp_path / "[bold]const.csv"
    pd.read_csv(files["run1"], dtype={"video_id": str}).assign(score=0.5).to_csv(const, index=False)
    result = _invoke("score", const, "--gold", files["gold"], "--bootstrap", 100)
    assert result.exit_code == 0, result.output
    spearman = next(line for line in result.output.splitlines() if "Spearman" in line)
    assert spearman.count("n/a") == 3  # value, interval and Fisher interval: a constant run has no ranks
    board = _invoke(
        "leaderboard", const, files["run1"], "--gold", files["gold"], "--bootstrap", 100, "--out", tmp_path / "b"
    )
    assert board.exit_code == 0, board.output
    assert "│ [bold]const │" in board.output
