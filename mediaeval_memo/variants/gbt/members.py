"""The members of the GBT ensemble: four gradient-boosted tree libraries, one kernel machine and one text model,
each with its defaults, Optuna search space, fit, predict, and save/load in a non-pickle format.

- LightGBM: its text model format; XGBoost: its JSON format; CatBoost: its `.cbm` format.
- `svr`, an RBF support vector regressor, is the kernel member. On sentence embeddings trees split
  one coordinate at a time, while a kernel compares whole vectors; on real Memento10k captions (MiniLM, same
  folds) a strongly regularised SVR scored 0.619 CV Spearman against LightGBM's 0.595, and the two disagree enough
  that their blend beats both. It is saved, like HistGB below, as plain arrays (support vectors, dual
  coefficients, input scaling) and predicts through them.
- scikit-learn HistGradientBoosting has no safe native format (its only persistence is pickle). We export the
  fitted trees to plain numeric arrays (`.npz` read with `allow_pickle=False`) and predict from them with our own
  traversal, which follows sklearn's predictor exactly (`x <= threshold` goes left, NaN follows
  `missing_go_to_left`, raw scores summed tree by tree onto the baseline in float64). The in-memory model predicts
  through the same arrays, so a saved and reloaded model gives bit-identical predictions. Refitting from saved
  params at load time was the alternative; it was rejected because it needs the training features at predict time
  and silently changes predictions if they ever change.
- `tfidf`, a ridge regression on TF-IDF of the captions, reads words where the others read vectors; saved as its
  vocabulary, idf and coefficients.
The libraries are imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

MEMBER_NAMES = ("lightgbm", "xgboost", "catboost", "histgb", "svr", "tfidf")


@dataclass
class Inputs:
    """What a member reads about some videos, row-aligned."""

    X: np.ndarray  # float64: feature blocks (PCA-reduced or raw), numeric metadata, target encodings
    groups: np.ndarray  # a label per column of X: one shared by a feature block's columns, one for each other column
    texts: list[str]  # each video's captions as one text ("" where it has none), for the text members

    def only_group(self, group: int) -> Inputs:
        """The columns of one group (a feature block's) alone."""
        keep = self.groups == group
        return Inputs(np.ascontiguousarray(self.X[:, keep]), self.groups[keep], self.texts)


class Member(ABC):
    """One tree library behind a common face. `params` are plain JSON-able dicts (what Optuna tunes)."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    seeded: ClassVar[bool] = True  # False: the fit uses no randomness, so seed bagging fits it once
    needs_text: ClassVar[bool] = False  # True: reads the captions (`Inputs.texts`), not the feature matrix

    @abstractmethod
    def default_params(self) -> dict[str, Any]:
        """Sound defaults for a few thousand rows of a few hundred dense features (the first tuning trial)."""

    @abstractmethod
    def suggest(self, trial: Any) -> dict[str, Any]:
        """Parameters for one Optuna trial."""

    @abstractmethod
    def fit(self, inputs: Inputs, y: np.ndarray, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        """A fitted model (of this member's own kind)."""

    @abstractmethod
    def predict(self, fitted: Any, inputs: Inputs) -> np.ndarray:
        """Float64 predictions, one per video of `inputs`."""

    @abstractmethod
    def save(self, fitted: Any, path: Path) -> None:
        """Write the fitted model to `path` in the library's non-pickle format."""

    @abstractmethod
    def load(self, path: Path) -> Any:
        """Read what `save` wrote."""


class LightGBMMember(Member):
    name = "lightgbm"
    suffix = ".txt"

    def default_params(self) -> dict[str, Any]:
        return {
            "n_estimators": 600,
            "learning_rate": 0.03,
            "num_leaves": 31,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.5,
            "bagging_fraction": 0.8,
            "lambda_l2": 1.0,
        }

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 200, 1500, step=100),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 7, 63),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 100, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.2, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }

    def fit(self, inputs: Inputs, y: np.ndarray, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        import lightgbm as lgb

        p = dict(params)
        rounds = int(p.pop("n_estimators"))
        p.update(
            objective="regression",
            bagging_freq=1,
            seed=seed,
            deterministic=True,
            force_col_wise=True,
            num_threads=n_jobs,
            verbose=-1,
        )
        return lgb.train(p, lgb.Dataset(inputs.X, y, free_raw_data=True), num_boost_round=rounds)

    def predict(self, fitted: Any, inputs: Inputs) -> np.ndarray:
        return np.asarray(fitted.predict(inputs.X), dtype=np.float64)

    def save(self, fitted: Any, path: Path) -> None:
        fitted.save_model(str(path))

    def load(self, path: Path) -> Any:
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))


