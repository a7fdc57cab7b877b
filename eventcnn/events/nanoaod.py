"""CMS NanoAOD (ROOT: TTree or RNTuple, every layout the field writes) into the columnar :class:`Events`.

Names read (NanoAOD -> :class:`~eventcnn.events.Events`); where each is stored
(``Muon_pt``, ``Muon.pt``, ``_collection0.Muon_pt``) is found per name by
:mod:`eventcnn.events.nanoaod_layout`:

=================================  ==========================================================
NanoAOD name                       Events
=================================  ==========================================================
``event``, ``run``,                ``event``, ``run``, ``lumi``
``luminosityBlock``
``MET_pt``, ``MET_phi``,           ``met``, ``met_phi``, ``sumet``
``MET_sumEt``
``Muon_pt/eta/phi``                ``muon.pt/eta/phi``; ``px, py, pz`` from pt, eta, phi
``Muon_tightId``                   ``muon.tight_id``
``Muon_pfRelIso04_all``            ``muon.tight_iso = pfRelIso04_all < 0.15``
``Electron_pt/eta/phi``            ``electron.pt/eta/phi`` (+ px, py, pz)
``Electron_cutBased``              ``tight_id = tight_iso = cutBased >= 4`` (tight ID includes isolation)
``Jet_pt/eta/phi``                 ``jet.pt/eta/phi``
``Jet_jetId``                      ``jet.tight_id = (jetId & 2) != 0``
``Jet_btagDeepFlavB`` else         ``jet.csv`` (negative = no value -> NaN);
``Jet_btagCSVV2``                  ``events.btag`` = ``"deepflavb"`` / ``"csvv2"``
``genWeight`` (present or not)     ``is_mc``
=================================  ==========================================================

``xsec`` is not in NanoAOD and reads as NaN. Files written by
:func:`~eventcnn.events.nanoaod_write.write_nanoaod` from the 2011 JSON carry a
``TObjString`` ``eventcnn_btag = "csv"``: their ``Jet_btagCSVV2`` holds the 2011 CSV
values, whose working point (0.679) then applies.

**Never "absent" read as "none".** A collection (Jet, Electron, Muon, MET) or a
flag the selection needs that the file lacks is an :class:`EventFormatError`
naming the file, the places looked in and what the file has, unless the user
says it is absent on purpose (:class:`~eventcnn.events.formats.ReadOptions`
``absent``, ``--absent Electron``); a field of an unexpected type is named with
its type. Identifiers a skim lacks (``event``, ``run``, ``luminosityBlock``) are
filled (entry number, 0) with a warning.

Reading goes chunk by chunk (``iterate``), builds flat numpy arrays with
``ak.flatten`` / ``ak.num`` (no per-event Python loop) and needs only the names
above; :func:`iter_events` streams chunks so a file of any size fits in memory.

Example::

    >>> from eventcnn.events.nanoaod import iter_events, read_nanoaod
    >>> ev = read_nanoaod("tt.root", quiet=True)                         # doctest: +SKIP
    >>> for chunk in iter_events("root://eospublic.cern.ch//eos/...root", step_size=200_000):
    ...     print(chunk.summary())                                        # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env
from eventcnn.events.cms_json import COLLECTIONS, EventFormatError, Events, Objects, concat_events
from eventcnn.events.download import DownloadError
from eventcnn.events.formats import STRICT, EventFormat, ReadOptions
from eventcnn.events.nanoaod_layout import (
    DEFAULT_STEP,
    MARKER,
    Field,
    Layout,
    candidates,
    uproot_module,
)
from eventcnn.events.nanoaod_write import write_nanoaod
from eventcnn.events.rootfile import open_tree, truncated
from eventcnn.executor import DEFAULT_ATTEMPTS, Executor, use_executor, with_retries

__all__ = [
    "BTAG_BRANCHES",
    "FORMAT",
    "Plan",
    "is_root_path",
    "iter_events",
    "num_entries",
    "open_events",
    "plan_reading",
    "read_entries",
    "read_nanoaod",
    "read_parallel",
]

#: b-tag discriminant branch -> name recorded in ``Events.btag`` (first present wins).
BTAG_BRANCHES: tuple[tuple[str, str], ...] = (("Jet_btagDeepFlavB", "deepflavb"), ("Jet_btagCSVV2", "csvv2"))
_BTAG_NAMES = ("csv", "csvv2", "deepflavb")
TIGHT_ISO = 0.15  #: Muon_pfRelIso04_all below this is "tight isolation"

#: identifiers, filled when a skim lacks them: Events attribute -> (name, dtype kinds)
_IDS: dict[str, tuple[str, str]] = {"event": ("event", "iu"), "run": ("run", "iu"), "lumi": ("luminosityBlock", "iu")}
_PREFIX = {"jet": "Jet", "electron": "Electron", "muon": "Muon"}
#: per collection: kinematics (needed whenever the collection is read)
_KINEMATICS = ("pt", "eta", "phi")
#: per collection: flag -> (dtype kinds, the Events fields it gives)
_FLAGS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "jet": {"jetId": ("iu", ("jet.tight_id",))},
    "electron": {"cutBased": ("iu", ("electron.tight_id", "electron.tight_iso"))},
    "muon": {"tightId": ("biu", ("muon.tight_id",)), "pfRelIso04_all": ("fiu", ("muon.tight_iso",))},
}


def is_root_path(path: str | os.PathLike[str]) -> bool:
    """True for a ``.root`` file name or a ``root://`` URL (what :func:`read_nanoaod` reads).

    Example::

        >>> is_root_path("tt.root"), is_root_path("root://eospublic.cern.ch//x.root"), is_root_path("a.json")
        (True, True, False)
    """
    text = str(path)
    return text.startswith("root://") or text.split("?")[0].lower().endswith(".root")


def _marker(file: Any) -> str | None:
    if MARKER not in {k.split(";")[0] for k in file.keys(recursive=False)}:
        return None
    return str(file[MARKER])


def _flat(array: Any, dtype: Any = np.float64) -> np.ndarray:
    import awkward as ak

    return np.asarray(ak.to_numpy(ak.flatten(array, axis=1)), dtype=dtype)


def _offsets(array: Any) -> np.ndarray:
    import awkward as ak

    counts = np.asarray(ak.to_numpy(ak.num(array, axis=1)), dtype=np.int64)
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out




@dataclass
class Plan:
    """What to read from one file: where each NanoAOD name is, what is absent, the b-tag discriminant."""

    layout: Layout
    fields: dict[str, Field] = field(default_factory=dict)  #: NanoAOD name -> where it is
    present: dict[str, bool] = field(default_factory=dict)  #: per collection (and "met")
    btag: str = "csvv2"
    btag_name: str | None = None
    is_mc: bool = False

    @property
    def keys(self) -> list[str]:
        """What uproot reads (branches or field paths), each once."""
        return list(dict.fromkeys(f.key for f in self.fields.values()))


def plan_reading(file: Any, tree: Any, path: str, options: ReadOptions = STRICT) -> Plan:
    """Find every name to read, check its type; what ``options.absent`` allows to be missing reads as none.

    A collection needs ``pt``, ``eta`` and ``phi``; jets a b-tag discriminant; MET
    both ``MET_pt`` and ``MET_phi``. Missing collections, and missing flags the
    selection needs (``options.needs``), are one error naming them all, unless
    declared absent.
    """
    plan = Plan(Layout(tree, path))
    lay = plan.layout
    for name, kinds in _IDS.values():
        if (found := lay.find(name)) is not None:
            lay.check(found, kinds, depth=0)
            plan.fields[name] = found
    missing: list[tuple[str, str]] = []  # (name to declare absent, what for and where it was looked for)
    for c in COLLECTIONS:
        plan.present[c] = _plan_collection(plan, c, options, missing)
    plan.present["met"] = _plan_met(plan, options, missing)
    if not any(plan.present.values()):
        raise EventFormatError(f"{path}: the 'Events' {lay.what} has none of the collections eventcnn reads "
                               f"(Jet, Electron, Muon, MET; it has {lay.listing()}): is it NanoAOD?")
    if missing:
        raise _missing(lay, missing)
    if (sumet := lay.find("MET_sumEt")) is not None and plan.present["met"]:
        lay.check(sumet, "fiu", depth=0)
        plan.fields["MET_sumEt"] = sumet
    plan.is_mc = lay.find("genWeight") is not None
    marker = _marker(file)
    if marker is not None:
        if marker not in _BTAG_NAMES:
            raise EventFormatError(f"{path}: {MARKER} = {marker!r} is not one of {sorted(_BTAG_NAMES)}")
        plan.btag = marker
    _warn_filled(path, [name for name, _ in _IDS.values() if name not in plan.fields])
    return plan


def _missing(layout: Layout, missing: list[tuple[str, str]]) -> EventFormatError:
    """One error for everything needed that cannot be found: where it was looked for, what the file has."""
    names = ",".join(name for name, _ in missing)
    flags = any("_" in name for name, _ in missing)
    return EventFormatError(
        f"{layout.source}: the 'Events' {layout.what} lacks what the images and the selection need: "
        + "; ".join(f"{name} ({where})" for name, where in missing)
        + f". The file has {layout.listing()}. If it lacks them on purpose (a skim), say so: --absent {names} "
        f"(absent='{names}')" + (", or choose a selection that needs no flags (--selection none)" if flags else "")
        + "; eventcnn never reads what is missing as none"
    )


def _plan_collection(plan: Plan, c: str, options: ReadOptions, missing: list[tuple[str, str]]) -> bool:
    """Find a collection's names; False when it is not there (``missing`` lists what may not be absent)."""
    lay, prefix = plan.layout, _PREFIX[c]
    found = {k: lay.find(f"{prefix}_{k}") for k in _KINEMATICS}
    if all(f is None for f in found.values()):
        if prefix not in options.absent:
            missing.append((prefix, "looked for " + " or ".join(candidates(f"{prefix}_pt")) + ", with eta, phi"))
        return False
    for k, f in found.items():
        if f is None:
            raise EventFormatError(f"{lay.source}: {prefix} has {', '.join(x for x, g in found.items() if g)} "
                                   f"but no {k} (looked for {' or '.join(candidates(f'{prefix}_{k}'))})")
        lay.check(f, "fiu", depth=1)
        plan.fields[f.name] = f
    for flag, (kinds, gives) in _FLAGS[c].items():
        name = f"{prefix}_{flag}"
        if (f := lay.find(name)) is not None:
            lay.check(f, kinds, depth=1)
            plan.fields[name] = f
        elif options.needed(*gives) and name not in options.absent:
            missing.append((name, f"for {' and '.join(gives)}; looked for {' or '.join(candidates(name))}"))
    if c == "jet":
        _plan_btag(plan)
    return True


