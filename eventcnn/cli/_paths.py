"""The path rules of every command: declared per option next to its parser, enforced in one place.

Each command says, for every option that takes a path or a name, what it is::

    declare(p, data=Input("a zip or folder of event displays", kind="displays"),
            labels=Input("a label file '<event>.png;<label>'", folder=False, kind="labels"),
            out=OutputFolder("the run folder"), name=Name(), model=VALUE)

and :func:`check_paths` (called by :func:`eventcnn.cli.main` before any command runs)
enforces the rules of issue 33 for every command alike:

(a) an output is never an input, never inside an input folder, and never one of the
    files an output folder's writer replaces when that file is an input
    (:func:`eventcnn.errors.check_output`); two outputs never share one path;
(b) a name a user gives is one file or folder name (:func:`eventcnn.errors.check_name`):
    it becomes a path only inside its output folder;
(c) an existing output file (and each file an output folder's writer replaces) is
    replaced only with ``--overwrite``, which :func:`declare` adds to every command
    that writes a file;
(e) every input given is there, of the right kind (a file or a folder), readable and
    not empty (an input updated in place also writable; a class database a class
    database, read without changing it): one line naming it and what to give, before
    any work starts.

Whatever an input holds (a display zip without images, a truncated shard) is checked
by the reader of its format, which names the file (rule d: nothing usable is an error).
``tests/test_cli_rules.py`` walks every command and option of the parser, so a new
command is covered by declaring its options here, without a new test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventcnn.errors import OutputError, UserError, check_name, check_output

__all__ = ["DISPLAYS", "EVENT_FILE", "IMAGE_FOLDER", "Input", "LABEL_FILE", "Name", "Output", "OutputFolder",
           "ROLES", "RUN", "SELECTION", "Update", "VALUE", "Value", "WEIGHTS", "check_paths", "declare", "roles_of"]

#: the namespace attribute (a parser default) that carries a command's declarations
ROLES = "_eventcnn_path_roles"


@dataclass(frozen=True)
class Value:
    """Not a path and not a name that becomes one: a setting (``--model``, ``--scheduler``)."""

    why: str = ""


#: the declaration of an option whose value is a plain setting
VALUE = Value()


@dataclass(frozen=True)
class Input:
    """A file or folder the command reads (never written).

    ``what`` completes "give ...": ``"a zip or folder of event displays"``. ``file`` /
    ``folder``: which it may be. ``words``: values that are words, not paths (``--selection
    paper``); a callable returns them. ``missing_ok``: may be absent (read as empty).
    ``empty_ok``: a 0-byte file is fine. ``part``: the value is a tuple (``LABEL=FILE``),
    the path is this element. ``noun``: how an output inside this folder is told
    ("the run folder"). ``kind``: what it holds (events, displays, labels, images, run,
    json, weights, db, folder, image, onnx): the hint for a file of the wrong kind.
    ``outputs_inside``: a folder that new outputs may be written into (``export RUN``
    writes ``RUN/model.onnx``): only its files are guarded, never replaced.
    """

    what: str
    file: bool = True
    folder: bool = True
    words: tuple[str, ...] | Callable[[], Iterable[str]] = ()
    missing_ok: bool = False
    empty_ok: bool = False
    part: int | None = None
    noun: str = ""
    kind: str = ""
    outputs_inside: bool = False

    def word_set(self) -> set[str]:
        """The words (lower case) that are not paths."""
        return {str(w).lower() for w in (self.words() if callable(self.words) else self.words)}


@dataclass(frozen=True)
class Update(Input):
    """A file or folder the command reads and writes in place (``opal label --labels``, ``evaluate RUN``).

    An input for the other outputs of the command; created when missing.
    """

    missing_ok: bool = True
    empty_ok: bool = True


@dataclass(frozen=True)
class Output:
    """A file the command writes (atomically): replaced only with ``--overwrite``.

    ``also``: the other files written beside it (``compare --out x.md`` writes ``x.csv``).
    """

    what: str
    also: Callable[[argparse.Namespace, Path], Iterable[Path]] | None = None


@dataclass(frozen=True)
class OutputFolder:
    """A folder the command writes into (created; a re-run resumes in it).

    ``replaces``: the files the command replaces in it, as names formatted with the
    options (``"{name}.zip"``) or a callable of the options: each is replaced only with
    ``--overwrite`` and never when it is an input.
    """

    what: str
    replaces: tuple[str, ...] | Callable[[argparse.Namespace], Iterable[str]] = ()


@dataclass(frozen=True)
class Name:
    """A name that becomes one file or folder name inside the output folder (``--name``, labels).

    ``what`` names it in messages; ``after``: only the text after this separator is the
    name (``FILE=LABEL``); ``part``: the value is a tuple, the name is this element.
    """

    what: str = "name"
    becomes: str = "one file or folder name inside the output folder"
    after: str = ""
    part: int | None = None


Role = Value | Input | Output | OutputFolder | Name


def declare(parser: argparse.ArgumentParser, **roles: Role | tuple[Role, ...]) -> None:
    """Declare what the options of ``parser`` (by ``dest``) are; adds ``--overwrite`` where a file is written.

    Every option that takes a text value (not a number, not a fixed choice) is declared:
    ``tests/test_cli_rules.py`` fails for one that is not.
    """
    dests = {a.dest: a for a in parser._actions}
    unknown = sorted(set(roles) - set(dests))
    if unknown:
        raise KeyError(f"{parser.prog}: no option with dest {unknown} to declare")
    table = {dest: role if isinstance(role, tuple) else (role,) for dest, role in roles.items()}
    writes = any(isinstance(r, Output) or (isinstance(r, OutputFolder) and r.replaces)
                 for rs in table.values() for r in rs)
    if writes and "overwrite" not in dests:
        parser.add_argument("--overwrite", action="store_true",
                            help="replace output files that exist (default: refuse)")
    flags = {a.dest: next((o for o in a.option_strings if o.startswith("--")), a.option_strings[0])
             for a in parser._actions if a.option_strings}
    parser.set_defaults(**{ROLES: (table, flags)})


def roles_of(parser: argparse.ArgumentParser) -> dict[str, tuple[Role, ...]]:
    """The declarations of a parser: ``dest -> roles`` (empty when nothing is declared)."""
    declared = parser.get_default(ROLES)
    return dict(declared[0]) if declared else {}


# ---------------------------------------------------------------------------- the inputs several commands share


def _selection_words() -> Iterable[str]:
    from eventcnn.events.selection import PRESETS

    return PRESETS


def _weights_words() -> Iterable[str]:
    from eventcnn.learn.weights import SIM_PREFIX, available

    return ["none", "imagenet", SIM_PREFIX, *(f"{SIM_PREFIX}:{e['name']}" for e in available())]


#: a zip or folder of OPAL event displays
DISPLAYS = Input("a zip or folder of event displays (PNG/GIF/JPEG)", kind="displays")
#: a label file of the masterclass format
LABEL_FILE = Input("a label file of '<event>.png;<label>' lines", folder=False, kind="labels")
#: a run folder (or a trained .keras file)
RUN = Input("a run folder of `eventcnn train` or `eventcnn opal train` (or its .keras file)", noun="run folder",
            kind="run")
#: an event file
EVENT_FILE = Input("an event file (.json, .json.gz, NanoAOD .root or a root:// URL)", folder=False, kind="events")
#: an image folder of class sub-folders (or shards)
IMAGE_FOLDER = Input("an image folder of class sub-folders (from `eventcnn render`)", file=False,
                     noun="image folder", kind="images")
#: an event selection: a preset name or a JSON file
SELECTION = Input("a JSON file of Selection settings", folder=False, words=_selection_words, kind="json")
#: starting weights: a word (none, imagenet, sim, sim:<name>) or a weights file
WEIGHTS = Input("a weights file (.weights.h5 from `eventcnn pretrain` / `eventcnn opal pretrain`)", folder=False,
                words=_weights_words, kind="weights")


# ---------------------------------------------------------------------------- enforcing


def _values(value: Any) -> list[Any]:
    if value is None or value is False:
        return []
    return list(value) if isinstance(value, (list, tuple)) and not _is_pair(value) else [value]


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)


def _given(args: argparse.Namespace, table: dict[str, tuple[Role, ...]]) -> Iterator[tuple[str, Role, Any]]:
    """``(dest, role, value)`` for every value given (or defaulted) to a declared option."""
    for dest, roles in table.items():
        for value in _values(getattr(args, dest, None)):
            for role in roles:
                part = getattr(role, "part", None)
                item = value[part] if part is not None and isinstance(value, (tuple, list)) else value
                yield dest, role, item


def check_paths(args: argparse.Namespace) -> None:
    """Enforce the path rules on the options of a parsed command (see the module's docstring).

    Raises :class:`eventcnn.errors.UserError` (one line naming the option and the path)
    on the first problem; does nothing for a command that declares nothing.
    """
    declared = getattr(args, ROLES, None)
    if not declared:
        return
    table, flags = declared
    overwrite = bool(getattr(args, "overwrite", False))
    inputs: list[tuple[str, Input, Path]] = []
    for dest, role, value in _given(args, table):
        flag = flags.get(dest, "")
        if isinstance(role, Name):
            name = str(value).split(role.after, 1)[1] if role.after and role.after in str(value) else str(value)
            check_name(name, what=role.what, becomes=role.becomes, flag=flag)
        elif isinstance(role, Input):
            path = _input_path(role, value, flag)
            if path is not None:
                inputs.append((flag, role, path))
    outputs: list[tuple[str, Path]] = []
    for dest, role, value in _given(args, table):
        flag = flags.get(dest, "")
        if isinstance(role, (Output, OutputFolder)):
            outputs += _check_output(args, role, Path(value), flag, inputs, overwrite)
    for flag, role, path in inputs:
        if isinstance(role, Update):  # written in place: never another input
            others = [(f, r, p) for f, r, p in inputs if p is not path]
            check_output(path, **_guarded(others), overwrite=True, folder=path.is_dir() or not role.file,
                         flag=flag or "input")
            outputs.append((flag, path))
    _distinct(outputs)


def _input_path(role: Input, value: Any, flag: str) -> Path | None:
    """The path of an input value, checked: there, of the right kind, readable, not empty (None: a word or URL)."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    words = role.word_set()
    if text.strip().lower() in words or "://" in text:
        return None
    path = Path(text).expanduser()
    named = f"{flag} {path}" if flag else str(path)
    give = role.what + (f" (or one of {', '.join(sorted(words))})" if words else "")
    if not path.exists():
        if role.missing_ok:
            return path
        raise UserError(f"{named} not found: give {give}" + _hint_missing(path))
    if path.is_dir() and not role.folder:
        raise UserError(f"{named} is a folder: give {give}")
    if not path.is_dir() and not role.file:
        noun = role.noun or "folder"
        raise UserError(f"{named} is a file, not {'an' if noun[0] in 'aeiou' else 'a'} {noun}: give {give}"
                        + _hint_file(role, path))
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise UserError(f"cannot read {named}: permission denied; make it readable or give another copy")
    if isinstance(role, Update) and not os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0)):
        raise UserError(f"cannot write {named}: it is read-only and the command updates it in place; "
                        "make it writable or give a copy")
    if path.is_file() and path.stat().st_size == 0 and not role.empty_ok:
        raise UserError(f"{named} is empty (0 bytes: an interrupted download or copy?): give {give}")
    probe = _PROBES.get(role.kind)
    if probe is not None and path.is_file() and path.stat().st_size > 0:
        probe(path, named, give)
    return path


