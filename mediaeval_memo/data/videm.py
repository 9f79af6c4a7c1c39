"""VIDEM (MediaEval 2025 Subtask 2, commercial memorability), in the layout participants received:

    devset/devset_videolist_GT.csv        labelled video list (memorability_score, brand_memorability)
    testset/testset_videolist_.csv        unlabelled video list (the trailing underscore is as shipped)
    devset-stt/<id>.txt, testset-stt/<id>.txt        speech-to-text transcripts (some empty or absent)
    frames/<id>/*.jpg                      shipped frames, one per second, names sort in time order
    {devset,testset}/features/<Name>/<id>.npy        organiser features (HSVHistogram, ViT, R3D, ...)

The YouTube id (`id`) is the video id; the integer `video_id` column is kept as `video_index`. Channels repeat
within a split but never across splits, so `group` is `channelName` and folds never split a channel.
Numeric metadata (duration, views, likes, ...) becomes `meta_<snake_case>` columns.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.data.release import Release, build_items, relative_to_root
from mediaeval_memo.data.tables import IdRegistry, display, parse_float, read_table

TARGETS = ["memorability_score", "brand_memorability"]
DEV_LIST = "devset/devset_videolist_GT.csv"
TEST_LIST = "testset/testset_videolist_.csv"
SPLITS = [("dev", DEV_LIST, "devset"), ("test", TEST_LIST, "testset")]
# Text columns of the video lists, as item-table columns.
TEXT_COLUMNS = {
    "channelName": "channel",
    "title": "title",
    "description": "description",
    "tags": "tags",
    "categoryName": "category",
    "url": "url",
}
NUMERIC_COLUMNS = ["durationSeconds", "viewsCount", "likesCount", "commentsCount", "engagementRate", "nb_annotations"]
FRAMES = "frames"


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def read_videm(root: Path) -> Release:
    problems = ProblemList()
    ids = IdRegistry(problems)
    rows: list[dict[str, Any]] = []
    sources: list[Path] = []
    frames_dir = root / FRAMES
    features: dict[str, list[tuple[str, Path]]] = {}
    for split, rel, prefix in SPLITS:
        path = root / rel
        labelled = split == "dev"
        required = ["id", "channelName", *(TARGETS if labelled else [])]
        table = read_table(path, required, root=root)
        sources.append(path)
        file = display(path, root)
        extra = [c for c in table.columns if c not in {"id", "video_id", *TEXT_COLUMNS, *TARGETS}]
        # Known numeric columns must parse; any other column is numeric metadata only if every value parses.
        numeric = [c for c in extra if c in NUMERIC_COLUMNS or all(_is_number(r[c]) for r in table.records)]
        for record in table.records:
            vid = ids.accept(file, record, "id")
            channel = record["channelName"].strip()
            if not channel:
                problems.add(
                    file,
                    "empty channel (folds group videos by channel)",
                    line=record.line,
                    field="channelName",
                    value=channel,
                )
            row: dict[str, Any] = {"video_id": vid or "", "split": split, "captions": [], "group": channel}
            for t in TARGETS:
                row[t] = parse_float(problems, file, record, t, required=labelled, accepted="a finite number (label)")
            for column, name in TEXT_COLUMNS.items():
                row[name] = record[column].strip()
            row["video_index"] = record["video_id"].strip()
            for column in extra:
                if column in numeric:
                    row[f"meta_{snake(column)}"] = parse_float(problems, file, record, column, required=False)
                else:
                    row[snake(column)] = record[column].strip()
            row["n_annotations"] = row.get("meta_nb_annotations", math.nan)
            if vid is None:
                continue
            stt = root / f"{prefix}-stt" / f"{vid}.txt"
            row["transcript"] = stt.read_text(encoding="utf-8-sig", errors="replace").strip() if stt.is_file() else ""
            if stt.is_file():
                sources.append(stt)
            folder = frames_dir / vid
            row["media_path"] = relative_to_root(folder, root) if folder.is_dir() else ""
            rows.append(row)
        feature_root = root / prefix / "features"
        if feature_root.is_dir():
            for name_dir in sorted(p for p in feature_root.iterdir() if p.is_dir()):
                for npy in sorted(name_dir.glob("*.npy")):
                    features.setdefault(name_dir.name, []).append((npy.stem, npy))
    problems.raise_if_any()
    known = {r["video_id"] for r in rows}
    for entries in features.values():
        for vid, npy in entries:
            if vid not in known:
                problems.add(display(npy, root), "feature file for an unknown video", field="video_id", value=vid)
    problems.raise_if_any()
    if not rows:
        raise InputError(Problem(str(root), "no videos in the video lists"))
    items = build_items(rows, TARGETS)
    for column in [c for c in items.columns if c.startswith("meta_")]:
        items[column] = items[column].astype("float64")
    return Release(
        "videm",
        "mediaeval2025-videm",
        root,
        items,
        TARGETS,
        sources,
        "frames",
        frames_dir if frames_dir.is_dir() else None,
        organiser_features=features,
    )


def _is_number(text: str) -> bool:
    if not text.strip():
        return True
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
