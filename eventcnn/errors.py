"""Error types shared by the stages, and how the command line words them.

Every exception class eventcnn defines derives from :class:`EventcnnError`.
:class:`UserError` (also a :class:`ValueError`) marks a problem with the
user's input, folders or options that its message explains. The command line
maps an :class:`EventcnnError`, an :class:`OSError` of the file system (a
missing or unwritable file), a :class:`MemoryError` and a missing optional
package to one line and exit code 1; anything else that escapes a command is a
bug in eventcnn (exit code 3).

Example::

    from eventcnn.errors import UserError
    raise UserError("runs/x is not a run folder written by eventcnn train (config.json lacks 'train')")
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "check_name",
    "check_output",
    "check_writable",
    "describe",
    "EventcnnError",
    "few_names",
    "INTERNAL_ERRORS",
    "is_user_error",
    "OutputError",
    "OutputExistsError",
    "UserError",
]


#: exception types that are never the user's fault: a bug in eventcnn
INTERNAL_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, AttributeError, KeyError, IndexError, AssertionError, NameError,
    UnboundLocalError, ZeroDivisionError, NotImplementedError, RecursionError, ImportError,
)


def few_names(names: Sequence[str], n: int = 5) -> str:
    """The first ``n`` of ``names`` for a message, and how many there are in all when more.

    Example::

        >>> few_names(["a", "b", "c"], n=2)
        'a, b, ... (3 in all)'
    """
    shown = ", ".join(names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


class EventcnnError(Exception):
    """The root of every exception class eventcnn defines (the CLI: one line, exit code 1)."""


class UserError(EventcnnError, ValueError):
    """A problem with the input, the folders or the options; the message says what to do."""


def is_user_error(exc: BaseException) -> bool:
    """True for errors a user can fix (eventcnn's own errors, missing or unwritable files), False for bugs.

    A plain :class:`ValueError` or :class:`RuntimeError` from numpy, Keras or XLA
    is a bug in eventcnn (it should have been caught with a clear message).

    Example::

        >>> is_user_error(UserError("x")), is_user_error(FileNotFoundError("x"))
        (True, True)
        >>> is_user_error(ValueError("operands could not be broadcast")), is_user_error(KeyError("x"))
        (False, False)
    """
    if isinstance(exc, (EventcnnError, MemoryError)) or _missing_package(exc):
        return True
    if isinstance(exc, INTERNAL_ERRORS):
        return False
    return isinstance(exc, (OSError, MemoryError))


_VERBS = {errno.EACCES: "cannot write", errno.EPERM: "cannot write", errno.EROFS: "cannot write",
          errno.ENOSPC: "cannot write", errno.ENOTDIR: "cannot create", errno.EEXIST: "cannot create"}


#: the temporary files of ``eventcnn._io.atomic_path``: ``.<name>.<random>.tmp`` next to ``<name>``
_ATOMIC_TMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def _target_of_temp(name: str) -> str:
    """The file an atomic write was making, instead of its temporary name."""
    path = Path(name)
    m = _ATOMIC_TMP.match(path.name)
    return str(path.with_name(m.group("name"))) if m else name


def _missing_package(exc: BaseException) -> str | None:
    """The third-party package a ``ModuleNotFoundError`` misses (``None`` for our own modules)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] != "eventcnn":
        return exc.name.split(".")[0]
    return None


def describe(exc: BaseException) -> str:
    """One line for a user error; an ``OSError`` reads like ``cannot write /x/y: Permission denied``.

    Example::

        >>> describe(PermissionError(13, "Permission denied", "/x/y"))
        'cannot write /x/y: Permission denied'
    """
    if isinstance(exc, MemoryError):
        detail = str(exc).strip()
        return ("out of memory" + (f" ({detail})" if detail else "")
                + ": use a smaller --size, --batch-size or fewer events, or a machine with more memory")
    if package := _missing_package(exc):
        return (f"the Python package {package!r} is not installed: pip install {package} "
                "(or pip install 'eventcnn[all]' for every optional stage)")
    if isinstance(exc, MemoryError):
        return ("out of memory" + (f" ({exc})" if str(exc) else "")
                + ": use smaller images (--size), smaller batches (--batch-size) or fewer events")
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        name = _target_of_temp(os.fsdecode(exc.filename))
        verb = _VERBS.get(exc.errno or 0, "cannot access")
        if isinstance(exc, FileNotFoundError):
            verb = "cannot find"
        text = f"{verb} {name}: {exc.strerror}"
        if exc.errno == errno.ENOTDIR:
            text += " (a part of the path is a file, not a folder)"
        if exc.filename2 is not None:
            text += f" (and {os.fsdecode(exc.filename2)})"
        return text
    text = str(exc).strip() or type(exc).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail early, naming the folder, when a file cannot be written at ``path``.

    Creates the parent folder if needed and a temporary file next to ``path``
    (removed at once), so a long job does not fail only at its very end.

    Example::

        check_writable("predictions/out.csv")
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder, not a file; give a file name")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot write into {folder} (for {path}): it is a file, not a folder; "
                        "choose another output location")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:  # /proc, /sys: folders that take no files or sub-folders
            reason = ("this folder does not accept new files (a system folder such as /proc or /sys?)"
                      if folder.is_dir() else "the folder cannot be created there (a system folder "
                      "such as /proc or /sys?)")
        raise UserError(f"cannot write into folder {folder} (for {path}): {reason}; "
                        "make it writable or choose another output location") from None


