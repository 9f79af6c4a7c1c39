"""The training loop every neural variant shares, on accelerate. Read it top to bottom; there is nothing else.

    outcome = train_loop(model, train_batches, eval_fn, config, workdir, loss_fn=loss_fn, seed=seed, progress=progress)

- `model`: an nn.Module whose trainable parameters (`requires_grad`) are exactly what should learn: LoRA adapters,
  a regression head. Only those are optimised and checkpointed.
- `train_batches(epoch)`: the micro-batches of an epoch as a Sequence (indexable, so that a resumed run jumps to its
  position without building the batches it skips). The order must depend only on the seed and the epoch;
  `EpochBatches` does this for a list of examples and a collate function.
- `eval_fn(model) -> float`: the Spearman on videos held out of the fit's training videos (higher is better; the
  runner carves them, never the fold being scored), called after every epoch and when training stops; None when
  nothing is held out. It is called on every process.
- `loss_fn(model, batch) -> scalar tensor`: defaults to `model(**batch).loss`.
- `seed`: seeds every generator at the start (dropout, anything random in the model's forward).
- `progress`: a `core.progress.Reporter`: the step counter with loss and throughput, and the evaluations.
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
import functools
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
from torch import nn

from mediaeval_memo.core.progress import Reporter
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

    def summary(self) -> dict[str, Any]:
        """What a model directory records of the run: steps, and early stopping on the held-out videos."""
        evaluations = [h["val_spearman"] for h in self.history if "val_spearman" in h]
        return {
            "steps": self.global_step,
            "epochs_completed": self.epochs_completed,
            "evaluations": len(evaluations),
            "best_step": self.best_step,
            "best_held_out_spearman": self.best_metric,
            "stopped_early": self.stopped_early,
            "history": self.history,  # per evaluation: step, epoch, training loss, held-out Spearman
        }


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


class _Meter:
    """Training losses for the progress line, the tracker and the epoch mean.

    Losses are summed on the device in float64 (the same additions, in the same order, as Python floats would do, so
    a resumed run's history matches an uninterrupted one bit for bit) and read back only to show, log or checkpoint
    them: a read per step would make the host wait for the device at every step.
    """

    def __init__(self, device: torch.device, epoch_loss_sum: float, world: int):
        self.epoch = torch.tensor(epoch_loss_sum, dtype=torch.float64, device=device)
        self.shown = torch.zeros((), dtype=torch.float64, device=device)
        self.logged = torch.zeros((), dtype=torch.float64, device=device)
        self.world = world
        self.shown_steps, self.logged_steps, self.samples, self.since = 0, 0, 0, time.perf_counter()

    def add(self, loss: torch.Tensor, micro_batches: int, batch: Batch) -> None:
        value = loss.detach().to(torch.float64)
        self.shown += value / micro_batches
        self.logged += value / micro_batches
        self.epoch += value
        self.samples += _samples_in(batch) * self.world

    def step_done(self, log_now: bool) -> tuple[str | None, float | None]:
        """After an optimizer step: the progress note (every 2 s and when logging: mean loss and throughput since
        the last one) and the mean loss to send to the tracker (when `log_now`)."""
        self.shown_steps += 1
        self.logged_steps += 1
        logged = None
        if log_now:
            logged = float(self.logged) / self.logged_steps
            self.logged.zero_()
            self.logged_steps = 0
        note = None
        elapsed = time.perf_counter() - self.since
        if log_now or elapsed >= 2.0:
            note = f"loss {float(self.shown) / self.shown_steps:.4f}, {self.samples / elapsed:.2f} samples/s"
            self.shown.zero_()
            self.shown_steps, self.samples, self.since = 0, 0, time.perf_counter()
        return note, logged

    def epoch_sum(self) -> float:
        return float(self.epoch)

    def new_epoch(self) -> None:
        self.epoch.zero_()


class _Tracker:
    """The experiment tracker through accelerate (tensorboard, wandb, mlflow); nothing at all with report_to none."""

    def __init__(self, accelerator: Accelerator, config: TrainerConfig):
        self.accelerator, self.on = accelerator, config.report_to != "none"
        if self.on:
            scalars = {k: v for k, v in vars(config).items() if isinstance(v, (int, float, str, bool))}
            accelerator.init_trackers("mediaeval-memo", config=scalars)

    def log(self, values: dict[str, float], step: int) -> None:
        if self.on:
            self.accelerator.log(values, step=step)

    def end(self) -> None:
        if self.on:
            self.accelerator.end_training()


class _Checkpoints:
    """Resumable checkpoints in the fit's workdir, written by the main process while the others wait."""

    def __init__(self, accelerator: Accelerator, directory: Path, model: nn.Module, optimizer: Any, scheduler: Any):
        self.accelerator, self.directory = accelerator, directory
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def resume(self) -> LoopState | None:
        if not has_checkpoint(self.directory):
            return None
        return load_checkpoint(self.directory, self.model, self.optimizer, self.scheduler)

    def save(self, state: LoopState) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            save_checkpoint(self.directory, self.model, self.optimizer, self.scheduler, state)
        self.accelerator.wait_for_everyone()


def _deterministic(fn: Callable[..., TrainOutcome]) -> Callable[..., TrainOutcome]:
    """Run `fn` with torch's deterministic algorithms where they exist, and restore the caller's setting after.

    On a CPU every kernel the loop uses has one, so the same inputs and seed give identical weights. Some GPU
    kernels have none (cuBLAS reductions without CUBLAS_WORKSPACE_CONFIG, flash attention's backward): those warn
    instead of failing, and GPU runs agree closely rather than bit for bit.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> TrainOutcome:
        enabled, warn_only = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
        )
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.use_deterministic_algorithms(enabled, warn_only=warn_only)

    return wrapper


@_deterministic
def train_loop(
    model: nn.Module,
    train_batches: Callable[[int], Sequence[Batch]],
    eval_fn: EvalFn | None,
    config: TrainerConfig,
    workdir: Path,
    *,
    loss_fn: LossFn = _default_loss,
    seed: int = 0,
    progress: Reporter | None = None,
    stop_after_steps: int | None = None,
) -> TrainOutcome:
    """Train `model` in place (see the module docstring); on return it holds the best (or final) weights.

    `stop_after_steps` ends the call after that many optimizer steps of this call, as a kill would, leaving the
    run resumable: it exists to test resumption and to cut long jobs into pieces.
    """
    workdir = Path(workdir)
    accelerator = make_accelerator(config, workdir)
    set_seed(seed)
    progress = (progress or Reporter.silent()).only_if(accelerator.is_main_process)
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
    params, optimizer = _optimizer(model, config)
    # Not passed to accelerator.prepare: it would step the schedule once per process instead of once per step.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, total_steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)
    checkpoints = _Checkpoints(accelerator, workdir / CHECKPOINT_DIR, raw_model, optimizer, scheduler)

    resumed = checkpoints.resume()
    state = resumed or LoopState()
    resumed_from = None if resumed is None else resumed.global_step
    if state.finished:
        model.eval()
        return _outcome(state, resumed_from)
    if resumed_from is not None:
        progress.say(f"resuming from {workdir / CHECKPOINT_DIR} at step {state.global_step} (epoch {state.epoch})")
    run = _Run(
        config=config,
        state=state,
        resumed_from=resumed_from,
        accelerator=accelerator,
        model=model,
        raw_model=raw_model,
        params=params,
        optimizer=optimizer,
        scheduler=scheduler,
        checkpoints=checkpoints,
        tracker=_Tracker(accelerator, config),
        meter=_Meter(accelerator.device, state.epoch_loss_sum, world),
        loss_fn=loss_fn,
        eval_fn=eval_fn,
        use_bf16=resolve_bf16(config),
        total_steps=total_steps,
        best_path=workdir / BEST_FILE,
        progress=progress,
    )

    model.train()
    stop = False
    with progress.task("train", total=total_steps) as task:
        task.update(completed=state.global_step)
        while not stop and state.epoch < config.epochs and state.global_step < total_steps:
            batches = local_batches(state.epoch)
            while state.batch_in_epoch < len(batches):
                run.optimizer_step(batches)
                task.update(completed=state.global_step, note=run.note)
                if state.global_step >= total_steps:
                    break
                if run.paused(stop_after_steps):  # as a kill would leave it, but with this step saved
                    run.save()
                    return run.outcome()
                if state.global_step % config.checkpoint_every == 0:
                    run.save()
            stop = run.end_of_pass(batches)
            if run.paused(stop_after_steps) and state.global_step < total_steps:
                return run.outcome()
    return run.finish()


@dataclass
class _Run:
    """One call of `train_loop` at work: everything its steps read and the `LoopState` they advance (what a
    checkpoint holds). Each method is one step of the loop, named; `train_loop` reads as their order."""

    config: TrainerConfig
    state: LoopState
    resumed_from: int | None
    accelerator: Accelerator
    model: nn.Module  # as prepared by accelerate (DDP-wrapped under `accelerate launch`)
    raw_model: nn.Module  # unwrapped: what is evaluated, checkpointed and kept as the best weights
    params: list[nn.Parameter]
    optimizer: Any
    scheduler: Any
    checkpoints: _Checkpoints
    tracker: _Tracker
    meter: _Meter
    loss_fn: LossFn
    eval_fn: EvalFn | None
    use_bf16: bool
    total_steps: int
    best_path: Path
    progress: Reporter
    steps_this_call: int = 0
    note: str | None = None  # the progress line's note after the last step

    def optimizer_step(self, batches: Sequence[Batch]) -> None:
        """The next `grad_accum` micro-batches of the epoch (fewer at its end): forward, backward (gradients synced
        on the last only), clipping, one optimizer and schedule step; then the loss is metered and logged."""
        state, accelerator, config = self.state, self.accelerator, self.config
        group = range(state.batch_in_epoch, min(state.batch_in_epoch + config.grad_accum, len(batches)))
        for i in group:
            batch = send_to_device(batches[i], accelerator.device)
            with (
                contextlib.nullcontext() if i == group[-1] else accelerator.no_sync(self.model),
                torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=self.use_bf16),
            ):
                loss = self.loss_fn(self.model, batch)
            accelerator.backward(loss / len(group))
            self.meter.add(loss, len(group), batch)
        if config.max_grad_norm is not None:
            accelerator.clip_grad_norm_(self.params, config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.batch_in_epoch = group[-1] + 1
        state.global_step += 1
        self.steps_this_call += 1

        log_now = state.global_step % config.log_every == 0 or state.global_step == self.total_steps
        self.note, logged = self.meter.step_done(log_now)
        if logged is not None:
            self.tracker.log(
                {"train/loss": logged, "train/lr": float(self.scheduler.get_last_lr()[0])}, step=state.global_step
            )

    def paused(self, stop_after_steps: int | None) -> bool:
        """Whether this call has taken the steps it was allowed (`stop_after_steps`)."""
        return stop_after_steps is not None and self.steps_this_call >= stop_after_steps

    def end_of_pass(self, batches: Sequence[Batch]) -> bool:
        """After a pass over the epoch's batches ends (or the step budget ends it): evaluate, start the next epoch
        when this one is complete, and checkpoint unless the run is over. True when early stopping says stop."""
        state = self.state
        epoch_end = state.batch_in_epoch >= len(batches)
        state.epoch_loss_sum = self.meter.epoch_sum()
        mean_loss = state.epoch_loss_sum / max(state.batch_in_epoch, 1)
        stop = self.evaluate(state.epoch + state.batch_in_epoch / len(batches), mean_loss)
        if epoch_end:
            state.epoch, state.batch_in_epoch, state.epoch_loss_sum = state.epoch + 1, 0, 0.0
            self.meter.new_epoch()
        if stop:
            state.stopped_early = True
            self.progress.say(f"early stopping: {self.config.early_stopping_patience} evaluations without improvement")
        if not stop and state.global_step < self.total_steps:
            self.save()
        return stop

    def evaluate(self, epoch_done: float, train_loss: float) -> bool:
        """Record the history entry, run eval_fn and keep the best weights; True when early stopping says stop."""
        state = self.state
        entry: dict[str, Any] = {"step": state.global_step, "epoch": epoch_done, "train_loss": train_loss}
        state.history.append(entry)
        if self.eval_fn is None:
            return False
        entry["val_spearman"] = metric = float(self.eval_fn(self.raw_model))
        self.model.train()
        self.progress.say(f"step {state.global_step} epoch {epoch_done:.2f}: held-out Spearman {metric:.4f}")
        self.tracker.log({"val/spearman": metric}, step=state.global_step)
        if math.isfinite(metric) and (state.best_metric is None or metric > state.best_metric):
            state.best_metric, state.best_step, state.evals_without_improvement = metric, state.global_step, 0
            if self.accelerator.is_main_process:
                save_trainable(self.raw_model, self.best_path)
        else:
            state.evals_without_improvement += 1
        patience = self.config.early_stopping_patience
        return patience > 0 and state.evals_without_improvement >= patience

    def save(self) -> None:
        """A resumable checkpoint of the state, with the epoch's loss so far."""
        self.state.epoch_loss_sum = self.meter.epoch_sum()
        self.checkpoints.save(self.state)

    def finish(self) -> TrainOutcome:
        """The run is over: restore the best weights when asked, mark the checkpoint finished, close the tracker."""
        if self.config.keep_best and self.eval_fn is not None and self.best_path.is_file():
            self.accelerator.wait_for_everyone()
            load_trainable(self.raw_model, self.best_path)
        self.state.finished = True
        self.save()
        self.tracker.end()
        self.model.eval()
        return self.outcome()

    def outcome(self) -> TrainOutcome:
        return _outcome(self.state, self.resumed_from)


def _optimizer(model: nn.Module, config: TrainerConfig) -> tuple[list[nn.Parameter], torch.optim.Optimizer]:
    """AdamW over the trainable parameters, with no weight decay on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad); nothing to train")
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    # Fused AdamW: one kernel per step for all adapters instead of a few per tensor (CUDA only).
    fused = all(p.is_cuda and p.is_floating_point() for p in params)
    return params, torch.optim.AdamW([g for g in groups if g["params"]], lr=config.learning_rate, fused=fused or None)


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
