"""Training-step speed and memory of qwen-vl: a straightforward transformers + peft loop against the toolkit's.

Default (needs a CUDA GPU): the real Qwen2.5-VL-7B architecture with random weights (nothing downloaded), 4-bit NF4
language model, LoRA r=128 alpha=1024 on its linear layers, batch 4, three 640x360 frames at a 448^2-pixel budget
(native aspect, 588x336; `--set resize=square` for 448x448) + five captions per video, gradient checkpointing, bf16
autocast. `--tiny` runs the same comparison on a CPU with the tiny random model.

    straightforward  model(**inputs, labels=...) on pixel values every step (frozen tower under autograd),
                     prepare_model_for_kbit_training, full-vocabulary logits over the whole sequence
    toolkit          memo's qwen-vl: visual tokens computed once per video and cached on disk, the language model
                     on input embeddings, logits only at the answer tokens, the shared train_loop

Prints samples/s, seconds per step and peak GPU memory (torch.cuda.max_memory_allocated) for each, and the time the
toolkit spent caching visual tokens (once per video, reused by every later epoch, fold and grid point).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image

from mediaeval_memo.data.items import PreparedDataset

CAPTIONS = [
    "a woman in a red dress dances on a stage while people clap",
    "a dancer spins in front of a crowd at night",
    "a performer in red moves to the music under bright lights",
    "people watch a woman dancing and cheering loudly",
    "a lady dances energetically on a wooden stage outdoors",
]


def write_dataset(root: Path, n: int, seed: int = 0) -> PreparedDataset:
    """A prepared dataset of `n` synthetic videos, three 640x360 frames each (no PyAV needed)."""
    rng = np.random.default_rng(seed)
    ids = [f"v{i:04d}" for i in range(n)]
    for vid in ids:
        (root / "frames" / vid).mkdir(parents=True)
        for k in range(3):
            pixels = rng.integers(0, 255, size=(360, 640, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "frames" / vid / f"{k:03d}.jpg", quality=85)
    items = pd.DataFrame(
        {
            "video_id": ids,
            "split": "train",
            "mem_score": rng.uniform(0.4, 1.0, n),
            "n_annotations": 10,
            "captions": [CAPTIONS] * n,
            "group": ids,
            "media_path": "",
        }
    )
    items.to_parquet(root / "items.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"dataset": "benchmark", "targets": ["mem_score"]}))
    return PreparedDataset.load(root)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_toolkit(args: argparse.Namespace, dataset: PreparedDataset, work: Path, device: torch.device) -> dict:
    from mediaeval_memo.training import EpochBatches, train_loop
    from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
    from mediaeval_memo.variants.qwen_vl.model import mark_trainable
    from mediaeval_memo.variants.qwen_vl.runtime import QwenVLRuntime

    config = QwenVLConfig(
        model=args.model, quantization="4bit", lora_r=args.r, lora_alpha=args.alpha, batch_size=args.batch,
        epochs=1, max_steps=args.warmup + args.steps + 1, image_size=args.size, cache_dir=str(work / "cache"),
        target="mem_score", checkpoint_every=10**6, gradient_checkpointing=not args.no_checkpointing,
        **args.overrides,
    )  # fmt: skip
    runtime = QwenVLRuntime(config, lora=True, train_mean=0.7)
    mark_trainable(runtime.scorer)
    trainable = sum(p.numel() for p in runtime.scorer.parameters() if p.requires_grad)
    ids = dataset.items["video_id"].tolist()
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    examples = runtime.examples(dataset, ids, with_labels=True)  # runs the frozen tower once per video, caches
    sync(device)
    cache_s = time.perf_counter() - start
    cache_peak = peak_gib(device)
    stamps: list[float] = []

    def timed_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
        sync(device)
        stamps.append(time.perf_counter())
        loss: torch.Tensor = model(batch)
        return loss

    reset_peak(device)
    # One step more than timed: the stamp at the start of step warmup+steps closes the window, so the final
    # checkpoint write after the last step stays outside it.
    outcome = train_loop(
        runtime.scorer,
        EpochBatches.factory(examples, args.batch, runtime.collate, 0),
        None,
        config,
        work / "toolkit",
        loss_fn=timed_loss,
    )
    assert outcome.global_step == args.warmup + args.steps + 1
    elapsed = stamps[args.warmup + args.steps] - stamps[args.warmup]
    timed_steps = args.steps
    tokens = len(examples[0].input_ids)
    result = {
        "loop": "toolkit",
        "step_s": elapsed / timed_steps,
        "samples_s": args.batch * timed_steps / elapsed,
        "peak_gib": peak_gib(device),
        "trainable_m": trainable / 1e6,
        "tokens": tokens,
        "cache_s": cache_s,
        "cache_videos": len(ids),
        "cache_peak_gib": cache_peak,
    }
    sequences = [(e.input_ids, e.mm_types, e.labels) for e in examples]
    del runtime, examples, outcome
    gc.collect()
    return result | {"sequences": sequences}


def run_straightforward(
    args: argparse.Namespace, dataset: PreparedDataset, sequences: list, device: torch.device
) -> dict:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from mediaeval_memo.models.qwen_vl import load_backbone, patchify
    from mediaeval_memo.variants.qwen_vl.prompt import select_frames

    reset_peak(device)
    if device.type == "cuda":
        print(f"straightforward: {torch.cuda.memory_allocated() / 2**30:.2f} GiB still allocated before loading")
    backbone = load_backbone(args.model, "4bit", device)
    model = prepare_model_for_kbit_training(backbone.model, use_gradient_checkpointing=not args.no_checkpointing)
    model = get_peft_model(
        model,
        LoraConfig(
            r=args.r, lora_alpha=args.alpha, lora_dropout=0.05,
            target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
        ),
    )  # fmt: skip
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = dataset.items["video_id"].tolist()
    pad = backbone.tokenizer.pad_token_id
    use_bf16 = device.type == "cuda"

    def batch_at(step: int) -> dict:
        chunk = list(range(step * args.batch, (step + 1) * args.batch))
        longest = max(len(sequences[i][0]) for i in chunk)
        pixel_values, grids = [], []
        for i in chunk:  # what a processor in a data loader does for every step
            frames = [Image.open(p) for p in select_frames(dataset.frame_paths(ids[i]), 3)]
            pv, grid = patchify(frames, args.size, backbone.prep, as_video=False, resize=args.resize)
            pixel_values.append(pv)
            grids.append(grid)

        def left(values: list[int], fill: int) -> list[int]:
            return [fill] * (longest - len(values)) + values

        batch = {
            "input_ids": torch.tensor([left(sequences[i][0], pad) for i in chunk]),
            "mm_token_type_ids": torch.tensor([left(sequences[i][1], 0) for i in chunk]),
            "labels": torch.tensor([left(sequences[i][2], -100) for i in chunk]),
            "attention_mask": torch.tensor([left([1] * len(sequences[i][0]), 0) for i in chunk]),
            "pixel_values": torch.cat(pixel_values),
            "image_grid_thw": torch.cat(grids),
        }
        return {k: v.to(device) for k, v in batch.items()}

    stamps = []
    try:
        for step in range(args.warmup + args.steps):
            sync(device)
            stamps.append(time.perf_counter())
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(**batch_at(step)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        sync(device)
        stamps.append(time.perf_counter())
    except torch.cuda.OutOfMemoryError as exc:
        return {"loop": "straightforward", "error": f"CUDA out of memory ({str(exc).splitlines()[0][:120]})"}
    elapsed = stamps[-1] - stamps[args.warmup]
    return {
        "loop": "straightforward",
        "step_s": elapsed / args.steps,
        "samples_s": args.batch * args.steps / elapsed,
        "peak_gib": peak_gib(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random model on the CPU, in seconds")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 5; --tiny 3)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-checkpointing", action="store_true", help="without gradient checkpointing")
    parser.add_argument("--toolkit-only", action="store_true", help="skip the straightforward loop")
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
        help="a qwen-vl config field for the toolkit's loop, e.g. gradient_checkpointing_every=2 (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    args.overrides = {}
    for item in args.sets:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: expected FIELD=VALUE")
        args.overrides[key] = yaml.safe_load(value)
    args.resize = args.overrides.get("resize", "native")  # both loops see the frames the same way
    if args.tiny:
        args.model, args.size, args.batch, args.r, args.alpha = "tiny-random-qwen2.5-vl", 56, 2, 8, 64
        args.steps = args.steps or 3
        device = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            sys.exit("the 7B-shape benchmark needs a CUDA GPU; use --tiny on a CPU")
        args.model, args.size, args.batch, args.r, args.alpha = "random-qwen2.5-vl-7b", 448, 4, 128, 1024
        args.steps = args.steps or 5
        device = torch.device("cuda")
    n = args.batch * (args.warmup + args.steps + 1)
    with tempfile.TemporaryDirectory(prefix="memo-bench-") as tmp:
        work = Path(tmp)
        dataset = write_dataset(work / "data", n)
        toolkit = run_toolkit(args, dataset, work, device)
        sequences = toolkit.pop("sequences")
        straight = (
            {"loop": "straightforward", "error": "skipped (--toolkit-only)"}
            if args.toolkit_only
            else run_straightforward(args, dataset, sequences, device)
        )
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"model {args.model} on {name}; 4-bit NF4 LM, LoRA r={args.r} alpha={args.alpha} "
          f"({toolkit['trainable_m']:.1f} M trainable), batch {args.batch}, 3 frames of 640x360 at a "
          f"{args.size}^2-pixel budget ({args.resize}) + 5 captions = {toolkit['tokens']} tokens/video, "
          f"gradient checkpointing {'off' if args.no_checkpointing else 'on'}; "
          f"toolkit settings {args.overrides or 'default'}; "
          f"{args.steps} timed steps "
          f"after {args.warmup} warm-up")  # fmt: skip
    print(f"{'loop':16s} {'samples/s':>10s} {'s/step':>8s} {'peak GiB':>9s}")
    for row in (straight, toolkit):
        if "error" in row:
            print(f"{row['loop']:16s} {row['error']}")
            continue
        peak = f"{row['peak_gib']:.1f}" if row["peak_gib"] is not None else "n/a"
        print(f"{row['loop']:16s} {row['samples_s']:10.2f} {row['step_s']:8.3f} {peak:>9s}")
    if "error" not in straight:
        print(f"speed-up: {toolkit['samples_s'] / straight['samples_s']:.1f}x")
    cache_peak = f", peak {toolkit['cache_peak_gib']:.1f} GiB" if toolkit["cache_peak_gib"] is not None else ""
    print(f"visual-token cache, once per video: {toolkit['cache_videos']} videos in {toolkit['cache_s']:.1f} s "
          f"({toolkit['cache_videos'] / toolkit['cache_s']:.1f} videos/s{cache_peak})")  # fmt: skip


if __name__ == "__main__":
    main()
