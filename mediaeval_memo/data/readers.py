"""The registry of release readers: `memo prepare`'s datasets, `memo info` and docs/data.md's table come from it.

Adding a reader is one module that defines `READER` (a `ReaderSpec`: its title, read function, declared files and
column roles) and one line here. Modules are imported when asked for, so listing the names imports nothing.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from mediaeval_memo.core.errors import InputError, Problem

if TYPE_CHECKING:  # data.release imports pandas: `memo --help` and the DATASET choices need only the names
    from mediaeval_memo.data.release import ReaderSpec

READERS: dict[str, str] = {
    "memento10k": "mediaeval_memo.data.memento10k",
    "trecvid": "mediaeval_memo.data.trecvid",
    "videomem": "mediaeval_memo.data.videomem",
    "videm": "mediaeval_memo.data.videm",
    "movies": "mediaeval_memo.data.movies",
}
DATASETS = tuple(READERS)

# What the engine (data/tables.py) rejects in every declared file, whatever the reader.
ENGINE_REJECTS = (
    "a missing file or column, an empty file",
    "bytes that are not UTF-8 (on their line)",
    "a last line without a line end (a cut-off file), unless the reader says its release ships so",
    "a row with more or fewer fields than the header",
    "a stray quote (a quoted field running over lines)",
    "a number that is not a plain finite decimal (`nan`, `inf`, `12,5`, text)",
    "a score outside [0, 1], a count that is negative or not whole",
    "a missing label in a labelled split",
    "an id unsafe as a file name, duplicated, or differing only by case from another",
)


ENGINE_WARNS = ("video ids with spaces around them (the spaces are removed)",)
ENGINE_TOLERATES = ("a UTF-8 BOM", "CRLF line ends", "blank lines (counted in line numbers)", "spaces around cells")


def reader(name: str) -> ReaderSpec:
    """The reader of `name`; an unknown name is an InputError that lists the known ones."""
    if name not in READERS:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(
            Problem(
                "memo prepare", f"unknown dataset ({hint}accepted: {', '.join(DATASETS)})", field="DATASET", value=name
            )
        )
    from mediaeval_memo.data.release import ReaderSpec

    spec = importlib.import_module(READERS[name]).READER
    assert isinstance(spec, ReaderSpec) and spec.name == name, f"{READERS[name]}.READER must be the {name} reader"
    return spec


def rules_table() -> str:
    """The Markdown table of what each reader rejects, warns about and tolerates (docs/data.md holds it; a test
    keeps the two the same)."""
    lines = [
        "| reader | rejects (exit 1) | warns about (exit 0, a note with a count) | tolerates |",
        "|---|---|---|---|",
        f"| every reader | {'; '.join(ENGINE_REJECTS)} | {'; '.join(ENGINE_WARNS)} | {'; '.join(ENGINE_TOLERATES)} |",
    ]
    for name in DATASETS:
        spec = reader(name)
        cells = ["; ".join(part) or "-" for part in (spec.rejects, spec.warns, spec.tolerates)]
        lines.append(f"| `{name}` | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
