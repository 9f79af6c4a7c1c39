"""`memo report MODEL_DIR`: one page of a trained run, read back with an HTML parser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.report.panels import RunFiles, TablePanel
from mediaeval_memo.variants import get_variant
from tests.report.conftest import PLANTED
from tests.report.pages import Element, off_page, parse

B = "1000"


def _invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def written(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page `memo report` writes of the trained run (written once for this module)."""
    out = tmp_path_factory.mktemp("run-page") / "report.html"
    result = _invoke("report", trained_run, "--out", out, "--bootstrap", B)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    return out.read_text(encoding="utf-8")


def _page(written: str) -> tuple[Element, str]:
    return parse(written).root, written


def test_run_page_numbers_are_cv_json_and_memo_score(trained_run: Path, written: str) -> None:
    root, _ = _page(written)
    for sid in ("run", "cv", "predictions", "videos", "variant", "test"):
        root.by_id(sid)
    cv = json.loads((trained_run / "cv.json").read_text())
    assert root.find("b", class_="metric-srcc").text == f"{cv['oof_srcc']:.4f}"
    folds = root.find("table", class_="folds")
    assert folds.header()[:3] == ["fold", "videos", "Spearman"]
    rows = folds.rows()
    assert [r[0] for r in rows] == [*(f"fold {k}" for k in cv["folds"]), "pooled"]
    for row, value in zip(rows, [*cv["folds"].values(), cv["oof_srcc"]], strict=True):
        assert row[2] == f"{value:.4f}"
    # The pooled interval and signature are what `memo score` prints for the same file, gold and resamples.
    data = json.loads((trained_run / "run.json").read_text())["data"]
    score = _invoke("score", trained_run / "oof_predictions.csv", "--gold", data, "--bootstrap", B, "--json")
    metrics = json.loads(score.output)["metrics"]
    pooled = rows[-1]
    for column, metric, digits in ((3, "srcc", 4), (5, "plcc", 4), (7, "mse", 4)):
        ci = metrics[metric]["ci"]
        assert pooled[column] == f"[{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"
    assert pooled[6] == f"{metrics['mse']['value']:.5f}"
    signature = " ".join(root.by_id("cv").find("code", class_="sig").text.split())
    assert signature == metrics["srcc"]["signature"]


def test_run_page_is_self_contained_and_escapes_captions(written: str) -> None:
    root, text = _page(written)
    page = parse(text)
    assert off_page(page) == []
    assert page.handlers == []
    # One script: the page's own (sorting, opening sections to print); the planted one is caption text.
    scripts = root.find_all("script")
    assert len(scripts) == 1 and "alert" not in scripts[0].text
    assert [e for e in root.find_all("b") if e.text == "bold"] == []
    captions = [e.text for e in root.by_id("videos").find_all("span", class_="caption")]
    assert len(captions) == 20 and all(PLANTED in c for c in captions)
    # Thumbnails of the sample's frames, inline.
    thumbs = root.by_id("videos").find_all("img", class_="thumb")
    assert thumbs and all(t.attrs["src"].startswith("data:image/jpeg;base64,") for t in thumbs)


def test_run_page_shows_the_run_and_what_gbt_says(trained_run: Path, written: str) -> None:
    root, _ = _page(written)
    header = root.by_id("run")
    identity = json.loads((trained_run / "variant.json").read_text())
    assert identity["items_sha256"] in header.text
    assert "config.yaml" in header.find("details").find("summary").text
    assert (trained_run / "config.yaml").read_text().strip() in header.find("details").find("pre").text
    plan = json.loads((trained_run / "run.json").read_text())["plan"]
    assert plan and [" ".join(li.text.split()) for li in header.find("ul").find_all("li")] == plan
    # The variant's hook: the member table, one row per member and fit, from each fit.json.
    members = root.by_id("variant").find("table")
    assert members.header()[:4] == ["fit", "member", "inner Spearman", "weight"]
    fits = RunFiles.read(trained_run).fits
    expected = [(fit, m, f"{row['inner_srcc']:.4f}") for fit, r in fits.items() for m, row in r["members"].items()]
    assert [(r[0], r[1], r[2]) for r in members.rows()] == expected
    # Test predictions beside the out-of-fold ones.
    dist = root.by_id("test").find("table").rows()
    test = pd.read_csv(trained_run / "predictions_test.csv")
    assert dist[1][:3] == ["test", str(len(test)), f"{test['score'].mean():.4f}"]
    # Residuals by the Memento10k action, and the calibration panel.
    assert "Residual by action" in root.by_id("predictions").text
    assert len(root.by_id("predictions").find_all("svg")) == 2