def _plan_btag(plan: Plan) -> None:
    lay = plan.layout
    for name, btag in BTAG_BRANCHES:
        if (f := lay.find(name)) is not None:
            lay.check(f, "fiu", depth=1)
            plan.fields[name], plan.btag_name, plan.btag = f, name, btag
            return
    # jets without a known discriminant: b-tags would be wrong, not absent
    raise EventFormatError(f"{lay.source}: no b-tag discriminant for the jets (looked for "
                           f"{'; '.join(' or '.join(candidates(b)) for b, _ in BTAG_BRANCHES)})")


def _plan_met(plan: Plan, options: ReadOptions, missing: list[tuple[str, str]]) -> bool:
    lay = plan.layout
    pt, phi = lay.find("MET_pt"), lay.find("MET_phi")
    if pt is None and phi is None:
        if "MET" not in options.absent:
            missing.append(("MET", "looked for " + " or ".join(candidates("MET_pt")) + ", with phi"))
        return False
    if pt is None or phi is None:
        raise EventFormatError(f"{lay.source}: {'MET_phi' if phi is None else 'MET_pt'} missing from the 'Events' "
                               f"{lay.what} (MET needs both MET_pt and MET_phi)")
    for f in (pt, phi):
        lay.check(f, "fiu", depth=0)
        plan.fields[f.name] = f
    return True


