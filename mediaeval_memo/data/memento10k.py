"""Memento10k: the MediaEval 2021 CSV layout and the native JSON release.

MediaEval 2021 layout (under the release root; any split folder but `training_set/` may be absent):
    training_set/train_scores.csv, training_set/train_text_descriptions.csv
    dev_set/dev_scores.csv,        dev_set/dev_text_descriptions.csv
    test_set/test_text_descriptions.csv   (scores withheld; a test_scores.csv is read when present)
Native release: memento_{train,val,test}_data.json, lists of {filename, url, mem_score, alpha, captions}.

The 2021 release ships no videos. Videos are looked up under a media folder (default `<root>/videos`, `--media`
elsewhere) by their official Memento10k file name `<action>_<base>.mp4`, rebuilt from the video URL
`.../<action>/<base>.mp4` with '+' in the action replaced by '-', and then by `<video_id>.mp4` (for splits whose
URLs are withheld).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.ids import video_id_problem
from mediaeval_memo.data.declare import COMMON_ROLES, Column, Role, TableFile
from mediaeval_memo.data.release import ReaderSpec, ReadOptions, Release, build_items, find_media
from mediaeval_memo.data.tables import (
    CaptionRows,
    IdRegistry,
    Record,
    Table,
    display,
    ids_with_lines,
    json_number,
    read_declared,
    read_header,
    read_json_records,
)

TARGETS = ["mem_score"]
SCORES = TableFile(
    (
        Column("video_id", "id", "id"),
        Column("video_url"),
        Column("annotations_short_term", "count", "label", to="n_annotations"),
        Column("scores_raw_short_term", "score", "label", to="score_raw"),
        Column("scores_normalized_short_term", "score", "target", to="mem_score"),
        Column("decay_alpha", "number", "label"),
    )
)
CAPTIONS = TableFile(
    (Column("video_id", "id", "id"), *(Column(f"description_{i}", role="captions", to="") for i in range(5))),
    multiline=True,
)
# The native release's fields, checked by the same rules as the CSV cells.
NATIVE_SCORE = Column("mem_score", "score", "target")
NATIVE_ALPHA = Column("alpha", "number", "label", to="decay_alpha")
# Every item-table column this reader writes, and what it is for.
ROLES: dict[str, Role] = {
    **COMMON_ROLES,
    **SCORES.roles,
    "action": "feature",
    "filename": "feature",
}
SCORE_COLUMNS = SCORES.required
CAPTION_COLUMNS = CAPTIONS.required
# (split, folder, file prefix) of the MediaEval 2021 layout.
SPLIT_FOLDERS = [("train", "training_set", "train"), ("dev", "dev_set", "dev"), ("test", "test_set", "test")]
NATIVE_FILES = [
    ("train", "memento_train_data.json"),
    ("dev", "memento_val_data.json"),
    ("test", "memento_test_data.json"),
]
DEFAULT_MEDIA = "videos"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def official_name(url: str) -> tuple[str, str]:
    """(action label, official file name) from a Memento10k video URL `.../<action>/<base>.mp4`; ('', '') if none.

    >>> official_name("https://host/actions3/adult+female+singing/peeks_25.mp4")
    ('adult female singing', 'adult-female-singing_peeks_25.mp4')
    """
    parts = [p for p in url.strip().split("/") if p]
    if len(parts) < 2 or not parts[-1].endswith(".mp4"):
        return "", ""
    action, base = parts[-2], parts[-1]
    return action.replace("+", " "), f"{action.replace('+', '-')}_{base}"


def detect_layout(root: Path) -> str | None:
    if (root / "training_set").is_dir() or (root / "test_set").is_dir():
        return "mediaeval2021"
    if any((root / name).is_file() for _, name in NATIVE_FILES):
        return "native"
    return None


def read_memento10k(root: Path, media: Path | None = None) -> Release:
    """Read either Memento10k layout from `root`; `media` overrides where videos are looked up."""
    layout = detect_layout(root)
    if layout == "mediaeval2021":
        return _read_2021(root, media)
    if layout == "native":
        return _read_native(root, media)
    raise InputError(
        Problem(
            str(root),
            "not a Memento10k release: expected training_set/train_scores.csv (MediaEval 2021 layout) "
            "or memento_train_data.json (native release)",
        )
    )


def _media_dir(root: Path, media: Path | None) -> Path | None:
    d = media if media is not None else root / DEFAULT_MEDIA
    if media is not None and not d.is_dir():
        raise InputError(Problem(str(media), "media folder does not exist", field="--media"))
    return d if d.is_dir() else None


def _read_2021(root: Path, media: Path | None) -> Release:
    problems = ProblemList()
    ids = IdRegistry(problems)
    media_dir = _media_dir(root, media)
    rows: dict[str, dict[str, Any]] = {}
    sources: list[Path] = []
    if not (root / "training_set" / "train_scores.csv").is_file():
        raise InputError(Problem(display(root / "training_set" / "train_scores.csv", root), "missing file"))
    _not_trecvid(root)
    for split, folder, prefix in SPLIT_FOLDERS:
        d = root / folder
        if not d.is_dir():
            continue
        scores_path = d / f"{prefix}_scores.csv"
        captions_path = d / f"{prefix}_text_descriptions.csv"
        if not scores_path.is_file() and split != "test":
            raise InputError(Problem(display(scores_path, root), "missing file"))
        if not scores_path.is_file() and not captions_path.is_file():
            raise InputError(Problem(display(captions_path, root), "missing file"))
        known: dict[str, int] | None = None
        if scores_path.is_file():
            sources.append(scores_path)
            table = read_declared(scores_path, SCORES, problems, root=root, labelled=split != "test", ids=ids)
            known = _read_scores(table, split, rows)
        if captions_path.is_file():
            sources.append(captions_path)
            table = read_declared(captions_path, CAPTIONS, problems, root=root, ids=None if known is not None else ids)
            _read_captions(table, split, rows, known, display(scores_path, root), problems)
    problems.raise_if_any()
    for row in rows.values():
        row["media_path"] = find_media(media_dir, [row["filename"], f"{row['video_id']}.mp4"], root)
    items = build_items(list(rows.values()), TARGETS)
    release = Release("memento10k", "mediaeval2021", root, items, TARGETS, sources, "video", media_dir)
    return release.declare(ROLES, ids.notes())


def _not_trecvid(root: Path) -> None:
    """The 2021 TRECVid subset ships the same folder and file names with long-term scores and one caption per row;
    reading it as Memento10k would stop at a missing caption column, so say which command reads it."""
    scores = root / "training_set" / "train_scores.csv"
    if "annotations_long_term" in read_header(scores):
        raise InputError(
            Problem(
                display(scores, root),
                "long-term scores (annotations_long_term): this is the TRECVid subset of the 2021 release, "
                "read it with `memo prepare trecvid`",
                line=1,
            )
        )


def _row(vid: str, split: str) -> dict[str, Any]:
    return {
        "video_id": vid,
        "split": split,
        "mem_score": math.nan,
        "score_raw": math.nan,
        "decay_alpha": math.nan,
        "n_annotations": math.nan,
        "captions": [],
        "group": vid,
        "media_path": "",
        "action": "",
        "video_url": "",
        "filename": "",
    }


def _captions(record: Record) -> list[str]:
    return [c.strip() for c in (record[f"description_{i}"] for i in range(5)) if c.strip()]


def _read_scores(table: Table, split: str, rows: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The scores file's videos into `rows`; their ids with the line each is on (for the captions' join)."""
    for record in table.records:
        if record.ok:
            vid = str(record.values["video_id"])
            action, filename = official_name(str(record.values["video_url"]))
            rows[vid] = {**_row(vid, split), **record.values, "action": action, "filename": filename}
    return ids_with_lines(table, "video_id")


