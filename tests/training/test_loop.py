"""The shared training loop on a tiny CPU model: learning, schedule, accumulation, best-keeping, early stopping,
and a run killed mid-epoch that resumes to exactly the weights of an uninterrupted run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from mediaeval_memo.core.config import ConfigError
from mediaeval_memo.training import EpochBatches, TrainerConfig, lr_lambda, train_loop
from mediaeval_memo.training.checkpoint import STATE_FILE
from mediaeval_memo.training.loop import BEST_FILE, CHECKPOINT_DIR
from tests.conftest import REPO


class Regressor(nn.Module):
    """A frozen random 'backbone' and a trainable head with dropout, so that RNG state matters on resume."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Linear(8, 16)
        self.backbone.requires_grad_(False)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.backbone(x))).squeeze(-1)


def _data(n: int = 48) -> list[tuple[torch.Tensor, float]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 8, generator=g)
    y = x[:, 0] * 0.8 - x[:, 1] * 0.3
    return [(x[i], float(y[i])) for i in range(n)]


def _collate(items: list[tuple[torch.Tensor, float]]) -> dict[str, torch.Tensor]:
    return {"x": torch.stack([x for x, _ in items]), "y": torch.tensor([y for _, y in items])}


def _loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch["x"]), batch["y"])


def _eval(data: list[tuple[torch.Tensor, float]]):
    def spearman(model: nn.Module) -> float:
        model.eval()
        with torch.no_grad():
            pred = model(torch.stack([x for x, _ in data]))
        return float(spearmanr(pred.numpy(), [y for _, y in data]).statistic)

    return spearman


def _config(**kw: object) -> TrainerConfig:
    base: dict[str, object] = dict(
        epochs=3, batch_size=4, grad_accum=2, learning_rate=0.05, precision="fp32", checkpoint_every=1000
    )
    base.update(kw)
    return TrainerConfig(**base)  # type: ignore[arg-type]


def _head(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith("head")}


def test_learns_and_records_history(tmp_path: Path) -> None:
    data = _data()
    model = Regressor()
    before = _eval(data)(model)
    outcome = train_loop(
        model, EpochBatches.factory(data, 4, _collate, seed=0), _eval(data), _config(), tmp_path, loss_fn=_loss
    )
    assert outcome.global_step == 3 * 6  # 12 micro-batches / 2 per step, 3 epochs
    assert [h["epoch"] for h in outcome.history] == [1.0, 2.0, 3.0]
    assert outcome.best_metric is not None and outcome.best_metric > max(before, 0.8)
    assert (tmp_path / BEST_FILE).is_file()
    state = json.loads((tmp_path / CHECKPOINT_DIR / STATE_FILE).read_text())
    assert state["finished"] is True


def test_killed_mid_epoch_resumes_to_identical_weights(tmp_path: Path) -> None:
    data = _data()
    batches = EpochBatches.factory(data, 4, _collate, seed=0)
    config = _config(checkpoint_every=2, keep_best=False)
    straight = Regressor()
    train_loop(straight, batches, _eval(data), config, tmp_path / "straight", loss_fn=_loss)

    resumed_from = []
    for _piece in range(10):  # killed every 4 steps (mid-epoch: 6 steps per epoch), restarted in a fresh process
        model = Regressor()
        outcome = train_loop(
            model, batches, _eval(data), config, tmp_path / "pieces", loss_fn=_loss, stop_after_steps=4
        )
        resumed_from.append(outcome.resumed_from_step)
        if outcome.global_step == 18 and json.loads(
            (tmp_path / "pieces" / CHECKPOINT_DIR / STATE_FILE).read_text()
        ).get("finished"):
            break
    assert resumed_from[:4] == [None, 4, 8, 12]
    for key, value in _head(straight).items():
        assert torch.equal(value, _head(model)[key]), key
    straight_state = json.loads((tmp_path / "straight" / CHECKPOINT_DIR / STATE_FILE).read_text())
    pieces_state = json.loads((tmp_path / "pieces" / CHECKPOINT_DIR / STATE_FILE).read_text())
    assert straight_state == pieces_state


def test_finished_run_returns_its_weights_without_training(tmp_path: Path) -> None:
    data = _data()
    batches = EpochBatches.factory(data, 4, _collate, seed=0)
    first = Regressor()
    train_loop(first, batches, _eval(data), _config(), tmp_path, loss_fn=_loss)
    again = Regressor()

    def boom(model: nn.Module, batch: object) -> torch.Tensor:
        raise AssertionError("a finished run must not train again")

    outcome = train_loop(again, batches, _eval(data), _config(), tmp_path, loss_fn=boom)
    assert outcome.resumed_from_step == 18
    for key, value in _head(first).items():
        assert torch.equal(value, _head(again)[key])


def test_max_steps_and_no_eval(tmp_path: Path) -> None:
    data = _data()
    outcome = train_loop(
        Regressor(),
        EpochBatches.factory(data, 4, _collate, seed=0),
        None,
        _config(max_steps=5),
        tmp_path,
        loss_fn=_loss,
    )
    assert outcome.global_step == 5
    assert outcome.best_metric is None
    assert not (tmp_path / BEST_FILE).exists()


