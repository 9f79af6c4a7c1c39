"""Movie excerpts (MediaEval 2025 Subtask 1) and any other layout: a scores table plus a column mapping.

The organisers never published the 2025 movie layout, so this reader takes the mapping from the user: a small YAML
file (`--mapping`) and/or `--column KEY=COLUMN` overrides. Every key has a default:

    table: scores.csv              # relative to --root; or one file per split: {train: a.csv, test: b.csv}
    delimiter: ","
    id: video_id                   # the video id column (ids must be safe as file names)
    targets: {memorability_score: score}   # target name -> column; a list [a, b] keeps the names
    text: []                       # text columns kept as text fields (e.g. [title, synopsis])
    captions: []                   # columns whose values become the `captions` list
    media: ""                      # column with a video path, relative to --root (empty: no media)
    split: ""                      # column with train/dev/test (empty: labelled rows train, the rest test)
    group: ""                      # fold grouping column, e.g. the movie a clip comes from (empty: the id)
    meta: []                       # numeric columns kept as meta_<name>

With `--column`, list-valued keys take comma-separated column names (`--column text=title,synopsis`) and `targets`
takes `name:column` pairs (`--column targets=short_term:st,long_term:lt`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.data.items import SPLITS
from mediaeval_memo.data.release import Release, build_items
from mediaeval_memo.data.tables import IdRegistry, display, parse_float, read_table

KEYS = ("table", "delimiter", "id", "targets", "text", "captions", "media", "split", "group", "meta")
SPLIT_VALUES = {"train": "train", "training": "train", "dev": "dev", "val": "dev", "validation": "dev", "test": "test"}


@dataclass
class ColumnMapping:
    tables: dict[str, str] = field(default_factory=lambda: {"": "scores.csv"})
    delimiter: str = ","
    id: str = "video_id"
    targets: dict[str, str] = field(default_factory=lambda: {"memorability_score": "score"})
    text: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    media: str = ""
    split: str = ""
    group: str = ""
    meta: list[str] = field(default_factory=list)


def load_mapping(path: Path | None, overrides: dict[str, str]) -> ColumnMapping:
    """The mapping from defaults, then the YAML file, then `--column` overrides; unknown keys are errors."""
    raw: dict[str, Any] = {}
    source = "--mapping"
    if path is not None:
        source = str(path)
        if not path.is_file():
            raise InputError(Problem(source, "missing file", field="--mapping"))
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except yaml.YAMLError as exc:
            raise InputError(Problem(source, f"not valid YAML: {exc}".splitlines()[0])) from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(Problem(source, "expected a mapping of keys to column names"))
        raw.update(loaded or {})
    for key, value in overrides.items():
        raw[key] = _parse_override(key, value)
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise InputError(
            [Problem(source, f"unknown mapping key (accepted: {', '.join(KEYS)})", field=k) for k in unknown]
        )
    mapping = ColumnMapping()
    if "table" in raw:
        table = raw["table"]
        if isinstance(table, str):
            mapping.tables = {"": table}
        elif isinstance(table, dict) and table and all(k in SPLITS for k in table):
            mapping.tables = {str(k): str(v) for k, v in table.items()}
        else:
            raise InputError(
                Problem(source, "a file name, or split -> file name (train/dev/test)", field="table", value=str(table))
            )
    for key in ("delimiter", "id", "media", "split", "group"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise InputError(Problem(source, "expected a column name", field=key, value=str(raw[key])))
            setattr(mapping, key, raw[key])
    if "targets" in raw:
        targets = raw["targets"]
        if isinstance(targets, list) and all(isinstance(t, str) for t in targets):
            mapping.targets = {t: t for t in targets}
        elif isinstance(targets, dict) and all(isinstance(v, str) for v in targets.values()):
            mapping.targets = {str(k): v for k, v in targets.items()}
        else:
            raise InputError(
                Problem(source, "a list of columns or name -> column", field="targets", value=str(targets))
            )
    for key in ("text", "captions", "meta"):
        if key in raw:
            given = raw[key]
            columns = ([given] if given else []) if isinstance(given, str) else given
            if not isinstance(columns, list) or not all(isinstance(v, str) for v in columns):
                raise InputError(Problem(source, "a list of column names", field=key, value=str(given)))
            setattr(mapping, key, columns)
    return mapping


def _parse_override(key: str, value: str) -> Any:
    if key in ("text", "captions", "meta"):
        return [v.strip() for v in value.split(",") if v.strip()]
    if key == "targets":
        pairs = [v.strip() for v in value.split(",") if v.strip()]
        return {p.partition(":")[0]: (p.partition(":")[2] or p.partition(":")[0]) for p in pairs}
    return value


def read_movies(root: Path, mapping_file: Path | None, overrides: dict[str, str]) -> Release:
    mapping = load_mapping(mapping_file, overrides)
    problems = ProblemList()
    ids = IdRegistry(problems)
    rows: list[dict[str, Any]] = []
    sources: list[Path] = []
    for split_of_file, name in mapping.tables.items():
        path = root / name
        required = [mapping.id, *mapping.text, *mapping.captions, *mapping.meta]
        required += [c for c in (mapping.media, mapping.group) if c]
        if not split_of_file:
            required += [c for c in (mapping.split,) if c]
        table = read_table(path, list(dict.fromkeys(required)), root=root, delimiter=mapping.delimiter)
        sources.append(path)
        file = display(path, root)
        missing_targets = [t for t in mapping.targets.values() if t not in table.columns]
        # A table may lack the target columns only when it is the test split (labels withheld).
        if missing_targets and split_of_file != "test":
            raise InputError(
                [
                    Problem(file, f"missing column (the header has: {', '.join(table.columns)})", line=1, field=c)
                    for c in missing_targets
                ]
            )
        for record in table.records:
            vid = ids.accept(file, record, mapping.id)
            row: dict[str, Any] = {"video_id": vid or ""}
            labelled = True
            for target, column in mapping.targets.items():
                if column in table.columns:
                    row[target] = parse_float(problems, file, record, column, required=False)
                    labelled = labelled and math.isfinite(row[target])
                else:
                    row[target], labelled = math.nan, False
            if split_of_file:
                split = split_of_file
            elif mapping.split:
                value = record[mapping.split].strip().lower()
                split = SPLIT_VALUES.get(value, "")
                if not split:
                    problems.add(
                        file,
                        f"unknown split (accepted: {', '.join(SPLIT_VALUES)})",
                        line=record.line,
                        field=mapping.split,
                        value=value,
                    )
            else:
                split = "train" if labelled else "test"
            if split in ("train", "dev"):
                for target, column in mapping.targets.items():
                    if not math.isfinite(row[target]) and column in table.columns and record[column].strip() == "":
                        problems.add(
                            file,
                            f"not a finite number (label; the {split} split needs one)",
                            line=record.line,
                            field=column,
                            value="",
                        )
            row["split"] = split
            row["captions"] = [record[c].strip() for c in mapping.captions if record[c].strip()]
            for column in mapping.text:
                row[column] = record[column].strip()
            for column in mapping.meta:
                row[f"meta_{column}"] = parse_float(problems, file, record, column, required=False)
            row["group"] = record[mapping.group].strip() if mapping.group else row["video_id"]
            media = record[mapping.media].strip() if mapping.media else ""
            if media and (".." in Path(media).parts or Path(media).is_absolute()):
                problems.add(
                    file,
                    "media path must be relative to --root, without '..'",
                    line=record.line,
                    field=mapping.media,
                    value=media,
                )
                media = ""
            row["media_path"] = media if media and (root / media).is_file() else ""
            row["_media_named"] = bool(media)
            if vid is not None:
                rows.append(row)
    problems.raise_if_any()
    if not rows:
        raise InputError(Problem(str(root), "the scores table has no rows"))
    targets = list(mapping.targets)
    items = build_items(rows, targets)
    has_media = bool(items.pop("_media_named").any())
    return Release(
        "movies",
        "column-mapping",
        root,
        items,
        targets,
        sources,
        "video",
        root if has_media else None,
        extra={"mapping": {**mapping.__dict__}},
    )