def _warn_filled(path: str, ids: list[str]) -> None:
    """One warning naming the identifiers a skim lacks and how they are filled."""
    if ids:
        warnings.warn(f"{path}: a slimmed file: no {', '.join(ids)} (event = entry number, run = lumi = 0)",
                      UserWarning, stacklevel=4)


def _chunk_to_events(arrays: Any, plan: Plan, source: str, start: int = 0) -> Events:
    """One chunk of NanoAOD arrays (what uproot read) -> :class:`Events`, columnar.

    ``start``: the entry number of the chunk's first event (the event number of a
    skim without ``event``). What is absent reads as none, flags as false.
    """
    n = len(arrays)
    lay = plan.layout

    def get(name: str) -> Any:
        return lay.extract(arrays, plan.fields[name])

    objects = {c: _objects(c, get, plan, n) if plan.present[c] else _no_objects(c, n) for c in COLLECTIONS}
    ids = {attr: np.asarray(get(name).to_numpy()).astype(np.int64) if name in plan.fields else
           (np.arange(start, start + n, dtype=np.int64) if attr == "event" else np.zeros(n, np.int64))
           for attr, (name, _) in _IDS.items()}
    zeros = np.zeros(n, dtype=np.float64)
    met = plan.present["met"]
    return Events(
        event=ids["event"],
        met=np.asarray(get("MET_pt").to_numpy(), dtype=np.float64) if met else zeros,
        met_phi=np.asarray(get("MET_phi").to_numpy(), dtype=np.float64) if met else zeros.copy(),
        sumet=(np.asarray(get("MET_sumEt").to_numpy(), dtype=np.float64) if "MET_sumEt" in plan.fields
               else np.full(n, np.nan)),
        xsec=np.full(n, np.nan),
        is_mc=np.full(n, plan.is_mc, dtype=bool),
        lumi=ids["lumi"],
        run=ids["run"],
        jet=objects["jet"], electron=objects["electron"], muon=objects["muon"],
        source=source,
        btag=plan.btag,
    )


