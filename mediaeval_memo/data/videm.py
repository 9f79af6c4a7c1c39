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

import re
from pathlib import Path
from typing import Any

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.data.declare import COMMON_ROLES, Column, Role, TableFile
from mediaeval_memo.data.release import ReaderSpec, ReadOptions, Release, build_items, relative_to_root
from mediaeval_memo.data.tables import NUMBER, IdRegistry, Record, display, parse_number, read_declared, read_text

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
NUMERIC_COLUMNS = ["durationSeconds", "viewsCount", "likesCount", "commentsCount", "engagementRate"]


def _video_list(labelled: bool) -> TableFile:
    return TableFile(
        (
            Column("id", "id", "id", to="video_id"),
            Column("video_id", to="video_index", required=False),
            *(Column(c, to=to, required=c == "channelName") for c, to in TEXT_COLUMNS.items()),
            *(Column(c, "number", to=f"meta_{snake(c)}", required=False, low=0) for c in NUMERIC_COLUMNS),
            # The number of people who annotated a video is a product of the annotation, like its scores: a label,
            # masked outside a fit's ids (and absent from the test list).
            Column("nb_annotations", "count", "label", to="n_annotations", required=False),
            *(Column(t, "score", "target", required=labelled) for t in TARGETS),
        ),
        multiline=True,  # descriptions span lines
    )


FRAMES = "frames"


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def read_videm(root: Path) -> Release:
    problems = ProblemList()
    ids = IdRegistry(problems)
    rows: list[dict[str, Any]] = []
    sources: list[Path] = []
    roles: dict[str, Role] = {**COMMON_ROLES}
    frames_dir = root / FRAMES
    features: dict[str, list[tuple[str, Path]]] = {}
    for split, rel, prefix in SPLITS:
        path = root / rel
        spec = _video_list(labelled=split == "dev")
        table = read_declared(path, spec, problems, root=root, labelled=split == "dev", ids=ids)
        sources.append(path)
        roles.update(spec.roles)
        extra = _extra_columns(table.columns, table.records, spec, roles)
        for record in table.records:
            row = _video_row(record, split, extra, table.name, problems)
            if row is None:
                continue
            stt = root / f"{prefix}-stt" / f"{row['video_id']}.txt"
            row["transcript"] = read_text(stt, display(stt, root)).strip() if stt.is_file() else ""
            if stt.is_file():
                sources.append(stt)
            folder = frames_dir / row["video_id"]
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
    for column in [c for c in items.columns if c.startswith("meta_") or c == "n_annotations"]:
        items[column] = items[column].astype("float64")
    release = Release(
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
    return release.declare({**roles, "transcript": "feature"}, _stray_transcripts(root, known) + ids.notes())


def _stray_transcripts(root: Path, known: set[str]) -> list[str]:
    """A note naming the transcripts of videos that are in neither video list (read by nobody), with a count."""
    stray = sorted(
        display(path, root)
        for _, _, prefix in SPLITS
        for path in (root / f"{prefix}-stt").glob("*.txt")
        if path.stem not in known
    )
    if not stray:
        return []
    shown = ", ".join(stray[:3]) + (", ..." if len(stray) > 3 else "")
    return [f"{len(stray)} transcript(s) of videos in neither video list, not read: {shown}"]


def _extra_columns(
    names: list[str], records: list[Record], spec: TableFile, roles: dict[str, Role]
) -> dict[str, Column]:
    """Columns the declaration does not name: numeric metadata (`meta_<snake_case>`) when every value is a
    number, text otherwise; features either way."""
    declared = {c.name for c in spec.columns}
    extra: dict[str, Column] = {}
    for name in names:
        if name in declared or not name:
            continue
        numeric = all(not r[name].strip() or NUMBER.fullmatch(r[name].strip()) for r in records)
        extra[name] = Column(
            name, "number" if numeric else "text", to=f"meta_{snake(name)}" if numeric else snake(name)
        )
        roles[extra[name].column] = "feature"
    return extra


def _video_row(
    record: Record, split: str, extra: dict[str, Column], file: str, problems: ProblemList
) -> dict[str, Any] | None:
    channel = str(record.values.get("channel", ""))
    if not channel:
        problems.add(
            file, "empty channel (folds group videos by channel)", line=record.line, field="channelName", value=""
        )
        return None
    if not record.ok:
        return None
    row: dict[str, Any] = {"split": split, "captions": [], "group": channel, **record.values}
    for name, column in extra.items():
        value, why = (
            (record[name].strip(), None) if column.kind == "text" else parse_number(record[name].strip(), column, False)
        )
        if why:
            problems.add(file, why, line=record.line, field=name, value=record[name].strip())
        row[column.column] = value
    return row


def _read(root: Path, options: ReadOptions) -> Release:
    return read_videm(root)


READER = ReaderSpec(
    "videm",
    "VIDEM, MediaEval 2025 Subtask 2 (commercials): video lists, transcripts, 1-fps frames, organiser features",
    _read,
    {**COMMON_ROLES, **_video_list(True).roles, "transcript": "feature"},
    {DEV_LIST: _video_list(True), TEST_LIST: _video_list(False)},
    rejects=(
        "an empty channel",
        "a negative or non-numeric view, like, comment count, duration or engagement rate",
        "a transcript that is not UTF-8",
        "an organiser `.npy` that is not a numeric array, holds NaN or inf, has an odd shape, or names an "
        "unknown video",
    ),
    warns=("transcripts of videos in neither video list (not read)",),
    tolerates=(
        "empty or absent transcripts",
        "other columns (kept as `meta_<snake_case>` when every value is a number, as text otherwise)",
    ),
)
