"""A small trained GBT run on the prepared sample, with markup planted in a caption, and three run files, shared by
the report tests (read-only: a test that changes one copies it first)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.demo import HIST_PATTERN, QUICK_RECIPE

PLANTED = "<script>alert(1)</script> & <b>bold</b>"
EVIL_RUN = "<img src=x onerror=alert(1)>"  # a run name (a file stem) with markup


@pytest.fixture(scope="session")
def trained_run(sample_memento10k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GBT model folder (5-fold CV and a final model: TF-IDF on captions, an SVR on colour histograms) on a copy
    of the sample whose every video's first caption starts with markup, so the best and worst videos carry it."""
    from mediaeval_memo.experiments.runner import train
    from mediaeval_memo.features.visual import extract_visual_features

    base = tmp_path_factory.mktemp("report-run")
    data = base / "data"
    shutil.copytree(sample_memento10k, data)
    items = pd.read_parquet(data / "items.parquet")
    items["captions"] = [[f"{PLANTED} {c[0]}", *list(c)[1:]] for c in items["captions"]]
    items.to_parquet(data / "items.parquet", index=False)
    extract_visual_features(data, "hsv-hist", progress=Reporter.silent())
    overrides = {**QUICK_RECIPE, "features": [HIST_PATTERN], "members": ["tfidf", "svr"], "params": {}}
    train("gbt", data, base / "model", overrides=overrides, progress=Reporter.silent())
    return base / "model"


@pytest.fixture(scope="session")
def run_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Gold labels of 120 videos and three runs of falling quality, one named with markup."""
    base = tmp_path_factory.mktemp("report-runs")
    rng = np.random.default_rng(0)
    ids = [f"vid{i:04d}" for i in range(120)]
    gold = np.round(rng.beta(8, 3, size=120), 2)
    out = {"gold": base / "gold.csv"}
    pd.DataFrame({"video_id": ids, "mem_score": gold}).to_csv(out["gold"], index=False)
    for name, noise in (("strong", 0.03), ("middle", 0.1), (EVIL_RUN, 0.3)):
        path = base / f"{name}.csv"
        pd.DataFrame({"video_id": ids, "score": gold + rng.normal(scale=noise, size=120)}).to_csv(path, index=False)
        out[name] = path
    return out