def _objects(c: str, get: Any, plan: Plan, n: int) -> Objects:
    """One collection of a chunk as flat columns (flags a file lacks on purpose read as false)."""
    p = _PREFIX[c]
    pt, eta, phi = (_flat(get(f"{p}_{x}")) for x in _KINEMATICS)
    fields: dict[str, np.ndarray] = {"pt": pt, "eta": eta, "phi": phi}
    no = np.zeros(len(pt), dtype=bool)

    def flag(name: str, dtype: Any) -> np.ndarray | None:
        return _flat(get(name), dtype) if name in plan.fields else None

    if c == "jet":
        fields["csv"] = _flat(get(plan.btag_name)) if plan.btag_name else np.full(len(pt), np.nan)
        fields["csv"][fields["csv"] < 0] = np.nan  # -10 / -1: no b-tag value
        jet_id = flag("Jet_jetId", np.int64)
        fields["tight_id"] = no if jet_id is None else (jet_id & 2) != 0
    else:
        fields["px"], fields["py"], fields["pz"] = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        if c == "muon":
            tight, iso = flag("Muon_tightId", bool), flag("Muon_pfRelIso04_all", np.float64)
            fields["tight_id"] = no.copy() if tight is None else tight
            fields["tight_iso"] = no.copy() if iso is None else iso < TIGHT_ISO
        else:
            cut = flag("Electron_cutBased", np.int64)
            both = no if cut is None else cut >= 4
            fields["tight_id"], fields["tight_iso"] = both, both.copy()
    return Objects(_offsets(get(f"{p}_pt")), fields)