def test_early_stopping_and_best_weights_restored(tmp_path: Path) -> None:
    data = _data()
    scores = iter([0.5, 0.4, 0.3, 0.2, 0.1])
    seen: list[dict[str, torch.Tensor]] = []

    def falling(model: nn.Module) -> float:
        seen.append(_head(model))
        return next(scores)

    model = Regressor()
    outcome = train_loop(
        model,
        EpochBatches.factory(data, 4, _collate, seed=0),
        falling,
        _config(epochs=5, early_stopping_patience=2),
        tmp_path,
        loss_fn=_loss,
    )
    assert outcome.stopped_early and outcome.epochs_completed == 3
    assert outcome.best_metric == 0.5 and outcome.best_step == 6
    for key, value in seen[0].items():
        assert torch.equal(value, _head(model)[key])


def test_same_seed_same_weights_other_seed_other_order(tmp_path: Path) -> None:
    data = _data()
    runs = []
    for i, seed in enumerate([0, 0, 1]):
        model = Regressor()
        train_loop(
            model,
            EpochBatches.factory(data, 4, _collate, seed=seed),
            None,
            _config(epochs=1),
            tmp_path / str(i),
            loss_fn=_loss,
            seed=seed,
        )
        runs.append(_head(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_epoch_batches_are_seeded_and_cover_every_example() -> None:
    factory = EpochBatches.factory(list(range(10)), 4, list, seed=3)
    e0, e1 = factory(0), factory(1)
    assert len(e0) == 3 and sorted(x for b in e0 for x in b) == list(range(10))
    assert [list(b) for b in e0] == [list(b) for b in factory(0)]
    assert [list(b) for b in e0] != [list(b) for b in e1]
    assert e0[-1] == e0[2]
    with pytest.raises(IndexError):
        e0[3]


def test_schedule_warms_up_then_decays() -> None:
    cosine = lr_lambda(_config(warmup_ratio=0.1, lr_schedule="cosine"), 100)
    linear = lr_lambda(_config(warmup_ratio=0.1, lr_schedule="linear"), 100)
    constant = lr_lambda(_config(warmup_ratio=0.0, lr_schedule="constant"), 100)
    assert cosine(0) < cosine(5) < cosine(10) == pytest.approx(1.0)
    assert cosine(55) == pytest.approx(0.5) and linear(55) == pytest.approx(0.5)
    assert cosine(100) == pytest.approx(0.0) and linear(100) == pytest.approx(0.0)
    assert constant(0) == constant(99) == 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "must be >= 1"),
        ("max_steps", 0, "must be >= 1 (or None for no limit)"),
        ("learning_rate", 0.0, "must be > 0"),
        ("warmup_ratio", 1.0, "must be in [0, 1)"),
        ("max_grad_norm", -1.0, "must be > 0 (or None for no clipping)"),
        ("early_stopping_patience", -1, "must be >= 0"),
        ("gradient_checkpointing_every", 0, "must be >= 1"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainerConfig(**{field: value})  # type: ignore[arg-type]
    assert (info.value.field_name, info.value.message) == (field, message)


@pytest.mark.parametrize(("every", "expected"), [(1, [True, True, True, True]), (2, [True, False, True, False])])
def test_gradient_checkpointing_every_nth_layer(every: int, expected: list[bool]) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from mediaeval_memo.training.loop import enable_gradient_checkpointing

    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=4, num_attention_heads=2
    )
    model = nn.Sequential(LlamaForCausalLM(config))  # found inside a wrapper, as the loop sees a Scorer
    enable_gradient_checkpointing(model, every)
    assert [layer.gradient_checkpointing for layer in model[0].model.layers] == expected
    model.train()
    ids = torch.tensor([[1, 2, 3, 4]])
    model[0](input_ids=ids, labels=ids).loss.backward()  # checkpointed and plain layers mix in one backward
    assert all(p.grad is not None for p in model[0].model.layers[1].parameters())


def test_each_process_takes_every_nth_batch_lazily() -> None:
    from mediaeval_memo.training.loop import _Strided

    built: list[int] = []

    def collate(items: list[int]) -> list[int]:
        built.extend(items)
        return items

    epoch = EpochBatches(list(range(10)), 1, collate, order=list(range(10)))
    share = _Strided(epoch, range(1, 10 // 3 * 3, 3))  # process 1 of 3: 9 usable micro-batches
    assert len(share) == 3 and built == []
    assert [share[i] for i in range(3)] == [[1], [4], [7]]


DDP_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from accelerate import PartialState
from tests.training.test_loop import Regressor, _collate, _config, _data, _loss
from mediaeval_memo.training import EpochBatches, train_loop
batches = EpochBatches.factory(_data(), 4, _collate, 0)
outcome = train_loop(Regressor(), batches, None, _config(epochs=2), Path(sys.argv[1]), loss_fn=_loss)
state = PartialState()
print(f"rank {state.process_index}/{state.num_processes} steps {outcome.global_step}", flush=True)
"""


@pytest.mark.slow  # two fresh Python processes importing torch: ~25 s on a shared 2-core machine
def test_two_processes_share_the_batches_and_one_writes(tmp_path: Path) -> None:
    """`accelerate launch` / torchrun with 2 CPU processes (gloo): each takes half the micro-batches."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed beside this Python")
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [torchrun, "--nproc_per_node", "2", str(script), str(tmp_path / "work"), str(REPO)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    # 12 micro-batches per epoch, 6 per process, 2 per optimizer step: 3 steps per epoch, 6 in all
    # the two processes share one pipe, so their lines may run together
    assert sorted(re.findall(r"rank \d/\d steps \d+", run.stdout)) == ["rank 0/2 steps 6", "rank 1/2 steps 6"]
    assert json.loads((tmp_path / "work" / CHECKPOINT_DIR / STATE_FILE).read_text())["global_step"] == 6