class OutputError(UserError):
    """An output path that would destroy an input, land inside a run or image folder, or replace a file."""


class OutputExistsError(OutputError, FileExistsError):
    """The output file exists and ``overwrite`` (``--overwrite``) was not given."""


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _resolved(a) == _resolved(b)


def check_output(
    out: str | os.PathLike[str],
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    protected: Sequence[tuple[str, str | os.PathLike[str]]] = (),
    overwrite: bool = False,
    folder: bool = False,
    flag: str = "--out",
    hint: str = "",
) -> Path:
    """Refuse, before any work starts, an output that would destroy what the command reads.

    The one rule of every writer (``predict``, ``data convert``, ``generate``,
    ``render``, ``augment``, ``train``, ``explain``, ``opal train/predict/label``):

    - ``out`` may not be one of ``inputs`` (the same file, also through a link), nor
      lie inside an input folder or a ``protected`` folder (``(words, path)`` pairs such
      as ``("the run folder", "runs/small")``): it would change or destroy it;
    - a file output (``folder=False``) may not be a folder, and an existing file is
      replaced only with ``overwrite`` (``--overwrite``);
    - a file output must be writable (:func:`check_writable`); a folder output
      (``folder=True``) may not be a file, and is created and checked by its writer,
      which may resume in it.

    URLs (``root://...``) among the inputs are ignored; ``hint`` ends the message of a
    refused input or folder. Returns ``Path(out)``.
    Raises :class:`OutputError` with one line naming both paths.

    Example::

        check_output("predictions.csv", inputs=["events.json"],
                     protected=[("the run folder", "runs/small")])
    """
    path = Path(out)
    where = _resolved(path)
    guarded: list[tuple[str, Path]] = []
    for item in inputs:
        if "://" in str(item):
            continue
        p = Path(item)
        guarded.append(("the input folder" if p.is_dir() else "the input", p))
    guarded += [(words, Path(p)) for words, p in protected if p is not None and "://" not in str(p)]
    for words, p in guarded:
        if (path.exists() and p.exists() and _same_file(path, p)) or where == _resolved(p):
            raise OutputError(f"{flag} {path} is {words} {p}: writing there would destroy it; "
                              f"choose another {flag}" + (f" ({hint})" if hint else ""))
        if p.is_dir() or words != "the input":
            try:
                where.relative_to(_resolved(p))
            except ValueError:
                continue
            raise OutputError(f"{flag} {path} is {words} {p} or inside it: writing there would "
                              f"change it; choose another {flag} outside it" + (f" ({hint})" if hint else ""))
    if folder:  # the writer creates and checks its folder itself (resumable outputs)
        if path.exists() and not path.is_dir():
            raise OutputError(f"{flag} {path} is a file, not a folder; choose another {flag}")
        return path
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a folder, not a file; give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{flag} {path} already exists; pass --overwrite (overwrite=True) to "
                                f"replace it, or choose another {flag}")
    check_writable(path)
    return path


_FORBIDDEN_NAME_CHARS = frozenset('/\\:') | {chr(c) for c in range(32)} | {chr(127)}
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                               *(f"LPT{i}" for i in range(1, 10))})


def check_name(name: str, *, what: str = "name", becomes: str = "one file or folder name inside the output folder",
               flag: str = "", example: str = "run1, w_jets") -> str:
    """``name`` if it is safe as one file or folder name: a name a user gives never becomes a path elsewhere.

    The one rule for every name that becomes part of a path (``--name``, class labels,
    class names, prefixes): non-empty, not ``.`` or ``..``, without ``/``, ``\\``, ``:``
    or control characters, not a Windows device name (``CON``, ``NUL``, ``COM1``, ...)
    and not ending in a space or a dot (Windows drops those). Anything else raises
    :class:`UserError` naming the option (``flag``), the value and what to use instead.

    Example::

        >>> check_name("sim_small_64")
        'sim_small_64'
        >>> check_name("../../x", flag="--name")
        Traceback (most recent call last):
        ...
        eventcnn.errors.UserError: --name: name '../../x' contains '/': a name becomes one file or folder name inside the output folder, so use a non-empty name without '/', '\\', ':' or control characters, other than '.' and '..', not a Windows device name and not ending in a space or dot (e.g. run1, w_jets)
    """
    problem = None
    if not isinstance(name, str):
        problem = f"must be a string, got {type(name).__name__}"
    elif not name.strip():
        problem = "is empty"
    elif name in (".", ".."):
        problem = "is a relative folder reference"
    elif bad := sorted(set(name) & _FORBIDDEN_NAME_CHARS):
        problem = f"contains {', '.join(repr(c) for c in bad)}"
    elif name.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        problem = "is a reserved device name on Windows (a file or folder of that name cannot be created there)"
    elif name != name.rstrip(" ."):
        problem = "ends with a space or a dot (Windows drops those, so two names could share one file)"
    if problem:
        raise UserError(
            f"{flag + ': ' if flag else ''}{what} {name!r} {problem}: a {what} becomes {becomes}, so use a "
            "non-empty name without '/', '\\', ':' or control characters, other than '.' and '..', not a "
            f"Windows device name and not ending in a space or dot (e.g. {example})"
        )
    return name
