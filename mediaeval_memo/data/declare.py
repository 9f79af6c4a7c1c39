"""How a release reader declares its files: every column's kind, role and range, and the file's dialect.

A reader states what it expects; one engine (`data/tables.py`) enforces every declaration the same way and
reports file:line:field:value. The roles decide what a fit may see: `target` and `label` columns (scores, raw
scores, decay rates, annotation counts: anything computed from the annotations) are recorded in the manifest and
masked by the dataset view a fit receives outside its training ids (`PreparedDataset.with_labels_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What a cell holds, and so how it is checked:
#   id     a video id: safe as a file name, unique across the release, not a case variant of another id
#   text   any text (kept stripped)
#   number a finite number, optionally within [low, high]
#   score  a finite number in [0, 1] (every memorability score the organisers ship)
#   count  a non-negative whole number (annotation counts)
Kind = Literal["id", "text", "number", "score", "count"]

# What an item-table column is for: the id, the split and the fold group, the captions and the media path, the
# targets and the other label columns (masked outside a fit's ids), and features (anything a model may read).
Role = Literal["id", "split", "group", "captions", "media", "target", "label", "feature"]
LABEL_ROLES: tuple[Role, ...] = ("target", "label")


@dataclass(frozen=True)
class Column:
    """One column of a release file: its name in the file, what it holds and where it goes in the item table."""

    name: str
    kind: Kind = "text"
    role: Role = "feature"
    to: str | None = None  # the item-table column ('' drops it; None keeps the name)
    required: bool = True  # the header must have it
    filled: bool = False  # every cell must hold a value (targets: in a labelled split, whatever this says)
    low: float | None = None
    high: float | None = None

    @property
    def column(self) -> str:
        return self.name if self.to is None else self.to

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        if self.kind == "score":
            return (0.0 if self.low is None else self.low, 1.0 if self.high is None else self.high)
        if self.kind == "count":
            return (0.0 if self.low is None else self.low, self.high)
        return self.low, self.high


@dataclass(frozen=True)
class TableFile:
    """A delimited text file of a release: its columns and dialect.

    `multiline`: a quoted field may span lines (captions); elsewhere a record over several lines is a stray
    quote. `final_newline`: the last line must end with a line end, or the file was cut off (a score cut in the
    middle reads as a shorter score); where a release is known to ship files without one (VideoMem 2019, the
    TRECVid 2021 test captions), it says False and the reader notes it.
    Columns the declaration does not name are not read (VIDEM keeps them as metadata itself).
    """

    columns: tuple[Column, ...]
    delimiter: str = ","
    header: bool = True
    quoting: bool = True
    multiline: bool = False
    final_newline: bool = True
    encoding: str = "utf-8-sig"

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def roles(self) -> dict[str, Role]:
        return {c.column: c.role for c in self.columns if c.column}


def labels(roles: dict[str, Role]) -> list[str]:
    """The label columns (targets first) among item-table columns with their roles."""
    return [c for c, r in roles.items() if r == "target"] + [c for c, r in roles.items() if r == "label"]


# The columns every item table has, whatever the reader.
COMMON_ROLES: dict[str, Role] = {
    "video_id": "id",
    "split": "split",
    "group": "group",
    "captions": "captions",
    "media_path": "media",
}
