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
from mediaeval_memo.data.release import Release, build_items, find_media
from mediaeval_memo.data.tables import (
    CaptionRows,
    IdRegistry,
    Record,
    Table,
    display,
    parse_float,
    parse_int,
    read_header,
    read_table,
)

TARGETS = ["mem_score"]
SCORE_COLUMNS = [
    "video_id",
    "video_url",
    "annotations_short_term",
    "scores_raw_short_term",
    "scores_normalized_short_term",
    "decay_alpha",
]
CAPTION_COLUMNS = ["video_id"] + [f"description_{i}" for i in range(5)]
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
        split_ids: list[str] = []
        if scores_path.is_file():
            table = read_table(scores_path, SCORE_COLUMNS, root=root)
            sources.append(scores_path)
            split_ids = _read_scores(table, split, root, ids, problems, rows)
        elif split != "test":
            raise InputError(Problem(display(scores_path, root), "missing file"))
        if captions_path.is_file():
            table = read_table(captions_path, CAPTION_COLUMNS, root=root)
            sources.append(captions_path)
            if scores_path.is_file():
                _attach_captions(table, set(split_ids), root, problems, rows, scores_path)
            else:
                for record in table.records:
                    vid = ids.accept(display(captions_path, root), record, "video_id")
                    if vid is not None:
                        rows[vid] = _row(vid, split)
                        rows[vid]["captions"] = _captions(record)
        elif split == "test" and not scores_path.is_file():
            raise InputError(Problem(display(captions_path, root), "missing file"))
    problems.raise_if_any()
    for row in rows.values():
        row["media_path"] = find_media(media_dir, [row["filename"], f"{row['video_id']}.mp4"], root)
    items = build_items(list(rows.values()), TARGETS)
    return Release("memento10k", "mediaeval2021", root, items, TARGETS, sources, "video", media_dir)


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


def _read_scores(
    table: Table, split: str, root: Path, ids: IdRegistry, problems: ProblemList, rows: dict[str, dict[str, Any]]
) -> list[str]:
    file = display(table.path, root)
    out = []
    for record in table.records:
        vid = ids.accept(file, record, "video_id")
        score = parse_float(
            problems, file, record, "scores_normalized_short_term", required=True, accepted="a finite number (label)"
        )
        if vid is None:
            continue
        row = _row(vid, split)
        action, filename = official_name(record["video_url"])
        n = parse_int(problems, file, record, "annotations_short_term")
        row.update(
            mem_score=score,
            score_raw=parse_float(problems, file, record, "scores_raw_short_term", required=False),
            decay_alpha=parse_float(problems, file, record, "decay_alpha", required=False),
            n_annotations=math.nan if n is None else float(n),
            video_url=record["video_url"].strip(),
            action=action,
            filename=filename,
        )
        rows[vid] = row
        out.append(vid)
    return out


def _attach_captions(
    table: Table,
    split_ids: set[str],
    root: Path,
    problems: ProblemList,
    rows: dict[str, dict[str, Any]],
    scores_path: Path,
) -> None:
    captions = CaptionRows(problems, display(table.path, root), split_ids, display(scores_path, root))
    for record in table.records:
        vid = captions.accept(record, "video_id")
        if vid is not None:
            rows[vid]["captions"] = _captions(record)


def _read_native(root: Path, media: Path | None) -> Release:
    problems = ProblemList()
    media_dir = _media_dir(root, media)
    rows: dict[str, dict[str, Any]] = {}
    first: dict[str, str] = {}
    sources: list[Path] = []
    if not (root / NATIVE_FILES[0][1]).is_file():
        raise InputError(Problem(display(root / NATIVE_FILES[0][1], root), "missing file"))
    for split, name in NATIVE_FILES:
        path = root / name
        if not path.is_file():
            continue
        sources.append(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise InputError(Problem(name, f"not valid JSON: {exc.msg}", line=exc.lineno)) from exc
        if not isinstance(data, list) or not data:
            raise InputError(Problem(name, "empty file or not a JSON list of records"))
        for i, rec in enumerate(data, start=1):
            where = f"{name}[{i}]"
            if not isinstance(rec, dict) or not isinstance(rec.get("filename"), str) or not rec["filename"]:
                problems.add(where, "record without a 'filename' string", field="filename", value=None)
                continue
            filename: str = rec["filename"]
            action_dir, _, base = filename.rpartition("/")
            official = f"{action_dir.replace('+', '-')}_{base}" if action_dir else base
            vid = _UNSAFE.sub("-", official.removesuffix(".mp4"))
            if vid in first:
                problems.add(where, f"duplicate video (first at {first[vid]})", field="filename", value=filename)
                continue
            first[vid] = where
            row = _row(vid, split)
            score = rec.get("mem_score")
            if split != "test" or score is not None:
                if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
                    problems.add(where, "not a finite number (label)", field="mem_score", value=score)
                    continue
                row["mem_score"] = float(score)
            alpha = rec.get("alpha")
            captions = rec.get("captions", [])
            if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
                problems.add(where, "not a list of strings", field="captions", value=str(captions))
                continue
            row.update(
                decay_alpha=float(alpha) if isinstance(alpha, (int, float)) else math.nan,
                captions=[c.strip() for c in captions if c.strip()],
                video_url=str(rec.get("url", "")),
                action=action_dir.replace("+", " ").replace("-", " "),
                filename=official,
            )
            row["media_path"] = find_media(media_dir, [filename, official, f"{vid}.mp4"], root)
            rows[vid] = row
    problems.raise_if_any()
    items = build_items(list(rows.values()), TARGETS)
    return Release("memento10k", "native", root, items, TARGETS, sources, "video", media_dir)
