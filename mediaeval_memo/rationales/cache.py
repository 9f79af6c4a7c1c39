"""The rationale cache: a JSONL file of records keyed by (video, fold, model, prompt hash).

Records are appended a batch at a time and fsync'ed, so a killed run loses at most the batch in flight. A kill in
the middle of a write leaves a final line without its newline: opening the cache cuts that tail off, and the next
run regenerates it. A damaged line anywhere else is an error naming the line, never a silent skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mediaeval_memo.core.errors import InputError, Problem, ProblemList

CACHE_FORMAT = 1


@dataclass(frozen=True)
class RationaleRecord:
    video_id: str
    fold: str
    model: str
    prompt_hash: str
    text: str
    exemplars: list[str] = field(default_factory=list)
    aspects: str = ""
    format: int = CACHE_FORMAT

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.video_id, self.fold, self.model, self.prompt_hash)


_FIELDS = ("video_id", "fold", "model", "prompt_hash", "text")


class RationaleCache:
    """Open (and repair the tail of) a cache file; look records up by key; append new ones durably."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: list[RationaleRecord] = []
        self._keys: set[tuple[str, str, str, str]] = set()
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # The last write was cut off by a kill: drop the partial line so that it is generated again.
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
            data = data[:cut]
        problems = ProblemList()
        for line_no, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                problems.add(self.path, f"not a JSON record ({exc.msg}); delete the line or the file", line=line_no)
                continue
            missing = [f for f in _FIELDS if not isinstance(obj, dict) or not isinstance(obj.get(f), str)]
            if missing:
                problems.add(self.path, "record lacks a string field", line=line_no, field=missing[0])
                continue
            known = {k: obj[k] for k in RationaleRecord.__dataclass_fields__ if k in obj}
            self._add(RationaleRecord(**known))
        problems.raise_if_any()

    def _add(self, record: RationaleRecord) -> None:
        self.records.append(record)
        self._keys.add(record.key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self.records)

    def append(self, records: Iterable[RationaleRecord]) -> None:
        new = list(records)
        if not new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(asdict(r), ensure_ascii=False, sort_keys=True) + "\n" for r in new)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        for r in new:
            self._add(r)


def load_rationales(path: str | Path, model: str | None = None) -> dict[tuple[str, str], str]:
    """Rationale text per (video_id, fold) from a cache; when it holds several models, `model` picks one.

    For a (video, fold) generated more than once (another prompt), the most recent record wins.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(Problem(str(path), "rationales file not found; create it with `memo rationales`"))
    records = RationaleCache(path).records
    models = sorted({r.model for r in records})
    if model is None or model == "":
        if len(models) > 1:
            raise InputError(
                Problem(str(path), f"holds rationales of several models ({', '.join(models)}); choose one")
            )
    elif model not in models:
        raise InputError(Problem(str(path), f"no rationales of model {model!r} (has: {', '.join(models) or 'none'})"))
    out: dict[tuple[str, str], str] = {}
    for r in records:
        if model in (None, "") or r.model == model:
            out[(r.video_id, r.fold)] = r.text
    return out
