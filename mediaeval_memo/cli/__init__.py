"""The `memo` command line: a thin Click layer over typed functions, one module per command group.

Each command parses its options, calls one function of the package and renders the result. Heavy modules are
imported inside the commands so that `memo --help` stays fast and never imports torch or transformers.
Exit codes: 0 success, 1 invalid input (every problem printed, one per line), 2 usage errors (Click's own).
"""

from mediaeval_memo.cli.app import cli, main

__all__ = ["cli", "main"]