class XGBoostMember(Member):
    name = "xgboost"
    suffix = ".json"

    def default_params(self) -> dict[str, Any]:
        return {
            "n_estimators": 600,
            "learning_rate": 0.03,
            "max_depth": 5,
            "min_child_weight": 3.0,
            "subsample": 0.8,
            "colsample_bytree": 0.5,
            "reg_lambda": 1.0,
        }

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 200, 1500, step=100),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 8),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 30.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        }

    def fit(self, inputs: Inputs, y: np.ndarray, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        import xgboost as xgb

        p = dict(params)
        rounds = int(p.pop("n_estimators"))
        p.update(objective="reg:squarederror", tree_method="hist", seed=seed, nthread=n_jobs, verbosity=0)
        return xgb.train(p, xgb.DMatrix(inputs.X, label=y, nthread=n_jobs), num_boost_round=rounds)

    def predict(self, fitted: Any, inputs: Inputs) -> np.ndarray:
        import xgboost as xgb

        return np.asarray(fitted.predict(xgb.DMatrix(inputs.X)), dtype=np.float64)

    def save(self, fitted: Any, path: Path) -> None:
        fitted.save_model(str(path))

    def load(self, path: Path) -> Any:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(path))
        return booster


class CatBoostMember(Member):
    name = "catboost"
    suffix = ".cbm"

    def default_params(self) -> dict[str, Any]:
        return {"iterations": 600, "learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0, "rsm": 1.0}

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {
            "iterations": trial.suggest_int("iterations", 200, 1200, step=100),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.15, log=True),
            "depth": trial.suggest_int("depth", 3, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
            "rsm": trial.suggest_float("rsm", 0.2, 1.0),
        }

    def fit(self, inputs: Inputs, y: np.ndarray, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        from catboost import CatBoostRegressor

        model = CatBoostRegressor(
            **params,
            loss_function="RMSE",
            random_seed=seed,
            thread_count=n_jobs,
            verbose=False,
            allow_writing_files=False,
        )
        return model.fit(inputs.X, y)

    def predict(self, fitted: Any, inputs: Inputs) -> np.ndarray:
        return np.asarray(fitted.predict(inputs.X), dtype=np.float64)

    def save(self, fitted: Any, path: Path) -> None:
        fitted.save_model(str(path), format="cbm")

    def load(self, path: Path) -> Any:
        from catboost import CatBoostRegressor

        return CatBoostRegressor().load_model(str(path), format="cbm")


@dataclass
class TreeArrays:
    """A fitted HistGradientBoostingRegressor as plain arrays: every tree's nodes, concatenated."""

    baseline: float
    starts: np.ndarray  # int64, node offset of each tree, plus the total at the end
    value: np.ndarray  # float64
    feature: np.ndarray  # int64
    threshold: np.ndarray  # float64
    missing_left: np.ndarray  # bool
    left: np.ndarray  # int64, index within the tree
    right: np.ndarray  # int64
    is_leaf: np.ndarray  # bool

    FIELDS: ClassVar[tuple[str, ...]] = (
        "starts",
        "value",
        "feature",
        "threshold",
        "missing_left",
        "left",
        "right",
        "is_leaf",
    )

    @classmethod
    def from_sklearn(cls, est: Any) -> TreeArrays:
        trees = [p.nodes for per_iteration in est._predictors for p in per_iteration]
        if any(t["is_categorical"].any() for t in trees):
            raise ValueError("categorical splits are not exported; encode categoricals before HistGradientBoosting")
        nodes = np.concatenate(trees) if trees else np.zeros(0, dtype=est._predictors[0][0].nodes.dtype)
        starts = np.cumsum([0, *(len(t) for t in trees)]).astype(np.int64)
        return cls(
            baseline=float(np.asarray(est._baseline_prediction).ravel()[0]),
            starts=starts,
            value=nodes["value"].astype(np.float64),
            feature=nodes["feature_idx"].astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            left=nodes["left"].astype(np.int64),
            right=nodes["right"].astype(np.int64),
            is_leaf=nodes["is_leaf"].astype(bool),
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        rows = np.arange(X.shape[0])
        out = np.zeros(X.shape[0], dtype=np.float64)
        out += self.baseline
        for t in range(len(self.starts) - 1):
            base = int(self.starts[t])
            node = np.full(X.shape[0], base, dtype=np.int64)
            active = ~self.is_leaf[node]
            while active.any():
                n = node[active]
                x = X[rows[active], self.feature[n]]
                go_left = np.where(np.isnan(x), self.missing_left[n], x <= self.threshold[n])
                node[active] = base + np.where(go_left, self.left[n], self.right[n])
                active = ~self.is_leaf[node]
            out += self.value[node]
        return out

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name) for name in self.FIELDS}
        with open(path, "wb") as fh:
            np.savez(fh, allow_pickle=False, baseline=np.array([self.baseline]), **arrays)

    @classmethod
    def load(cls, path: Path) -> TreeArrays:
        with np.load(path, allow_pickle=False) as data:
            return cls(baseline=float(data["baseline"][0]), **{name: data[name] for name in cls.FIELDS})


class HistGBMember(Member):
    name = "histgb"
    suffix = ".npz"

    def default_params(self) -> dict[str, Any]:
        return {
            "max_iter": 500,
            "learning_rate": 0.04,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 1.0,
            "max_features": 0.5,
        }

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {
            "max_iter": trial.suggest_int("max_iter", 200, 1200, step=100),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 7, 63),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 100, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-3, 30.0, log=True),
            "max_features": trial.suggest_float("max_features", 0.2, 1.0),
        }

    def fit(self, inputs: Inputs, y: np.ndarray, params: dict[str, Any], seed: int, n_jobs: int) -> TreeArrays:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        # sklearn's HistGB has no n_jobs: it threads through OpenMP over every core, and on small data each of its
        # thousands of tiny parallel regions costs more in thread wake-ups than it computes (the demo spent half
        # its time in the kernel). Capping OpenMP at n_jobs for the fit honours the member's thread budget.
        est = HistGradientBoostingRegressor(**params, early_stopping=False, random_state=seed)
        with threadpool_limits(limits=n_jobs, user_api="openmp"):
            est.fit(inputs.X, y)
        return TreeArrays.from_sklearn(est)

    def predict(self, fitted: TreeArrays, inputs: Inputs) -> np.ndarray:
        return fitted.predict(inputs.X)

    def save(self, fitted: TreeArrays, path: Path) -> None:
        fitted.save(path)

    def load(self, path: Path) -> TreeArrays:
        return TreeArrays.load(path)


