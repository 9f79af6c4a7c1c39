"""How the members' scores become one: the mean of their ranks mapped onto the target's quantiles, or a
non-negative ridge stacked on their inner out-of-fold scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def _mid_ranks(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's position within the sorted `reference` as a fraction in [0, 1] (ties at their middle)."""
    lo = np.searchsorted(reference, values, side="left")
    hi = np.searchsorted(reference, values, side="right")
    return (lo + hi) / (2.0 * len(reference))


@dataclass
class Ensemble:
    kind: str
    members: list[str]
    references: dict[str, np.ndarray]  # rank_mean: each member's sorted inner OOF scores
    target_quantiles: np.ndarray  # rank_mean: the sorted training targets
    coef: np.ndarray  # ridge
    intercept: float

    @classmethod
    def fit(cls, kind: str, oof: dict[str, np.ndarray], y: np.ndarray, alpha: float) -> Ensemble:
        members = list(oof)
        if kind == "ridge":
            from sklearn.linear_model import Ridge

            P = np.column_stack([oof[m] for m in members])
            ridge = Ridge(alpha=alpha, positive=True).fit(P, y)
            return cls(kind, members, {}, np.zeros(0), ridge.coef_.astype(np.float64), float(ridge.intercept_))
        refs = {m: np.sort(oof[m]) for m in members}
        return cls(kind, members, refs, np.sort(y.astype(np.float64)), np.zeros(0), 0.0)

    def combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        if self.kind == "ridge":
            P = np.column_stack([scores[m] for m in self.members])
            return self.intercept + P @ self.coef
        u = np.mean([_mid_ranks(self.references[m], scores[m]) for m in self.members], axis=0)
        return np.quantile(self.target_quantiles, np.clip(u, 0.0, 1.0))

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
