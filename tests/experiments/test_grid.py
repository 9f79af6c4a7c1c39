"""The generic grid: parsing, and a 2-setting qwen-vl grid through the CLI writing its CSV and heatmap."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.experiments.grid import parse_grid, setting_name
from mediaeval_memo.variants.qwen_vl import QwenVLConfig


def test_parse_grid_takes_aliases_and_makes_the_product() -> None:
    keys, settings = parse_grid(["r=16,32", "alpha=64", "learning-rate=1e-4,2e-4"], QwenVLConfig)
    assert keys == ["lora_r", "lora_alpha", "learning_rate"]
    assert settings[0] == {"lora_r": "16", "lora_alpha": "64", "learning_rate": "1e-4"}
    assert len(settings) == 4
    assert setting_name(settings[-1]) == "lora_r-32_lora_alpha-64_learning_rate-2e-4"


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["r"], "command line: --grid 'r': expected KEY=V1,V2,... (e.g. r=16,32)"),
        (["r="], "command line: --grid 'r=': expected KEY=V1,V2,... (e.g. r=16,32)"),
        (["r=1", "lora_r=2"], "command line: --grid 'lora_r=2': lora_r appears twice"),
    ],
)
def test_parse_grid_errors(specs: list[str], message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_grid(specs, QwenVLConfig)
    assert str(info.value) == message


def test_grid_writes_csv_and_heatmap(sample_memento10k: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    result = CliRunner().invoke(
        cli,
        [
            "train", "qwen-vl", "--data", str(sample_memento10k), "--model", "tiny-random-qwen2-vl", "--head", "head",
            "--max-steps", "1", "--folds", "0,1", "--set", "image_size=56", "--set", "quantization=none",
            "--set", f"cache_dir={tmp_path / 'cache'}", "--grid", "r=2,4", "--grid", "alpha=8", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "grid.csv")
    assert table[["lora_r", "lora_alpha"]].values.tolist() == [[2, 8], [4, 8]]
    assert list(table.columns) == ["lora_r", "lora_alpha", "mean_srcc", "std_srcc", "oof_srcc", "folds"]
    assert table["mean_srcc"].notna().all() and table["folds"].str.split().str.len().eq(2).all()
    assert (out / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "grid" / "lora_r-2_lora_alpha-8" / "oof_predictions.csv").is_file()
    assert not (out / "grid" / "lora_r-2_lora_alpha-8" / "model").exists()  # no final models in a grid
    assert "best setting: lora_r=" in result.output


def test_grid_needs_folds(sample_memento10k: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "train", "qwen-vl", "--data", str(sample_memento10k), "--folds", "none", "--grid", "r=2,4",
            "--out", str(tmp_path / "o"),
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output == (
        "error: command line: --folds 'none': a grid compares settings by cross-validation; choose folds\n"
    )
