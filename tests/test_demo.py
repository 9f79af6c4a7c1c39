"""`memo demo`: the steps run in order into --out; --force replaces only a previous demo output."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.demo import DEMO_DATASET, DEMO_MODELS, SAMPLES, STEPS, DemoContext, run_demo
from mediaeval_memo.evaluation.gold import load_gold
from mediaeval_memo.evaluation.pipeline import Settings
from mediaeval_memo.evaluation.score import score_run
from mediaeval_memo.submission.profiles import load_profile
from mediaeval_memo.submission.validator import validate_paths


def test_demo_end_to_end(tmp_path: Path) -> None:
    """What the demo promises: every sample prepared; every model it trains learns the sample's planted signal
    (out-of-fold Spearman > 0); the run file validates against the test ids; the leaderboard holds every run."""
    out = tmp_path / "demo-out"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"[1/{len(STEPS)}] write the sample releases\n")
    for i, (name, _) in enumerate(STEPS, start=1):
        assert f"[{i}/{len(STEPS)}] {name}\n" in result.output
    for layout, dataset in SAMPLES.items():
        ds = PreparedDataset.load(out / "prepared" / layout)
        assert ds.folds is not None and ds.folds.k == 5
        assert f"{dataset} ({ds.manifest['layout']}) at {out / 'prepared' / layout}" in result.output
    assert PreparedDataset.load(out / "prepared" / "trecvid2020").manifest["layout"] == "mediaeval2020"

    data = out / "prepared" / DEMO_DATASET
    gold = load_gold(data)
    for name in DEMO_MODELS:
        srcc = score_run(out / "models" / name / "oof_predictions.csv", gold, Settings(0, method="fisher"))
        srcc = srcc.scores["srcc"].value
        assert srcc > 0, f"{name} did not learn the planted signal (out-of-fold Spearman {srcc:.3f})"
    run_files = sorted((out / "submissions").glob("*.csv"))
    assert len(run_files) == 1
    checked = validate_paths(run_files, load_profile("me25"), PreparedDataset.load(data).split_ids("test"))
    assert checked.ok, checked
    board = (out / "leaderboards" / "demo.md").read_text(encoding="utf-8")
    for name in DEMO_MODELS:
        assert f"| oof_{name} |" in board, f"the leaderboard lacks {name}"
    assert (out / "leaderboards" / "demo.png").is_file()
    # The two pages it promises, with their paths printed.
    for page in (out / "report.html", out / "leaderboards" / "demo.html"):
        assert page.is_file() and page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert f": {page}\n" in result.output
    again = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    assert again.exit_code == 1
    assert again.output == f"error: {out}: --out: output folder exists and is not empty; pass --force to replace it\n"


def test_force_replaces_only_demo_output(tmp_path: Path) -> None:
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    result = CliRunner().invoke(cli, ["demo", "--out", str(precious), "--force"])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {precious}: --out: not a demo output folder (no .memo-demo file); --force replaces only those, "
        "choose another --out\n"
    )
    assert (precious / "chapter1.tex").read_text() == "years of work"


def test_steps_share_a_context_and_force_reruns(tmp_path: Path) -> None:
    seen: list[str] = []

    def first(ctx: DemoContext) -> None:
        ctx.srcc["m"] = 1.0
        seen.append("first")

    def second(ctx: DemoContext) -> None:
        seen.append(f"second saw {ctx.srcc['m']}")

    lines: list[str] = []
    run_demo(tmp_path / "d", force=False, echo=lines.append, steps=[("one", first), ("two", second)])
    (tmp_path / "d" / "stale.txt").write_text("old")
    run_demo(tmp_path / "d", force=True, echo=lines.append, steps=[("one", first), ("two", second)])
    assert seen == ["first", "second saw 1.0"] * 2
    assert lines == ["[1/2] one", "[2/2] two"] * 2
    assert not (tmp_path / "d" / "stale.txt").exists()