def _read_captions(
    table: Table,
    split: str,
    rows: dict[str, dict[str, Any]],
    known: dict[str, int] | None,
    scores_file: str,
    problems: ProblemList,
) -> None:
    """Captions of the scores file's videos (each has exactly one row); without a scores file (the test split)
    the caption file is the split's video list, its ids checked as the registry's."""
    if known is None:
        for record in table.records:
            if record.ok:
                vid = str(record.values["video_id"])
                rows[vid] = {**_row(vid, split), "captions": _captions(record)}
        return
    join = CaptionRows(problems, table.name, known, scores_file)
    for record in table.records:
        joined = join.accept(record, "video_id")
        if joined in rows and record.ok and rows[joined]["split"] == split:
            rows[joined]["captions"] = _captions(record)
    join.missing("video_id", among=[vid for vid, row in rows.items() if row["split"] == split])


def _read_native(root: Path, media: Path | None) -> Release:
    problems = ProblemList()
    media_dir = _media_dir(root, media)
    rows: dict[str, dict[str, Any]] = {}
    first: dict[str, str] = {}
    sources: list[Path] = []
    renamed = 0
    if not (root / NATIVE_FILES[0][1]).is_file():
        raise InputError(Problem(display(root / NATIVE_FILES[0][1], root), "missing file"))
    for split, name in NATIVE_FILES:
        path = root / name
        if not path.is_file():
            continue
        sources.append(path)
        for line, rec in read_json_records(path, name):
            row = _native_row(rec, split, name, line, problems)
            if row is None:
                continue
            vid, shipped = row["video_id"], row.pop("_shipped")
            if vid in first:
                problems.add(
                    name, f"duplicate video (first at {first[vid]})", line=line, field="filename", value=shipped
                )
                continue
            first[vid] = f"{name}:{line}"
            renamed += vid != row["filename"].removesuffix(".mp4")
            row["media_path"] = find_media(media_dir, [shipped, row["filename"], f"{vid}.mp4"], root)
            rows[vid] = row
    problems.raise_if_any()
    items = build_items(list(rows.values()), TARGETS)
    notes = [f"{renamed} video id(s) had characters other than letters, digits, '.', '_', '-' replaced by '-'"]
    release = Release("memento10k", "native", root, items, TARGETS, sources, "video", media_dir)
    return release.declare(ROLES, notes if renamed else [])


