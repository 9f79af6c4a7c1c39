"""The one table of interval methods: a method registered from here (a toy normal interval) reaches the score
pipeline, `compare`, `leaderboard`, the signatures and the JSON with no other change; an unsupported combination
is an input error, never a substitute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mediaeval_memo.cli.evaluation import score as score_command
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.evaluation import ci
from mediaeval_memo.evaluation.ci import Evidence, Interval, IntervalMethod, interval_method, interval_methods
from mediaeval_memo.evaluation.compare import compare_runs
from mediaeval_memo.evaluation.gold import load_gold
from mediaeval_memo.evaluation.leaderboard import build_leaderboard
from mediaeval_memo.evaluation.pipeline import Settings, signature_fields
from mediaeval_memo.evaluation.score import score_run

N = 80


def _normal(e: Evidence) -> Interval:
    """Estimate +- z * the bootstrap standard error: the toy method under test."""
    assert e.replicates is not None
    half = 1.959963984540054 * float(np.std(e.replicates[np.isfinite(e.replicates)], ddof=1))
    return Interval(e.estimate - half, e.estimate + half, "normal", e.confidence)


def _half_width_zero(e: Evidence) -> Interval:
    return Interval(e.estimate, e.estimate, "point", e.confidence)


@pytest.fixture
def toy_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        ci.INTERVAL_METHODS,
        "normal",
        IntervalMethod("normal", "norm", "normal (toy)", resampled=True, paired=True, compute=_normal),
    )
    monkeypatch.setitem(
        ci.INTERVAL_METHODS,
        "point",
        IntervalMethod(
            "point", "point", "point (toy)", resampled=False, paired=False, compute=_half_width_zero, metrics=("srcc",)
        ),
    )


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(4)
    ids = [f"v{i:03d}" for i in range(N)]
    gold = rng.normal(size=N)
    out = {"gold": tmp_path / "gold.csv"}
    pd.DataFrame({"video_id": ids, "mem_score": gold}).to_csv(out["gold"], index=False)
    for k, noise in enumerate((0.5, 2.0), start=1):
        out[f"run{k}"] = tmp_path / f"run{k}.csv"
        pd.DataFrame({"video_id": ids, "score": gold + rng.normal(scale=noise, size=N)}).to_csv(
            out[f"run{k}"], index=False
        )
    return out


@pytest.mark.usefixtures("toy_methods")
def test_a_method_registered_in_the_table_reaches_score_compare_and_leaderboard(runs: dict[str, Path]) -> None:
    gold = load_gold(runs["gold"])
    settings = Settings(300, 0, method="normal", device="cpu")
    report = score_run(runs["run1"], gold, settings)
    srcc = report.scores["srcc"]
    assert srcc.interval is not None and srcc.interval.method == "normal"
    assert srcc.interval.low < srcc.value < srcc.interval.high
    assert "|boot:300|ci:norm95|seed:0|" in srcc.signature  # resampled: its signature records boot and seed
    assert list(srcc.intervals) == [m.name for m in interval_methods() if m.name != "bca"]  # no jackknife drawn
    assert report.to_json()["metrics"]["srcc"]["signature_fields"]["ci"] == "norm95"

    pair = compare_runs([runs["run1"], runs["run2"]], gold, settings).pairs[0]
    assert pair.interval.method == "normal" and "ci:norm95" in pair.signature

    board = build_leaderboard([runs["run1"], runs["run2"]], gold, settings)
    assert board.ci_label() == "95% CI (normal (toy))"


@pytest.mark.usefixtures("toy_methods")
def test_a_closed_form_method_is_refused_where_it_does_not_apply(runs: dict[str, Path]) -> None:
    gold = load_gold(runs["gold"])
    report = score_run(runs["run1"], gold, Settings(0, 0, method="point"))
    assert report.scores["srcc"].signature.startswith("srcc|n:80|ci:point95|gold:")  # no boot, no seed
    assert report.scores["plcc"].interval is None  # not a metric it covers, and it names no stand-in
    with pytest.raises(InputError, match="a paired comparison needs the bootstrap: use --method "):
        compare_runs([runs["run1"], runs["run2"]], gold, Settings(200, 0, method="point"))


def test_an_unknown_method_is_an_input_error_with_a_suggestion() -> None:
    with pytest.raises(InputError, match="unknown interval method fisher-b; did you mean fisher-bw"):
        interval_method("fisher-b")


def test_the_command_line_offers_exactly_the_table() -> None:
    option = next(p for p in score_command.params if p.name == "method")
    assert list(option.type.choices) == [m.name for m in interval_methods()]  # type: ignore[attr-defined]


def test_signature_fields_read_a_signature_back() -> None:
    fields = signature_fields("srcc|n:1500|boot:10000|ci:bca95|seed:0|clusters:12@ab12cd34|gold:deadbeef|memo:0.1.0")
    assert fields == {
        "metric": "srcc",
        "n": 1500,
        "boot": 10000,
        "ci": "bca95",
        "seed": 0,
        "clusters": "12@ab12cd34",
        "gold": "deadbeef",
        "memo": "0.1.0",
    }
