"""Trained weights load strictly: a file that does not fit the model is an input error, and nothing is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mediaeval_memo.core.errors import InputError
from mediaeval_memo.training.checkpoint import load_trainable, save_trainable


def _net(width: int = 4) -> nn.Module:
    net = nn.Sequential(nn.Linear(3, width), nn.Linear(width, 1))
    net[0].weight.requires_grad_(False)  # frozen: never saved, never expected
    return net


def test_weights_round_trip(tmp_path: Path) -> None:
    source, target = _net(), _net()
    save_trainable(source, tmp_path / "w.safetensors")
    assert set(load_file(str(tmp_path / "w.safetensors"))) == {"0.bias", "1.weight", "1.bias"}
    load_trainable(target, tmp_path / "w.safetensors")
    assert torch.equal(target[1].weight, source[1].weight)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("rename", "1 of the model's trainable weights (LoRA adapters, heads) missing, first 1.bias; 1 unexpected"),
        ("drop", "1 of the model's trainable weights (LoRA adapters, heads) missing, first 1.bias."),
        ("add", "1 unexpected, first 2.bias."),
        ("shape", "1 weights have another shape, first 1.weight (1, 5) where the model has (1, 4)"),
    ],
)
def test_any_mismatch_is_an_error_and_loads_nothing(tmp_path: Path, change: str, message: str) -> None:
    path = tmp_path / "w.safetensors"
    save_trainable(_net(5 if change == "shape" else 4), path)
    saved = load_file(str(path))
    if change == "rename":
        saved["1.b"] = saved.pop("1.bias")
    elif change == "drop":
        del saved["1.bias"]
    elif change == "add":
        saved["2.bias"] = torch.zeros(1)
    elif change == "shape":
        saved["0.bias"] = torch.zeros(4)
    save_file(saved, str(path))
    target = _net()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(InputError) as info:
        load_trainable(target, path)
    assert message in str(info.value) and str(info.value).startswith(f"{path}: does not fit the model")
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_a_missing_weights_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="trained weights not found"):
        load_trainable(_net(), tmp_path / "absent.safetensors")
