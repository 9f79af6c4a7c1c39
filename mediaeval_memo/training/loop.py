"""The training loop every neural variant shares, on accelerate. Read it top to bottom; there is nothing else.

    outcome = train_loop(model, train_batches, eval_fn, config, workdir, loss_fn=loss_fn)

- `model`: an nn.Module whose trainable parameters (`requires_grad`) are exactly what should learn: LoRA adapters,
  a regression head. Only those are optimised and checkpointed.
- `train_batches(epoch)`: the micro-batches of an epoch as a Sequence (indexable, so that a resumed run jumps to its
  position without building the batches it skips). The order must depend only on the seed and the epoch;
  `EpochBatches` does this for a list of examples and a collate function.
- `eval_fn(model) -> float`: the validation Spearman (higher is better), called after every epoch and when training
  stops; None when there is no validation set (a final model). It is called on every process.
- `loss_fn(model, batch) -> scalar tensor`: defaults to `model(**batch).loss`.
- `workdir`: checkpoints (`checkpoint/`) and the best weights (`best.safetensors`). A workdir holding a checkpoint
  is resumed from it; one holding a finished run returns at once with its final weights loaded.

Each optimizer step sums `grad_accum` micro-batches; the learning rate warms up linearly then decays (cosine,
linear or constant); bf16 autocast when `precision` says so; gradient clipping; a checkpoint every
`checkpoint_every` steps and after every epoch, so a killed run continues exactly where it stopped and ends with
the weights an uninterrupted run ends with. Under `accelerate launch` every process takes every num_processes-th
micro-batch, gradients are averaged by DDP, and only the main process writes files or draws progress.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from accelerate import Accelerator
from accelerate.utils import send_to_device, set_seed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from mediaeval_memo.training.checkpoint import (
    LoopState,
    has_checkpoint,
    load_checkpoint,
    load_trainable,
    save_checkpoint,
    save_trainable,
)
from mediaeval_memo.training.config import TrainerConfig

CHECKPOINT_DIR = "checkpoint"
BEST_FILE = "best.safetensors"

Example = TypeVar("Example")
Batch = Any
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
EvalFn = Callable[[nn.Module], float]


class EpochBatches(Sequence[Batch], Generic[Example]):
    """The micro-batches of one epoch: `examples` shuffled by (seed, epoch), cut into `batch_size` chunks, collated
    lazily when indexed. `EpochBatches.factory(examples, batch_size, collate, seed)` is a `train_batches`."""

    def __init__(
        self, examples: Sequence[Example], batch_size: int, collate: Callable[[list[Example]], Batch], order: list[int]
    ):
        self.examples, self.batch_size, self.collate, self.order = examples, batch_size, collate, order

    @classmethod
    def factory(
        cls, examples: Sequence[Example], batch_size: int, collate: Callable[[list[Example]], Batch], seed: int
    ) -> Callable[[int], EpochBatches[Example]]:
        def for_epoch(epoch: int) -> EpochBatches[Example]:
            order = list(range(len(examples)))
            random.Random(f"{seed}:{epoch}").shuffle(order)
            return cls(examples, batch_size, collate, order)

        return for_epoch

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, index: int) -> Batch:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        chunk = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.collate([self.examples[i] for i in chunk])


class _Strided(Sequence[Batch]):
    """A lazy view of some positions of a batch sequence (one process's share), still built only when indexed."""

    def __init__(self, batches: Sequence[Batch], positions: range):
        self.batches, self.positions = batches, positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> Batch:  # type: ignore[override]
        return self.batches[self.positions[index]]


@dataclass
class TrainOutcome:
    """What a run did: steps taken, the evaluation history and the best Spearman (None without validation)."""

    global_step: int
    epochs_completed: int
    best_metric: float | None
    best_step: int | None
    stopped_early: bool
    resumed_from_step: int | None
    history: list[dict[str, Any]] = field(default_factory=list)


def resolve_bf16(config: TrainerConfig) -> bool:
    if config.precision == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return config.precision == "bf16"


def lr_lambda(config: TrainerConfig, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at optimizer step `step` (0-based): linear warm-up, then decay."""
    warmup = math.ceil(config.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.lr_schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        if config.lr_schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def enable_gradient_checkpointing(model: nn.Module, every: int = 1) -> None:
    """Turn on non-reentrant activation checkpointing in the (first) transformers model inside `model`, in every
    `every`-th layer of each of its layer stacks (1: all of them).

    Non-reentrant checkpointing needs no input that requires grad, so frozen embeddings and cached visual tokens
    work as they are. transformers >= 5.2x names it activation_checkpointing_enable; older ones only have the
    gradient_ spelling. Checkpointing every second layer recomputes half the forward pass for about twice the
    activation memory of checkpointing all of them.
    """
    for module in model.modules():
        if not getattr(type(module), "supports_gradient_checkpointing", False):
            continue
        kwargs = {"use_reentrant": False}
        if callable(getattr(type(module), "activation_checkpointing_enable", None)):
            module.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)  # type: ignore[operator]
        else:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)  # type: ignore[operator]
        if every > 1:
            for stack in module.modules():
                if isinstance(stack, nn.ModuleList):
                    layers = [m for m in stack if getattr(m, "gradient_checkpointing", False)]
                    for k, layer in enumerate(layers):
                        layer.gradient_checkpointing = k % every == 0  # type: ignore[assignment]
        return


def make_accelerator(config: TrainerConfig, workdir: Path) -> Accelerator:
    """Autocast is done by the loop itself, so the accelerator's process-wide mixed-precision state stays "no" and
    several fits with different precisions can share one process (cross-validation, tests)."""
    if config.report_to == "none":
        return Accelerator()
    return Accelerator(log_with=config.report_to, project_dir=str(workdir / "logs"))


def _samples_in(batch: Batch) -> int:
    if isinstance(batch, dict):
        for value in batch.values():
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                return int(value.shape[0])
    with contextlib.suppress(TypeError):
        return len(batch)
    return 1


def _default_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    loss: torch.Tensor = model(**batch).loss
    return loss


def train_loop(
    model: nn.Module,
    train_batches: Callable[[int], Sequence[Batch]],
    eval_fn: EvalFn | None,
    config: TrainerConfig,
    workdir: Path,
    *,
    loss_fn: LossFn = _default_loss,
    stop_after_steps: int | None = None,
) -> TrainOutcome:
    """Train `model` in place (see the module docstring); on return it holds the best (or final) weights.

    `stop_after_steps` ends the call after that many optimizer steps of this call, as a kill would, leaving the
    run resumable: it exists to test resumption and to cut long jobs into pieces.
    """
    workdir = Path(workdir)
    accelerator = make_accelerator(config, workdir)
    set_seed(config.seed)
    checkpoint_dir = workdir / CHECKPOINT_DIR
    world, rank = accelerator.num_processes, accelerator.process_index

    def local_batches(epoch: int) -> Sequence[Batch]:
        batches = train_batches(epoch)
        if world == 1:
            return batches
        even = len(batches) // world * world  # DDP needs the same number of micro-batches on every process
        return _Strided(batches, range(rank, even, world))

    steps_per_epoch = math.ceil(len(local_batches(0)) / config.grad_accum)
    if steps_per_epoch == 0:
        raise ValueError(f"no training batches for {world} processes; need at least {world} micro-batches")
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model, config.gradient_checkpointing_every)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad); nothing to train")
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    # Fused AdamW: one kernel per step for all adapters instead of a few per tensor (CUDA only).
    fused = all(p.is_cuda and p.is_floating_point() for p in params)
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.learning_rate, fused=fused or None)
    # Not passed to accelerator.prepare: it would step the schedule once per process instead of once per step.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, total_steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)

    state = LoopState()
    resumed_from = None
    if has_checkpoint(checkpoint_dir):
        state = load_checkpoint(checkpoint_dir, raw_model, optimizer, scheduler)
        resumed_from = state.global_step
        if state.finished:
            model.eval()
            return _outcome(state, resumed_from)
        accelerator.print(f"resuming from {checkpoint_dir} at step {state.global_step} (epoch {state.epoch})")

    if config.report_to != "none":
        scalars = {k: v for k, v in vars(config).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("mediaeval-memo", config=scalars)
    use_bf16 = resolve_bf16(config)
    device_type = accelerator.device.type

    def checkpoint() -> None:
        state.epoch_loss_sum = float(epoch_loss)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_checkpoint(checkpoint_dir, raw_model, optimizer, scheduler, state)
        accelerator.wait_for_everyone()

    def evaluate(epoch_done: float, train_loss: float) -> bool:
        """Run eval_fn, keep the best weights; True when early stopping says stop."""
        if eval_fn is None:
            state.history.append({"step": state.global_step, "epoch": epoch_done, "train_loss": train_loss})
            return False
        metric = float(eval_fn(raw_model))
        model.train()
        state.history.append(
            {"step": state.global_step, "epoch": epoch_done, "train_loss": train_loss, "val_spearman": metric}
        )
        accelerator.print(f"step {state.global_step} epoch {epoch_done:.2f}: validation Spearman {metric:.4f}")
        if config.report_to != "none":
            accelerator.log({"val/spearman": metric}, step=state.global_step)
        improved = math.isfinite(metric) and (state.best_metric is None or metric > state.best_metric)
        if improved:
            state.best_metric, state.best_step, state.evals_without_improvement = metric, state.global_step, 0
            if accelerator.is_main_process:
                save_trainable(raw_model, workdir / BEST_FILE)
        else:
            state.evals_without_improvement += 1
        patience = config.early_stopping_patience
        return patience > 0 and state.evals_without_improvement >= patience

    model.train()
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not accelerator.is_main_process,
    )
    steps_this_call = 0
    # Losses are summed on the device in float64 (the same additions, in the same order, as Python floats would do,
    # so a resumed run's history matches an uninterrupted one bit for bit) and read back only to show, log or
    # checkpoint them: a read per step would make the host wait for the device at every step.
    device = accelerator.device
    epoch_loss = torch.tensor(state.epoch_loss_sum, dtype=torch.float64, device=device)
    shown_loss = torch.zeros((), dtype=torch.float64, device=device)
    logged_loss = torch.zeros((), dtype=torch.float64, device=device)
    shown_steps, logged_steps, shown_samples, shown_start = 0, 0, 0, time.perf_counter()
    stop = False
    with progress:
        task = progress.add_task("train", total=total_steps, completed=state.global_step, stats="")
        while not stop and state.epoch < config.epochs and state.global_step < total_steps:
            batches = local_batches(state.epoch)
            while state.batch_in_epoch < len(batches):
                start = state.batch_in_epoch
                group = range(start, min(start + config.grad_accum, len(batches)))
                for i in group:
                    batch = send_to_device(batches[i], accelerator.device)
                    sync = i == group[-1]
                    with (
                        contextlib.nullcontext() if sync else accelerator.no_sync(model),
                        torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_bf16),
                    ):
                        loss = loss_fn(model, batch)
                    accelerator.backward(loss / len(group))
                    value = loss.detach().to(torch.float64)
                    shown_loss += value / len(group)
                    logged_loss += value / len(group)
                    epoch_loss += value
                    shown_samples += _samples_in(batch) * world
                if config.max_grad_norm is not None:
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.batch_in_epoch = group[-1] + 1
                state.global_step += 1
                steps_this_call += 1

                shown_steps += 1
                logged_steps += 1
                log_now = state.global_step % config.log_every == 0 or state.global_step == total_steps
                if log_now and config.report_to != "none":
                    lr = scheduler.get_last_lr()[0]
                    mean = float(logged_loss) / logged_steps
                    accelerator.log({"train/loss": mean, "train/lr": lr}, step=state.global_step)
                if log_now:
                    logged_loss.zero_()
                    logged_steps = 0
                elapsed = time.perf_counter() - shown_start
                if log_now or elapsed >= 2.0:  # the loss and throughput shown are means since the last refresh
                    progress.update(
                        task,
                        stats=f"loss {float(shown_loss) / shown_steps:.4f}  {shown_samples / elapsed:.2f} samples/s",
                    )
                    shown_loss.zero_()
                    shown_steps, shown_samples, shown_start = 0, 0, time.perf_counter()
                progress.update(task, completed=state.global_step)

                if state.global_step >= total_steps:
                    break
                if stop_after_steps is not None and steps_this_call >= stop_after_steps:
                    checkpoint()
                    return _outcome(state, resumed_from)
                if state.global_step % config.checkpoint_every == 0:
                    checkpoint()

            epoch_end = state.batch_in_epoch >= len(batches)
            state.epoch_loss_sum = float(epoch_loss)
            mean_loss = state.epoch_loss_sum / max(state.batch_in_epoch, 1)
            stop = evaluate(state.epoch + state.batch_in_epoch / len(batches), mean_loss)
            if epoch_end:
                state.epoch, state.batch_in_epoch, state.epoch_loss_sum = state.epoch + 1, 0, 0.0
                epoch_loss.zero_()
            if stop:
                state.stopped_early = True
                accelerator.print(f"early stopping: {config.early_stopping_patience} evaluations without improvement")
            if not stop and state.global_step < total_steps:
                checkpoint()
            if stop_after_steps is not None and steps_this_call >= stop_after_steps and state.global_step < total_steps:
                return _outcome(state, resumed_from)

    if config.keep_best and eval_fn is not None and (workdir / BEST_FILE).is_file():
        accelerator.wait_for_everyone()
        load_trainable(raw_model, workdir / BEST_FILE)
    state.finished = True
    checkpoint()
    if config.report_to != "none":
        accelerator.end_training()
    model.eval()
    return _outcome(state, resumed_from)


def _outcome(state: LoopState, resumed_from: int | None) -> TrainOutcome:
    return TrainOutcome(
        global_step=state.global_step,
        epochs_completed=state.epoch,
        best_metric=state.best_metric,
        best_step=state.best_step,
        stopped_early=state.stopped_early,
        resumed_from_step=resumed_from,
        history=list(state.history),
    )
