"""Shared test set-up: offline, quiet OpenMP, and the path to the real data when it is present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports torch (see STACK.md: bitsandbytes + torch OpenMP runtimes).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def memento10k_root() -> Path:
    """The real MediaEval 2021 Memento10k annotations beside the project; the test is skipped without them."""
    root = SHARED_DATA / "memento10k"
    if not (root / "training_set" / "train_scores.csv").is_file():
        pytest.skip(f"real Memento10k data not found at {root}")
    return root
