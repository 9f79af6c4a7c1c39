"""Clusters for a cluster bootstrap: which videos are resampled together (`--clusters`).

Videos of one channel, one movie or one source are not independent: a run that scores well on a channel's videos
tends to score well on its next video too. Resampling videos then measures how a run generalises to new videos of
the same channels; resampling whole channels measures how it generalises to new channels (VIDEM's test channels
appear nowhere in its dev set). `--clusters FILE` reads `video_id,group`; with a prepared dataset as `--gold`,
`--clusters COLUMN` (e.g. `group`, which the readers fill with VIDEM's channel or a `movies` group column) takes that
column of its item table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem, ProblemList
from mediaeval_memo.core.ids import UniqueIds
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset

SHOW_IDS = 5


@dataclass(frozen=True)
class Clusters:
    """The cluster label of each video, and where the labels came from."""

    labels: dict[str, str]
    source: str


@dataclass(frozen=True)
class ClusterCodes:
    """Clusters matched to the gold videos: a code 0..G-1 per gold video (labels in sorted order), and a digest of
    the `video_id,label` lines sorted by id, so that a signature names exactly the grouping used."""

    codes: npt.NDArray[np.intp]
    n_clusters: int
    digest: str

    def field(self) -> str:
        """The signature field: number of clusters and digest, e.g. `clusters:9@1a2b3c4d`."""
        return f"{self.n_clusters}@{self.digest}"


def load_clusters(spec: str, gold: str | Path) -> Clusters:
    """`spec` is a CSV file (`video_id,group`, or `video_id` and one other column) or, with a prepared dataset as
    the gold, a column of its item table."""
    path = Path(spec)
    if path.is_file():
        return _from_csv(path)
    gold = Path(gold)
    if gold.is_dir() and (gold / ITEMS_FILE).is_file():
        items = PreparedDataset.load(gold).items
        if spec not in items.columns:
            columns = ", ".join(str(c) for c in items.columns if c not in ("captions",))
            raise InputError(
                Problem(
                    spec,
                    f"neither a file nor a column of {gold / ITEMS_FILE} (columns: {columns})",
                    field="--clusters",
                )
            )
        labels = items[spec]
        if labels.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            raise InputError(Problem(spec, "a column of lists cannot group videos", field="--clusters"))
        return Clusters(
            {str(v): _label(x) for v, x in zip(items["video_id"], labels, strict=True)},
            f"{gold} (column {spec})",
        )
    raise InputError(
        Problem(
            spec,
            "file not found (a column name such as `group` works only with a prepared dataset as --gold)",
            field="--clusters",
        )
    )


def _label(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()


def _from_csv(path: Path) -> Clusters:
    try:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(Problem(str(path), f"not a readable CSV ({str(exc).splitlines()[0]})")) from None
    columns = [str(c) for c in frame.columns]
    others = [c for c in columns if c != "video_id"]
    if "video_id" not in columns or ("group" not in others and len(others) != 1):
        raise InputError(
            Problem(str(path), f"expected the columns video_id,group (found: {', '.join(columns)})", line=1)
        )
    column = "group" if "group" in others else others[0]
    problems = ProblemList()
    labels: dict[str, str] = {}
    ids = UniqueIds()
    for line, (vid, label) in enumerate(zip(frame["video_id"], frame[column], strict=True), start=2):
        vid, label = vid.strip(), label.strip()
        if why := ids.problem(vid, f"on line {line}"):
            problems.add(path, why, line=line, field="video_id", value=vid)
        elif not label:
            problems.add(path, "empty cluster label", line=line, field=column, value=vid)
        else:
            labels[vid] = label
    problems.raise_if_any()
    return Clusters(labels, str(path))


def match_clusters(clusters: Clusters, ids: list[str], gold_source: str) -> ClusterCodes:
    """A code per gold video; every gold video needs a non-empty label and there must be at least 2 clusters.
    Labels of videos outside the gold are ignored (one file may group every split)."""
    missing = [vid for vid in ids if not clusters.labels.get(vid)]
    if missing:
        raise InputError(
            Problem(
                clusters.source,
                f"{len(missing)} of {len(ids)} gold videos have no cluster label (first: "
                f"{', '.join(missing[:SHOW_IDS])})",
                field="--clusters",
            )
        )
    labels = [clusters.labels[vid] for vid in ids]
    names = sorted(set(labels))
    if len(names) < 2:
        raise InputError(
            Problem(
                clusters.source,
                f"the {len(ids)} videos of {gold_source} fall in {len(names)} cluster; resampling clusters needs at "
                "least 2",
                field="--clusters",
            )
        )
    code_of = {name: i for i, name in enumerate(names)}
    h = hashlib.sha256()
    for vid, label in sorted(zip(ids, labels, strict=True)):
        h.update(f"{vid},{label}\n".encode())
    return ClusterCodes(np.asarray([code_of[x] for x in labels], dtype=np.intp), len(names), h.hexdigest()[:8])
