"""TRECVid subset of the MediaEval 2020 and 2021 memorability tasks: short-term and long-term memorability of
TRECVid video-to-text clips, captions one per row.

The year is detected from the files, which differ in name and columns:

2021 (folders as shipped; any split folder but `training_set/` may be absent):
    training_set/train_scores.csv, dev_set/dev_scores.csv (test_set/test_scores.csv read when present):
        video_id,video_url,annotations_short_term,annotations_long_term,scores_raw_short_term,
        scores_raw_long_term,scores_normalized_short_term,decay_alpha
    {training,dev,test}_set/{train,dev,test}_text_descriptions.csv: video_id,video_url,description
        (one caption per row, several rows per video; some files start with a UTF-8 BOM)
2020 (found by name anywhere under the root, because participants' copies nest them differently):
    scores_v2.csv (training) and dev_scores.csv: video_id,video_url,ann_1,ann_2,part_1_scores,part_2_scores
        (short-term = part 1, long-term = part 2)
    text_descriptions.csv, dev_text_descriptions.csv, test_text_descriptions.csv: as in 2021

Targets: `short_term` (2021: `scores_normalized_short_term`, the score the task ranked; 2020: `part_1_scores`) and
`long_term` (2021: `scores_raw_long_term`, the only long-term score shipped; 2020: `part_2_scores`). The raw
short-term score of 2021 is kept as `short_term_raw`. Videos are looked up by the URL's file name and as
`<video_id>.mp4` / `.webm`, anywhere under the root or under `--media`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.data.declare import COMMON_ROLES, Column, Role, TableFile
from mediaeval_memo.data.release import ReaderSpec, ReadOptions, Release, build_items, relative_to_root
from mediaeval_memo.data.tables import (
    CaptionRows,
    IdRegistry,
    Table,
    display,
    ids_with_lines,
    read_declared,
    read_header,
)

TARGETS = ["short_term", "long_term"]
ID_COLUMN = "video_id"
CAPTIONS = TableFile(
    (
        Column("video_id", "id", "id"),
        Column("video_url", to="", required=False),
        Column("description", role="captions", to=""),
    ),
    multiline=True,
    final_newline=False,  # the real 2021 test_text_descriptions.csv ends without one
)
CAPTION_COLUMNS = CAPTIONS.required
VIDEO_SUFFIXES = (".mp4", ".webm")


@dataclass(frozen=True)
class Year:
    """How one edition names its columns, declared."""

    layout: str
    scores: TableFile

    @property
    def required(self) -> list[str]:
        return self.scores.required


YEAR_2021 = Year(
    "mediaeval2021",
    TableFile(
        (
            Column("video_id", "id", "id"),
            Column("video_url"),
            Column("annotations_short_term", "count", "label", to="n_annotations"),
            Column("annotations_long_term", "count", "label", to="n_annotations_long_term"),
            # The raw short-term score is a label like the normalised one: masked outside a fit's ids.
            Column("scores_raw_short_term", "score", "label", to="short_term_raw"),
            Column("scores_raw_long_term", "score", "target", to="long_term"),
            Column("scores_normalized_short_term", "score", "target", to="short_term"),
            Column("decay_alpha", "number", "label"),
        )
    ),
)
YEAR_2020 = Year(
    "mediaeval2020",
    TableFile(
        (
            Column("video_id", "id", "id"),
            Column("video_url"),
            Column("ann_1", "count", "label", to="n_annotations"),
            Column("ann_2", "count", "label", to="n_annotations_long_term"),
            Column("part_1_scores", "score", "target", to="short_term"),
            Column("part_2_scores", "score", "target", to="long_term"),
        )
    ),
)
ROLES: dict[str, Role] = {**COMMON_ROLES, **YEAR_2020.scores.roles, **YEAR_2021.scores.roles}
# (split, scores file, captions file): 2021 by fixed path, 2020 by name anywhere under the root.
FILES_2021 = [
    ("train", "training_set/train_scores.csv", "training_set/train_text_descriptions.csv"),
    ("dev", "dev_set/dev_scores.csv", "dev_set/dev_text_descriptions.csv"),
    ("test", "test_set/test_scores.csv", "test_set/test_text_descriptions.csv"),
]
FILES_2020 = [
    ("train", "scores_v2.csv", "text_descriptions.csv"),
    ("dev", "dev_scores.csv", "dev_text_descriptions.csv"),
    ("test", "test_scores.csv", "test_text_descriptions.csv"),
]


def _index(root: Path) -> dict[str, list[Path]]:
    """Every file under `root` by name (hidden folders skipped), in a stable order."""
    found: dict[str, list[Path]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            found.setdefault(name, []).append(Path(folder) / name)
    return found


def _find(index: dict[str, list[Path]], name: str, root: Path) -> Path | None:
    hits = index.get(name, [])
    if len(hits) > 1:
        raise InputError(
            Problem(str(root), "more than one candidate file; keep one: " + ", ".join(display(p, root) for p in hits))
        )
    return hits[0] if hits else None


def detect_year(root: Path, index: dict[str, list[Path]] | None = None) -> Year:
    """2021 when `training_set/train_scores.csv` is there, 2020 when `scores_v2.csv` is (anywhere under the root);
    both, or neither, is an error. A 2021 file with the 2020 columns (or the reverse) fails on its columns."""
    index = _index(root) if index is None else index
    has_2021 = (root / FILES_2021[0][1]).is_file()
    has_2020 = bool(index.get(FILES_2020[0][1]))
    if has_2021 and has_2020:
        raise InputError(
            Problem(
                str(root),
                "holds both a 2021 TRECVid layout (training_set/train_scores.csv) and a 2020 one (scores_v2.csv); "
                "point --root at one edition",
            )
        )
    if has_2021:
        _not_memento10k(root)
        return YEAR_2021
    if has_2020:
        return YEAR_2020
    raise InputError(
        Problem(
            str(root),
            "not a TRECVid release: expected training_set/train_scores.csv (MediaEval 2021 layout) "
            "or scores_v2.csv (MediaEval 2020 layout)",
        )
    )


def _not_memento10k(root: Path) -> None:
    """The Memento10k 2021 release uses the same folder and file names; say which command reads it."""
    captions = root / FILES_2021[0][2]
    names = read_header(captions) if captions.is_file() else []
    if "description_0" in names:
        raise InputError(
            Problem(
                display(captions, root),
                "five caption columns (description_0..4): this is the Memento10k release, "
                "read it with `memo prepare memento10k`",
                line=1,
            )
        )


def read_trecvid(root: Path, media: Path | None = None) -> Release:
    """Read either edition's TRECVid layout from `root`; `media` overrides where videos are looked up."""
    if media is not None and not media.is_dir():
        raise InputError(Problem(str(media), "media folder does not exist", field="--media"))
    index = _index(root)
    year = detect_year(root, index)
    problems = ProblemList()
    ids = IdRegistry(problems)
    rows: dict[str, dict[str, Any]] = {}
    sources: list[Path] = []
    notes: list[str] = []
    for split, scores, captions in _split_files(root, index, year):
        known: dict[str, int] | None = None
        if scores is not None:
            sources.append(scores)
            table = read_declared(scores, year.scores, problems, root=root, labelled=split != "test", ids=ids)
            known = _read_scores(table, split, rows)
        if captions is not None:
            sources.append(captions)
            table = read_declared(captions, CAPTIONS, problems, root=root, notes=notes)
            scores_file = "" if scores is None else display(scores, root)
            _read_captions(table, split, ids, problems, rows, known, scores_file)
    problems.raise_if_any()
    media_dir = media if media is not None else root
    videos = _index(media) if media is not None else index
    found_any = False
    for row in rows.values():
        for name in _media_names(row):
            paths = videos.get(name, [])
            if paths:
                row["media_path"] = relative_to_root(paths[0], root)
                found_any = True
                break
    items = build_items(list(rows.values()), TARGETS)
    release = Release("trecvid", year.layout, root, items, TARGETS, sources, "video", media_dir if found_any else None)
    return release.declare(ROLES, notes + ids.notes())


