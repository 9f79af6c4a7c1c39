"""The embedded sample: deterministic, in the official layouts, with a learnable signal in frames and text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.data.sample import FORGETTABLE, MEMORABLE, write_sample


def _warmth(ds: PreparedDataset, vid: str) -> float:
    pixels = np.asarray(Image.open(ds.frame_paths(vid)[0]), dtype=float)
    return float(pixels[..., 0].mean() - pixels[..., 2].mean())


def _memorable_words(texts: list[str]) -> float:
    text = " ".join(texts).lower()
    return sum(text.count(w.lower()) for w in MEMORABLE) - sum(text.count(w.lower()) for w in FORGETTABLE)


def test_memento10k_signal_in_frames_and_captions(sample_memento10k: Path) -> None:
    ds = PreparedDataset.load(sample_memento10k)
    rows = ds.labelled("mem_score")
    colour = spearmanr([_warmth(ds, v) for v in rows["video_id"]], rows["mem_score"]).statistic
    words = spearmanr([_memorable_words(list(c)) for c in rows["captions"]], rows["mem_score"]).statistic
    # strong enough to learn from ~150 videos, noisy enough not to be trivial
    assert 0.35 < colour < 0.9 and 0.35 < words < 0.9


def test_videm_signal_and_target_correlation(sample_videm: Path) -> None:
    ds = PreparedDataset.load(sample_videm)
    rows = ds.labelled("memorability_score")
    colour = spearmanr([_warmth(ds, v) for v in rows["video_id"]], rows["memorability_score"]).statistic
    assert colour > 0.35
    both = spearmanr(rows["memorability_score"], rows["brand_memorability"]).statistic
    assert 0.5 < both < 0.95


@pytest.mark.parametrize("layout", ["memento10k", "videm"])
def test_same_seed_same_files(layout: str, tmp_path: Path) -> None:
    a = write_sample(layout, tmp_path / "a", seed=7, n=20)
    b = write_sample(layout, tmp_path / "b", seed=7, n=20)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = write_sample(layout, tmp_path / "c", seed=8, n=20)
    assert sorted(p.relative_to(c) for p in c.rglob("*.csv")) == sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    assert any((a / r).read_bytes() != (c / r).read_bytes() for r in files_a if r.suffix == ".csv")


def test_memento10k_sample_has_release_quirks(tmp_path: Path) -> None:
    root = write_sample("memento10k", tmp_path / "m", n=40)
    assert (root / "dev_set" / "dev_scores.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (root / "dev_set" / "dev_text_descriptions.csv").read_bytes()
    assert not (root / "test_set" / "test_scores.csv").exists()
    assert any("_" in p.name and not p.stem.isdigit() for p in (root / "videos").iterdir())


def test_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sample layout 'nope'"):
        write_sample("nope", tmp_path)


def test_a_small_gbt_learns_the_colour_signal(sample_memento10k: Path) -> None:
    """What the sample is for: a GBT on colour histograms of ~160 training videos ranks held-out videos well."""
    from sklearn.ensemble import GradientBoostingRegressor

    ds = PreparedDataset.load(sample_memento10k)
    assert ds.folds is not None
    rows = ds.labelled("mem_score")

    def histogram(vid: str) -> np.ndarray:
        pixels = np.concatenate([np.asarray(Image.open(p)).reshape(-1, 3) for p in ds.frame_paths(vid)])
        return np.concatenate([np.histogram(pixels[:, c], bins=8, range=(0, 256))[0] / len(pixels) for c in range(3)])

    x = np.stack([histogram(v) for v in rows["video_id"]])
    y = rows["mem_score"].to_numpy()
    fold = np.array([ds.folds.fold_of()[v] for v in rows["video_id"]])
    oof = np.zeros(len(y))
    for k in range(ds.folds.k):
        model = GradientBoostingRegressor(n_estimators=100, max_depth=2, learning_rate=0.05, random_state=0)
        oof[fold == k] = model.fit(x[fold != k], y[fold != k]).predict(x[fold == k])
    assert spearmanr(oof, y).statistic > 0.4