def test_variant_hook_is_asked_not_inspected(trained_run: Path) -> None:
    run = RunFiles.read(trained_run)
    panels = get_variant("gbt").report_panels(run)
    assert panels and isinstance(panels[0], TablePanel)
    # What each member's study did is on the page as fit.json records it.
    table = panels[0]
    col = {name: i for i, name in enumerate(table.columns)}
    for row in table.rows:
        member = run.fits[str(row[col["fit"]])]["members"][str(row[col["member"]])]
        assert (row[col["trials"]], row[col["pruned"]], row[col["study stopped on"]]) == (
            member["trials"],
            member["pruned"],
            member["stopped"],
        )
    # A variant with nothing of its own to say (the base default) gives no panels; the neural ones read history.
    from mediaeval_memo.report.panels import LinesPanel

    fake = RunFiles(
        trained_run,
        {"fold 0": {"steps": 4, "history": [{"epoch": 1.0, "train_loss": 0.5, "val_spearman": 0.2},
                                            {"epoch": 2.0, "train_loss": 0.4, "val_spearman": 0.3}]}},
    )  # fmt: skip
    panels = get_variant("gemma-fusion").report_panels(fake)
    charts = [p for p in panels if isinstance(p, LinesPanel)]
    assert charts and charts[0].charts["training loss"]["fold 0"] == ([1.0, 2.0], [0.5, 0.4])


def test_run_report_error_paths(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    # A folder that is not a model folder.
    plain = tmp_path / "plain"
    plain.mkdir()
    result = _invoke("report", plain, "--out", out)
    assert result.exit_code == 1
    assert result.output == f"error: {plain}: not a model folder (no variant.json); give a folder `memo train` wrote\n"
    assert not out.exists()
    # --out is a folder.
    result = _invoke("report", trained_run, "--out", tmp_path)
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path}: --out: is a folder; --out names the HTML file to write\n"
    # A dataset that is not the one the run was trained on.
    data = Path(json.loads((trained_run / "run.json").read_text())["data"])
    other = tmp_path / "other"
    shutil.copytree(data, other)
    items = pd.read_parquet(other / "items.parquet")
    items.loc[0, "mem_score"] = 0.5
    items.to_parquet(other / "items.parquet", index=False)
    result = _invoke("report", trained_run, "--out", out, "--data", other)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {other / 'items.parquet'}: --data: is not the item table")
    assert len(result.output.splitlines()) == 1
    # A model folder that does not say where its dataset is, without --data.
    copy = tmp_path / "model"
    shutil.copytree(trained_run, copy)
    (copy / "run.json").unlink()
    result = _invoke("report", copy, "--out", out)
    assert result.exit_code == 1
    assert "pass --data DIR" in result.output
    assert not out.exists()
    # --gold is for run files.
    result = _invoke("report", trained_run, "--out", out, "--gold", data)
    assert result.exit_code == 1 and "--gold applies to run FILEs" in result.output
    # With --data the copy reports, and an existing page is kept without --force.
    assert _invoke("report", copy, "--out", out, "--data", data, "--bootstrap", "200").exit_code == 0
    before = out.read_text()
    result = _invoke("report", copy, "--out", out, "--data", data)
    assert result.exit_code == 1 and out.read_text() == before


def test_run_page_with_clusters(trained_run: Path, tmp_path: Path) -> None:
    """--clusters COLUMN resamples whole groups of the run's dataset, as `memo score --clusters` does."""
    out = tmp_path / "c.html"
    args = ["--bootstrap", "300", "--method", "percentile", "--clusters", "action"]
    result = _invoke("report", trained_run, "--out", out, *args)
    assert result.exit_code == 0, result.output
    root = parse(out.read_text()).root
    data = json.loads((trained_run / "run.json").read_text())["data"]
    score = json.loads(_invoke("score", trained_run / "oof_predictions.csv", "--gold", data, *args, "--json").output)
    srcc = score["metrics"]["srcc"]
    assert "clusters:" in srcc["signature"]
    assert " ".join(root.by_id("cv").find("code", class_="sig").text.split()) == srcc["signature"]
    assert f"{score['clusters']} clusters resampled whole" in root.by_id("cv").text
