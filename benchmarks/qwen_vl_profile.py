"""Where the time of one qwen-vl training step goes: per-phase timings, the top profiler ops, and step-time variants.

Builds the toolkit's qwen-vl model as `benchmarks/qwen_vl_step.py` does (real Qwen2.5-VL-7B shape, random weights,
4-bit NF4, LoRA r=128 alpha=1024, batch 4, three 448x448 frames + five captions; `--tiny`: the tiny model on a CPU),
then, on the same batches:

1. per-phase seconds of a step, with a device sync after each phase: collate, host->device copy, M-RoPE position
   ids, forward, backward, gradient clipping, optimizer step;
2. the top ops by device time (CPU time on a CPU) of a few steps under torch.profiler;
3. seconds per step and peak memory of the step with one change at a time (adapter dtype, LoRA dropout, fused
   AdamW, which layers are checkpointed, attention implementation), each after warm-up, syncing only at the end.

It measures the step as the loop runs it; it is a diagnostic, not the benchmark (that is qwen_vl_step.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from qwen_vl_step import write_dataset
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random model on the CPU")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    from accelerate.utils import send_to_device

    from mediaeval_memo.models.qwen_vl import parts
    from mediaeval_memo.training.loop import enable_gradient_checkpointing
    from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
    from mediaeval_memo.variants.qwen_vl.model import mark_trainable
    from mediaeval_memo.variants.qwen_vl.runtime import QwenVLRuntime

    if args.tiny:
        model, size, batch_size, r, alpha, device = "tiny-random-qwen2.5-vl", 56, 2, 8, 64, torch.device("cpu")
    else:
        model, size, batch_size, r, alpha, device = "random-qwen2.5-vl-7b", 448, 4, 128, 1024, torch.device("cuda")
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    n_batches = 4
    with tempfile.TemporaryDirectory(prefix="memo-profile-") as tmp:
        work = Path(tmp)
        dataset = write_dataset(work / "data", batch_size * n_batches)
        config = QwenVLConfig(
            model=model, quantization="4bit", lora_r=r, lora_alpha=alpha, batch_size=batch_size, image_size=size,
            cache_dir=str(work / "cache"), target="mem_score",
        )  # fmt: skip
        start = time.perf_counter()
        runtime = QwenVLRuntime(config, lora=True, train_mean=0.7)
        print(f"load {time.perf_counter() - start:.1f} s")
        scorer = runtime.scorer
        mark_trainable(scorer)
        ids = dataset.items["video_id"].tolist()
        examples = runtime.examples(dataset, ids, with_labels=True)
        inner, lm, _ = parts(scorer.backbone)
        lora = [p for n, p in scorer.named_parameters() if "lora_" in n]
        print(
            f"attn {lm.config._attn_implementation}; adapters {lora[0].dtype}, "
            f"{sum(p.numel() for p in lora) / 1e6:.1f} M; tokens/video {len(examples[0].input_ids)}; "
            f"torch {torch.__version__}"
        )
        enable_gradient_checkpointing(scorer)
        scorer.train()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)

        def make_optimizer(**kwargs: object) -> torch.optim.Optimizer:
            return torch.optim.AdamW([p for p in scorer.parameters() if p.requires_grad], lr=1e-5, **kwargs)  # type: ignore[arg-type]

        optimizer = make_optimizer()
        phases: dict[str, float] = {}

        @contextmanager
        def phase(name: str) -> Iterator[None]:
            sync()
            t = time.perf_counter()
            yield
            sync()
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t

        def step(i: int, timed: bool) -> float:
            nonlocal optimizer
            ph: Callable[[str], contextlib.AbstractContextManager[None]] = (
                phase if timed else (lambda _name: contextlib.nullcontext())
            )
            with ph("collate"):
                cpu_batch = runtime.collate(examples[(i % n_batches) * batch_size : (i % n_batches + 1) * batch_size])
            with ph("host->device"):
                batch = send_to_device(cpu_batch, device)
            if timed:
                with phase("rope index (extra call)"):
                    inner.get_rope_index(
                        batch["input_ids"], batch["mm_token_type_ids"], attention_mask=batch["attention_mask"],
                        image_grid_thw=batch["grid_thw"],
                    )  # fmt: skip
            with ph("forward"), autocast:
                loss = scorer(batch)
            with ph("backward"):
                loss.backward()
            with ph("clip"):
                torch.nn.utils.clip_grad_norm_([p for p in scorer.parameters() if p.requires_grad], 1.0)
            with ph("optimizer"):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            with ph("loss.item"):
                value = float(loss.detach())
            return value

        for i in range(args.warmup):
            step(i, timed=False)
        for i in range(args.steps):
            step(i, timed=True)
        print("\nper-phase seconds per step (synced after each phase):")
        for name, total in phases.items():
            print(f"  {name:24s} {total / args.steps:8.4f}")
        print(f"  {'sum':24s} {sum(v for k, v in phases.items() if 'extra' not in k) / args.steps:8.4f}")

        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            for i in range(2):
                step(i, timed=False)
            sync()
        key = "self_device_time_total" if cuda else "self_cpu_time_total"
        print(f"\ntop ops over 2 steps by {key}:")
        print(prof.key_averages().table(sort_by=key, row_limit=28, max_name_column_width=60))
        if cuda:
            print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=60))

        def timed_steps(label: str) -> None:
            nonlocal optimizer
            for i in range(args.warmup):
                step(i, timed=False)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            sync()
            t = time.perf_counter()
            for i in range(args.steps):
                step(i, timed=False)
            sync()
            s = (time.perf_counter() - t) / args.steps
            peak = f"{torch.cuda.max_memory_allocated() / 2**30:6.1f}" if cuda else "   n/a"
            print(f"  {label:52s} {s:7.3f} s/step {batch_size / s:6.2f} samples/s  peak {peak} GiB", flush=True)

        layers = list(lm.layers)

        def checkpoint_layers(every: int) -> None:
            for k, layer in enumerate(layers):
                layer.gradient_checkpointing = every > 0 and k % every == 0

        print("\nstep-time variants (cumulative where marked +):")
        timed_steps("as is")
        dropouts = [m for n, m in scorer.named_modules() if n.endswith("lora_dropout")]
        saved = [dict(d.items()) for d in dropouts]
        for d in dropouts:
            for k in list(d.keys()):
                d[k] = nn.Identity()  # type: ignore[index]
        timed_steps("+ LoRA dropout 0")
        optimizer = make_optimizer(fused=True) if cuda else make_optimizer()
        timed_steps("+ fused AdamW")
        checkpoint_layers(2)
        timed_steps("+ checkpoint every 2nd layer")
        checkpoint_layers(3)
        timed_steps("+ checkpoint every 3rd layer")
        checkpoint_layers(0)
        timed_steps("+ no checkpointing")
        checkpoint_layers(1)
        for d, s in zip(dropouts, saved, strict=True):
            for k, m in s.items():
                d[k] = m  # type: ignore[index]
        if cuda:
            for p in lora:
                p.data = p.data.to(torch.bfloat16)
            optimizer = make_optimizer()
            timed_steps("as is, but bf16 adapters (speed only)")
            for d in dropouts:
                for k in list(d.keys()):
                    d[k] = nn.Identity()  # type: ignore[index]
            checkpoint_layers(2)
            timed_steps("bf16 adapters, dropout 0, checkpoint every 2nd")
            for p in lora:
                p.data = p.data.to(torch.float32)
            optimizer = make_optimizer(fused=True)
            checkpoint_layers(1)
            for impl in ("eager", "sdpa"):
                if impl != lm.config._attn_implementation:
                    try:
                        scorer.backbone.get_base_model().set_attn_implementation(impl)
                    except Exception as exc:  # a diagnostic: report and go on
                        print(f"  attention {impl}: {exc}")
                        continue
                    timed_steps(f"dropout 0, fused, checkpoint all, attention {impl}")


if __name__ == "__main__":
    main()
