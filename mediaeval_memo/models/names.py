"""Whether a model name can be loaded, checked before a job writes anything: a built-in name, a local folder, or a
hub name whose config is reachable (downloaded, or in the local cache when offline). Imports no torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mediaeval_memo.core.errors import InputError, Problem


def check_model_name(name: str, builtins: Sequence[str], field: str = "model", source: str = "config") -> None:
    """Raise an InputError naming `field` and `name` when it is neither a built-in, a local folder nor a hub name
    whose config can be fetched; a hub failure would otherwise surface as an OSError deep in a fit."""
    if name in builtins or Path(name).expanduser().is_dir():
        return
    accepted = f"a built-in ({', '.join(builtins)}), a local folder, or a hub name"
    if name.startswith(("/", "./", "../", "~")):
        raise InputError(Problem(source, f"no such folder (accepted: {accepted})", field=field, value=name))
    try:
        from huggingface_hub import hf_hub_download

        hf_hub_download(repo_id=name, filename="config.json")
    except (OSError, ValueError) as exc:  # not found, offline without a cached copy, or not a valid repo id
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            Problem(source, f"not {accepted} that can be reached ({reason[:120]})", field=field, value=name)
        ) from None
