"""Visual features: colour histograms, a tiny random ViT as the Hugging Face encoder, VIDEM .npy import, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mediaeval_memo.cli import cli
from mediaeval_memo.data.feature_store import load_block
from mediaeval_memo.features.visual import HISTOGRAM_BINS, colour_histogram
from tests.variants.gbt.gbt_data import make_dataset


def _write_frames(root: Path, n_frames: int = 2, skip: tuple[str, ...] = ()) -> list[str]:
    ids = json.loads("[]")
    import pandas as pd

    ids = pd.read_parquet(root / "items.parquet")["video_id"].tolist()
    for i, vid in enumerate(ids):
        if vid in skip:
            continue
        d = root / "frames" / vid
        d.mkdir(parents=True)
        for j in range(n_frames):
            colour = ((i * 37) % 256, (j * 90) % 256, 128)
            Image.new("RGB", (24, 16), colour).save(d / f"{j:03d}.jpg")
    return ids


def test_colour_histogram_sums_to_one_per_channel() -> None:
    hist = colour_histogram(Image.new("RGB", (8, 8), (255, 0, 10)), "RGB")
    assert hist.shape == (3 * HISTOGRAM_BINS,)
    assert [hist[c * HISTOGRAM_BINS : (c + 1) * HISTOGRAM_BINS].sum() for c in range(3)] == [1.0, 1.0, 1.0]
    assert hist[HISTOGRAM_BINS - 1] == 1.0 and hist[HISTOGRAM_BINS] == 1.0


def test_histogram_blocks_over_frames(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", n_train=8, n_test=2, k=2, with_block=False)
    _write_frames(root, skip=("v0001",))
    for encoder in ("hsv-hist", "rgb-hist"):
        result = CliRunner().invoke(cli, ["features", "visual", "--data", str(root), "--encoder", encoder])
        assert result.exit_code == 0, result.output
        assert "1 videos have no prepared frames: their vectors are zeros" in result.output
        block = load_block(root, f"visual__{encoder}__2__mean")
        assert block.vectors.shape == (10, 72)
        assert block.vectors[1].sum() == 0 and block.vectors[0].sum() == pytest.approx(3.0)
    again = CliRunner().invoke(cli, ["features", "visual", "--data", str(root), "--encoder", "hsv-hist"])
    assert "nothing to do" in again.output


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel

    path = tmp_path_factory.mktemp("vit") / "tiny-vit"
    config = ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=32, patch_size=16
    )
    ViTModel(config).save_pretrained(path)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def test_hf_image_encoder_from_a_local_folder(tmp_path: Path, tiny_vit: Path) -> None:
    root = make_dataset(tmp_path / "ds", n_train=8, n_test=2, k=2, with_block=False)
    _write_frames(root, n_frames=3)
    args = ["features", "visual", "--data", str(root), "--encoder", str(tiny_vit), "--batch-size", "4"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    block = load_block(root, "visual__tiny-vit__3__mean")
    assert block.vectors.shape == (10, 16)
    assert block.meta["encoder"] == str(tiny_vit)
    # Frames differ per video, so do their vectors; the same frames give the same vector.
    assert not np.allclose(block.vectors[0], block.vectors[1])
    first = block.vectors.copy()
    redo = CliRunner().invoke(cli, [*args, "--overwrite", "--batch-size", "7"])
    assert redo.exit_code == 0
    np.testing.assert_allclose(load_block(root, "visual__tiny-vit__3__mean").vectors, first, rtol=1e-5, atol=1e-6)


def test_videm_import(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", n_train=6, n_test=2, k=2, with_block=False)
    source = tmp_path / "release"
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["source_root"] = str(source)
    (root / "manifest.json").write_text(json.dumps(manifest))
    import pandas as pd

    items = pd.read_parquet(root / "items.parquet")
    for vid, split in zip(items["video_id"], items["split"], strict=True):
        d = source / ("devset" if split == "train" else "testset") / "features" / "HSVHistogram"
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / f"{vid}.npy", np.full((3, 24), int(vid[1:]), dtype=np.float64))
    result = CliRunner().invoke(cli, ["features", "visual", "--data", str(root), "--encoder", "videm:HSVHistogram"])
    assert result.exit_code == 0, result.output
    block = load_block(root, "videm__HSVHistogram__mean")
    assert block.vectors.shape == (8, 24) and block.vectors[3, 0] == 3.0
    flat = ["features", "visual", "--data", str(root), "--encoder", "videm:HSVHistogram", "--pooling", "flatten"]
    assert CliRunner().invoke(cli, flat).exit_code == 0
    assert load_block(root, "videm__HSVHistogram__flatten").dim == 72
    result = CliRunner().invoke(cli, ["features", "visual", "--data", str(root), "--encoder", "videm:Nope"])
    assert result.exit_code == 1
    assert result.output.startswith(
        "error: command line: --encoder 'videm:Nope': no organiser features of that name (looked in "
    )


def test_visual_errors(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", n_train=6, n_test=2, k=2, with_block=False)
    result = CliRunner().invoke(cli, ["features", "visual", "--data", str(root), "--encoder", "hsv-hist"])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {root}/frames: the dataset has no prepared frames; prepare it again from a release that has "
        "videos or frames\n"
    )
    _write_frames(root)
    bad = ["features", "visual", "--data", str(root), "--encoder", "hsv-hist", "--pooling", "flatten"]
    result = CliRunner().invoke(cli, bad)
    assert result.exit_code == 1
    assert result.output == (
        "error: command line: --pooling 'flatten': frames vary in number per video: only mean pooling applies here\n"
    )
    result = CliRunner().invoke(cli, ["features", "visual", "--data", str(root), "--encoder", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"error: command line: --encoder '{tmp_path / 'x'}': cannot load this image encoder ("
    )
