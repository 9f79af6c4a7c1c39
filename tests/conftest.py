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
# shared/ lies beside the clone (CI, /work/main); an engineer's worktree one level deeper finds it one level up.
SHARED_DATA = next(
    (p / "shared" / "data" for p in (REPO.parent, REPO.parent.parent) if (p / "shared" / "data").is_dir()),
    REPO.parent / "shared" / "data",
)


@pytest.fixture
def memento10k_root() -> Path:
    """The real MediaEval 2021 Memento10k annotations beside the project; the test is skipped without them."""
    root = SHARED_DATA / "memento10k"
    if not (root / "training_set" / "train_scores.csv").is_file():
        pytest.skip(f"real Memento10k data not found at {root}")
    return root


# ---------------------------------------------------------------- the embedded sample, prepared once per session
# These fixtures return prepared dataset directories shared by the whole session: treat them as read-only. A test
# that writes into a dataset (features, frames) copies it first: shutil.copytree(sample_memento10k, tmp_path / "d").


def _prepare_sample(layout: str, factory: pytest.TempPathFactory, frames: int = 3) -> Path:
    from mediaeval_memo.data.prepare import PrepareOptions, prepare
    from mediaeval_memo.data.sample import write_sample

    base = factory.mktemp(f"sample-{layout}")
    release = write_sample(layout, base / "release", seed=0)
    return prepare(layout, release, base / "prepared", PrepareOptions(frames=frames, folds=5, seed=0)).out


@pytest.fixture(scope="session")
def sample_memento10k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared Memento10k sample (MediaEval 2021 layout): 160 train / 40 dev / 40 test videos, 5 captions each,
    3 frames per video, 5 folds over the 200 labelled videos; target `mem_score`. Its release is `<path>/../release`."""
    return _prepare_sample("memento10k", tmp_path_factory)


@pytest.fixture(scope="session")
def sample_videm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared VIDEM sample: 60 dev videos over 12 channels, 20 test videos over 4 other channels, transcripts,
    3 frames sampled from the shipped 1-fps folders, organiser feature blocks `organiser__HSVHistogram`,
    `organiser__RGBHistogram`, `organiser__ViT` (3x768 flattened) and `organiser__R3D`; targets
    `memorability_score` and `brand_memorability`; folds grouped by channel."""
    return _prepare_sample("videm", tmp_path_factory)


@pytest.fixture(scope="session")
def sample_videomem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared VideoMem sample (2019 layout): 80 dev / 20 test `video<N>.webm` clips, one caption each,
    3 frames per video; targets `short_term` and `long_term`."""
    return _prepare_sample("videomem", tmp_path_factory)


@pytest.fixture(scope="session")
def sample_trecvid_2021(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared TRECVid sample (2021 layout, n=30): 30 train / 55 dev / 25 test videos, 1-4 caption rows each,
    1 frame per video, 5 folds; targets `short_term` and `long_term`, labels also `short_term_raw`,
    `decay_alpha` and both annotation counts."""
    from mediaeval_memo.data.prepare import PrepareOptions, prepare
    from mediaeval_memo.data.sample import write_sample

    base = tmp_path_factory.mktemp("sample-trecvid-2021")
    release = write_sample("trecvid", base / "release", seed=0, n=30)
    return prepare("trecvid", release, base / "prepared", PrepareOptions(frames=1, folds=5, seed=0)).out


@pytest.fixture(scope="session")
def sample_movies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared `movies` sample through a column mapping: 60 labelled excerpts of 20 movies (grouped by movie)
    and 15 unlabelled ones, a numeric `runtime` (`meta_runtime`) that follows the score, a `synopsis` text;
    no media; target `memorability_score`."""
    import numpy as np

    from mediaeval_memo.data.prepare import PrepareOptions, prepare

    base = tmp_path_factory.mktemp("sample-movies")
    release = base / "release"
    release.mkdir()
    rng = np.random.default_rng(0)
    rows = ["video_id,score,runtime,synopsis,movie"]
    for i in range(75):
        score = rng.uniform(0.3, 1.0)
        runtime = 60 + 60 * score + rng.normal(0, 10)
        rows.append(f"clip{i:03d},{f'{score:.4f}' if i < 60 else ''},{runtime:.1f},a film scene {i},movie{i % 20}")
    (release / "scores.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    options = PrepareOptions(
        frames=0, folds=5, seed=0, columns={"meta": "runtime", "text": "synopsis", "group": "movie"}
    )
    return prepare("movies", release, base / "prepared", options).out
