"""Where a long job stands, said one way: a live bar on a terminal, plain lines everywhere else.

Every long step (frames, features, rationales, tuning, training, prediction, the bootstrap) reports through a
`Reporter`, and nothing else draws progress or logs it:

    with reporter.task("fold 0: train", total=steps) as task:
        for ...:
            task.advance(note=f"loss {loss:.4f}")
    reporter.say("fold 0: Spearman 0.61 on 1400 videos")

On a terminal a task is a transient bar and messages print above it. When the stream is not a terminal (a log
file, CI, a pipe) a task that is still running after `quiet_s` seconds writes a plain line, then one at most every
`every_s` seconds, and one when it ends, so a log always says where a long job is while a task of a second leaves
no trace. `attach(path)` copies every message and plain line, timestamped, into a log file as well (`memo train`
keeps OUT/train.log), whatever the terminal shows.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Task:
    """One counted piece of work inside a `Reporter.task` block."""

    def __init__(self, reporter: Reporter, description: str, total: int | None):
        self.reporter, self.description, self.total = reporter, description, total
        self.completed = 0
        self.note = ""
        self.started = time.monotonic()
        self._last_line: float | None = None  # when the last plain line was written (None: none yet)
        self._bar: Any = None  # the rich task id while a live bar shows

    def advance(self, n: int = 1, *, note: str | None = None) -> None:
        self.update(completed=self.completed + n, note=note)

    def update(self, *, completed: int | None = None, total: int | None = None, note: str | None = None) -> None:
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        if note is not None:
            self.note = note
        self.reporter._progressed(self)

    def line(self, done: bool = False) -> str:
        """The plain line for where the task stands: count, share, time spent and, while running, time left."""
        elapsed = time.monotonic() - self.started
        count = f"{self.completed}/{self.total}" if self.total is not None else f"{self.completed}"
        parts = [f"{self.description}: {count}"]
        if done:
            parts.append(f"done in {_duration(elapsed)}")
        else:
            if self.total:
                parts.append(f"{100 * self.completed / self.total:.0f}%")
            parts.append(f"{_duration(elapsed)} elapsed")
            if self.total and 0 < self.completed < self.total:
                parts.append(f"about {_duration(elapsed * (self.total - self.completed) / self.completed)} left")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)


class Reporter:
    """Progress and messages of a long job (see the module docstring). `Reporter.silent()` says nothing."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        every_s: float = 30.0,
        quiet_s: float = 2.0,
        enabled: bool = True,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(live if live is not None else getattr(self.stream, "isatty", lambda: False)())
        self.every_s, self.quiet_s = every_s, quiet_s
        self.enabled = enabled
        self._logs: list[TextIO] = []
        self._bars: Any = None  # one rich Progress shared by every open task while any is open
        self._open = 0
        self._said: set[str] = set()

    @classmethod
    def silent(cls) -> Reporter:
        return cls(enabled=False)

    def only_if(self, condition: bool) -> Reporter:
        """This reporter, or a silent one: under `accelerate launch` only the main process reports."""
        return self if condition else Reporter.silent()

    # ------------------------------------------------------------------ messages

    def say(self, message: str) -> None:
        """A message: printed (above the bars on a terminal) and written to every attached log."""
        if not self.enabled:
            return
        if self._bars is not None:
            self._bars.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            print(message, file=self.stream, flush=True)
        self._log(message)

    def say_once(self, message: str) -> None:
        """`say`, unless this reporter said the same before: a note that holds for every fold is read once."""
        if message not in self._said:
            self._said.add(message)
            self.say(message)

    @contextlib.contextmanager
    def attach(self, path: Path) -> Iterator[None]:
        """Also write every plain line, timestamped, to `path` (appended) while the block runs."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            self._logs.append(fh)
            try:
                yield
            finally:
                self._logs.remove(fh)

    def _log(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        for fh in self._logs:
            fh.write(f"{stamp} {line}\n")
            fh.flush()

    # ------------------------------------------------------------------ tasks

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        task = Task(self, description, total)
        if not self.enabled:
            yield task
            return
        self._start(task)
        try:
            yield task
        finally:
            self._finish(task)

    def _start(self, task: Task) -> None:
        if not self.live:
            return
        if self._bars is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bars.start()
        task._bar = self._bars.add_task(task.description, total=task.total, note="")
        self._open += 1

    def _progressed(self, task: Task) -> None:
        if not self.enabled:
            return
        if task._bar is not None:
            self._bars.update(task._bar, completed=task.completed, total=task.total, note=task.note)
        now = time.monotonic()
        due = now - task.started >= self.quiet_s if task._last_line is None else now - task._last_line >= self.every_s
        if task.total is not None and task.completed >= task.total:
            due = False  # the "done" line follows at once; a "100%" line before it says nothing new
        if due:
            task._last_line = now
            self._line(task, task.line())

    def _finish(self, task: Task) -> None:
        if task._bar is not None:
            self._bars.remove_task(task._bar)
            task._bar = None
            self._open -= 1
            if self._open == 0:
                self._bars.stop()
                self._bars = None
        if task._last_line is not None or time.monotonic() - task.started >= self.quiet_s:
            self._line(task, task.line(done=True))

    def _line(self, task: Task, line: str) -> None:
        """A plain line: to the stream when no bar shows it, and to every attached log."""
        if task._bar is None and not self.live:
            print(line, file=self.stream, flush=True)
        self._log(line)