def _native_row(rec: object, split: str, name: str, line: int, problems: ProblemList) -> dict[str, Any] | None:
    """One record of the native JSON release as an item row, or None (and its problems recorded)."""
    if not isinstance(rec, dict) or not isinstance(rec.get("filename"), str) or not rec["filename"].strip():
        problems.add(name, "record without a 'filename' string", line=line, field="filename", value=None)
        return None
    filename: str = rec["filename"].strip()
    action_dir, _, base = filename.rpartition("/")
    official = f"{action_dir.replace('+', '-')}_{base}" if action_dir else base
    vid = _UNSAFE.sub("-", official.removesuffix(".mp4"))
    if why := video_id_problem(vid):
        problems.add(name, why, line=line, field="filename", value=filename)
        return None
    ok = True
    score, why = json_number(rec.get("mem_score"), NATIVE_SCORE, needed=split != "test")
    alpha, why_alpha = json_number(rec.get("alpha"), NATIVE_ALPHA, needed=False)
    for key, value, problem in (("mem_score", rec.get("mem_score"), why), ("alpha", rec.get("alpha"), why_alpha)):
        if problem:
            problems.add(name, f"{problem} (label)", line=line, field=key, value=_shown(value))
            ok = False
    captions = rec.get("captions", [])
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        problems.add(name, "not a list of strings", line=line, field="captions", value=_shown(captions))
        ok = False
    if not ok:
        return None
    return {
        **_row(vid, split),
        "mem_score": score,
        "decay_alpha": alpha,
        "captions": [c.strip() for c in captions if c.strip()],
        "video_url": str(rec.get("url", "")),
        "action": action_dir.replace("+", " ").replace("-", " "),
        "filename": official,
        "_shipped": filename,  # the name as the release writes it, for the media look-up
    }


def _shown(value: object) -> object:
    """A JSON value as a problem shows it: numbers and strings as they are, anything else as JSON."""
    return value if isinstance(value, (str, int, float)) else json.dumps(value)


def _read(root: Path, options: ReadOptions) -> Release:
    return read_memento10k(root, options.media)


READER = ReaderSpec(
    "memento10k",
    "Memento10k: the MediaEval 2021 CSVs, or the native JSON release",
    _read,
    ROLES,
    {"*/*_scores.csv": SCORES, "*/*_text_descriptions.csv": CAPTIONS},
    rejects=(
        "a caption row for a video not in its scores file, or a second caption row for one",
        "a scored video with no caption row",
        "the TRECVid 2021 folder (says to use `trecvid`)",
        "native JSON: a record without a filename, a label that is not a number in [0, 1], an `alpha` that is not "
        "a number, captions that are not a list of strings",
    ),
    warns=("native JSON: ids whose characters other than letters, digits, `.`, `_`, `-` were replaced by `-`",),
    tolerates=("captions spanning lines inside quotes", "a test split with captions only (no scores file)"),
)