@dataclass
class KernelMachine:
    """A fitted RBF support vector regressor as plain arrays, in scaled units.

    f(x) = y_mean + y_scale * (sum_i dual_i * exp(-gamma * |z - sv_i|^2) + intercept), z = (x - x_mean) / x_scale.
    """

    gamma: float
    intercept: float
    y_mean: float
    y_scale: float
    x_mean: np.ndarray  # float64, per input column
    x_scale: np.ndarray  # float64, per input column, shared within a feature block (1 for a constant column)
    support: np.ndarray  # float64, support vectors (scaled), n_sv x n_features
    dual: np.ndarray  # float64, dual coefficients, n_sv

    SCALARS: ClassVar[tuple[str, ...]] = ("gamma", "intercept", "y_mean", "y_scale")
    ARRAYS: ClassVar[tuple[str, ...]] = ("x_mean", "x_scale", "support", "dual")

    def predict(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        Z = (np.asarray(X, dtype=np.float64) - self.x_mean) / self.x_scale
        # The same expansion libsvm uses: |z - s|^2 = |z|^2 + |s|^2 - 2 z.s (clipped at 0 against rounding).
        sv_sq = np.einsum("ij,ij->i", self.support, self.support)
        out = np.empty(Z.shape[0], dtype=np.float64)
        for start in range(0, Z.shape[0], chunk):
            z = Z[start : start + chunk]
            sq = np.einsum("ij,ij->i", z, z)[:, None] + sv_sq[None, :] - 2.0 * (z @ self.support.T)
            out[start : start + chunk] = np.exp(-self.gamma * np.maximum(sq, 0.0)) @ self.dual + self.intercept
        return self.y_mean + self.y_scale * out

    def save(self, path: Path) -> None:
        scalars = np.array([getattr(self, name) for name in self.SCALARS], dtype=np.float64)
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        with open(path, "wb") as fh:
            np.savez(fh, allow_pickle=False, scalars=scalars, **arrays)

    @classmethod
    def load(cls, path: Path) -> KernelMachine:
        with np.load(path, allow_pickle=False) as data:
            gamma, intercept, y_mean, y_scale = (float(v) for v in data["scalars"])
            return cls(gamma, intercept, y_mean, y_scale, *(data[name] for name in cls.ARRAYS))


def _group_scales(X: np.ndarray, column_groups: np.ndarray | None) -> np.ndarray:
    """Per-column divisors that give each column unit variance on average over its group, one divisor per group.

    A feature block is scaled as a whole, so its geometry (which the kernel measures) survives: scaling each PCA
    component to unit variance would blow its noisiest components up to the size of its main ones (on MiniLM
    captions reduced to 128 components that cost the SVR 0.011 CV Spearman). A column alone in its group (a
    metadata value, a target encoding) is simply standardised. Without groups every column is its own group.
    """
    var = X.var(axis=0)
    groups = np.arange(X.shape[1]) if column_groups is None else np.asarray(column_groups)
    if groups.shape != (X.shape[1],):
        raise ValueError(f"column_groups has shape {groups.shape}, expected ({X.shape[1]},)")
    labels, inverse = np.unique(groups, return_inverse=True)
    mean_var = np.bincount(inverse, weights=var, minlength=len(labels)) / np.bincount(inverse)
    scale = np.sqrt(mean_var)[inverse]
    scale[scale == 0] = 1.0
    return scale


class SVRMember(Member):
    """RBF epsilon-SVR (libsvm through scikit-learn) on scaled inputs (see `_group_scales`) and a standardised target.

    Standardising the target makes `epsilon` and `C` unit-free, so one search space serves any score scale;
    `gamma_scale` multiplies 1 / n_features, scikit-learn's `gamma="scale"` for unit-variance inputs. libsvm is
    single-threaded and deterministic: `seed` and `n_jobs` change nothing.
    """

    name = "svr"
    suffix = ".npz"
    seeded = False

    def default_params(self) -> dict[str, Any]:
        # Measured on real Memento10k captions (MiniLM mean embeddings, 5 folds): C=1, epsilon=0.3 gave 0.619; a C
        # three times looser lost about 0.01 and thirty times looser 0.03: noisy memorability scores want strong
        # regularisation.
        return {"C": 1.0, "epsilon": 0.3, "gamma_scale": 1.0}

    def suggest(self, trial: Any) -> dict[str, Any]:
        # Around the defaults: on Memento10k captions C 2 or gamma 0.5 already cost 0.004, so a wide space spends
        # a small trial budget far from where the optimum is.
        return {
            "C": trial.suggest_float("C", 0.3, 3.0, log=True),
            "epsilon": trial.suggest_float("epsilon", 0.1, 0.6),
            "gamma_scale": trial.suggest_float("gamma_scale", 0.5, 2.0, log=True),
        }

    def fit(self, inputs: Inputs, y: np.ndarray, params: dict[str, Any], seed: int, n_jobs: int) -> KernelMachine:
        from sklearn.svm import SVR

        X = np.asarray(inputs.X, dtype=np.float64)
        if np.isnan(X).any():
            # Trees route missing values; a kernel cannot. A missing value becomes its column's training mean
            # (0 after standardising), as at prediction time; a column missing everywhere becomes 0.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fill = np.nan_to_num(np.nanmean(X, axis=0))
            X = np.where(np.isnan(X), fill, X)
        x_mean = X.mean(axis=0)
        x_scale = _group_scales(X, inputs.groups)
        y = np.asarray(y, dtype=np.float64)
        y_mean, y_scale = float(y.mean()), float(y.std()) or 1.0
        Z = (X - x_mean) / x_scale
        gamma = float(params["gamma_scale"]) / Z.shape[1]
        est = SVR(kernel="rbf", C=float(params["C"]), epsilon=float(params["epsilon"]), gamma=gamma, cache_size=512)
        est.fit(Z, (y - y_mean) / y_scale)
        return KernelMachine(
            gamma=gamma,
            intercept=float(est.intercept_[0]),
            y_mean=y_mean,
            y_scale=y_scale,
            x_mean=x_mean,
            x_scale=x_scale,
            support=np.asarray(est.support_vectors_, dtype=np.float64),
            dual=np.asarray(est.dual_coef_[0], dtype=np.float64),
        )

    def predict(self, fitted: KernelMachine, inputs: Inputs) -> np.ndarray:
        X = np.asarray(inputs.X, dtype=np.float64)
        if np.isnan(X).any():
            X = np.where(np.isnan(X), fitted.x_mean, X)
        return fitted.predict(X)

    def save(self, fitted: KernelMachine, path: Path) -> None:
        fitted.save(path)

    def load(self, path: Path) -> KernelMachine:
        return KernelMachine.load(path)


@dataclass
class TextRidge:
    """A fitted TF-IDF + ridge model as plain arrays: the vocabulary (terms in column order), the idf weights, the
    ridge coefficients. Predicting recomputes scikit-learn's TfidfVectorizer transform (counts, 1 + log tf, times
    idf, rows scaled to unit length) from these, so a saved and reloaded model predicts bit-identically."""

    terms: np.ndarray  # str, column order
    idf: np.ndarray  # float64
    coef: np.ndarray  # float64
    intercept: float
    ngram_max: int

    def features(self, texts: list[str]) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        vocabulary = {str(t): i for i, t in enumerate(self.terms)}
        counts = CountVectorizer(vocabulary=vocabulary, ngram_range=(1, self.ngram_max)).transform(texts)
        counts = counts.astype(np.float64)
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(self.idf[None, :]).tocsr(), norm="l2")

    def predict(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.features(texts) @ self.coef, dtype=np.float64) + self.intercept

    def save(self, path: Path) -> None:
        scalars = np.array([self.intercept, self.ngram_max], dtype=np.float64)
        with open(path, "wb") as fh:
            np.savez(fh, allow_pickle=False, terms=self.terms, idf=self.idf, coef=self.coef, scalars=scalars)

    @classmethod
    def load(cls, path: Path) -> TextRidge:
        with np.load(path, allow_pickle=False) as data:
            intercept, ngram_max = data["scalars"]
            return cls(data["terms"], data["idf"], data["coef"], float(intercept), int(ngram_max))


