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
from mediaeval_memo.data.declare import COMMON_ROLES, Column, Role, TableFile
from mediaeval_memo.data.items import SPLITS
from mediaeval_memo.data.release import ReaderSpec, ReadOptions, Release, build_items
from mediaeval_memo.data.tables import IdRegistry, Record, Table, read_declared, read_text

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
    raw = _mapping_file(path) if path is not None else {}
    source = str(path) if path is not None else "command line"
    unknown = sorted(set(raw) - set(KEYS))
    for key, value in overrides.items():
        raw[key] = _parse_override(key, value)
    unknown += sorted(set(overrides) - set(KEYS))
    if unknown:
        raise InputError(
            [
                Problem(
                    "command line" if k in overrides else source,
                    f"unknown mapping key (accepted: {', '.join(KEYS)})",
                    field=f"--column {k}" if k in overrides else k,
                )
                for k in unknown
            ]
        )
    if path is not None and set(overrides) >= set(raw):
        source = "command line"
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
    if len(mapping.delimiter) != 1 or mapping.delimiter in '"\r\n':
        raise InputError(
            Problem(
                source, "one character other than a quote or a line end", field="delimiter", value=mapping.delimiter
            )
        )
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


def _mapping_file(path: Path) -> dict[str, Any]:
    source = str(path)
    if not path.is_file():
        raise InputError(Problem(source, "missing file", field="--mapping"))
    try:
        loaded = yaml.safe_load(read_text(path, source))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise InputError(Problem(source, f"not valid YAML: {exc}".splitlines()[0], line=line)) from None
    if loaded is not None and not isinstance(loaded, dict):
        raise InputError(Problem(source, "expected a mapping of keys to column names"))
    return {str(k): v for k, v in (loaded or {}).items()}


def _parse_override(key: str, value: str) -> Any:
    if key in ("text", "captions", "meta"):
        return [v.strip() for v in value.split(",") if v.strip()]
    if key == "targets":
        pairs = [v.strip() for v in value.split(",") if v.strip()]
        return {p.partition(":")[0]: (p.partition(":")[2] or p.partition(":")[0]) for p in pairs}
    return value


def declaration(mapping: ColumnMapping, split_of_file: str) -> TableFile:
    """The columns a mapping names, declared like any reader's: the id, the targets (scores in [0, 1]; a test-split
    file may lack them), text, captions and meta features, and the media, split and group columns."""
    columns = [
        Column(mapping.id, "id", "id", to="video_id"),
        *(Column(c, "score", "target", to=t, required=split_of_file != "test") for t, c in mapping.targets.items()),
        *(Column(c) for c in mapping.text),
        *(Column(c, role="captions", to="") for c in mapping.captions),
        *(Column(c, "number", to=f"meta_{c}") for c in mapping.meta),
        *(Column(c, to="") for c in (mapping.media, mapping.group) if c),
        *(Column(mapping.split, to="") for _ in [0] if mapping.split and not split_of_file),
    ]
    unique = {c.name: c for c in reversed(columns)}  # a column named twice: its first declaration wins
    return TableFile(tuple(c for c in columns if unique[c.name] is c), delimiter=mapping.delimiter, multiline=True)


def read_movies(root: Path, mapping_file: Path | None, overrides: dict[str, str]) -> Release:
    mapping = load_mapping(mapping_file, overrides)
    problems = ProblemList()
    ids = IdRegistry(problems)
    rows: list[dict[str, Any]] = []
    sources: list[Path] = []
    roles: dict[str, Role] = {**COMMON_ROLES}
    for split_of_file, name in mapping.tables.items():
        spec = declaration(mapping, split_of_file)
        table = read_declared(root / name, spec, problems, root=root, labelled=False, ids=ids)
        sources.append(root / name)
        roles.update(spec.roles)
        for record in table.records:
            row = _movie_row(record, table, mapping, split_of_file, root, problems)
            if row is not None:
                rows.append(row)
    problems.raise_if_any()
    if not rows:
        raise InputError(Problem(str(root), "the scores table has no rows"))
    items = build_items(rows, list(mapping.targets))
    has_media = bool(items.pop("_media_named").any())
    release = Release(
        "movies",
        "column-mapping",
        root,
        items,
        list(mapping.targets),
        sources,
        "video",
        root if has_media else None,
        extra={"mapping": {**mapping.__dict__}},
    )
    return release.declare(roles, ids.notes())


