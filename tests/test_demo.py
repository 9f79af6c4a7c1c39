"""`memo demo`: the steps run in order into --out; --force replaces only a previous demo output."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.demo import SAMPLES, STEPS, DemoContext, run_demo


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"[1/{len(STEPS)}] write the sample releases\n")
    for layout, dataset in SAMPLES.items():
        ds = PreparedDataset.load(out / "prepared" / layout)
        assert ds.folds is not None and ds.folds.k == 5
        assert f"{dataset} ({ds.manifest['layout']}) at {out / 'prepared' / layout}" in result.output
    assert PreparedDataset.load(out / "prepared" / "trecvid2020").manifest["layout"] == "mediaeval2020"
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
        ctx.results["n"] = 1
        seen.append("first")

    def second(ctx: DemoContext) -> None:
        seen.append(f"second saw {ctx.results['n']}")

    lines: list[str] = []
    run_demo(tmp_path / "d", force=False, echo=lines.append, steps=[("one", first), ("two", second)])
    (tmp_path / "d" / "stale.txt").write_text("old")
    run_demo(tmp_path / "d", force=True, echo=lines.append, steps=[("one", first), ("two", second)])
    assert seen == ["first", "second saw 1"] * 2
    assert lines == ["[1/2] one", "[2/2] two"] * 2
    assert not (tmp_path / "d" / "stale.txt").exists()