def _class_database(path: Path, named: str, give: str) -> None:
    """A class database of ``eventcnn class serve``, by the classroom's own check, read without changing it."""
    import sqlite3

    from eventcnn.opal.web.store import check_class_file, check_tables  # light: no FastAPI

    if not check_class_file(path):
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            check_tables(db, path)
    except sqlite3.OperationalError as exc:  # locked by a running server, unreadable: not a wrong kind of file
        if "locked" in str(exc):
            return  # in use: the command that opens it says so
        raise UserError(f"cannot read {named} as a database ({exc}): check the file and its folder are "
                        f"readable, or give {give}") from None
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{named} is not a class database ({exc}): give {give}") from None


#: what an input of a kind must hold, checked when the command starts (read only)
_PROBES = {"db": _class_database}


def _hint_missing(path: Path) -> str:
    parent = path.parent
    if str(parent) not in ("", ".") and not parent.exists():
        return f" (the folder {parent} does not exist either)"
    return ""


#: what to do with a file given where a folder of this kind is expected
_FILE_HINTS = {
    "images": ("; a zip of OPAL event displays is trained with `eventcnn opal train --data {path} --labels LABELS`"
               " (or predicted with `eventcnn predict RUN {path}`)", "; event files are drawn into an image "
               "folder first: `eventcnn render {path} --out CreatedImages`"),
}


