"""Small file-system utilities shared by every stage: atomic writes, locks, a silenced stdout."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "file_lock",
    "quiet_stdout",
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
def file_lock(path: str | os.PathLike[str], timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` (created if missing) for the body.

    POSIX uses ``fcntl.flock``, Windows ``msvcrt.locking``; elsewhere a lock file
    created with ``O_EXCL`` (``<path>.excl``). Waits up to ``timeout`` seconds,
    then raises :class:`TimeoutError` naming the lock. The lock is released even
    when the body raises (and by the OS when a process dies, except for the
    ``O_EXCL`` fallback).

    Example::

        with file_lock("CreatedImages/.eventcnn.lock"):
            ...  # read, merge and rewrite manifest.csv
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        with open(path, "a+b") as fh:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    _wait_or_fail(deadline, path)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return
    try:  # pragma: no cover - Windows only
        import msvcrt
    except ImportError:  # pragma: no cover
        msvcrt = None  # type: ignore[assignment]
    if msvcrt is not None:  # pragma: no cover - Windows only
        with open(path, "a+b") as fh:
            while True:
                try:
                    fh.seek(0)
                    msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                    break
                except OSError:
                    _wait_or_fail(deadline, path)
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        return
    excl = path.with_name(path.name + ".excl")  # pragma: no cover - neither POSIX nor Windows
    while True:  # pragma: no cover
        try:
            os.close(os.open(excl, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            _wait_or_fail(deadline, excl)
    try:  # pragma: no cover
        yield
    finally:  # pragma: no cover
        excl.unlink(missing_ok=True)


def _wait_or_fail(deadline: float, path: Path) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(
            f"could not lock {path}: another eventcnn process holds it; wait for it to finish "
            "(or delete the lock file if no such process runs)"
        )
    time.sleep(0.05)


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
