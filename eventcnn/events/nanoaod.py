"""CMS NanoAOD (ROOT) input and output with uproot and awkward, into the columnar :class:`Events`.

Branch mapping (NanoAOD -> :class:`~eventcnn.events.Events`), read explicitly:

=================================  ==========================================================
NanoAOD branch                     Events
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

``xsec`` is not in NanoAOD and reads as NaN. Files written by :func:`write_nanoaod`
from the 2011 JSON carry a ``TObjString`` ``eventcnn_btag = "csv"``: their
``Jet_btagCSVV2`` holds the 2011 CSV values, whose working point (0.679) then applies.

Reading goes chunk by chunk (``tree.iterate``), builds flat numpy arrays with
``ak.flatten`` / ``ak.num`` (no per-event Python loop) and needs only the branches
above; :func:`iter_events` streams chunks so a file of any size fits in memory.

Example::

    >>> from eventcnn.events.nanoaod import iter_events, read_nanoaod
    >>> ev = read_nanoaod("tt.root", quiet=True)                         # doctest: +SKIP
    >>> for chunk in iter_events("root://eospublic.cern.ch//eos/...root", step_size=200_000):
    ...     print(chunk.summary())                                        # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._dask import DEFAULT_ATTEMPTS, open_executor, with_retries
from eventcnn._env import quiet_from_env
from eventcnn.events.cms_json import (
    COLLECTIONS,
    EventFormatError,
    Events,
    Objects,
    concat_events,
    read_json_events,
)

__all__ = [
    "BTAG_BRANCHES",
    "MARKER",
    "convert",
    "is_root_path",
    "iter_events",
    "num_entries",
    "read_entries",
    "read_nanoaod",
    "read_parallel",
    "read_selected",
    "write_nanoaod",
]

#: b-tag discriminant branch -> name recorded in ``Events.btag`` (first present wins).
BTAG_BRANCHES: tuple[tuple[str, str], ...] = (("Jet_btagDeepFlavB", "deepflavb"), ("Jet_btagCSVV2", "csvv2"))
_BTAG_BRANCH_OF = {"csv": "Jet_btagCSVV2", "csvv2": "Jet_btagCSVV2", "deepflavb": "Jet_btagDeepFlavB"}
#: TObjString naming the discriminant when it is not what the branch name says.
MARKER = "eventcnn_btag"
TIGHT_ISO = 0.15  #: Muon_pfRelIso04_all below this is "tight isolation"
DEFAULT_STEP = 200_000  #: events per chunk

# Events attribute -> (branch, dtype kinds allowed); scalars per event.
_SCALARS: dict[str, tuple[str, str]] = {
    "event": ("event", "iu"), "run": ("run", "iu"), "lumi": ("luminosityBlock", "iu"),
    "met": ("MET_pt", "fiu"), "met_phi": ("MET_phi", "fiu"), "sumet": ("MET_sumEt", "fiu"),
}
_PREFIX = {"jet": "Jet", "electron": "Electron", "muon": "Muon"}
# per collection: branch suffix -> dtype kinds allowed
_OBJECT_BRANCHES: dict[str, dict[str, str]] = {
    "jet": {"pt": "fiu", "eta": "fiu", "phi": "fiu", "jetId": "iu"},
    "electron": {"pt": "fiu", "eta": "fiu", "phi": "fiu", "cutBased": "iu"},
    "muon": {"pt": "fiu", "eta": "fiu", "phi": "fiu", "tightId": "biu", "pfRelIso04_all": "fiu"},
}


def is_root_path(path: str | os.PathLike[str]) -> bool:
    """True for a ``.root`` file name or a ``root://`` URL (what :func:`read_nanoaod` reads).

    Example::

        >>> is_root_path("tt.root"), is_root_path("root://eospublic.cern.ch//x.root"), is_root_path("a.json")
        (True, True, False)
    """
    text = str(path)
    return text.startswith("root://") or text.split("?")[0].lower().endswith(".root")


def _uproot() -> Any:
    try:
        import uproot
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("reading NanoAOD needs uproot and awkward: pip install 'eventcnn[nano]'") from None
    return uproot


def _open_tree(path: str) -> tuple[Any, Any]:
    """``(file, Events tree)`` or a clear :class:`EventFormatError` naming the file."""
    uproot = _uproot()
    is_url = "://" in path
    if not is_url and not Path(path).exists():
        raise FileNotFoundError(f"event file not found: {path}")
    try:
        file = uproot.open(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # uproot raises ValueError, OSError, ... for non-ROOT input
        if is_url:
            from eventcnn.events.download import DownloadError

            raise DownloadError(
                f"could not open {path} ({type(exc).__name__}: {exc}). root:// URLs need a network and "
                "'pip install fsspec-xrootd'; or fetch a local copy (eventcnn data fetch) / use --mirror"
            ) from None
        raise EventFormatError(f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})") from None
    try:
        tree = file["Events"]
    except KeyError:
        keys = sorted({k.split(";")[0] for k in file.keys(recursive=False)})[:8]
        file.close()
        raise EventFormatError(f"{path}: no 'Events' tree (NanoAOD keeps events in 'Events'); found {keys}") from None
    if not hasattr(tree, "iterate") or not hasattr(tree, "keys"):
        file.close()
        raise EventFormatError(f"{path}: 'Events' is a {type(tree).__name__}, not a TTree")
    return file, tree


def _check_branch(tree: Any, path: str, name: str, kinds: str, jagged: bool) -> None:
    uproot = _uproot()
    if name not in tree:
        raise EventFormatError(f"{path}: branch {name!r} missing from the 'Events' tree")
    interp = tree[name].interpretation
    is_jagged = isinstance(interp, uproot.interpretation.jagged.AsJagged)
    content = interp.content if is_jagged else interp
    dtype = getattr(content, "to_dtype", None)
    kind_ok = dtype is not None and dtype.kind in kinds
    what = {"f": "float", "i": "integer", "u": "integer", "b": "boolean"}
    want = " or ".join(dict.fromkeys(what[k] for k in kinds))
    if is_jagged != jagged or not kind_ok:
        shape = "one value per object (jagged)" if jagged else "one value per event"
        raise EventFormatError(
            f"{path}: branch {name!r} has type {interp}; expected {want}, {shape}"
        )


def _plan(file: Any, tree: Any, path: str) -> dict[str, Any]:
    """Which branches to read, checked for presence and type; the b-tag discriminant."""
    for attr, (branch, kinds) in _SCALARS.items():
        if attr == "sumet" and branch not in tree:
            continue  # optional
        _check_branch(tree, path, branch, kinds, jagged=False)
    for c, fields in _OBJECT_BRANCHES.items():
        for suffix, kinds in fields.items():
            _check_branch(tree, path, f"{_PREFIX[c]}_{suffix}", kinds, jagged=True)
    btag_branch, btag = next(((b, n) for b, n in BTAG_BRANCHES if b in tree), (None, None))
    if btag_branch is None:
        raise EventFormatError(
            f"{path}: no b-tag branch in the 'Events' tree (need {' or '.join(b for b, _ in BTAG_BRANCHES)})"
        )
    _check_branch(tree, path, btag_branch, "fiu", jagged=True)
    marker = _marker(file)
    if marker is not None:
        if marker not in _BTAG_BRANCH_OF:
            raise EventFormatError(f"{path}: {MARKER} = {marker!r} is not one of {sorted(_BTAG_BRANCH_OF)}")
        btag = marker
    branches = [b for b, _ in _SCALARS.values() if b in tree]
    branches += [f"{_PREFIX[c]}_{s}" for c, f in _OBJECT_BRANCHES.items() for s in f]
    branches.append(btag_branch)
    return {"branches": branches, "btag": btag, "btag_branch": btag_branch,
            "is_mc": "genWeight" in tree, "sumet": "MET_sumEt" in tree}


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


def _chunk_to_events(arrays: Any, plan: dict[str, Any], source: str) -> Events:
    """One chunk of NanoAOD arrays (awkward record array) -> :class:`Events`, columnar."""
    n = len(arrays)
    scal = {attr: np.asarray(arrays[b].to_numpy()) for attr, (b, _) in _SCALARS.items() if b in arrays.fields}
    objects: dict[str, Objects] = {}
    for c in COLLECTIONS:
        p = _PREFIX[c]
        pt, eta, phi = (_flat(arrays[f"{p}_{x}"]) for x in ("pt", "eta", "phi"))
        fields: dict[str, np.ndarray] = {"pt": pt, "eta": eta, "phi": phi}
        if c == "jet":
            fields["csv"] = _flat(arrays[plan["btag_branch"]])
            fields["csv"][fields["csv"] < 0] = np.nan  # -10 / -1: no b-tag value
            fields["tight_id"] = (_flat(arrays["Jet_jetId"], np.int64) & 2) != 0
        else:
            fields["px"], fields["py"], fields["pz"] = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            if c == "muon":
                fields["tight_id"] = _flat(arrays["Muon_tightId"], bool)
                fields["tight_iso"] = _flat(arrays["Muon_pfRelIso04_all"]) < TIGHT_ISO
            else:
                tight = _flat(arrays["Electron_cutBased"], np.int64) >= 4
                fields["tight_id"], fields["tight_iso"] = tight, tight.copy()
        objects[c] = Objects(_offsets(arrays[f"{p}_pt"]), fields)
    met = np.asarray(scal["met"], dtype=np.float64)
    return Events(
        event=scal["event"].astype(np.int64),
        met=met,
        met_phi=np.asarray(scal["met_phi"], dtype=np.float64),
        sumet=np.asarray(scal["sumet"], dtype=np.float64) if plan["sumet"] else np.full(n, np.nan),
        xsec=np.full(n, np.nan),
        is_mc=np.full(n, plan["is_mc"], dtype=bool),
        lumi=scal["lumi"].astype(np.int64),
        run=scal["run"].astype(np.int64),
        jet=objects["jet"], electron=objects["electron"], muon=objects["muon"],
        source=source,
        btag=plan["btag"],
    )


def iter_events(
    path: str | os.PathLike[str],
    step_size: int | str = DEFAULT_STEP,
    max_events: int | None = None,
    *,
    quiet: bool = False,
) -> Iterator[Events]:
    """Stream a NanoAOD file (path or ``root://`` / ``https://`` URL) as :class:`Events` chunks.

    ``step_size`` is events per chunk (or an uproot size such as ``"100 MB"``);
    only the needed branches are read, so memory stays bounded by one chunk.
    A JSON event file yields itself in one chunk, so callers can stream either.
    ``quiet`` (or ``EVENTCNN_QUIET``) hides the progress bar.

    Example::

        >>> from eventcnn.events.selection import Selection
        >>> n = sum(len(Selection().apply(c)[0]) for c in iter_events("tt.root"))  # doctest: +SKIP
    """
    text = str(path)
    if not is_root_path(text):
        events = read_json_events(path)
        yield events if max_events is None else events[:max_events]
        return
    from tqdm.auto import tqdm

    uproot = _uproot()
    file, tree = _open_tree(text)
    try:
        plan = _plan(file, tree, text)
        stop = tree.num_entries if max_events is None else min(int(max_events), tree.num_entries)
        with tqdm(total=stop, unit="ev", desc=f"read {Path(text.split('?')[0]).name}",
                  disable=quiet or quiet_from_env()) as bar:
            try:
                for arrays in tree.iterate(plan["branches"], step_size=step_size, entry_stop=stop,
                                           library="ak"):
                    bar.update(len(arrays))
                    yield _chunk_to_events(arrays, plan, text)
            except (uproot.DeserializationError, OSError, ValueError) as exc:
                raise EventFormatError(f"{text}: could not read the 'Events' tree ({exc})") from None
    finally:
        file.close()


def read_nanoaod(
    path: str | os.PathLike[str],
    step_size: int | str = DEFAULT_STEP,
    max_events: int | None = None,
    *,
    quiet: bool = False,
) -> Events:
    """Read a whole NanoAOD file into one :class:`Events` (chunked read, one concatenation).

    Example::

        >>> ev = read_nanoaod("tt.root", max_events=10_000, quiet=True)      # doctest: +SKIP
        >>> ev.btag                                                            # doctest: +SKIP
        'deepflavb'
    """
    parts = list(iter_events(path, step_size=step_size, max_events=max_events, quiet=quiet))
    if not parts:  # an empty tree
        file, tree = _open_tree(str(path))
        plan = _plan(file, tree, str(path))
        file.close()
        return _chunk_to_events(_empty_arrays(plan), plan, str(path))
    if len(parts) == 1:
        return parts[0]
    events = concat_events(parts)
    from dataclasses import replace

    return replace(events, source=str(path))


def _empty_arrays(plan: dict[str, Any]) -> Any:
    import awkward as ak

    return ak.Array({b: ak.Array(np.zeros(0)) if b in {x for x, _ in _SCALARS.values()}
                     else ak.Array([[0.0]])[:0] for b in plan["branches"]})


def read_selected(
    path: str | os.PathLike[str],
    selection: Any = None,
    skip_bad: bool = False,
    step_size: int | str = DEFAULT_STEP,
    *,
    quiet: bool = True,
) -> tuple[Events, Any]:
    """Read and select, chunk by chunk for NanoAOD: memory is bounded by the selected events.

    Returns ``(events, cutflow)``; the cut flow sums the chunks' (``None`` without selection).
    Quiet by default (``quiet=False`` shows the read progress bar).

    Example::

        >>> ev, flow = read_selected("tt.root", "paper")           # doctest: +SKIP
    """
    from eventcnn.events.selection import CutFlow, get_selection

    sel = get_selection(selection)
    if not is_root_path(path):
        events = read_json_events(path, skip_bad=skip_bad)
        return sel.apply(events) if sel is not None else (events, None)
    if sel is None:
        return read_nanoaod(path, step_size=step_size, quiet=quiet), None
    parts, steps = [], None
    for chunk in iter_events(path, step_size=step_size, quiet=quiet):
        kept, flow = sel.apply(chunk)
        parts.append(kept)
        counts = [c for _, c in flow.steps]
        steps = counts if steps is None else [a + b for a, b in zip(steps, counts)]
        names = [name for name, _ in flow.steps]
    if not parts:
        return sel.apply(read_nanoaod(path, quiet=True))
    from dataclasses import replace

    events = replace(concat_events(parts), source=str(path))
    return events, CutFlow(list(zip(names, steps)), str(path))


# --------------------------------------------------------------------------- entry ranges (parallel tasks)


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _transient() -> tuple[type[BaseException], ...]:
    # deferred like _open_tree's: download.py is being rebuilt on pooch and may grow imports
    from eventcnn.events.download import DownloadError

    return (OSError, TimeoutError, DownloadError)


def num_entries(path: str | os.PathLike[str], *, attempts: int = DEFAULT_ATTEMPTS) -> int:
    """Events in the ``Events`` tree of a NanoAOD file (metadata only; remote opens are retried).

    Example::

        >>> num_entries("tt.root")                                   # doctest: +SKIP
        100000
    """
    text = str(path)

    def once() -> int:
        file, tree = _open_tree(text)
        try:
            return int(tree.num_entries)
        finally:
            file.close()

    if not _is_remote(text):
        return once()
    return with_retries(once, f"{text} (opening)", attempts, retry_on=_transient())


def _read_entries_once(path: str, entry_start: int, entry_stop: int) -> Events:
    file, tree = _open_tree(path)
    try:
        plan = _plan(file, tree, path)
        stop = min(int(entry_stop), int(tree.num_entries))
        if stop <= entry_start:
            return _chunk_to_events(_empty_arrays(plan), plan, path)
        try:
            arrays = tree.arrays(plan["branches"], entry_start=int(entry_start), entry_stop=stop, library="ak")
        except _uproot().DeserializationError as exc:
            raise EventFormatError(f"{path} entries {entry_start}-{stop}: could not read the 'Events' tree "
                                   f"({exc})") from None
        return _chunk_to_events(arrays, plan, path)
    finally:
        file.close()


def read_entries(
    path: str | os.PathLike[str], entry_start: int, entry_stop: int, *, attempts: int = DEFAULT_ATTEMPTS
) -> Events:
    """Entries ``[entry_start, entry_stop)`` of a NanoAOD file as :class:`Events` (one task of a parallel job).

    Remote files (``root://``, ``https://``) are retried ``attempts`` times with
    backoff on transient errors (``OSError``, ``TimeoutError``), then a
    :class:`eventcnn._dask.TransientReadError` names the file and the entry range;
    a local read error is an :class:`EventFormatError` naming them at once.

    Example::

        >>> read_entries("tt.root", 0, 10_000).event[:3]            # doctest: +SKIP
        array([1, 2, 3])
    """
    text = str(path)
    what = f"{text} entries {int(entry_start)}-{int(entry_stop)}"
    if not _is_remote(text):
        try:
            return _read_entries_once(text, int(entry_start), int(entry_stop))
        except (FileNotFoundError, PermissionError):
            raise
        except OSError as exc:
            raise EventFormatError(f"{what}: read failed ({type(exc).__name__}: {exc})") from None
    return with_retries(lambda: _read_entries_once(text, int(entry_start), int(entry_stop)), what, attempts,
                        retry_on=_transient())


# --------------------------------------------------------------------------- writing


def _branches_of(events: Events) -> dict[str, Any]:
    """The NanoAOD branches of ``events`` as awkward / numpy arrays (float64 kinematics)."""
    import awkward as ak

    def coll(objs: Objects, fields: dict[str, np.ndarray]) -> Any:
        return ak.unflatten(ak.zip(fields, depth_limit=1), objs.counts)

    jet, el, mu = events.jet, events.electron, events.muon
    csv = np.where(np.isnan(jet["csv"]), -10.0, jet["csv"])
    jet_fields = {"pt": jet["pt"], "eta": jet["eta"], "phi": jet["phi"],
                  "jetId": np.where(jet["tight_id"], 6, 0).astype(np.int32)}
    jet_fields[_BTAG_BRANCH_OF[events.btag].removeprefix("Jet_")] = csv
    el_tight = el["tight_id"] & el["tight_iso"]
    out = {
        "run": events.run.astype(np.uint32),
        "luminosityBlock": events.lumi.astype(np.uint32),
        "event": events.event.astype(np.uint64),
        "MET_pt": events.met.astype(np.float64),
        "MET_phi": events.met_phi.astype(np.float64),
        "MET_sumEt": events.sumet.astype(np.float64),
        "Jet": coll(jet, jet_fields),
        "Electron": coll(el, {"pt": el["pt"], "eta": el["eta"], "phi": el["phi"],
                              "cutBased": np.where(el_tight, 4, 0).astype(np.int32)}),
        "Muon": coll(mu, {"pt": mu["pt"], "eta": mu["eta"], "phi": mu["phi"],
                          "tightId": mu["tight_id"].astype(bool),
                          "pfRelIso04_all": np.where(mu["tight_iso"], 0.05, 0.5).astype(np.float32)}),
    }
    if len(events) and bool(np.any(events.is_mc)):
        out["genWeight"] = np.ones(len(events), dtype=np.float32)
    return out


def write_nanoaod(
    path: str | os.PathLike[str], events: Events, step_size: int = DEFAULT_STEP
) -> Path:
    """Write ``events`` as a NanoAOD-style ``Events`` TTree (``nMuon``, ``Muon_pt``, ...), atomically.

    Kinematics are stored as float64 so a round trip is exact. Lepton flags become
    ``Muon_tightId`` + ``Muon_pfRelIso04_all`` (0.05 isolated / 0.5 not) and
    ``Electron_cutBased`` (4 when tight ID and isolation, else 0); jets get
    ``Jet_jetId`` 6 / 0 and the discriminant (NaN -> -10). JSON-origin b-tag values
    (``events.btag == "csv"``) are marked with the ``eventcnn_btag`` TObjString.

    Example::

        >>> from eventcnn.events import read_events
        >>> write_nanoaod("tt.root", read_events("TTjets_json.json"))          # doctest: +SKIP
        PosixPath('tt.root')
    """
    from eventcnn._io import atomic_path

    uproot = _uproot()
    out = Path(path)
    with atomic_path(out) as tmp, uproot.recreate(tmp) as file:
        tree = None
        for start in range(0, max(len(events), 1), step_size):
            data = _branches_of(events[start : start + step_size])
            if tree is None:
                types = {k: (v.type if hasattr(v, "layout") else v.dtype) for k, v in data.items()}
                tree = file.mktree("Events", types)
            tree.extend(data)
        if events.btag == "csv":
            file[MARKER] = "csv"
    return out


def _read_range_task(args: tuple[str, int, int]) -> Events:
    return read_entries(*args)


def read_parallel(
    path: str | os.PathLike[str],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    step_size: int = DEFAULT_STEP,
    quiet: bool = True,
) -> Events:
    """A whole NanoAOD file read as entry-range tasks on :func:`eventcnn._dask.open_executor`.

    The same :class:`Events` as :func:`read_nanoaod`, whatever ``jobs`` / ``scheduler``.

    Example::

        >>> ev = read_parallel("tt.root", jobs=2)                       # doctest: +SKIP
    """
    from dataclasses import replace

    text = str(path)
    n = num_entries(text)
    ranges = [(text, a, min(a + int(step_size), n)) for a in range(0, n, int(step_size))]
    if not ranges:
        return read_nanoaod(text, quiet=True)
    with open_executor(jobs, scheduler, quiet=quiet) as ex:
        bar = ex.bar(n, f"read {Path(text.split('?')[0]).name}", unit="ev")
        try:
            parts = ex.map(_read_range_task, ranges, bar=bar, weight=lambda r, _e: r[2] - r[1], name="read")
        finally:
            bar.close()
    return parts[0] if len(parts) == 1 else replace(concat_events(parts), source=text)


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    skip_bad: bool = False,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    quiet: bool = True,
) -> Path:
    """Convert a CMS JSON event file to NanoAOD (``.root``); the inverse direction writes JSON.

    A NanoAOD input is read as entry-range tasks (:func:`read_parallel`: ``jobs``
    local worker processes or the Dask cluster at ``scheduler``); the output does
    not depend on them.

    Example::

        >>> convert("TTjets_json.json", "TTjets.root")                  # doctest: +SKIP
        PosixPath('TTjets.root')
    """
    from eventcnn.events.cms_json import write_events

    events = (read_parallel(src, jobs=jobs, scheduler=scheduler, quiet=quiet) if is_root_path(src)
              else read_json_events(src, skip_bad=skip_bad))
    if is_root_path(dst):
        return write_nanoaod(dst, events)
    return write_events(dst, events)
