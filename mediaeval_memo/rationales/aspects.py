"""The aspects file: the expert-derived memorability aspects a rationale assesses, one-line definition each.

The toolkit ships `aspects.yaml`; users replace it with their own (`memo rationales --aspects FILE`). A file is
a mapping with `name`, an integer `version`, and a non-empty list `aspects` of {id, label, definition}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from mediaeval_memo.core.errors import InputError, Problem, ProblemList

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Aspect:
    id: str
    label: str
    definition: str


@dataclass(frozen=True)
class AspectSet:
    name: str
    version: int
    aspects: tuple[Aspect, ...]
    source: str

    @property
    def tag(self) -> str:
        """`name@version`, recorded with every rationale."""
        return f"{self.name}@{self.version}"


def default_aspects_path() -> Path:
    return Path(str(resources.files("mediaeval_memo.rationales").joinpath("aspects.yaml")))


def load_aspects(path: str | Path | None = None) -> AspectSet:
    """Read and validate an aspects file (the shipped one when `path` is None), listing every problem."""
    path = Path(path) if path is not None else default_aspects_path()
    src = str(path)
    if not path.is_file():
        raise InputError(Problem(src, "aspects file not found"))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(Problem(src, f"not valid YAML ({str(exc).splitlines()[0]})")) from None
    if not isinstance(data, dict):
        raise InputError(Problem(src, "expected a mapping with name, version and aspects"))
    problems = ProblemList()
    name, version, raw = data.get("name"), data.get("version"), data.get("aspects")
    if not isinstance(name, str) or not name.strip():
        problems.add(src, "expected a non-empty string", field="name", value=name)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.add(src, "expected an integer >= 1", field="version", value=version)
    if not isinstance(raw, list) or not raw:
        problems.add(src, "expected a non-empty list of {id, label, definition}", field="aspects")
        problems.raise_if_any()
    assert isinstance(raw, list)
    aspects: list[Aspect] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw, start=1):
        where = f"aspects[{i}]"
        if not isinstance(entry, dict):
            problems.add(src, "expected a mapping with id, label and definition", field=where)
            continue
        extra = sorted(set(entry) - {"id", "label", "definition"})
        if extra:
            problems.add(src, "unknown keys (accepted: id, label, definition)", field=where, value=", ".join(extra))
        aid, label, definition = entry.get("id"), entry.get("label"), entry.get("definition")
        if not isinstance(aid, str) or not _ID.match(aid):
            problems.add(src, "expected lower_snake_case, 1-64 characters", field=f"{where}.id", value=aid)
        elif aid in seen:
            problems.add(src, "duplicate aspect id", field=f"{where}.id", value=aid)
        for key, value in (("label", label), ("definition", definition)):
            if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
                problems.add(src, "expected one non-empty line of text", field=f"{where}.{key}", value=value)
        if isinstance(aid, str):
            seen.add(aid)
        if not problems:
            aspects.append(Aspect(str(aid), str(label).strip(), str(definition).strip()))
    problems.raise_if_any()
    return AspectSet(name=str(name), version=int(str(version)), aspects=tuple(aspects), source=src)