def _no_objects(collection: str, n: int) -> Objects:
    """An empty collection for ``n`` events, with the fields of ``collection``."""
    names = ["pt", "eta", "phi"] + (["csv", "tight_id"] if collection == "jet"
                                    else ["px", "py", "pz", "tight_id", "tight_iso"])
    fields = {k: np.zeros(0, dtype=bool if k.startswith("tight") else np.float64) for k in names}
    return Objects(np.zeros(n + 1, dtype=np.int64), fields)


def open_events(path: str | os.PathLike[str], options: ReadOptions = STRICT) -> tuple[Any, Any, Plan]:
    """``(file, Events tree or RNTuple, Plan)`` of a NanoAOD file, checked; close ``file`` when done."""
    file, tree = open_tree(str(path))
    try:
        return file, tree, plan_reading(file, tree, str(path), options)
    except BaseException:
        file.close()
        raise


def iter_events(
    path: str | os.PathLike[str],
    step_size: int | str = DEFAULT_STEP,
    max_events: int | None = None,
    *,
    quiet: bool = False,
    options: ReadOptions = STRICT,
) -> Iterator[Events]:
    """Stream a NanoAOD file (path or ``root://`` / ``https://`` URL) as :class:`Events` chunks.

    ``step_size`` is events per chunk (or an uproot size such as ``"100 MB"``);
    only the needed names are read, so memory stays bounded by one chunk.
    ``quiet`` (or ``EVENTCNN_QUIET``) hides the progress bar; ``options`` says what
    may be absent (:class:`~eventcnn.events.formats.ReadOptions`).

    Example::

        >>> from eventcnn.events.selection import Selection
        >>> n = sum(len(Selection().apply(c)[0]) for c in iter_events("tt.root"))  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    text = str(path)
    uproot = uproot_module()
    file, tree, plan = open_events(text, options)
    try:
        stop = tree.num_entries if max_events is None else min(int(max_events), tree.num_entries)
        with tqdm(total=stop, unit="ev", desc=f"read {Path(text.split('?')[0]).name}",
                  disable=quiet or quiet_from_env()) as bar:
            try:
                start = 0
                for arrays in tree.iterate(plan.keys, step_size=step_size, entry_stop=stop, library="ak"):
                    bar.update(len(arrays))
                    yield _chunk_to_events(arrays, plan, text, start)
                    start += len(arrays)
            except (uproot.DeserializationError, OSError, ValueError) as exc:
                what = "truncated or corrupt ROOT file: " if truncated(exc) else ""
                raise EventFormatError(f"{text}: {what}could not read the 'Events' {plan.layout.what} ({exc})") from None
    finally:
        file.close()


def read_nanoaod(
    path: str | os.PathLike[str],
    step_size: int | str = DEFAULT_STEP,
    max_events: int | None = None,
    *,
    quiet: bool = False,
    options: ReadOptions = STRICT,
) -> Events:
    """Read a whole NanoAOD file into one :class:`Events` (chunked read, one concatenation).

    Example::

        >>> ev = read_nanoaod("tt.root", max_events=10_000, quiet=True)      # doctest: +SKIP
        >>> ev.btag                                                            # doctest: +SKIP
        'deepflavb'
    """
    parts = list(iter_events(path, step_size=step_size, max_events=max_events, quiet=quiet, options=options))
    if not parts:  # an empty tree
        return read_entries(path, 0, 0, options=options)
    if len(parts) == 1:
        return parts[0]
    return replace(concat_events(parts), source=str(path))


# --------------------------------------------------------------------------- entry ranges (parallel tasks)


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _transient() -> tuple[type[BaseException], ...]:
    return (OSError, TimeoutError, DownloadError)


def num_entries(path: str | os.PathLike[str], *, attempts: int = DEFAULT_ATTEMPTS) -> int:
    """Events in the ``Events`` tree of a NanoAOD file (metadata only; remote opens are retried).

    Example::

        >>> num_entries("tt.root")                                   # doctest: +SKIP
        100000
    """
    text = str(path)

    def once() -> int:
        file, tree = open_tree(text)
        try:
            return int(tree.num_entries)
        finally:
            file.close()

    if not _is_remote(text):
        return once()
    return with_retries(once, f"{text} (opening)", attempts, retry_on=_transient())


def _read_entries_once(path: str, entry_start: int, entry_stop: int, options: ReadOptions) -> Events:
    file, tree, plan = open_events(path, options)
    try:
        stop = max(min(int(entry_stop), int(tree.num_entries)), int(entry_start))
        try:
            arrays = tree.arrays(plan.keys, entry_start=int(entry_start), entry_stop=stop, library="ak")
        except uproot_module().DeserializationError as exc:
            raise EventFormatError(f"{path} entries {entry_start}-{stop}: could not read the 'Events' "
                                   f"{plan.layout.what} ({exc})") from None
        return _chunk_to_events(arrays, plan, path, int(entry_start))
    finally:
        file.close()


def read_entries(
    path: str | os.PathLike[str], entry_start: int, entry_stop: int, *, attempts: int = DEFAULT_ATTEMPTS,
    options: ReadOptions = STRICT,
) -> Events:
    """Entries ``[entry_start, entry_stop)`` of a NanoAOD file as :class:`Events` (one task of a parallel job).

    Remote files (``root://``, ``https://``) are retried ``attempts`` times with
    backoff on transient errors (``OSError``, ``TimeoutError``), then a
    :class:`eventcnn.executor.TransientReadError` names the file and the entry range;
    a local read error is an :class:`EventFormatError` naming them at once.

    Example::

        >>> read_entries("tt.root", 0, 10_000).event[:3]            # doctest: +SKIP
        array([1, 2, 3])
    """
    text = str(path)
    what = f"{text} entries {int(entry_start)}-{int(entry_stop)}"
    if not _is_remote(text):
        try:
            return _read_entries_once(text, int(entry_start), int(entry_stop), options)
        except (FileNotFoundError, PermissionError):
            raise
        except OSError as exc:
            raise EventFormatError(f"{what}: read failed ({type(exc).__name__}: {exc})") from None
    return with_retries(lambda: _read_entries_once(text, int(entry_start), int(entry_stop), options), what,
                        attempts, retry_on=_transient())


def _read_range_task(args: tuple[str, int, int, ReadOptions]) -> Events:
    path, start, stop, options = args
    return read_entries(path, start, stop, options=options)


def read_parallel(
    path: str | os.PathLike[str],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    step_size: int = DEFAULT_STEP,
    quiet: bool = True,
    executor: Executor | None = None,
    options: ReadOptions = STRICT,
) -> Events:
    """A whole NanoAOD file read as entry-range tasks on ``executor`` (or one opened from ``jobs`` / ``scheduler``).

    The same :class:`Events` as :func:`read_nanoaod`, wherever the tasks run.

    Example::

        >>> ev = read_parallel("tt.root", jobs=2)                       # doctest: +SKIP
    """
    text = str(path)
    n = num_entries(text)
    ranges = [(text, a, min(a + int(step_size), n), options) for a in range(0, n, int(step_size))]
    if not ranges:
        return read_entries(text, 0, 0, options=options)
    with use_executor(executor, jobs, scheduler, quiet=quiet) as ex:
        bar = ex.bar(n, f"read {Path(text.split('?')[0]).name}", unit="ev", quiet=quiet)
        try:
            parts = ex.map(_read_range_task, ranges, bar=bar, weight=lambda r, _e: r[2] - r[1], name="read")
        finally:
            bar.close()
    return parts[0] if len(parts) == 1 else replace(concat_events(parts), source=text)


def _read_whole(path: str, options: ReadOptions) -> Events:
    return read_nanoaod(path, quiet=True, options=options)


def _read_range(path: str, start: int, stop: int, options: ReadOptions) -> Events:
    return read_entries(path, start, stop, options=options)


#: NanoAOD in the registry of event formats (:mod:`eventcnn.events.formats`)
FORMAT = EventFormat(
    name="nanoaod", description="CMS NanoAOD (TTree or RNTuple)", suffixes=(".root",),
    url_schemes=("root://",), read=_read_whole, count=num_entries, read_range=_read_range, write=write_nanoaod,
)
