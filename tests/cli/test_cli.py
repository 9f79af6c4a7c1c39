"""The command surface: help for every command, no heavy imports for --help."""

from __future__ import annotations

import subprocess
import sys

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
        "heavy = [m for m in ('torch', 'transformers', 'lightgbm', 'sklearn') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_variant_exits_1_with_one_line() -> None:
    result = CliRunner().invoke(cli, ["train", "nope", "--data", "x", "--out", "y"])
    assert result.exit_code == 1
    assert result.output.startswith("error: variant: VARIANT 'nope': unknown variant nope")
    assert result.output.count("\n") == 1
