"""Errors, atomic writes, the variant registry and config resolution, the predictions file."""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from mediaeval_memo.core.config import ConfigError, resolve_config
from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_dir, atomic_path, atomic_write_text
from mediaeval_memo.core.predictions import read_predictions, write_predictions
from mediaeval_memo.variants import REGISTRY, get_variant
from mediaeval_memo.variants.base import VariantConfig


def test_problem_reads_as_one_line() -> None:
    p = Problem("a.csv", "not safe as a file name", line=3, field="video_id", value="../x")
    assert str(p) == "a.csv:3: video_id '../x': not safe as a file name"
    assert str(Problem("a.csv", "no rows")) == "a.csv: no rows"


def test_atomic_dir_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_refuses_non_empty_target(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("x")
    with pytest.raises(FileExistsError), atomic_dir(tmp_path / "out"):
        pass
    with atomic_dir(tmp_path / "out", overwrite=True) as tmp:
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new"]


def test_atomic_write_text(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a" / "b.txt", "hello\n")
    assert (tmp_path / "a" / "b.txt").read_text() == "hello\n"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.txt"]


@dataclass
class _Cfg(VariantConfig):
    learning_rate: float = field(default=0.1, metadata={"help": "step size"})
    members: list[str] = field(default_factory=lambda: ["a"], metadata={"help": "which members"})
    depth: int | None = field(default=None, metadata={"help": "max depth"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate", self.learning_rate, "must be > 0")


def test_atomic_writes_make_ordinary_files_and_folders(tmp_path: Path) -> None:
    # mkstemp/mkdtemp are private (0600/0700); a page or run file must be readable as any file the user writes.
    old = os.umask(0o022)
    try:
        text = atomic_write_text(tmp_path / "page.html", "<p>hi</p>")
        with atomic_path(tmp_path / "vectors.npy") as tmp:
            tmp.write_bytes(b"x")
        with atomic_dir(tmp_path / "prepared") as folder:
            (folder / "items.parquet").write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(text.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "vectors.npy").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "prepared").stat().st_mode) == 0o755


def test_resolve_config_recipe_and_overrides(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("variant: x\nconfig:\n  learning_rate: 0.5\n  members: [a, b]\n")
    cfg = resolve_config(_Cfg, recipe, {"depth": "3", "seed": "7"})
    assert (cfg.learning_rate, cfg.members, cfg.depth, cfg.seed) == (0.5, ["a", "b"], 3, 7)


def test_resolve_config_unknown_key_suggests(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("learning_rat: 0.5\n")
    with pytest.raises(InputError) as info:
        resolve_config(_Cfg, recipe)
    assert "did you mean 'learning_rate'?" in str(info.value)
    assert str(recipe) in str(info.value)


def test_resolve_config_bad_value_names_field() -> None:
    with pytest.raises(InputError, match=r"learning_rate -1.0: must be > 0"):
        resolve_config(_Cfg, None, {"learning_rate": "-1"})
    with pytest.raises(InputError, match=r"depth 'deep': expected an integer"):
        resolve_config(_Cfg, None, {"depth": "deep"})


def test_unknown_variant_did_you_mean() -> None:
    assert "gbt" in REGISTRY  # a registry regression fails here, never skips
    with pytest.raises(InputError, match=r"unknown variant gtb; did you mean gbt\? available: "):
        get_variant("gtb")


def test_predictions_round_trip_and_errors(tmp_path: Path) -> None:
    scores = pd.Series([0.5, 0.25], index=["v1", "v2"])
    path = write_predictions(scores, tmp_path / "p.csv")
    assert path.read_text() == "video_id,score\nv1,0.5\nv2,0.25\n"
    assert read_predictions(path)["score"].tolist() == [0.5, 0.25]
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,score\nv1,0.5\nv1,nan\n../x,1\n")
    with pytest.raises(InputError) as info:
        read_predictions(bad)
    text = str(info.value)
    assert f"{bad}:3: video_id 'v1': duplicate video id (first on line 2)" in text
    assert f"{bad}:3: score 'nan': score must be a finite number" in text
    assert f"{bad}:4: video_id '../x': not safe as a file name" in text
    with pytest.raises(InputError, match="non-finite"):
        write_predictions(pd.Series([math.inf], index=["v"]), tmp_path / "inf.csv")
    assert not (tmp_path / "inf.csv").exists()
