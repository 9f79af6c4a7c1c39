"""The pages in a real browser (headless Chromium): they render, are not blank and cause no console message.
Skipped, with the reason, where Chromium is absent; docs/report.md says how to run them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from tests.report.browser import browser, ink, render
from tests.report.conftest import EVIL_RUN

MIN_INK = 0.02  # a page of text, tables and plots inks far more of its first screen than this


def _check(page: Path, shots: Path) -> None:
    rendered = render(page, shots / f"{page.parent.name}-{page.stem}.png")
    assert rendered.console == [], f"{page}: console messages {rendered.console}"
    assert ink(rendered.screenshot) > MIN_INK, f"{page}: the screenshot is blank"


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: MEMO_SCREENSHOTS (to look at them, or for the docs), else the test's folder."""
    folder = Path(os.environ.get("MEMO_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_run_and_leaderboard_pages_render(trained_run: Path, run_files: dict[str, Path], tmp_path: Path) -> None:
    browser()
    run_page, board_page = tmp_path / "run" / "report.html", tmp_path / "board" / "runs.html"
    runs = [run_files[k] for k in ("strong", "middle", EVIL_RUN)]
    for args in (
        [trained_run, "--out", run_page, "--bootstrap", "500"],
        [*runs, "--gold", run_files["gold"], "--out", board_page, "--bootstrap", "500"],
    ):
        run_page.parent.mkdir(exist_ok=True)
        board_page.parent.mkdir(exist_ok=True)
        result = CliRunner().invoke(cli, ["report", *map(str, args)])
        assert result.exit_code == 0, result.output
    shots = _shots(tmp_path)
    _check(run_page, shots)
    _check(board_page, shots)


def test_a_page_with_an_error_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a script error and a blank page are both seen."""
    browser()
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    rendered = render(page, tmp_path / "broken.png", height=600)
    assert any("undefinedFunction" in m for m in rendered.console)
    assert ink(rendered.screenshot) < MIN_INK


@pytest.mark.slow
def test_demo_pages_render(tmp_path: Path) -> None:
    """The demo's two pages (its run report and its leaderboard page), as `memo demo` prints them."""
    browser()
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pages = [out / "report.html", out / "leaderboards" / "demo.html"]
    for page in pages:
        assert f": {page}\n" in result.output
        _check(page, _shots(tmp_path))
