"""Small file-system utilities shared by every stage: atomic writes, locks, checksums, a silenced stdout."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock

__all__ = [
    "adler32sum",
    "atomic_path",
    "file_lock",
    "quiet_stdout",
    "sha256sum",
    "write_bytes_atomic",
    "write_figure_png",
    "write_json_atomic",
    "write_text_atomic",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Nothing is left behind when the body raises, and an existing ``path`` stays
    intact until the new content is complete.

    Example::

        with atomic_path("out.png") as tmp:
            image.save(tmp, format="PNG")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_figure_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110, tight: bool = True) -> Path:
    """Write a matplotlib figure as PNG atomically (``tight``: crop to the drawn area) and return the path.

    Example::

        >>> write_figure_png(fig, "history.png")                  # doctest: +SKIP
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], timeout: float = 600.0, *, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` (created if missing) for the body.

    A :class:`filelock.FileLock` (``flock`` on POSIX, ``msvcrt`` on Windows): the OS
    drops the lock when a process dies, so a lock file left behind by a killed
    run never blocks. Waits up to ``timeout`` seconds, then raises
    :class:`TimeoutError` naming the lock. The lock is released even when the
    body raises. ``remove=True`` deletes the lock file while still holding it
    (for the last lock of a run: nothing is left in the output folder); a
    process waiting on it then takes a fresh lock file.

    Example::

        with file_lock("CreatedImages/.eventcnn.lock"):
            ...  # read, merge and rewrite manifest.csv
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(path, timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise TimeoutError(
            f"could not lock {path}: another eventcnn process holds it; wait for it to finish"
        ) from None
    try:
        yield
    finally:
        if remove:
            with contextlib.suppress(OSError):
                path.unlink()
        lock.release()


def sha256sum(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (the one sha256 helper of eventcnn).

    Example::

        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "a"; _ = p.write_bytes(b"abc")
        >>> sha256sum(p)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def adler32sum(path: str | os.PathLike[str]) -> str:
    """Adler-32 of a file as 8 hex digits (the CERN open data portal's checksum).

    Example::

        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "w"; _ = p.write_bytes(b"Wikipedia")
        >>> adler32sum(p)
        '11e60398'
    """
    value = 1
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send standard output to /dev/null inside the block: ``sys.stdout`` and file descriptor 1.

    Python libraries print to ``sys.stdout`` (Augmentor); C++ code (Pythia's
    init, fastjet's banner) writes to descriptor 1 directly. stderr (progress
    bars, warnings) is untouched.

    Example::

        >>> with quiet_stdout():
        ...     print("not shown")
    """
    if sys.stdout is not None:
        sys.stdout.flush()
    try:
        saved: int | None = os.dup(1)
    except OSError:  # no descriptor 1 (a detached process)
        saved = None
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        if saved is not None:
            os.dup2(devnull, 1)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
        os.close(devnull)
