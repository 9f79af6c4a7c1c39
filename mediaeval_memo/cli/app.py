"""The `memo` group: every command group registered, and input errors turned into one line each and exit code 1."""

from __future__ import annotations

import logging
import os
from typing import Any

import click

from mediaeval_memo import __version__
from mediaeval_memo.cli import data, evaluation, features, rationales, report, submission, train
from mediaeval_memo.core.errors import InputError

# bitsandbytes and torch load different OpenMP runtimes; with busy-waiting threads, 4-bit steps on CPU run about
# 100x slower. This must be set before torch is first imported: nothing above imports it, every command imports it
# lazily, so here is early enough.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Importing transformers imports bitsandbytes, whose CPU backend warns on every start that it cannot fetch an
# optional kernel from the hub (the `kernels` package). The fallback it then uses is the one we want offline.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


class MemoGroup(click.Group):
    """Turns InputError into one line per problem and exit code 1, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            ctx.exit(1)


@click.group(cls=MemoGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="memo")
def cli() -> None:
    """mediaeval-memo: from a MediaEval memorability release to validated run files with honest CIs.

    Typical flow: prepare -> features -> train -> predict -> package -> validate -> score / compare.
    Try `memo demo` for all of it on an embedded sample.
    """


for module in (data, features, rationales, train, submission, evaluation, report):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="memo")
