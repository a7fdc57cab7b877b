"""Columnar events and the CMS open-data JSON format (the implementation behind :mod:`eventcnn.events`).

Import from :mod:`eventcnn.events`; this module exists so that the NanoAOD
reader (:mod:`eventcnn.events.nanoaod`) and the selection can use the types without
importing the format dispatch of :func:`eventcnn.events.read_events`.


The schema (see ``../shared/data/README.md``)::

    {"Event": {"<event number>": {
        "electron": {"0": {pt, eta, phi, px, py, pz, tightID, tightIso}, ...},
        "muon": {...same...},
        "jet": {"0": {pt, eta, phi, CSV, tightID}, ...},
        "met", "met_phi", "sumet", "njet", "numel", "nummu", "xsec", "isMC", "lumi", "run"}}}

Object collections are absent when empty. Known quirks are repaired on
reading: a lepton ``phi`` written as 0.0 while ``px``/``py`` are not is
recomputed from ``px``, ``py``; a jet ``CSV`` of -100, -10 or -1 (any
negative value) means "no b-tag value" and becomes NaN. The flags ``tightID``
and ``tightIso`` must be JSON ``true``/``false`` (or 0/1; null or absent means
false): anything else, such as the string ``"false"``, is an error.

Example::

    >>> from eventcnn.events import read_events
    >>> ev = read_events("json_files/TTjets_json.json")        # doctest: +SKIP
    >>> len(ev), ev.jet.counts[:5], ev.met[:3]                  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
import math
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_bytes_atomic
from eventcnn.errors import EventcnnError, UserError
from eventcnn.events.formats import EventFormat, ReadOptions

__all__ = [
    "BadEvent",
    "EventFormatError",
    "Events",
    "Objects",
    "concat_events",
    "events_from_records",
    "read_json_events",
    "to_records",
    "write_events",
]

# JSON key -> attribute name, per collection. pt, eta, phi are required.
_FIELDS: dict[str, dict[str, str]] = {
    "jet": {"pt": "pt", "eta": "eta", "phi": "phi", "CSV": "csv", "tightID": "tight_id"},
    "electron": {
        "pt": "pt", "eta": "eta", "phi": "phi", "px": "px", "py": "py", "pz": "pz",
        "tightID": "tight_id", "tightIso": "tight_iso",
    },
}
_FIELDS["muon"] = _FIELDS["electron"]
COLLECTIONS: tuple[str, ...] = ("jet", "electron", "muon")
_REQUIRED_OBJECT_KEYS = ("pt", "eta", "phi")
_BOOL_FIELDS = {"tight_id", "tight_iso"}
# Event-level keys -> (attribute, default when absent; None = required).
_SCALARS: dict[str, tuple[str, float | None]] = {
    "met": ("met", None),
    "met_phi": ("met_phi", None),
    "sumet": ("sumet", math.nan),
    "xsec": ("xsec", math.nan),
    "isMC": ("is_mc", 0),
    "lumi": ("lumi", 0),
    "run": ("run", 0),
}
_MISSING = "<missing>"  # a string: converting it to float fails, which triggers diagnosis


class EventFormatError(UserError):
    """The event file is not in the CMS JSON schema; the message names file, event and field."""


@dataclass(frozen=True)
class BadEvent:
    """An event dropped in ``skip_bad`` mode: which one, which field, and why."""

    event: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"event {self.event}, field {self.field!r}: {self.reason}"


@dataclass(frozen=True)
class Objects:
    """A jagged collection (jets, electrons or muons), stored columnar.

    ``fields[name]`` is a flat array over all objects of all events; the objects
    of event ``i`` are ``offsets[i]:offsets[i + 1]``.

    Example::

        >>> jets = Objects.from_lists([[30.0, 50.0], []], eta=[[0.1, -1.0], []], phi=[[0.0, 1.0], []])
        >>> jets.counts.tolist(), jets.event_index.tolist()
        ([2, 0], [0, 0])
    """

    offsets: np.ndarray
    fields: dict[str, np.ndarray]

    @classmethod
    def from_lists(cls, pt: Sequence[Sequence[float]], **other: Sequence[Sequence[Any]]) -> Objects:
        """Build from per-event lists (convenient for tests and small examples)."""
        counts = np.array([len(p) for p in pt], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        fields = {"pt": np.array([x for p in pt for x in p], dtype=np.float64)}
        for name, values in other.items():
            dtype = bool if name in _BOOL_FIELDS else np.float64
            fields[name] = np.array([x for v in values for x in v], dtype=dtype)
        return cls(offsets, fields)

    def __len__(self) -> int:
        """Number of events (not objects)."""
        return len(self.offsets) - 1

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def __getattr__(self, name: str) -> np.ndarray:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    @property
    def n_objects(self) -> int:
        return int(self.offsets[-1])

    @property
    def counts(self) -> np.ndarray:
        """Number of objects per event."""
        return np.diff(self.offsets)

    @property
    def event_index(self) -> np.ndarray:
        """For every flat entry, the index of its event."""
        return np.repeat(np.arange(len(self)), self.counts)

    def take(self, index: np.ndarray) -> Objects:
        """The objects of the events ``index`` (an integer array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        counts = self.counts[index]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        flat = np.repeat(self.offsets[:-1][index] - offsets[:-1], counts) + np.arange(offsets[-1])
        return Objects(offsets, {k: v[flat] for k, v in self.fields.items()})

    def mask(self, keep: np.ndarray) -> Objects:
        """Keep only the objects where the flat boolean ``keep`` is true (events stay)."""
        keep = np.asarray(keep, dtype=bool)
        counts = np.bincount(self.event_index[keep], minlength=len(self))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Objects(offsets, {k: v[keep] for k, v in self.fields.items()})

    def of_event(self, i: int) -> dict[str, np.ndarray]:
        """The fields of event ``i`` as small arrays."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return {k: v[lo:hi] for k, v in self.fields.items()}


@dataclass(frozen=True)
class Events:
    """Columnar events: per-event arrays plus the jagged jet/electron/muon collections.

    ``events[mask_or_indices]`` returns a subset. ``bad`` lists the events that
    ``read_events(..., skip_bad=True)`` dropped.
    """

    event: np.ndarray
    met: np.ndarray
    met_phi: np.ndarray
    sumet: np.ndarray
    xsec: np.ndarray
    is_mc: np.ndarray
    lumi: np.ndarray
    run: np.ndarray
    jet: Objects
    electron: Objects
    muon: Objects
    source: str = ""
    bad: tuple[BadEvent, ...] = field(default=())
    #: which b-tag discriminant ``jet.csv`` holds: "csv" (2011 JSON), "csvv2" or "deepflavb" (NanoAOD)
    btag: str = "csv"

    def __len__(self) -> int:
        return len(self.event)

    def __getitem__(self, key: Any) -> Events:
        index = np.arange(len(self))[key]
        index = np.atleast_1d(index)
        per_event = {name: getattr(self, name)[index] for name in _EVENT_ARRAYS}
        objects = {name: getattr(self, name).take(index) for name in COLLECTIONS}
        return replace(self, **per_event, **objects)

    def collection(self, name: str) -> Objects:
        """``events.collection("jet")`` is ``events.jet``."""
        if name not in COLLECTIONS:
            raise KeyError(f"unknown collection {name!r}; expected one of {COLLECTIONS}")
        return getattr(self, name)

    def summary(self) -> str:
        """One line: events, objects per collection, source."""
        objs = ", ".join(f"{getattr(self, c).n_objects} {c}s" for c in COLLECTIONS)
        return f"{len(self)} events ({objs}) from {self.source or '<memory>'}"


_EVENT_ARRAYS = ("event", "met", "met_phi", "sumet", "xsec", "is_mc", "lumi", "run")


def read_json_events(path: str | os.PathLike[str], skip_bad: bool = False) -> Events:
    """Read a CMS JSON event file (``.json`` or ``.json.gz``) into :class:`Events`.

    Bad input raises :class:`EventFormatError` naming the file, the event number
    and the field. With ``skip_bad=True`` bad events are dropped instead and
    listed in ``events.bad``. :func:`eventcnn.events.read_events` also reads NanoAOD.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"event file not found: {path}")
    if path.is_dir():
        raise EventFormatError(f"{path} is a folder, not an event file: give .json, .json.gz or .root files")
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise EventFormatError(
                f"{path}: corrupt or truncated gzip file ({type(exc).__name__}: {exc}); "
                "download or copy it again"
            ) from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        hint = (
            " (the file ends early: truncated download or copy?)"
            if exc.pos >= len(raw.rstrip()) - 1
            else ""
        )
        raise EventFormatError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{hint}"
        ) from None
    except UnicodeDecodeError as exc:
        raise EventFormatError(f"{path}: not a JSON text file ({exc.reason})") from None
    return events_from_records(doc, source=str(path), skip_bad=skip_bad)