def _split_files(root: Path, index: dict[str, list[Path]], year: Year) -> list[tuple[str, Path | None, Path | None]]:
    """(split, scores file, captions file) of every split the release has, with the same rules as Memento10k: a
    labelled split needs its scores file (captions are optional), the test split needs one of the two."""
    out: list[tuple[str, Path | None, Path | None]] = []
    if year is YEAR_2021:
        for split, scores_name, captions_name in FILES_2021:
            if not (root / scores_name).parent.is_dir():
                continue
            scores, captions = root / scores_name, root / captions_name
            if split != "test" and not scores.is_file():
                raise InputError(Problem(scores_name, "missing file"))
            if split == "test" and not scores.is_file() and not captions.is_file():
                raise InputError(Problem(captions_name, "missing file"))
            out.append((split, scores if scores.is_file() else None, captions if captions.is_file() else None))
        return out
    for split, scores_name, captions_name in FILES_2020:
        found, captions_found = _find(index, scores_name, root), _find(index, captions_name, root)
        if found is None and captions_found is None:
            continue
        if split != "test" and found is None:
            assert captions_found is not None
            raise InputError(
                Problem(display(captions_found, root), f"captions without their scores: missing file {scores_name}")
            )
        out.append((split, found, captions_found))
    return out


def _media_names(row: dict[str, Any]) -> list[str]:
    vid = row["video_id"]
    from_url = row["video_url"].rstrip("/").rpartition("/")[2]
    names = [from_url] if from_url.lower().endswith(VIDEO_SUFFIXES) else []
    return names + [f"{vid}{suffix}" for suffix in VIDEO_SUFFIXES]