def _hint_file(role: Input, path: Path) -> str:
    hints = _FILE_HINTS.get(role.kind)
    if not hints:
        return ""
    name = path.name.lower()
    if name.endswith(".zip"):
        return hints[0].format(path=path)
    if name.endswith((".json", ".json.gz", ".root")):
        return hints[1].format(path=path)
    return ""


def _guarded(inputs: list[tuple[str, Input, Path]]) -> dict[str, Any]:
    """``check_output``'s ``inputs`` and ``protected`` for the given inputs (folders with a noun are named by it)."""
    plain = [p for _, r, p in inputs if not (p.is_dir() and (r.noun or r.outputs_inside))]
    plain += [f for _, r, p in inputs if r.outputs_inside and p.is_dir() for f in sorted(p.iterdir()) if f.is_file()]
    named = [(f"the {r.noun}", p) for _, r, p in inputs if r.noun and p.is_dir() and not r.outputs_inside]
    return {"inputs": plain, "protected": named}


def _check_output(args: argparse.Namespace, role: Output | OutputFolder, path: Path, flag: str,
                  inputs: list[tuple[str, Input, Path]], overwrite: bool) -> list[tuple[str, Path]]:
    """Rules (a) and (c) for one output; the paths it writes."""
    guarded = _guarded(inputs)
    flag = flag or "output"
    if isinstance(role, Output):
        paths = [path, *(role.also(args, path) if role.also else [])]
        for p in paths:
            check_output(p, **guarded, overwrite=overwrite, flag=flag)
        return [(flag, p) for p in paths]
    check_output(path, **guarded, folder=True, flag=flag)
    names = role.replaces(args) if callable(role.replaces) else [n.format(**vars(args)) for n in role.replaces]
    written = [(flag, path)]
    for name in names:
        target = path / name
        try:
            check_output(target, **guarded, overwrite=overwrite, flag=flag)
        except OutputError as exc:  # say which file of the folder
            raise OutputError(f"{exc} (the file {name} that {flag} {path} gets)") from None
        written.append((flag, target))
    return written


def _distinct(outputs: list[tuple[str, Path]]) -> None:
    """Two outputs (or an output and a file updated in place) never share one path."""
    seen: dict[Path, str] = {}
    for flag, path in outputs:
        key = Path(os.path.abspath(path)).resolve()
        if key in seen and seen[key] != flag:
            raise OutputError(f"{seen[key]} and {flag} are both {path}: one would replace the other; "
                              "give each output its own path")
        seen.setdefault(key, flag)