def events_from_records(
    doc: Mapping[str, Any], source: str = "<memory>", skip_bad: bool = False
) -> Events:
    """Build :class:`Events` from an already parsed document ``{"Event": {...}}``."""
    if not isinstance(doc, Mapping) or "Event" not in doc:
        found = sorted(doc)[:5] if isinstance(doc, Mapping) else type(doc).__name__
        raise EventFormatError(
            f"{source}: expected a JSON object with top-level key 'Event', found {found}"
        )
    records = doc["Event"]
    if not isinstance(records, Mapping):
        raise EventFormatError(f"{source}: 'Event' must map event numbers to events")
    try:
        return _columns(records, source)
    except _NeedsDiagnosis:
        pass
    bad = [b for num, rec in records.items() if (b := _diagnose(num, rec)) is not None]
    if not bad:  # pragma: no cover - the fast path only fails on real problems
        raise EventFormatError(f"{source}: could not read events")
    if not skip_bad:
        first = bad[0]
        more = f" ({len(bad) - 1} more bad events; use skip_bad / --skip-bad to drop them)" if len(bad) > 1 else ""
        raise EventFormatError(f"{source}: event {first.event}, field {first.field!r}: {first.reason}{more}")
    bad_numbers = {b.event for b in bad}
    good = {k: v for k, v in records.items() if k not in bad_numbers}
    events = _columns(good, source)
    return replace(events, bad=tuple(bad))


