"""Errors about a user's input, and how they read.

Bad input never ends in a traceback: readers, validators and variants raise `InputError` with one `Problem` per
thing wrong, and the CLI prints each as one line (`file:line: field 'value': what is accepted`) and exits 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, which field, which value, and what would be accepted."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None
    value: object = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = ""
        if self.field is not None:
            what = f"{self.field}"
            if self.value is not None:
                what += f" {_show(self.value)}"
            what += ": "
        return f"{where}: {what}{self.message}"


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


class InputError(Exception):
    """The user's input is invalid; carries every problem found, not only the first."""

    def __init__(self, problems: Problem | Iterable[Problem]):
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        if not self.problems:
            raise ValueError("InputError needs at least one problem")
        super().__init__("\n".join(str(p) for p in self.problems))


def unknown_name(kind: str, name: str, known: Iterable[str], *, file: str, field: str) -> InputError:
    """`name` is not among the `known` names of a registry (variants, interval methods): an input error that
    suggests the closest one and lists them all, in the order given."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return InputError(
        Problem(file, f"unknown {kind} {name}{hint} available: {', '.join(known)}", field=field, value=name)
    )


class ProblemList:
    """Collects problems while a reader walks a file, so that all of them are reported together."""

    def __init__(self, limit: int = 200):
        self.items: list[Problem] = []
        self.limit = limit
        self.dropped = 0

    def add(
        self, file: object, message: str, *, line: int | None = None, field: str | None = None, value: object = None
    ) -> None:
        if len(self.items) >= self.limit:
            self.dropped += 1
            return
        self.items.append(Problem(str(file), message, line, field, value))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            problems = list(self.items)
            if self.dropped:
                last = problems[-1]
                problems.append(Problem(last.file, f"... and {self.dropped} more problems not shown"))
            raise InputError(problems)