def _movie_row(
    record: Record, table: Table, mapping: ColumnMapping, split_of_file: str, root: Path, problems: ProblemList
) -> dict[str, Any] | None:
    """One row of a scores table as an item row, or None when it has a problem (recorded)."""
    split = _split_of(record, table, mapping, split_of_file, problems)
    _labels_of_split(record, table, mapping, split, problems)
    media = _media_of(record, table, mapping, problems)
    if not record.ok or split is None:
        return None
    row: dict[str, Any] = {
        **{t: math.nan for t in mapping.targets},
        **record.values,
        "split": split,
        "captions": [record[c].strip() for c in mapping.captions if record[c].strip()],
        "group": record[mapping.group].strip() if mapping.group else record.values["video_id"],
        "media_path": media if media and (root / media).is_file() else "",
        "_media_named": bool(media),
    }
    return row


def _split_of(
    record: Record, table: Table, mapping: ColumnMapping, split_of_file: str, problems: ProblemList
) -> str | None:
    """The file's split, the split column's, or (neither) train when every target is there, else test."""
    if split_of_file:
        return split_of_file
    if mapping.split:
        value = record[mapping.split].strip().lower()
        if value in SPLIT_VALUES:
            return SPLIT_VALUES[value]
        problems.add(
            table.name,
            f"unknown split (accepted: {', '.join(SPLIT_VALUES)})",
            line=record.line,
            field=mapping.split,
            value=value,
        )
        return None
    labelled = all(math.isfinite(float(record.values.get(t, math.nan))) for t in mapping.targets)  # type: ignore[arg-type]
    return "train" if labelled else "test"


def _labels_of_split(
    record: Record, table: Table, mapping: ColumnMapping, split: str | None, problems: ProblemList
) -> None:
    """A train or dev row needs every target."""
    if split not in ("train", "dev"):
        return
    for column in mapping.targets.values():
        if column in table.columns and record[column].strip() == "":
            problems.add(
                table.name,
                f"not a finite number (label; the {split} split needs one)",
                line=record.line,
                field=column,
                value="",
            )
            record.ok = False


def _media_of(record: Record, table: Table, mapping: ColumnMapping, problems: ProblemList) -> str:
    media = record[mapping.media].strip() if mapping.media else ""
    if media and (".." in Path(media).parts or Path(media).is_absolute()):
        problems.add(
            table.name,
            "media path must be relative to --root, without '..'",
            line=record.line,
            field=mapping.media,
            value=media,
        )
        record.ok = False
        return ""
    return media


def _read(root: Path, options: ReadOptions) -> Release:
    return read_movies(root, options.mapping, options.columns)


READER = ReaderSpec(
    "movies",
    "movie excerpts, MediaEval 2025 Subtask 1, or any scores table read through a column mapping",
    _read,
    {**COMMON_ROLES, "memorability_score": "target"},
    {"scores.csv (or the mapping's table)": declaration(ColumnMapping(), "")},
    rejects=(
        "an unknown mapping key (in the file or on the command line), a delimiter that is not one character",
        "a mapping file that is not UTF-8 YAML",
        "a target outside [0, 1]; a train or dev row without every target",
        "an unknown split value",
        "a media path outside --root",
        "a table missing its target columns (only a test-split file may)",
    ),
    tolerates=(
        "captions spanning lines inside quotes",
        "rows without targets (the test split, without a split column)",
    ),
)