class _NeedsDiagnosis(EventcnnError):
    """Raised by the fast path when some value is missing, non-numeric or out of range."""


def _columns(records: Mapping[str, Any], source: str) -> Events:
    """Fast path: gather every field into flat lists and convert once."""
    try:
        numbers = np.array([int(k) for k in records], dtype=np.int64)
    except (TypeError, ValueError):
        raise _NeedsDiagnosis from None
    scalars: dict[str, list[Any]] = {attr: [] for attr, _ in _SCALARS.values()}
    lists: dict[str, dict[str, list[Any]]] = {
        c: {attr: [] for attr in _FIELDS[c].values()} for c in COLLECTIONS
    }
    counts: dict[str, list[int]] = {c: [] for c in COLLECTIONS}
    try:
        for rec in records.values():
            for key, (attr, default) in _SCALARS.items():
                scalars[attr].append(rec.get(key, _MISSING if default is None else default))
            for c in COLLECTIONS:
                objs = rec.get(c)
                if not objs:
                    counts[c].append(0)
                    continue
                counts[c].append(len(objs))
                cols = lists[c]
                for obj in objs.values():
                    for key, attr in _FIELDS[c].items():
                        cols[attr].append(obj.get(key, _MISSING if key in _REQUIRED_OBJECT_KEYS else None))
        arrays = {attr: np.array(v, dtype=np.float64) for attr, v in scalars.items()}
        collections = {}
        for c in COLLECTIONS:
            offsets = np.concatenate([[0], np.cumsum(counts[c], dtype=np.int64)]).astype(np.int64)
            fields = {}
            for attr, values in lists[c].items():
                if attr in _BOOL_FIELDS:
                    fields[attr] = _flags(values)
                else:
                    # optional fields (CSV, px...) absent -> None -> NaN
                    fields[attr] = np.array(values, dtype=np.float64)
            collections[c] = Objects(offsets, fields)
    except (TypeError, ValueError, AttributeError):
        raise _NeedsDiagnosis from None
    for attr in ("met", "met_phi"):
        if not np.all(np.isfinite(arrays[attr])):
            raise _NeedsDiagnosis
    if np.any(arrays["met"] < 0):
        raise _NeedsDiagnosis
    for objs in collections.values():
        for attr in ("pt", "eta", "phi"):
            if not np.all(np.isfinite(objs[attr])):
                raise _NeedsDiagnosis
        if np.any(objs["pt"] < 0):
            raise _NeedsDiagnosis
    for c in ("electron", "muon"):
        _repair_lepton_phi(collections[c])
    jets = collections["jet"]
    jets.fields["csv"] = np.where(jets["csv"] < 0, np.nan, jets["csv"])
    return Events(
        event=numbers,
        met=arrays["met"],
        met_phi=arrays["met_phi"],
        sumet=arrays["sumet"],
        xsec=arrays["xsec"],
        is_mc=arrays["is_mc"].astype(bool),
        lumi=arrays["lumi"].astype(np.int64),
        run=arrays["run"].astype(np.int64),
        jet=jets,
        electron=collections["electron"],
        muon=collections["muon"],
        source=source,
    )


