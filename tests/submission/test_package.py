"""`memo package`: official run files from predictions, and every way the inputs can fall short."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from scipy import stats

from mediaeval_memo.cli import cli
from tests.conftest import REPO

IDS = [f"vid{i:03d}" for i in range(30)]


def _invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _predictions(path: Path, ids: list[str] = IDS, seed: int = 0, scale: float = 1.0) -> Path:
    rng = np.random.default_rng(seed)
    pd.DataFrame({"video_id": ids, "score": rng.uniform(0, 1, len(ids)) * scale}).to_csv(path, index=False)
    return path


def _dataset(root: Path, test_ids: list[str]) -> Path:
    ids = [f"train{i}" for i in range(5)] + test_ids
    n = len(ids)
    items = pd.DataFrame(
        {
            "video_id": ids,
            "split": ["train"] * 5 + ["test"] * len(test_ids),
            "mem_score": [0.5] * 5 + [np.nan] * len(test_ids),
            "captions": [["c"]] * n,
            "group": ids,
            "media_path": [""] * n,
        }
    )
    root.mkdir()
    items.to_parquet(root / "items.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"dataset": "tiny", "targets": ["mem_score"]}))
    return root


def test_package_me25_writes_and_validates(tmp_path: Path) -> None:
    pred = _predictions(tmp_path / "pred.csv")
    out = tmp_path / "submissions"
    result = _invoke("package", "--predictions", pred, "--team", "ACME", "--subtask", "1", "--run", 1, "--out", out)
    assert result.exit_code == 0, result.output
    path = out / "me25mem_ACME_subtask1_run1.csv"
    assert f"wrote {path} (30 rows, profile me25, subtask 1)" in result.output
    assert "note: profile me25 is an assumption" in result.output
    lines = path.read_text().split("\n")
    assert lines[0] == "video_id,score" and lines[-1] == "" and len(lines) == 32
    assert lines[1].startswith("vid000,")
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(IDS) + "\n")
    check = _invoke("validate", path, "--ids", ids)
    assert check.exit_code == 0, check.output
    # Same inputs, same bytes.
    again = _invoke(
        "package", "--predictions", pred, "--team", "ACME", "--subtask", "1", "--run", 1, "--out", tmp_path / "b"
    )
    assert again.exit_code == 0
    assert (tmp_path / "b" / path.name).read_bytes() == path.read_bytes()


def test_package_takes_ids_and_order_from_the_test_split(tmp_path: Path) -> None:
    order = list(reversed(IDS))
    data = _dataset(tmp_path / "ds", order)
    pred = _predictions(tmp_path / "pred.csv")
    result = _invoke(
        "package",
        "--predictions",
        pred,
        "--team",
        "ACME",
        "--subtask",
        "2.2",
        "--run",
        5,
        "--data",
        data,
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output
    written = (tmp_path / "out" / "me25mem_ACME_subtask2.2_run5.csv").read_text().splitlines()
    assert written[0] == "video_id,brand_memorability"
    assert [line.split(",")[0] for line in written[1:]] == order


def test_package_me19_is_headerless_with_a_tag(tmp_path: Path) -> None:
    pred = _predictions(tmp_path / "pred.csv")
    result = _invoke(
        "package",
        "--predictions",
        pred,
        "--team",
        "acme",
        "--subtask",
        "shortterm",
        "--run",
        2,
        "--tag",
        "required",
        "--profile",
        "me19",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "me19mem_acme_shortterm_run2-required.csv").read_text().splitlines()
    assert len(lines) == 30 and lines[0].startswith("vid000,") and lines[0].endswith(",1")
    assert "note:" not in result.output


def test_package_two_score_columns_from_a_user_profile(tmp_path: Path) -> None:
    profile = json.loads((REPO / "mediaeval_memo/submission/profiles/me25.json").read_text())
    profile["subtasks"] = {
        "2": {
            "label": "2",
            "columns": [
                {"name": "video_id", "kind": "id"},
                {"name": "memorability_score", "kind": "score", "source": "memorability_score"},
                {"name": "brand_memorability", "kind": "score", "source": "brand_memorability"},
            ],
        }
    }
    profile["status"] = "confirmed"
    path = tmp_path / "two.json"
    path.write_text(json.dumps(profile))
    mem = _predictions(tmp_path / "mem.csv", seed=1)
    brand = _predictions(tmp_path / "brand.csv", seed=2)
    args = ["package", "--team", "ACME", "--subtask", "2", "--run", 1, "--profile", path, "--out", tmp_path / "o"]
    result = _invoke(
        *args, "--predictions", f"brand_memorability={brand}", "--predictions", f"memorability_score={mem}"
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "o" / "me25mem_ACME_subtask2_run1.csv").read_text().splitlines()
    assert lines[0] == "video_id,memorability_score,brand_memorability"
    _vid, m, b = lines[1].split(",")
    assert float(m) == pytest.approx(pd.read_csv(mem)["score"][0]) and float(b) == pytest.approx(
        pd.read_csv(brand)["score"][0]
    )

    one = _invoke(*args, "--predictions", mem)
    assert one.exit_code == 1
    assert one.output.startswith(
        f"error: --predictions: '{mem}': subtask 2 has 2 score columns; give each as SOURCE=FILE "
        "(sources: memorability_score, brand_memorability)"
    )


def _error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    return result.output


def test_package_error_paths(tmp_path: Path) -> None:
    pred = _predictions(tmp_path / "pred.csv")
    base = ["package", "--predictions", pred, "--out", tmp_path / "out"]

    assert _error(_invoke(*base, "--team", "A_B", "--subtask", "1", "--run", 1)) == (
        "error: profile me25: team 'A_B': team name must match [A-Za-z0-9-]+\n"
    )
    assert _error(_invoke(*base, "--team", "A", "--subtask", "1", "--run", 6)) == (
        "error: profile me25: run 6: run number must be 1..5 (profile me25 allows 5 runs per subtask)\n"
    )
    assert _error(_invoke(*base, "--team", "A", "--subtask", "2", "--run", 1)) == (
        "error: profile me25: subtask '2': unknown subtask for profile me25; "
        "did you mean 2.1 or 2.2? available: 1, 2.1, 2.2\n"
    )
    assert _error(_invoke(*base, "--team", "A", "--subtask", "1", "--run", 1, "--profile", "me26")).startswith(
        "error: --profile: unknown profile 'me26'; did you mean me25?"
    )
    assert _error(_invoke(*base, "--team", "A", "--subtask", "1", "--run", 1, "--tag", "required")) == (
        "error: profile me25: tag 'required': profile me25 has no run tags\n"
    )

    ok = _invoke(*base, "--team", "A", "--subtask", "1", "--run", 1)
    assert ok.exit_code == 0
    target = tmp_path / "out" / "me25mem_A_subtask1_run1.csv"
    assert _error(_invoke(*base, "--team", "A", "--subtask", "1", "--run", 1)) == (
        f"error: {target}: exists; pass --force to replace it\n"
    )
    assert _invoke(*base, "--team", "A", "--subtask", "1", "--run", 1, "--force").exit_code == 0

    high = _predictions(tmp_path / "high.csv", scale=3.0)
    out = _error(
        _invoke("package", "--predictions", high, "--team", "A", "--subtask", "1", "--run", 2, "--out", tmp_path)
    )
    assert out.startswith(f"error: {high}: ") and out.rstrip().endswith(
        "pass --rescale rank (keeps the ranking, ties as ties) or --rescale minmax (keeps the spacing too), or --clip "
        "(ties them at the bounds: changes the Spearman)"
    )
    assert "scores outside the profile's range [0, 1] (first: vid" in out
    assert not (tmp_path / "me25mem_A_subtask1_run2.csv").exists()
    clipped = _invoke(
        "package", "--predictions", high, "--team", "A", "--subtask", "1", "--run", 2, "--out", tmp_path, "--clip"
    )
    assert clipped.exit_code == 0 and f"warning: {high}: clipped" in clipped.output
    srcc = float(clipped.output.split("Spearman between the raw and the packaged scores: ")[1].split()[0])
    assert srcc < 1.0  # clipping ties the outside scores: the ranking the run is judged on changed

    data = _dataset(tmp_path / "ds", [*IDS[:20], "vidX"])
    out = _error(_invoke(*base, "--team", "A", "--subtask", "1", "--run", 3, "--data", data))
    assert f"error: {pred}: 1 videos of {data} (test split) have no prediction (first: vidX)\n" in out
    assert f"error: {pred}: 10 predicted videos are not in {data} (test split) (first: vid020" in out

    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,score\nv1,0.5\nv1,0.2\n")
    assert _error(
        _invoke("package", "--predictions", bad, "--team", "A", "--subtask", "1", "--run", 1, "--out", tmp_path)
    ) == (f"error: {bad}:3: video_id 'v1': duplicate video id (first on line 2)\n")


def test_package_tag_and_predictions_errors(tmp_path: Path) -> None:
    pred = _predictions(tmp_path / "pred.csv")
    base = ["package", "--team", "acme", "--run", 1, "--out", tmp_path / "out"]
    out = _error(_invoke(*base, "--predictions", pred, "--subtask", "shortterm", "--profile", "me19", "--tag", "extra"))
    assert out == "error: profile me19: tag 'extra': unknown run tag (profile me19 has: general, required)\n"
    out = _error(_invoke(*base, "--predictions", pred, "--predictions", pred, "--subtask", "1"))
    assert out == f"error: --predictions: '{pred}': a second predictions file for column 'score'\n"
    missing = tmp_path / "missing.csv"
    assert _error(_invoke(*base, "--predictions", missing, "--subtask", "1")) == f"error: {missing}: file not found\n"


def _run_scores(path: Path) -> pd.Series:
    return pd.read_csv(path, dtype={"video_id": str}).set_index("video_id").iloc[:, 0]


@pytest.mark.parametrize("how", ["rank", "minmax"])
def test_rescale_keeps_the_ranking(tmp_path: Path, how: str) -> None:
    """Raw scores far outside [0, 1], with ties: the rescaled run file has Spearman 1 to the raw scores."""
    rng = np.random.default_rng(3)
    raw = np.round(rng.normal(50, 30, size=len(IDS)), 0)  # outside [0, 1], and tied (rounded to integers)
    raw[:4] = raw[4]  # a tie group of five
    pred = tmp_path / "raw.csv"
    pd.DataFrame({"video_id": IDS, "score": raw}).to_csv(pred, index=False)
    out = tmp_path / "out"
    args = ("package", "--predictions", pred, "--team", "A", "--subtask", "1", "--run", 1, "--out", out)
    result = _invoke(*args, "--rescale", how)
    assert result.exit_code == 0, result.output
    assert (
        f"scores score: rescaled by {how} into [0, 1]; Spearman between the raw and the packaged scores: 1.000000"
        in result.output
    )
    written = _run_scores(out / "me25mem_A_subtask1_run1.csv").reindex(IDS).to_numpy()
    assert stats.spearmanr(raw, written).statistic == pytest.approx(1.0, abs=1e-12)
    assert len(np.unique(written)) == len(np.unique(raw))  # ties stay ties, and no new ones
    if how == "rank":
        expected = (stats.rankdata(raw) - 0.5) / len(raw)  # average ranks: strictly inside (0, 1)
        np.testing.assert_allclose(written, expected, rtol=0, atol=1e-10)
        assert written.min() > 0 and written.max() < 1
    else:
        assert (written.min(), written.max()) == (0.0, 1.0)
        assert stats.pearsonr(raw, written).statistic == pytest.approx(1.0, abs=1e-9)  # the spacing is kept
    check = _invoke("validate", out / "me25mem_A_subtask1_run1.csv", "--ids", _ids_file(tmp_path))
    assert check.exit_code == 0, check.output


def _ids_file(tmp_path: Path) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(IDS) + "\n")
    return path


def test_rescale_and_clip_together_are_refused(tmp_path: Path) -> None:
    pred = _predictions(tmp_path / "p.csv", scale=3.0)
    args = ("package", "--predictions", pred, "--team", "A", "--subtask", "1", "--run", 1, "--out", tmp_path / "o")
    assert _error(_invoke(*args, "--rescale", "rank", "--clip")) == (
        "error: --clip: --rescale 'rank': give --clip or --rescale, not both\n"
    )
    assert not (tmp_path / "o").exists()


def test_in_range_scores_print_spearman_one(tmp_path: Path) -> None:
    pred = _predictions(tmp_path / "p.csv")
    result = _invoke("package", "--predictions", pred, "--team", "A", "--subtask", "1", "--run", 1, "--out", tmp_path)
    assert "scores score: unchanged; Spearman between the raw and the packaged scores: 1.000000" in result.output


def test_out_that_is_a_file_is_one_line_exit_1(tmp_path: Path) -> None:
    pred = _predictions(tmp_path / "p.csv")
    blocker = tmp_path / "submissions"
    blocker.write_text("not a folder")
    base = ("package", "--predictions", pred, "--team", "A", "--subtask", "1", "--run", 1, "--out")
    assert _error(_invoke(*base, blocker)) == (
        f"error: {blocker}: --out: is a file; --out names the folder the run file is written into\n"
    )
    nested = blocker / "2025"
    assert _error(_invoke(*base, nested)) == (
        f"error: {nested}: --out: lies under a file ({blocker}); --out names the folder the run file is written into\n"
    )
    assert blocker.read_text() == "not a folder" and sorted(p.name for p in tmp_path.iterdir()) == [
        "p.csv",
        "submissions",
    ]
