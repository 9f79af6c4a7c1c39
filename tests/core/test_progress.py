"""The one progress reporter: plain lines off a terminal (quiet for quick tasks, regular for long ones), a log file
that gets every line, messages said once, and silence where asked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mediaeval_memo.core import progress as progress_module
from mediaeval_memo.core.progress import Reporter


class Clock:
    """A hand-moved monotonic clock, so that the cadence is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", c)
    return c


def test_a_quick_task_leaves_no_line(clock: Clock) -> None:
    stream = io.StringIO()
    reporter = Reporter(stream)
    with reporter.task("bootstrap", total=10) as task:
        clock.now += 0.5
        task.advance(10)
    assert stream.getvalue() == ""


def test_a_long_task_says_where_it_is_at_a_steady_cadence(clock: Clock) -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, every_s=30, quiet_s=2)
    with reporter.task("fold 0: train", total=100) as task:
        clock.now += 3
        task.advance(10, note="loss 0.5000")  # past the quiet period: the first line
        clock.now += 10
        task.advance(10)  # too soon for another
        clock.now += 25
        task.advance(30)  # 30 s after the first line
        clock.now += 2
    lines = stream.getvalue().splitlines()
    assert lines == [
        "fold 0: train: 10/100, 10%, 3s elapsed, about 27s left, loss 0.5000",
        "fold 0: train: 50/100, 50%, 38s elapsed, about 38s left, loss 0.5000",
        "fold 0: train: 50/100, done in 40s, loss 0.5000",
    ]


def test_the_log_file_gets_messages_and_lines_with_a_time_stamp(clock: Clock, tmp_path: Path) -> None:
    reporter = Reporter(io.StringIO())
    with reporter.attach(tmp_path / "train.log"):
        reporter.say("fold 0: fitting on 160 videos")
        with reporter.task("frames", total=2) as task:
            clock.now += 5
            task.advance(2)
    reporter.say("after the log was detached")
    lines = (tmp_path / "train.log").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "fold 0: fitting on 160 videos",
        "frames: 2/2, done in 5s",  # no "2/2, 100%" line just before the done line
    ]


def test_say_once_and_silence() -> None:
    stream = io.StringIO()
    reporter = Reporter(stream)
    for _ in range(3):
        reporter.say_once("categorical 'action' is unknown for every test video: not used")
    assert stream.getvalue().count("categorical") == 1
    silent = Reporter.silent()
    silent.say("nothing")
    with silent.task("nothing", total=1) as task:
        task.advance()
    assert reporter.only_if(False).enabled is False and reporter.only_if(True) is reporter


def test_a_terminal_gets_a_live_bar_and_the_log_still_gets_lines(clock: Clock, tmp_path: Path) -> None:
    stream = io.StringIO()
    reporter = Reporter(stream, live=True)
    with reporter.attach(tmp_path / "log"), reporter.task("tuning", total=4) as task:
        clock.now += 3
        task.advance(4)
    assert "tuning" in (tmp_path / "log").read_text()
    assert "tuning: 4/4, done" not in stream.getvalue()  # the bar was transient; no plain line on the terminal