_FLAG_TYPES = frozenset({bool, int, type(None)})
_FLAG_VALUES = frozenset({0, 1, None})  # True == 1 and False == 0 in a set


def _flags(values: list[Any]) -> np.ndarray:
    """A flag column (tightID, tightIso): JSON true/false, 0/1 or null/absent (= false).

    Anything else (a string such as ``"false"``, 2, 0.5) sends the file to the
    slow path, which names the event and field.
    """
    types = set(map(type, values))
    if not types <= _FLAG_TYPES or (int in types and not set(values) <= _FLAG_VALUES):
        raise _NeedsDiagnosis
    return np.array(values, dtype=bool)


def _flag_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid flag (true/false, 0/1, null), or None when it is."""
    if value is None or isinstance(value, bool) or (type(value) is int and value in (0, 1)):
        return None
    return f"not a boolean: {value!r} (expected true/false or 0/1)"


def _repair_lepton_phi(leptons: Objects) -> None:
    """phi written as 0.0 while px/py are not: recompute phi = atan2(py, px) in place."""
    px, py, phi = leptons["px"], leptons["py"], leptons["phi"]
    broken = (phi == 0.0) & np.isfinite(px) & np.isfinite(py) & ((px != 0.0) | (py != 0.0))
    if np.any(broken):
        phi[broken] = np.arctan2(py[broken], px[broken])


def _number(value: Any) -> str | None:
    """Why ``value`` is not a usable number, or None when it is."""
    if value is _MISSING:
        return "missing"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"not a number: {value!r}"
    if not math.isfinite(value):
        return f"not finite: {value!r}"
    return None


def _diagnose(number: Any, rec: Any) -> BadEvent | None:
    """Slow path, used only when the fast path failed: the first problem of one event."""
    try:
        int(number)
    except (TypeError, ValueError):
        return BadEvent(str(number), "<event number>", f"event key {number!r} is not an integer")
    if not isinstance(rec, Mapping):
        return BadEvent(str(number), "<event>", f"expected an object, found {type(rec).__name__}")
    for key, (_, default) in _SCALARS.items():
        value = rec.get(key, _MISSING if default is None else default)
        if default is None and (why := _number(value)):
            return BadEvent(str(number), key, why)
        if default is not None and value is not None and not isinstance(value, (int, float)):
            return BadEvent(str(number), key, f"not a number: {value!r}")
    if rec["met"] < 0:
        return BadEvent(str(number), "met", f"negative MET {rec['met']!r}")
    for c in COLLECTIONS:
        objs = rec.get(c)
        if not objs:
            continue
        if not isinstance(objs, Mapping):
            return BadEvent(str(number), c, f"expected an object of {c}s, found {type(objs).__name__}")
        for idx, obj in objs.items():
            where = f"{c}[{idx}]"
            if not isinstance(obj, Mapping):
                return BadEvent(str(number), where, f"expected an object, found {type(obj).__name__}")
            for key in _FIELDS[c]:
                value = obj.get(key, _MISSING if key in _REQUIRED_OBJECT_KEYS else None)
                if value is None and key in _REQUIRED_OBJECT_KEYS:
                    return BadEvent(str(number), f"{where}.{key}", "null")
                if value is None:
                    continue
                if key in ("tightID", "tightIso"):
                    if why := _flag_problem(value):
                        return BadEvent(str(number), f"{where}.{key}", why)
                    continue
                if key in _REQUIRED_OBJECT_KEYS and (why := _number(value)):
                    return BadEvent(str(number), f"{where}.{key}", why)
                if key not in _REQUIRED_OBJECT_KEYS and not isinstance(value, (int, float)):
                    return BadEvent(str(number), f"{where}.{key}", f"not a number: {value!r}")
            if obj["pt"] < 0:
                return BadEvent(str(number), f"{where}.pt", f"negative pT {obj['pt']!r}")
    return None


def concat_events(parts: Iterable[Events]) -> Events:
    """Concatenate several :class:`Events` (e.g. from several files)."""
    parts = list(parts)
    if not parts:
        raise UserError("concat_events needs at least one Events")
    per_event = {n: np.concatenate([getattr(p, n) for p in parts]) for n in _EVENT_ARRAYS}
    objects = {}
    for c in COLLECTIONS:
        cols = [getattr(p, c) for p in parts]
        counts = np.concatenate([o.counts for o in cols])
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        objects[c] = Objects(offsets, {k: np.concatenate([o[k] for o in cols]) for k in cols[0].fields})
    sources = sorted({p.source for p in parts})
    btags = sorted({p.btag for p in parts})
    if len(btags) > 1:
        raise UserError(f"cannot concatenate events with different b-tag discriminants {btags}")
    return Events(**per_event, **objects, source=";".join(sources),
                  bad=tuple(b for p in parts for b in p.bad), btag=btags[0])


def to_records(events: Events) -> dict[str, Any]:
    """The JSON-schema document ``{"Event": {...}}`` of ``events`` (inverse of reading)."""
    out: dict[str, Any] = {}
    inverse = {c: {attr: key for key, attr in _FIELDS[c].items()} for c in COLLECTIONS}
    for i in range(len(events)):
        rec: dict[str, Any] = {}
        for c in COLLECTIONS:
            objs = getattr(events, c).of_event(i)
            n = len(objs["pt"])
            if n == 0:
                continue
            coll = {}
            for j in range(n):
                obj = {}
                for attr, values in objs.items():
                    v = values[j]
                    if attr in _BOOL_FIELDS:
                        obj[inverse[c][attr]] = bool(v)
                    elif attr == "csv" and np.isnan(v):
                        obj["CSV"] = -100.0
                    elif attr in inverse[c]:
                        obj[inverse[c][attr]] = _finite_or_none(v)
                coll[str(j)] = obj
            rec[c] = coll
        rec.update(
            met=float(events.met[i]), met_phi=float(events.met_phi[i]),
            sumet=_finite_or_none(events.sumet[i]), xsec=_finite_or_none(events.xsec[i]),
            isMC=int(events.is_mc[i]), lumi=int(events.lumi[i]), run=int(events.run[i]),
            njet=int(events.jet.counts[i]), numel=int(events.electron.counts[i]),
            nummu=int(events.muon.counts[i]),
        )
        out[str(int(events.event[i]))] = rec
    return {"Event": out}


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def write_events(path: str | os.PathLike[str], events: Events | Mapping[str, Any]) -> Path:
    """Write events (an :class:`Events` or a schema document) as JSON, atomically.

    ``.gz`` file names are gzip-compressed. NaN values are written as ``null``.
    """

    doc = to_records(events) if isinstance(events, Events) else events
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False, default=_json_default).encode()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    return write_bytes_atomic(path, data)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _read_format(path: str, options: ReadOptions) -> Events:
    return read_json_events(path, skip_bad=options.skip_bad)


#: the CMS open-data JSON in the registry of event formats (:mod:`eventcnn.events.formats`);
#: its collections are absent from an event when empty (the schema), so ``absent`` does not apply
FORMAT = EventFormat(name="cms-json", description="CMS open-data JSON", suffixes=(".json", ".json.gz"),
                     read=_read_format, write=write_events)
