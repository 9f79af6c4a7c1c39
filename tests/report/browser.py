"""Rendering a page in headless Chromium: a screenshot, and every console message the page caused.

Chromium is the Debian package `chromium` (`apt-get install -y chromium`); tests that need it skip, saying so,
where it is absent. It runs with a fresh profile, no sandbox (containers), no GPU and no background networking,
so a page that tries to fetch anything shows up as a console error rather than a silent download.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\]\s*(.*)")


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        pytest.skip(
            "headless Chromium not found (looked for chromium, chromium-browser, google-chrome); on Debian: "
            "apt-get install -y chromium, then run the tests again (docs/report.md)"
        )
    return found


@dataclass
class Rendered:
    screenshot: Path
    console: list[str]  # every console message (errors, warnings, logs): the pages log nothing


def render(page: Path, screenshot: Path, width: int = 1200, height: int = 2400) -> Rendered:
    with tempfile.TemporaryDirectory(prefix="memo-chromium-") as profile:
        args = [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={width},{height}",
            f"--screenshot={screenshot}",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and screenshot.is_file(), done.stderr[-3000:]
    console = [m.group(1) for line in done.stderr.splitlines() if (m := CONSOLE.search(line))]
    return Rendered(screenshot, console)


def ink(screenshot: Path) -> float:
    """The share of the screenshot's pixels that are not (near) white: about 0 for a blank page."""
    from PIL import Image

    with Image.open(screenshot) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
    return sum(histogram[:235]) / max(1, sum(histogram))
