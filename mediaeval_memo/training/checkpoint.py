"""Resumable checkpoints of a training run, written atomically into the fit's workdir.

A checkpoint folder holds only what cannot be rebuilt from the config: the trainable parameters (LoRA adapters,
heads) as safetensors, the optimizer and scheduler states, every RNG state, and the position in the data
(`state.json`: epoch, micro-batches consumed in it, optimizer steps, evaluation history). Frozen base weights are
never written: the variant rebuilds them from the model name and seed. Tensors other than parameters are written
with `torch.save` and read back with `weights_only=True`, so loading a checkpoint never unpickles code.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_dir, atomic_path

TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "state.json"


@dataclass
class LoopState:
    """Where a run stands: enough to continue it exactly and to report it."""

    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of `epoch` already consumed on this process
    global_step: int = 0  # optimizer steps taken
    epoch_loss_sum: float = 0.0  # summed micro-batch losses of the current epoch, for its mean
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    finished: bool = False
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoopState:
        return cls(**data)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that receive gradients, on the CPU, keyed by their names in `model`."""
    return {
        name: param.detach().to("cpu").contiguous() for name, param in model.named_parameters() if param.requires_grad
    }


def save_trainable(model: nn.Module, path: Path) -> None:
    with atomic_path(path) as tmp:
        save_file(trainable_state(model), str(tmp))


def load_trainable(model: nn.Module, path: Path) -> None:
    """Copy saved trainable parameters into `model`, strictly: every trainable parameter must be in the file with
    its shape, and nothing else may be. Anything else is an `InputError` and nothing is loaded.

    A lenient load is how adapters go silently missing: peft and transformers warn about unknown keys and carry on,
    and after a library renames modules (transformers' Qwen-VL refactor moved the language model under
    `model.language_model`) an adapter file saved with the old names leaves the model on its base weights."""
    if not path.is_file():
        raise InputError(Problem(str(path), "trained weights not found; was the model saved completely?"))
    saved = load_file(str(path))
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    missing, extra = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
    if missing or extra:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} of the model's trainable weights (LoRA adapters, heads) missing, first {missing[0]}"
            )
        if extra:
            parts.append(f"{len(extra)} unexpected, first {extra[0]}")
        raise InputError(
            Problem(
                str(path),
                f"does not fit the model it is loaded into: {'; '.join(parts)}. It was saved with other layer names "
                "(another transformers or peft version) or other settings (lora_targets, head); nothing was loaded",
            )
        )
    wrong = [(n, tuple(saved[n].shape), tuple(p.shape)) for n, p in params.items() if saved[n].shape != p.shape]
    if wrong:
        name, got, want = wrong[0]
        raise InputError(
            Problem(
                str(path),
                f"does not fit the model it is loaded into: {len(wrong)} weights have another shape, first {name} "
                f"{got} where the model has {want} (another lora_r?); nothing was loaded",
            )
        )
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(saved[name].to(param.device, param.dtype))


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        # weights_only loading accepts tensors, not numpy arrays
        "numpy": (kind, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: LoopState,
) -> None:
    """Replace `directory` with a complete checkpoint; a kill mid-write leaves the previous one intact."""
    with atomic_dir(directory, overwrite=True) as tmp:
        save_file(trainable_state(model), str(tmp / TRAINABLE_FILE))
        torch.save(
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
            tmp / OPTIMIZER_FILE,
        )
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")


def has_checkpoint(directory: Path) -> bool:
    return (directory / STATE_FILE).is_file()


def load_checkpoint(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> LoopState:
    """Restore a checkpoint into live objects (RNG states too) and return the loop state it recorded."""
    load_trainable(model, directory / TRAINABLE_FILE)
    state = LoopState.from_json(json.loads((directory / STATE_FILE).read_text(encoding="utf-8")))
    if optimizer is not None and scheduler is not None:
        saved = torch.load(directory / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        set_rng_state(saved["rng"])
    return state
