"""Training-step speed and peak memory of the gemma-fusion network at the real Gemma-3-4B text shape.

Random weights (no download): 34 layers, hidden 2560, vocabulary 262,208. Inputs as in the paper's setting: batch 8,
512 text tokens plus 7 soft tokens (3 ViT frames of 768, three 1024-d E5 vectors, 6 numeric metadata values), LoRA
r=16 on every linear layer of the text model, mean pooling, MLP head, MSE. Each setting runs in the same process
after the previous one is freed; peak GiB is torch's max allocated memory over the timed steps, weights included.

    python benchmarks/gemma_fusion_step.py                   # on a GPU: bf16 and 4-bit NF4, with checkpointing
    python benchmarks/gemma_fusion_step.py --tiny            # on a CPU: tiny-random-gemma3, same code path
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from mediaeval_memo.models.gemma3 import load_text_model
from mediaeval_memo.training.loop import enable_gradient_checkpointing
from mediaeval_memo.training.lora import add_lora, count_parameters
from mediaeval_memo.variants.gemma_fusion import GemmaFusionConfig
from mediaeval_memo.variants.gemma_fusion.net import GemmaFusionNet, StreamSpec

STREAMS = [
    StreamSpec("vit", 3, 768),
    StreamSpec("e5_transcript", 1, 1024),
    StreamSpec("e5_title_description", 1, 1024),
    StreamSpec("e5_rationale", 1, 1024),
    StreamSpec("metadata", 1, 6),
]


def gemma3_4b_text_config() -> object:
    """The text model of google/gemma-3-4b-it (its published config.json's text_config)."""
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        vocab_size=262_208,
        hidden_size=2560,
        intermediate_size=10_240,
        num_hidden_layers=34,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=1024,
        max_position_embeddings=131_072,
    )


def random_text_model(tiny: bool, quantization: str, device: torch.device, workdir: Path) -> torch.nn.Module:
    """Random weights of the shape; 4-bit goes through save + from_pretrained, the path real checkpoints take."""
    from transformers import Gemma3TextModel

    from mediaeval_memo.models.tiny_gemma import tiny_gemma3_config

    config = tiny_gemma3_config(264) if tiny else gemma3_4b_text_config()
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            model = Gemma3TextModel(config)  # type: ignore[arg-type]
    finally:
        torch.set_default_dtype(previous)
    if quantization == "none":
        return model
    path = workdir / "random-gemma3-text"
    if not (path / "config.json").is_file():
        model.save_pretrained(path)
    del model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return load_text_model(str(path), "4bit", str(device) if device.type == "cuda" else "cpu")


def run_setting(
    tiny: bool, quantization: str, checkpointing: bool, batch: int, text_tokens: int, steps: int, workdir: Path
) -> dict[str, object]:
    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    config = GemmaFusionConfig(model="benchmark", quantization=quantization, lora_r=16, lora_alpha=32)
    backbone = random_text_model(tiny, quantization, device, workdir)
    backbone.requires_grad_(False)
    backbone = add_lora(backbone, config)
    torch.manual_seed(0)
    net = GemmaFusionNet(backbone, STREAMS, ["memorability_score"], projector_hidden=1024, head_hidden=256)
    net.projectors.to(device)
    net.heads.to(device)
    if checkpointing:
        enable_gradient_checkpointing(net)
    net.train()
    trainable, total = count_parameters(net)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    vocab = int(backbone.get_input_embeddings().weight.shape[0])
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(10, vocab, (batch, text_tokens), generator=g).to(device)
    input_ids[:, 0] = 2  # <bos>
    mask = torch.ones_like(input_ids)
    streams = {s.name: torch.randn(batch, s.dim, generator=g).to(device) for s in STREAMS}
    target = torch.rand(batch, 1, generator=g).to(device)
    use_bf16 = device.type == "cuda"

    def step() -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = torch.nn.functional.mse_loss(net(input_ids, mask, streams).float(), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    for _ in range(2):  # warm-up: kernels, allocator, optimizer state
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    precision = ("bf16" if use_bf16 else "fp32") if quantization == "none" else "4-bit NF4"
    result = {
        "setting": precision + (", checkpointing" if checkpointing else ""),
        "step_s": elapsed / steps,
        "samples_s": batch * steps / elapsed,
        "peak": f"{peak:.1f}" if device.type == "cuda" else "n/a (CPU)",
        "trainable": trainable,
        "total": total,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny-random-gemma3 on the CPU instead of the 4B shape")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--text-tokens", type=int, default=512)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after 2 warm-up steps")
    parser.add_argument(
        "--settings",
        default="bf16+ckpt,4bit+ckpt",
        help="comma-separated from bf16+ckpt, bf16, 4bit+ckpt, 4bit",
    )
    args = parser.parse_args()
    if not args.tiny and not torch.cuda.is_available():
        parser.error("the 4B shape needs a CUDA GPU; use --tiny on a CPU")
    soft = sum(s.tokens for s in STREAMS)
    print(
        f"gemma-fusion step: {'tiny-random-gemma3' if args.tiny else 'Gemma-3-4B text shape, random weights'}; "
        f"batch {args.batch}; {args.text_tokens} text tokens + {soft} soft tokens; LoRA r=16 on every linear layer"
    )
    print(f"torch {torch.__version__}")
    print("| setting | step s | samples/s | peak GiB | trainable / total params | device |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gemma-bench-") as tmp:
        for setting in args.settings.split(","):
            quantization = "4bit" if setting.startswith("4bit") else "none"
            r = run_setting(
                args.tiny, quantization, setting.endswith("+ckpt"), args.batch, args.text_tokens, args.steps, Path(tmp)
            )
            gc.collect()  # the setting's model is unreachable now: free it before the next one loads
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            print(
                f"| {r['setting']} | {r['step_s']:.3f} | {r['samples_s']:.2f} | {r['peak']} | "
                f"{r['trainable']:,} / {r['total']:,} | {r['device']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
