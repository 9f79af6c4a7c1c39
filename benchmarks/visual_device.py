"""Visual feature extraction on CPU and on CUDA: the same vectors, and the throughput of each.

    python benchmarks/visual_device.py [--videos 64] [--frames 3] [--shape tiny|vit-base]

Builds a synthetic prepared dataset with random frames, saves a random-weight ViT (no download) and runs
`memo features visual` through `extract_visual_features` on `cpu` and, when CUDA is available, on `cuda`. Prints
frames per second for each and the largest difference between the two blocks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from gbt_data import make_dataset  # noqa: E402

from mediaeval_memo.data.feature_store import load_block  # noqa: E402
from mediaeval_memo.features.visual import extract_visual_features  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--shape", choices=["tiny", "vit-base"], default="tiny")
    args = parser.parse_args()
    import torch
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel

    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp())
    if args.shape == "tiny":
        config = ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    else:
        config = ViTConfig()  # the ViT-base/16 shape at 224x224, random weights
    ViTModel(config).save_pretrained(work / "vit")
    ViTImageProcessorPil(size={"height": config.image_size, "width": config.image_size}).save_pretrained(work / "vit")
    blocks = {}
    for device in ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]:
        root = make_dataset(work / device, n_train=args.videos - 8, n_test=8, k=2, with_block=False)
        for i in range(args.videos):
            d = root / "frames" / f"v{i:04d}"
            d.mkdir(parents=True)
            for j in range(args.frames):
                pixels = np.random.default_rng(i * 100 + j).integers(0, 256, (180, 320, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(d / f"{j:03d}.jpg")
        t0 = time.perf_counter()
        result = extract_visual_features(root, str(work / "vit"), device=device, batch_size=32)
        seconds = time.perf_counter() - t0
        blocks[device] = load_block(root, result.name).vectors
        print(f"{device}: {args.videos * args.frames / seconds:.1f} frames/s ({seconds:.1f} s incl. model load)")
    if "cuda" in blocks:
        diff = float(np.abs(blocks["cuda"] - blocks["cpu"]).max())
        scale = float(np.abs(blocks["cpu"]).max())
        print(f"max |cuda - cpu| = {diff:.2e} (largest |value| {scale:.2e}); {torch.cuda.get_device_name(0)}")


if __name__ == "__main__":
    main()
