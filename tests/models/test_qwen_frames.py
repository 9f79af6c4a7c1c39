"""Frames as Qwen's vision towers want them: native aspect within the pixel budget (or square on request), laid out
patch for patch as the official image processor lays them out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mediaeval_memo.models.qwen_vl import CLIP_MEAN, CLIP_STD, HALF, VisionPreprocessing, frame_size, patchify

QWEN25 = VisionPreprocessing(14, 2, 2, CLIP_MEAN, CLIP_STD)
QWEN3 = VisionPreprocessing(16, 2, 2, HALF, HALF)


def _tokens(size: tuple[int, int], prep: VisionPreprocessing) -> int:
    return (size[0] // prep.patch_size) * (size[1] // prep.patch_size) // prep.merge_size**2


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (640, 360), (448, 252)])
def test_a_16_9_frame_keeps_its_aspect_within_the_budget(width: int, height: int) -> None:
    # 448x252 is what `memo prepare` keeps of a 16:9 video (longest side 448): it grows to the budget, as it did square
    assert frame_size(width, height, 448, QWEN25, "native") == (336, 588)
    assert _tokens((336, 588), QWEN25) == 252
    assert frame_size(width, height, 448, QWEN25, "square") == (448, 448)
    assert _tokens((448, 448), QWEN25) == 256
    assert frame_size(width, height, 448, QWEN3, "native") == (320, 576)
    assert (_tokens((320, 576), QWEN3), _tokens(frame_size(width, height, 448, QWEN3, "square"), QWEN3)) == (180, 196)


@pytest.mark.parametrize(("width", "height"), [(720, 1280), (500, 500), (3000, 200), (30, 20)])
def test_native_sizes_stay_within_the_budget_on_the_patch_grid(width: int, height: int) -> None:
    h, w = frame_size(width, height, 448, QWEN25, "native")
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 448 * 448
    # as close to the frame's own aspect as the grid allows
    assert abs(np.log((w / h) / (width / height))) < np.log((w + 28) / w) + np.log((h + 28) / h)


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth gradients, edges and sensor noise: what resampling differences show up on, unlike a flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([255 * x / width, 255 * y / height, 128 + 100 * np.sin(x / 7) * np.cos(y / 5)], axis=-1)
    img[height // 3 : height // 2, width // 4 : width // 2] = (240, 30, 30)
    img += rng.normal(0, 12, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _official(backend: str, prep: VisionPreprocessing, budget: int) -> object:
    kwargs = dict(
        size={"shortest_edge": 56 * 56, "longest_edge": budget * budget}, patch_size=prep.patch_size,
        merge_size=prep.merge_size, temporal_patch_size=prep.temporal_patch_size, image_mean=list(prep.image_mean),
        image_std=list(prep.image_std),
    )  # fmt: skip
    if backend == "torchvision":
        pytest.importorskip("torchvision")
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

        return Qwen2VLImageProcessor(**kwargs)
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    except ImportError:  # transformers releases before the PIL backends
        pytest.skip("this transformers has no PIL Qwen2-VL image processor")
    return Qwen2VLImageProcessorPil(**kwargs)


@pytest.mark.parametrize("backend", ["pil", "torchvision"])
@pytest.mark.parametrize("prep", [QWEN25, QWEN3], ids=["qwen2.5-vl", "qwen3-vl"])
def test_pixels_and_grid_match_the_official_image_processor(backend: str, prep: VisionPreprocessing) -> None:
    """The official processor (max_pixels = budget^2) on a non-square frame larger than the budget: the same grid
    and the same pixel values. The PIL processor resizes as the toolkit does (PIL bicubic), so they agree exactly;
    the torchvision one resamples on tensors, so a little apart (skipped where torchvision is not importable)."""
    frame = photo_like(320, 180)
    budget = 112
    processor = _official(backend, prep, budget)
    official = processor(images=[frame], return_tensors="pt")  # type: ignore[operator]
    pixels, grid = patchify([frame], budget, prep, as_video=False)
    assert grid.tolist() == official["image_grid_thw"].tolist()
    assert grid.tolist() == [[1, *(side // prep.patch_size for side in frame_size(320, 180, budget, prep, "native"))]]
    diff = (pixels - official["pixel_values"].float()).abs()
    if backend == "pil":
        assert torch.allclose(pixels, official["pixel_values"].float(), atol=1e-5)
    else:
        # one 8-bit level is 1/255/std, about 0.015 (CLIP statistics) or 0.008 (Qwen3-VL's 0.5)
        assert float(diff.mean()) < 0.01 and float(diff.max()) < 0.1
