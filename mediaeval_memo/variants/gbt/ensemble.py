"""How the members' scores become one, fitted on their inner out-of-fold scores (never on the scored videos):

- `select` (the default): greedy forward selection with replacement (Caruana et al., "Ensemble selection from
  libraries of models", ICML 2004). Starting from nothing, each round adds the member (again, if it is the best
  choice) whose addition gives the running average the highest Spearman; the weights are how often each was
  added, over the best prefix of rounds (a round must gain at least `MIN_GAIN`). A member that never helps gets
  weight 0 and is dropped: its final model is never fitted. The output is a weighted average of the members'
  scores, so it stays on the target's scale.
- `ridge`: a non-negative ridge regression on the members' scores; a member with coefficient 0 is dropped too.
- `rank_mean`: every member counts the same: each score mapped to its rank among that member's own inner
  out-of-fold scores, the ranks averaged and mapped onto the training targets' quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mediaeval_memo.variants.gbt.tuning import spearman

SELECTION_ROUNDS = 20  # weights in steps of 1/20: finer steps fit the inner folds' noise, not the signal
# A round counts only when it raises the inner Spearman by this much: a member whose scores are nearly constant
# leaves the ranks almost unchanged and would otherwise be kept for gains that are rounding noise.
MIN_GAIN = 1e-4


def _mid_ranks(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's position within the sorted `reference` as a fraction in [0, 1] (ties at their middle)."""
    lo = np.searchsorted(reference, values, side="left")
    hi = np.searchsorted(reference, values, side="right")
    return (lo + hi) / (2.0 * len(reference))


def select_weights(oof: dict[str, np.ndarray], y: np.ndarray, rounds: int = SELECTION_ROUNDS) -> np.ndarray:
    """Caruana's greedy forward selection with replacement: one weight per member of `oof` (in its order), summing
    to 1. Ties go to the member listed first, so the result depends on nothing but the scores."""
    P = np.column_stack(list(oof.values()))
    counts = np.zeros(P.shape[1], dtype=np.int64)
    total = np.zeros(P.shape[0], dtype=np.float64)
    best, best_counts = -np.inf, counts
    for r in range(1, rounds + 1):
        scores = [spearman((total + P[:, j]) / r, y) for j in range(P.shape[1])]
        j = int(np.argmax(scores))
        counts = counts.copy()
        counts[j] += 1
        total += P[:, j]
        if scores[j] > best + MIN_GAIN:
            best, best_counts = scores[j], counts
    return best_counts / best_counts.sum()


@dataclass
class Ensemble:
    kind: str
    members: list[str]
    references: dict[str, np.ndarray]  # rank_mean: each member's sorted inner OOF scores
    target_quantiles: np.ndarray  # rank_mean: the sorted training targets
    coef: np.ndarray  # select: the weights; ridge: the coefficients (one per member)
    intercept: float

    @classmethod
    def fit(cls, kind: str, oof: dict[str, np.ndarray], y: np.ndarray, alpha: float) -> Ensemble:
        members = list(oof)
        if kind == "select":
            return cls(kind, members, {}, np.zeros(0), select_weights(oof, y), 0.0)
        if kind == "ridge":
            from sklearn.linear_model import Ridge

            P = np.column_stack([oof[m] for m in members])
            ridge = Ridge(alpha=alpha, positive=True).fit(P, y)
            return cls(kind, members, {}, np.zeros(0), ridge.coef_.astype(np.float64), float(ridge.intercept_))
        refs = {m: np.sort(oof[m]) for m in members}
        return cls(kind, members, refs, np.sort(y.astype(np.float64)), np.zeros(0), 0.0)

    def weights(self) -> dict[str, float]:
        """Each member's share of the output: its weight or coefficient; 1 / members for rank_mean."""
        if self.kind == "rank_mean":
            return {m: 1.0 / len(self.members) for m in self.members}
        return {m: float(c) for m, c in zip(self.members, self.coef, strict=True)}

    def kept(self) -> list[str]:
        """The members the output depends on (a zero weight or coefficient drops a member)."""
        return [m for m, w in self.weights().items() if w > 0]

    def combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        if self.kind == "rank_mean":
            u = np.mean([_mid_ranks(self.references[m], scores[m]) for m in self.members], axis=0)
            return np.quantile(self.target_quantiles, np.clip(u, 0.0, 1.0))
        kept = [(m, w) for m, w in self.weights().items() if w > 0]
        n = len(next(iter(scores.values())))
        out = np.full(n, self.intercept, dtype=np.float64)
        for m, w in kept:
            out += w * scores[m]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "members": self.members,
            "references": {m: r.tolist() for m, r in self.references.items()},
            "target_quantiles": self.target_quantiles.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ensemble:
        return cls(
            data["kind"],
            list(data["members"]),
            {m: np.asarray(r, dtype=np.float64) for m, r in data["references"].items()},
            np.asarray(data["target_quantiles"], dtype=np.float64),
            np.asarray(data["coef"], dtype=np.float64),
            float(data["intercept"]),
        )
