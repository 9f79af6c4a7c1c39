"""Options and parsing helpers several command groups share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def data_option(f: F) -> F:
    return click.option(
        "--data",
        "data_dir",
        required=True,
        type=click.Path(path_type=Path),
        help="Prepared dataset directory (from `memo prepare`).",
    )(f)


def device_option(f: F) -> F:
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        help="Where the encoder runs: auto (a GPU when there is one, else the CPU), cpu, cuda or cuda:N. On a GPU the "
        "vectors are close to, not bit-identical with, the CPU's.",
    )(f)


def key_values(pairs: tuple[str, ...], hint: str, what: str = "KEY=VALUE") -> dict[str, str]:
    """KEY=VALUE pairs (repeatable options such as --column and --set) as a dict; a malformed pair is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected {what}, got {pair!r}", param_hint=hint)
        out[key.strip()] = value.strip()
    return out
