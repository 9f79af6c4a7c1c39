"""The command surface: help for every command, no heavy imports for --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from mediaeval_memo.cli import cli


def _walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_walk(cmd, prefix + name + " "))
    return out


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for name, cmd in _walk(cli):
        assert (cmd.help or "").strip(), f"memo {name} has no help text"
        result = runner.invoke(cli, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_help_imports_no_torch() -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom mediaeval_memo.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\nassert r.exit_code == 0\n"
        "heavy = [m for m in ('torch', 'transformers', 'lightgbm', 'sklearn', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_variant_exits_1_with_one_line() -> None:
    result = CliRunner().invoke(cli, ["train", "nope", "--data", "x", "--out", "y"])
    assert result.exit_code == 1
    assert result.output.startswith("error: variant: VARIANT 'nope': unknown variant nope")
    assert result.output.count("\n") == 1


def test_an_out_that_is_a_file_is_one_line_and_exit_1(tmp_path: Path, sample_memento10k: Path) -> None:
    """Every command that writes where --out says checks it first: a file there, or among its parents, used to end
    in a traceback from mkdir (after the work, for train, predict and leaderboard)."""
    base = tmp_path
    data = str(sample_memento10k)
    blocker = base / "afile"
    blocker.write_text("mine")
    (base / "release").mkdir()
    (base / "model").mkdir()
    inside = blocker / "sub"
    package = ["package", "--predictions", "p.csv", "--team", "A", "--subtask", "1", "--run", "1"]
    commands = {
        "prepare": (
            ["prepare", "trecvid", "--root", str(base / "release")],
            "the folder the prepared dataset is written to",
        ),
        "train": (["train", "gbt", "--data", data], "the folder the run is written to"),
        "predict": (["predict", "--model", str(base / "model"), "--data", data], "the predictions file to write"),
        "package": (package, "the folder the run file is written into"),
        "leaderboard": (["leaderboard", "p.csv", "--gold", data], "a file prefix in a folder, e.g. leaderboards/dev"),
        "demo": (["demo"], "the folder the demo writes"),
    }
    runner = CliRunner()
    for name, (args, purpose) in commands.items():
        target = inside / "x" if name == "leaderboard" else inside
        shown = inside if name == "leaderboard" else target
        result = runner.invoke(cli, [*args, "--out", str(target)])
        assert result.exit_code == 1, (name, result.output)
        assert result.output == f"error: {shown}: --out: lies under a file ({blocker}); --out names {purpose}\n", name
    assert blocker.read_text() == "mine"