class TfidfMember(Member):
    """Ridge regression on TF-IDF of the captions (word 1-2-grams seen in at least `min_df` training videos).

    The one member that reads words rather than embeddings: on real Memento10k captions it scores 0.58 CV alone,
    below the SVR on MiniLM, but it errs differently, and a blend of the two beats both (docs/variants-gbt.md).
    The vocabulary and idf are fitted on the fit's training videos only. Deterministic: seeds change nothing.
    """

    name = "tfidf"
    suffix = ".npz"
    seeded = False
    needs_text = True

    def default_params(self) -> dict[str, Any]:
        return {"alpha": 3.0, "min_df": 2, "ngram_max": 2}

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {
            "alpha": trial.suggest_float("alpha", 0.3, 30.0, log=True),
            "min_df": trial.suggest_int("min_df", 1, 5),
            "ngram_max": trial.suggest_int("ngram_max", 1, 3),
        }

    def fit(self, inputs: Inputs, y: np.ndarray, params: dict[str, Any], seed: int, n_jobs: int) -> TextRidge:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        ngram_max = int(params["ngram_max"])
        vectorizer = TfidfVectorizer(
            ngram_range=(1, ngram_max), min_df=int(params["min_df"]), sublinear_tf=True, dtype=np.float64
        )
        try:
            vectorizer.fit(inputs.texts)
        except ValueError:  # no term reaches min_df (no captions at all): every prediction is the mean
            return TextRidge(np.array([""]), np.zeros(1), np.zeros(1), float(np.mean(y)), ngram_max)
        terms = np.array(vectorizer.get_feature_names_out(), dtype=str)
        model = TextRidge(terms, vectorizer.idf_.astype(np.float64), np.zeros(len(terms)), 0.0, ngram_max)
        ridge = Ridge(alpha=float(params["alpha"])).fit(model.features(inputs.texts), y)
        model.coef, model.intercept = ridge.coef_.astype(np.float64), float(ridge.intercept_)
        return model

    def predict(self, fitted: TextRidge, inputs: Inputs) -> np.ndarray:
        return fitted.predict(inputs.texts)

    def save(self, fitted: TextRidge, path: Path) -> None:
        fitted.save(path)

    def load(self, path: Path) -> TextRidge:
        return TextRidge.load(path)


MEMBERS: dict[str, Member] = {
    m.name: m for m in (LightGBMMember(), XGBoostMember(), CatBoostMember(), HistGBMember(), SVRMember(), TfidfMember())
}


def member_name(spec: str) -> str:
    """The member's name in a spec: a name (`svr`: every column of the matrix) or `name@block` (that feature
    block's columns only, e.g. one SVR per text view, so each block gets its own kernel width and its own weight)."""
    return spec.partition("@")[0]


def get_member(spec: str) -> Member:
    return MEMBERS[member_name(spec)]


def block_of(spec: str) -> str | None:
    """The feature block a spec restricts its member to (`svr@text__...__mean`), or None for every column."""
    return spec.partition("@")[2] or None


def fixes(key: str, spec: str) -> bool:
    """Whether the `params` entry `key` fixes parameters of member `spec`: its own entry, or its name's (a name
    applies to its NAME@BLOCK members too)."""
    return key in (spec, member_name(spec))


def fixed_params(params: dict[str, dict[str, Any]], spec: str) -> dict[str, Any]:
    """The parameters `params` fixes for member `spec`: its name's entry, overridden by its own."""
    return {**params.get(member_name(spec), {}), **params.get(spec, {})}
