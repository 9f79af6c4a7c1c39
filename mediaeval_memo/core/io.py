"""Atomic writes and file hashing.

Every artifact a user may rely on (prepared datasets, features, predictions, run files, checkpoints) is written to a
temporary sibling and renamed into place, so a kill or an error never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mediaeval_memo.core.errors import InputError, Problem


def umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    current = os.umask(0)
    os.umask(current)
    return current


def _ordinary(path: str | os.PathLike[str], folder: bool = False) -> None:
    # mkstemp and mkdtemp make private (0600/0700) entries; what we write is an ordinary file or folder that a
    # team-mate, a web server or a copy tool may read, so give it the mode open() or mkdir() would have given.
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _ordinary(tmp)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    # newline="" semantics: the caller decides line ends; we write the text's bytes as they are.
    return atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    For writers that want a file name rather than bytes (numpy, pyarrow, safetensors, torch.save).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _ordinary(tmp)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it to `path` only when the block succeeds.

    With overwrite=True an existing `path` is replaced (removed after the new one is complete); otherwise an
    existing non-empty `path` is an error raised before any work starts.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        _ordinary(tmp, folder=True)
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _blocking_file(folder: Path) -> Path | None:
    """The file that keeps `folder` from being (or becoming) a folder: itself or its nearest existing ancestor."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def require_output_folder(path: str | os.PathLike[str], purpose: str, option: str = "--out") -> None:
    """An output folder that is a file, lies under one, or cannot be written is an input error (mkdir would end in
    a traceback after the work is done); check it before starting. `purpose` completes "OPTION names ..."."""
    path = Path(path)
    blocker = _blocking_file(path)
    if blocker is not None:
        what = "is a file" if blocker == path else f"lies under a file ({blocker})"
        raise InputError(Problem(str(path), f"{what}; {option} names {purpose}", field=option))
    _require_writable(path, purpose, option)


def _require_writable(path: Path, purpose: str, option: str) -> None:
    """Try what the write will do: make (and remove) a folder in `path`, or in its nearest existing ancestor. A
    permission check alone would miss a read-only file system, and says yes to root wherever it asks."""
    existing = next((p for p in (path, *path.parents) if p.is_dir()), None)
    if existing is None:
        return
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".memo-write-check-", dir=existing))
    except OSError as exc:
        raise InputError(
            Problem(
                str(path), f"cannot be written ({exc.strerror}: {existing}); {option} names {purpose}", field=option
            )
        ) from None


def require_output_file(path: str | os.PathLike[str], purpose: str, option: str = "--out") -> None:
    """An output file that is a folder, or whose folder is a file or lies under one, is an input error."""
    path = Path(path)
    if path.is_dir():
        raise InputError(Problem(str(path), f"is a folder; {option} names {purpose}", field=option))
    blocker = _blocking_file(path.parent)
    if blocker is not None:
        raise InputError(Problem(str(path), f"lies under a file ({blocker}); {option} names {purpose}", field=option))
    _require_writable(path.parent, purpose, option)
