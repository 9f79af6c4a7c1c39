"""A fitted GBT ensemble and its files: gbt.json (design, transform, members, ensemble, report), the PCA arrays
and each member in its library's own non-pickle format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_write_text
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.variants.base import Model
from mediaeval_memo.variants.gbt.design import Design, Transform
from mediaeval_memo.variants.gbt.ensemble import Ensemble
from mediaeval_memo.variants.gbt.members import get_member

FORMAT_VERSION = 1
MODEL_FILE = "gbt.json"


@dataclass
class GBTModel(Model):
    """A fitted GBT ensemble: the design, its transform, the members (one per bagging seed each), the ensemble."""

    target: str
    design: Design
    transform: Transform
    fitted: dict[str, list[Any]]
    params: dict[str, dict[str, Any]]
    ensemble: Ensemble
    fit_report: dict[str, Any] = field(default_factory=dict)

    def predict_members(self, dataset: PreparedDataset, ids: Sequence[str]) -> pd.DataFrame:
        """Each member's (seed-averaged) score and the ensemble's, one row per video."""
        raw = self.design.raw(dataset, list(ids))
        inputs = self.transform.inputs(raw)
        scores = {
            m: np.mean([get_member(m).predict(f, self.design.view(m, inputs)) for f in fits], axis=0)
            for m, fits in self.fitted.items()
        }
        frame = pd.DataFrame(scores, index=pd.Index(raw.ids, name="video_id"))
        frame["ensemble"] = self.ensemble.combine(scores)
        return frame

    def report(self) -> dict[str, Any]:
        return self.fit_report

    def predict(self, dataset: PreparedDataset, ids: Sequence[str], progress: Reporter | None = None) -> pd.Series:
        return self.predict_members(dataset, ids)["ensemble"].rename("score")

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        members: dict[str, Any] = {}
        for m, fits in self.fitted.items():
            member = get_member(m)
            files = []
            for i, f in enumerate(fits):
                name = f"{m}_{i}{member.suffix}"
                member.save(f, directory / name)
                files.append(name)
            members[m] = {"params": self.params[m], "files": files}
        data = {
            "format_version": FORMAT_VERSION,
            "target": self.target,
            "design": self.design.to_json(),
            "transform": self.transform.save(directory),
            "members": members,
            "ensemble": self.ensemble.to_json(),
            "report": self.fit_report,
        }
        atomic_write_text(directory / MODEL_FILE, json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, directory: Path) -> GBTModel:
        directory = Path(directory)
        path = directory / MODEL_FILE
        if not path.is_file():
            raise InputError(Problem(str(directory), f"not a GBT model folder (no {MODEL_FILE})"))
        data = json.loads(path.read_text("utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(
                Problem(str(path), f"unsupported format (accepted: {FORMAT_VERSION})", value=data.get("format_version"))
            )
        design = Design.from_json(data["design"])
        design.check_members(list(data["members"]), str(path))
        fitted = {
            m: [get_member(m).load(directory / name) for name in spec["files"]] for m, spec in data["members"].items()
        }
        return cls(
            target=data["target"],
            design=design,
            transform=Transform.load(directory, design, data["transform"]),
            fitted=fitted,
            params={m: spec["params"] for m, spec in data["members"].items()},
            ensemble=Ensemble.from_json(data["ensemble"]),
            fit_report=data.get("report", {}),
        )
