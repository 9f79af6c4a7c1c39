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
from mediaeval_memo.data.release import Release, build_items, relative_to_root
from mediaeval_memo.data.tables import CaptionRows, IdRegistry, Table, display, parse_float, parse_int, read_table

TARGETS = ["short_term", "long_term"]
GROUND_TRUTH = {
    "dev": ("ground-truth_dev-set.csv", "dev-set_ground-truth.csv"),
    "test": ("ground-truth_test-set.csv", "test-set_ground-truth.csv"),
}
CAPTIONS = {
    "dev": ("dev-set_video-captions.txt",),
    "test": ("test-set_videos-captions.txt", "test-set_video-captions.txt"),
}
GT_COLUMNS = [
    "video",
    "short-term_memorability",
    "nb_short-term_annotations",
    "long-term_memorability",
    "nb_long-term_annotations",
]
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
    for split in ("dev", "test"):
        gt = _find(index, GROUND_TRUTH[split], root)
        captions = _find(index, CAPTIONS[split], root)
        if split == "dev" and gt is None:
            raise InputError(
                Problem(str(root), f"missing file: {' or '.join(GROUND_TRUTH['dev'])} (the dev-set ground truth)")
            )
        if split == "test" and gt is None and captions is None:
            raise InputError(Problem(str(root), f"missing file: {CAPTIONS['test'][0]} (the test-set video list)"))
        split_ids: set[str] = set()
        if gt is not None:
            sources.append(gt)
            split_ids = _read_ground_truth(read_table(gt, GT_COLUMNS, root=root), split, root, ids, problems, rows)
        if captions is not None:
            sources.append(captions)
            table = read_table(
                captions,
                ["video", "caption"],
                root=root,
                delimiter="\t",
                header=False,
                columns=["video", "caption"],
                quoting=False,
            )
            file = display(captions, root)
            # split_ids grows below when there is no ground-truth file (a test split): captions name its videos.
            caption_rows = CaptionRows(problems, file, split_ids, display(gt, root) if gt else file)
            for record in table.records:
                if gt is None:
                    vid = ids.accept(file, record, "video")
                    if vid is None:
                        continue
                    rows[vid] = _row(vid, split)
                    split_ids.add(vid)
                vid = caption_rows.accept(record, "video")
                if vid is None:
                    continue
                text = record["caption"].strip().replace("-", " ")
                rows[vid]["captions"] = [text] if text else []
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
    return Release(
        "videomem", "mediaeval2019", root, items, TARGETS, sources, "video", media_dir if found_any else None
    )


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


def _read_ground_truth(
    table: Table, split: str, root: Path, ids: IdRegistry, problems: ProblemList, rows: dict[str, dict[str, Any]]
) -> set[str]:
    file = display(table.path, root)
    out: set[str] = set()
    for record in table.records:
        vid = ids.accept(file, record, "video")
        short = parse_float(
            problems, file, record, "short-term_memorability", required=True, accepted="a finite number (label)"
        )
        long = parse_float(
            problems, file, record, "long-term_memorability", required=True, accepted="a finite number (label)"
        )
        n_short = parse_int(problems, file, record, "nb_short-term_annotations")
        n_long = parse_int(problems, file, record, "nb_long-term_annotations")
        if vid is None:
            continue
        row = _row(vid, split)
        row.update(
            short_term=short,
            long_term=long,
            n_annotations=math.nan if n_short is None else float(n_short),
            n_annotations_long_term=math.nan if n_long is None else float(n_long),
        )
        rows[vid] = row
        out.add(vid)
    return out
