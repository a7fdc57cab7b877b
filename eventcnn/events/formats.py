"""The event formats eventcnn reads: one registry, used by ``read``, ``render``, ``predict`` and ``evaluate``.

An :class:`EventFormat` says which files it reads (suffixes, URL schemes) and
how: the whole file (``read``), or, for files of any size, the number of entries
(``count``) and an entry range (``read_range``), so that the stages can split a
file into tasks. Everything that takes an event file goes through this module:
:func:`format_of` / :func:`is_event_file` decide what a path is, :func:`read_file`,
:func:`count_entries` and :func:`read_range` read it (:mod:`eventcnn.events.read`
builds ``read_events`` and ``read_selected`` on them).

Built in (:data:`BUILTIN`): the CMS open-data JSON (:mod:`eventcnn.events.cms_json`)
and NanoAOD (:mod:`eventcnn.events.nanoaod`: TTree, RNTuple with flat fields and
RNTuple with collection fields, :mod:`eventcnn.events.nanoaod_layout`). **Adding a
format is one module that defines an** ``EventFormat`` **and one line in**
:data:`BUILTIN` (or :func:`register_format` at run time, e.g. for a test).

:class:`ReadOptions` carries what a reader must know besides the path: which
collections or fields the user says are absent on purpose (``--absent``; never
read "absent" into "none" otherwise), which object flags the selection needs, and
whether bad events are skipped.

Example::

    >>> from eventcnn.events.formats import format_of, is_event_file
    >>> format_of("tt.root").name, is_event_file("a.json.gz"), is_event_file("a.png")
    ('nanoaod', True, False)
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventcnn.errors import UserError

#: :class:`eventcnn.events.Events` (not imported: the format modules import this one, never the reverse)
_Events = Any

__all__ = [
    "ABSENT_COLLECTIONS",
    "BUILTIN",
    "EventFormat",
    "ReadOptions",
    "STRICT",
    "count_entries",
    "event_formats",
    "event_suffixes",
    "format_of",
    "is_event_file",
    "read_file",
    "read_range",
    "register_format",
    "unregister_format",
    "write_file",
]

#: the formats eventcnn ships, as ``"module:attribute"`` (loaded when first needed: uproot only for ROOT)
BUILTIN: tuple[str, ...] = (
    "eventcnn.events.cms_json:FORMAT",
    "eventcnn.events.nanoaod:FORMAT",
)


@dataclass(frozen=True)
class ReadOptions:
    """What a reader needs besides the path.

    ``absent``: collections (``"Electron"``, ``"MET"``) or fields (``"Muon_tightId"``)
    the user says may be missing on purpose; a missing one then reads as none
    (false for a flag). Anything else the reading needs that a file lacks is an
    error naming the file, what was looked for and what is there. ``needs``: the
    object flags the selection reads (:meth:`Selection.needs`; ``None``: all).
    ``skip_bad``: drop bad events (listed in ``events.bad``) instead of failing.

    Example::

        >>> ReadOptions.make(absent="electron, MET").absent
        frozenset({'Electron', 'MET'})
    """

    absent: frozenset[str] = frozenset()
    needs: frozenset[str] | None = None
    skip_bad: bool = False

    @classmethod
    def make(cls, absent: str | Iterable[str] | None = None, selection: Any = "all",
             skip_bad: bool = False) -> ReadOptions:
        """Options from user input: ``absent`` as names or one comma-separated text, a selection's needs.

        ``selection``: a :class:`~eventcnn.events.selection.Selection` (its :meth:`needs`),
        ``None`` (no selection: no flag needed) or ``"all"`` (default: every flag needed).
        """
        names = absent.split(",") if isinstance(absent, str) else list(absent or ())
        clean = frozenset(_canonical_absent(n) for n in names if str(n).strip())
        if unknown := sorted(n for n in clean if not _ABSENT_NAME.fullmatch(n)):
            raise UserError(f"--absent {','.join(unknown)}: not a collection ({', '.join(ABSENT_COLLECTIONS)}) "
                            "or a field of one (such as Muon_tightId); a misspelt name would excuse nothing, "
                            "so check the spelling (the error of a file that lacks something names it)")
        if isinstance(selection, str):
            if selection != "all":
                raise UserError(f"ReadOptions.make takes a Selection, None or 'all', not {selection!r}")
            needs = None
        else:
            needs = selection.needs() if selection is not None else frozenset()
        return cls(clean, needs, bool(skip_bad))

    def needed(self, *fields: str) -> bool:
        """True when any of the Events fields ``fields`` (``"muon.tight_id"``) is needed."""
        return self.needs is None or any(f in self.needs for f in fields)


#: the default: nothing may be absent, every flag is needed
STRICT = ReadOptions()

#: collection names as users may write them (any case) -> the NanoAOD spelling
_COLLECTION_NAMES = {"jet": "Jet", "jets": "Jet", "electron": "Electron", "electrons": "Electron",
                     "muon": "Muon", "muons": "Muon", "met": "MET"}


#: the collections ``--absent`` may name, and the pattern of the fields of one it may name
ABSENT_COLLECTIONS: tuple[str, ...] = ("Jet", "Electron", "Muon", "MET")
_ABSENT_NAME = re.compile(r"(Jet|Electron|Muon|MET)(_[A-Za-z][A-Za-z0-9_]*)?")


def _canonical_absent(name: str) -> str:
    text = str(name).strip()
    return _COLLECTION_NAMES.get(text.lower(), text)


@dataclass(frozen=True)
class EventFormat:
    """One file format of events, and how to read (and write) it.

    ``read(path, options) -> Events`` reads a whole file. Formats of files too big
    for memory also give ``count(path) -> entries`` and ``read_range(path, start,
    stop, options) -> Events``; the stages then read them in entry ranges.
    ``write(path, events) -> Path`` is optional (``data convert``).
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    read: Callable[[str, ReadOptions], _Events]
    url_schemes: tuple[str, ...] = ()
    count: Callable[[str], int] | None = None
    read_range: Callable[[str, int, int, ReadOptions], _Events] | None = None
    write: Callable[[str, _Events], Path] | None = None

    @property
    def ranged(self) -> bool:
        """True when files are read in entry ranges (``count`` and ``read_range``)."""
        return self.count is not None and self.read_range is not None

    def reads(self, path: str | os.PathLike[str]) -> bool:
        """True for a path (or URL) with one of this format's suffixes or URL schemes."""
        text = str(path)
        if any(text.startswith(s) for s in self.url_schemes):
            return True
        return text.split("?")[0].lower().endswith(self.suffixes)