def _row(vid: str, split: str) -> dict[str, Any]:
    return {
        "video_id": vid,
        "split": split,
        "short_term": math.nan,
        "long_term": math.nan,
        "short_term_raw": math.nan,
        "decay_alpha": math.nan,
        "n_annotations": math.nan,
        "n_annotations_long_term": math.nan,
        "captions": [],
        "group": vid,
        "media_path": "",
        "video_url": "",
    }


def _read_scores(table: Table, split: str, rows: dict[str, dict[str, Any]]) -> dict[str, int]:
    for record in table.records:
        if record.ok:
            vid = str(record.values["video_id"])
            rows[vid] = {**_row(vid, split), **record.values}
    return ids_with_lines(table, ID_COLUMN)


def _read_captions(
    table: Table,
    split: str,
    ids: IdRegistry,
    problems: ProblemList,
    rows: dict[str, dict[str, Any]],
    known: dict[str, int] | None,
    scores_file: str,
) -> None:
    """One caption per row, several rows per video, kept in file order. With a scores file (`known` are its
    videos) every row must name one of them and each of them needs a row; without one (the test split) the
    captions file is the split's video list, and each video's id is checked once, on its first row."""
    join = None if known is None else CaptionRows(problems, table.name, known, scores_file, once=False)
    accepted: dict[str, bool] = {}
    for record in table.records:
        if join is not None:
            vid = join.accept(record, "video_id")
            if vid not in rows or rows[vid]["split"] != split:
                continue
        else:
            vid = record["video_id"].strip()
            if vid not in accepted:
                accepted[vid] = ids.accept(table.name, record.line, "video_id", record["video_id"]) is not None
                if accepted[vid]:
                    rows[vid] = {**_row(vid, split), "video_url": record["video_url"].strip()}
            if not accepted[vid]:
                continue
        text = record["description"].strip()
        if text and record.ok:
            rows[vid]["captions"].append(text)
    if join is not None:
        join.missing("video_id", among=[vid for vid, row in rows.items() if row["split"] == split])


def _read(root: Path, options: ReadOptions) -> Release:
    return read_trecvid(root, options.media)


READER = ReaderSpec(
    "trecvid",
    "the TRECVid subset of MediaEval 2020 and 2021 (short- and long-term, one caption per row; year detected)",
    _read,
    ROLES,
    {
        "2021 */*_scores.csv": YEAR_2021.scores,
        "2020 scores_v2.csv, dev_scores.csv": YEAR_2020.scores,
        "*_text_descriptions.csv": CAPTIONS,
    },
    rejects=(
        "a caption row for a video not in its scores file",
        "a scored video with no caption row",
        "a root holding both editions, or neither; two files of one role (2020)",
        "a labelled split's captions without its scores file",
        "the Memento10k 2021 folder (says to use `memento10k`)",
    ),
    warns=("a caption file whose last line has no line end (the real 2021 test captions ship so)",),
    tolerates=(
        "captions spanning lines inside quotes",
        "a video's caption rows anywhere in the file",
        "a test split with captions only",
    ),
)
