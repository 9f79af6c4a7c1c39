"""VideoMem (MediaEval 2018/2019, reused 2022/2023): short-term and long-term memorability of 10,000 clips.

The releases nest their files differently from year to year, so files are found by name anywhere under the root:
    ground-truth_dev-set.csv (2019) or dev-set_ground-truth.csv (2018), UTF-8 BOM:
        video,short-term_memorability,nb_short-term_annotations,long-term_memorability,nb_long-term_annotations
    dev-set_video-captions.txt, test-set_videos-captions.txt (or test-set_video-captions.txt):
        tab-separated, no header, CRLF: `video10.webm<TAB>couple-relaxing-on-picnic-crane-shot`
    ground-truth_test-set.csv / test-set_ground-truth.csv: read when present (a user who has the test labels)
    the videos (`video10.webm`, ...) anywhere under the root, or under `--media`.

The video id is the file name as the release and the run files write it (`video10.webm`); the caption's dashes
become spaces.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.data.declare import COMMON_ROLES, Column, Role, TableFile
from mediaeval_memo.data.release import ReaderSpec, ReadOptions, Release, build_items, relative_to_root
from mediaeval_memo.data.tables import CaptionRows, IdRegistry, Table, display, ids_with_lines, read_declared

TARGETS = ["short_term", "long_term"]
ID_COLUMN = "video"
GROUND_TRUTH = {
    "dev": ("ground-truth_dev-set.csv", "dev-set_ground-truth.csv"),
    "test": ("ground-truth_test-set.csv", "test-set_ground-truth.csv"),
}
CAPTIONS = {
    "dev": ("dev-set_video-captions.txt",),
    "test": ("test-set_videos-captions.txt", "test-set_video-captions.txt"),
}
SCORES = TableFile(
    (
        Column("video", "id", "id", to="video_id"),
        Column("short-term_memorability", "score", "target", to="short_term"),
        Column("nb_short-term_annotations", "count", "label", to="n_annotations"),
        Column("long-term_memorability", "score", "target", to="long_term"),
        Column("nb_long-term_annotations", "count", "label", to="n_annotations_long_term"),
    ),
    final_newline=False,  # the real 2019 files end without one
)
# Tab-separated, no header, not CSV-quoted: `video10.webm<TAB>couple-relaxing-on-picnic`.
CAPTION_FILE = TableFile(
    (Column("video", "id", "id", to="video_id"), Column("caption", role="captions", to="")),
    delimiter="\t",
    header=False,
    quoting=False,
    final_newline=False,
)
GT_COLUMNS = SCORES.required
ROLES: dict[str, Role] = {**COMMON_ROLES, **SCORES.roles}
VIDEO_SUFFIXES = (".webm", ".mp4")


def _index(root: Path) -> dict[str, list[Path]]:
    """Every file under `root` by name (the releases nest their folders differently from year to year)."""
    found: dict[str, list[Path]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            found.setdefault(name, []).append(Path(folder) / name)
    return found


def _find(index: dict[str, list[Path]], names: tuple[str, ...], root: Path) -> Path | None:
    hits = [p for n in names for p in index.get(n, [])]
    if len(hits) > 1:
        raise InputError(
            Problem(str(root), "more than one candidate file; keep one: " + ", ".join(display(p, root) for p in hits))
        )
    return hits[0] if hits else None


def read_videomem(root: Path, media: Path | None = None) -> Release:
    if media is not None and not media.is_dir():
        raise InputError(Problem(str(media), "media folder does not exist", field="--media"))
    index = _index(root)
    problems = ProblemList()
    ids = IdRegistry(problems)
    rows: dict[str, dict[str, Any]] = {}
    sources: list[Path] = []
    notes: list[str] = []
    for split in ("dev", "test"):
        gt = _find(index, GROUND_TRUTH[split], root)
        captions = _find(index, CAPTIONS[split], root)
        if split == "dev" and gt is None:
            raise InputError(
                Problem(str(root), f"missing file: {' or '.join(GROUND_TRUTH['dev'])} (the dev-set ground truth)")
            )
        if split == "test" and gt is None and captions is None:
            raise InputError(Problem(str(root), f"missing file: {CAPTIONS['test'][0]} (the test-set video list)"))
        known: dict[str, int] | None = None
        if gt is not None:
            sources.append(gt)
            table = read_declared(gt, SCORES, problems, root=root, labelled=split == "dev", ids=ids, notes=notes)
            known = _read_ground_truth(table, split, rows)
        if captions is not None:
            sources.append(captions)
            table = read_declared(
                captions, CAPTION_FILE, problems, root=root, ids=ids if known is None else None, notes=notes
            )
            _read_captions(table, split, rows, known, display(gt, root) if gt else "", problems)
    problems.raise_if_any()
    media_dir = media if media is not None else root
    videos = _index(media) if media is not None else index
    found_any = False
    for vid, row in rows.items():
        paths = videos.get(vid, [])
        if paths:
            row["media_path"] = relative_to_root(paths[0], root)
            found_any = True
    items = build_items(list(rows.values()), TARGETS)
    release = Release(
        "videomem", "mediaeval2019", root, items, TARGETS, sources, "video", media_dir if found_any else None
    )
    return release.declare(ROLES, notes + ids.notes())


def _read_captions(
    table: Table,
    split: str,
    rows: dict[str, dict[str, Any]],
    known: dict[str, int] | None,
    gt_file: str,
    problems: ProblemList,
) -> None:
    """One caption per video, its dashes made spaces. Without a ground-truth file (the test split) the caption
    file is the split's video list; with one, the two must name the same videos."""
    join = None if known is None else CaptionRows(problems, table.name, known, gt_file)
    for record in table.records:
        vid = join.accept(record, "video") if join is not None else (str(record.values["video_id"]) or None)
        if vid is None or not record.ok or (join is not None and vid not in rows):
            continue
        if join is None:
            rows[vid] = _row(vid, split)
        text = record["caption"].strip().replace("-", " ")
        rows[vid]["captions"] = [text] if text else []
    if join is not None:
        join.missing("video", among=[vid for vid, row in rows.items() if row["split"] == split])


def _row(vid: str, split: str) -> dict[str, Any]:
    return {
        "video_id": vid,
        "split": split,
        "short_term": math.nan,
        "long_term": math.nan,
        "n_annotations": math.nan,
        "n_annotations_long_term": math.nan,
        "captions": [],
        "group": vid,
        "media_path": "",
    }


def _read_ground_truth(table: Table, split: str, rows: dict[str, dict[str, Any]]) -> dict[str, int]:
    for record in table.records:
        if record.ok:
            vid = str(record.values["video_id"])
            rows[vid] = {**_row(vid, split), **record.values}
    return ids_with_lines(table, ID_COLUMN)


def _read(root: Path, options: ReadOptions) -> Release:
    return read_videomem(root, options.media)


READER = ReaderSpec(
    "videomem",
    "VideoMem, MediaEval 2018/2019 (reused 2022/2023): short- and long-term, files found by name",
    _read,
    ROLES,
    {"ground-truth_dev-set.csv / dev-set_ground-truth.csv": SCORES, "*-set_video(s)-captions.txt": CAPTION_FILE},
    rejects=(
        "a caption row for a video not in the ground truth, a second row for one",
        "a video of the ground truth with no caption row",
        "a caption line without exactly one tab",
        "two files of one role anywhere under the root",
    ),
    warns=("a file whose last line has no line end (the real 2019 files ship so; a count cut there goes unseen)",),
    tolerates=("a test split with captions only (no ground truth)", "dashes in captions (read as spaces)"),
)