_REGISTRY: list[EventFormat] = []
_LOADED = False


def _load_builtin() -> None:
    """Load :data:`BUILTIN` once (the format modules import this one for their types)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    builtin = [getattr(importlib.import_module(spec.split(":")[0]), spec.split(":")[1]) for spec in BUILTIN]
    names = {f.name for f in builtin}
    _REGISTRY[:] = builtin + [f for f in _REGISTRY if f.name not in names]


def register_format(fmt: EventFormat) -> EventFormat:
    """Add a format (after the built-in ones); its name must be new. Returns it.

    Example::

        register_format(EventFormat("toy", "toy events", (".toy",), read=read_toy))   # doctest: +SKIP
    """
    _load_builtin()
    if any(f.name == fmt.name for f in _REGISTRY):
        raise UserError(f"an event format named {fmt.name!r} is already registered")
    _REGISTRY.append(fmt)
    return fmt


def unregister_format(name: str) -> None:
    """Remove the format ``name`` (a test's toy format); unknown names are ignored."""
    _REGISTRY[:] = [f for f in _REGISTRY if f.name != name]


def event_formats() -> tuple[EventFormat, ...]:
    """The registered formats, built-in ones first."""
    _load_builtin()
    return tuple(_REGISTRY)


def event_suffixes() -> tuple[str, ...]:
    """Every file suffix of an event file (``.json``, ``.json.gz``, ``.root``, ...).

    Example::

        >>> ".root" in event_suffixes()
        True
    """
    return tuple(s for f in event_formats() for s in f.suffixes)


def format_of(path: str | os.PathLike[str]) -> EventFormat:
    """The format that reads ``path``, or a :class:`UserError` listing the ones there are."""
    for fmt in event_formats():
        if fmt.reads(path):
            return fmt
    if "://" not in str(path) and Path(path).is_dir():
        raise UserError(f"{path} is a folder, not an event file: give {', '.join(event_suffixes())} files")
    kinds = "; ".join(f"{f.description} ({', '.join(f.suffixes + tuple(s + '...' for s in f.url_schemes))})"
                      for f in event_formats())
    raise UserError(f"{path}: not an event file eventcnn reads; event files are: {kinds}")


def is_event_file(path: str | os.PathLike[str]) -> bool:
    """True when a registered format reads ``path`` (by its suffix or URL scheme; the file is not opened).

    Example::

        >>> is_event_file("TTjets_json.json"), is_event_file("root://host//tt.root"), is_event_file("x.png")
        (True, True, False)
    """
    return any(fmt.reads(path) for fmt in event_formats())


def read_file(path: str | os.PathLike[str], options: ReadOptions = STRICT) -> _Events:
    """A whole event file as :class:`Events`, in its format."""
    return format_of(path).read(str(path), options)


def count_entries(path: str | os.PathLike[str]) -> int | None:
    """Entries of a file read in ranges, or None for a format read whole."""
    fmt = format_of(path)
    return fmt.count(str(path)) if fmt.ranged else None  # type: ignore[misc]


def read_range(path: str | os.PathLike[str], start: int, stop: int | None,
               options: ReadOptions = STRICT) -> _Events:
    """Entries ``[start, stop)`` of a ranged format; the whole file of the others (``stop`` None)."""
    fmt = format_of(path)
    if not fmt.ranged:
        return fmt.read(str(path), options)
    return fmt.read_range(str(path), int(start), int(stop if stop is not None else start), options)  # type: ignore[misc]


def write_file(path: str | os.PathLike[str], events: _Events) -> Path:
    """Write ``events`` in the format of ``path``'s suffix (a :class:`UserError` if it cannot be written)."""
    fmt = format_of(path)
    if fmt.write is None:
        raise UserError(f"{path}: eventcnn reads {fmt.description} but does not write it")
    return fmt.write(str(path), events)
