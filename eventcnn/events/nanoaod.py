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

from eventcnn._env import quiet_from_env
from eventcnn._io import atomic_path
from eventcnn.errors import UserError, check_output
from eventcnn.events.cms_json import (
    COLLECTIONS,
    EventFormatError,
    Events,
    Objects,
    concat_events,
    read_json_events,
    write_events,
)
from eventcnn.events.download import DownloadError
from eventcnn.events.selection import CutFlow, get_selection
from eventcnn.executor import DEFAULT_ATTEMPTS, Executor, use_executor, with_retries

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


#: the first bytes of every ROOT file
_ROOT_MAGIC = b"root"


def _not_root_reason(path: str) -> str | None:
    """Why a local file is not a ROOT file (its first bytes), or None when it starts like one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except IsADirectoryError:
        return "a folder, not an event file: give .json, .json.gz or .root files"
    if head.startswith(_ROOT_MAGIC):
        return None
    if not head:
        return "not a ROOT file (the file is empty: an interrupted download or copy?)"
    text = head.lstrip()
    looks = ("it looks like JSON text: name it .json" if text[:1] in (b"{", b"[") else
             "it looks like a gzip file (.json.gz?)" if head[:2] == b"\x1f\x8b" else
             "it looks like a zip archive" if head[:2] == b"PK" else
             "it looks like a PNG image" if head[:4] == b"\x89PNG" else
             "it looks like text" if all(32 <= c < 127 or c in (9, 10, 13) for c in head) else
             "its first bytes are not ROOT's signature 'root'")
    return f"not a ROOT file ({looks})"


def _truncated(exc: BaseException) -> bool:
    """True for uproot's error when a file ends before the data it announces."""
    return isinstance(exc, OSError) and "received" in str(exc) and "expected" in str(exc)


def _open_tree(path: str) -> tuple[Any, Any]:
    """``(file, Events tree or RNTuple)`` or a clear :class:`EventFormatError` naming the file."""
    uproot = _uproot()
    is_url = "://" in path
    if not is_url:
        if not Path(path).exists():
            raise FileNotFoundError(f"event file not found: {path}")
        if reason := _not_root_reason(path):
            raise EventFormatError(f"{path}: {reason}")
    try:
        file = uproot.open(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # uproot raises ValueError, OSError, ... for non-ROOT input
        if is_url:

            raise DownloadError(
                f"could not open {path} ({type(exc).__name__}: {exc}). root:// URLs need a network and "
                "'pip install fsspec-xrootd'; or fetch a local copy (eventcnn data fetch) / use --mirror"
            ) from None
        if _truncated(exc):
            raise EventFormatError(f"{path}: truncated or corrupt ROOT file (it ends before the data it "
                                   "announces: an incomplete download or copy?); fetch it again") from None
        raise EventFormatError(f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})") from None
    try:
        tree = file["Events"]
    except KeyError:
        keys = sorted({k.split(";")[0] for k in file.keys(recursive=False)})[:8]
        file.close()
        if not keys:
            raise EventFormatError(f"{path}: a ROOT file with no objects at all (empty); NanoAOD keeps "
                                   "events in an 'Events' tree") from None
        raise EventFormatError(f"{path}: no 'Events' tree (NanoAOD keeps events in 'Events'); found {keys}") from None
    except Exception as exc:  # a damaged directory or object
        file.close()
        what = "truncated or corrupt ROOT file" if _truncated(exc) else "damaged ROOT file"
        raise EventFormatError(f"{path}: {what}: cannot read its 'Events' object "
                               f"({type(exc).__name__}: {exc})") from None
    if not hasattr(tree, "iterate") or not hasattr(tree, "keys"):
        file.close()
        raise EventFormatError(f"{path}: 'Events' is a {type(tree).__name__}, not a TTree or an RNTuple")
    return file, tree


_KIND_WORDS = {"f": "float", "i": "integer", "u": "integer", "b": "boolean"}


def _branch_type(tree: Any, name: str) -> tuple[bool, str, str]:
    """``(jagged, dtype kind, type in words)`` of a TTree branch or an RNTuple field."""
    branch = tree[name]
    interp = getattr(branch, "interpretation", None)
    if interp is not None:  # TTree
        uproot = _uproot()
        jagged = isinstance(interp, uproot.interpretation.jagged.AsJagged)
        content = interp.content if jagged else interp
        dtype = getattr(content, "to_dtype", None)
        return jagged, (dtype.kind if dtype is not None else ""), str(interp)
    form = branch.to_akform()[0]  # RNTuple field: a record form with the field's form inside
    form = form.contents[0] if getattr(form, "fields", None) else form
    jagged = type(form).__name__ in ("ListOffsetForm", "ListForm", "RegularForm")
    content = form.content if jagged else form
    primitive = getattr(content, "primitive", None)
    kind = np.dtype(primitive).kind if primitive else ""
    return jagged, kind, str(getattr(branch, "typename", type(form).__name__))


def _check_branch(tree: Any, path: str, name: str, kinds: str, jagged: bool) -> None:
    if name not in tree:
        raise EventFormatError(f"{path}: branch {name!r} missing from the 'Events' tree")
    is_jagged, kind, text = _branch_type(tree, name)
    want = " or ".join(dict.fromkeys(_KIND_WORDS[k] for k in kinds))
    if is_jagged != jagged or not kind or kind not in kinds:
        shape = "one value per object (jagged)" if jagged else "one value per event"
        raise EventFormatError(f"{path}: branch {name!r} has type {text}; expected {want}, {shape}")


#: identifiers filled when a slimmed file lacks them: event = entry number, run = lumi = 0
_IDS = ("event", "run", "luminosityBlock")
#: per collection, the flag branches read as false (not tight) when a slimmed file lacks them
_FLAGS = {"jet": ("jetId",), "electron": ("cutBased",), "muon": ("tightId", "pfRelIso04_all")}


def _plan(file: Any, tree: Any, path: str) -> dict[str, Any]:
    """Which branches to read, checked for presence and type; the b-tag discriminant.

    A slimmed file (CMS open-data skims keep only some collections) may lack whole
    collections (``Jet_*``, ``Electron_*``, ``Muon_*``, ``MET_*``: read as none), the
    identifiers ``event``/``run``/``luminosityBlock`` (entry number, 0) and the quality
    flags (read as false); one warning names what is missing. A collection that is
    present needs its ``pt``, ``eta`` and ``phi``.
    """
    missing: list[str] = []
    for attr, (branch, kinds) in _SCALARS.items():
        if branch not in tree and (attr == "sumet" or branch in _IDS or attr in ("met", "met_phi")):
            if attr != "sumet":
                missing.append(branch)
            continue
        _check_branch(tree, path, branch, kinds, jagged=False)
    has_met = "MET_pt" in tree and "MET_phi" in tree
    if ("MET_pt" in tree) != ("MET_phi" in tree):
        raise EventFormatError(f"{path}: branch {'MET_phi' if 'MET_pt' in tree else 'MET_pt'!r} missing "
                               "from the 'Events' tree (MET needs both MET_pt and MET_phi)")
    present = {c: f"{_PREFIX[c]}_pt" in tree for c in COLLECTIONS}
    branches = [b for b, _ in _SCALARS.values() if b in tree]
    for c, fields in _OBJECT_BRANCHES.items():
        if not present[c]:
            continue
        for suffix, kinds in fields.items():
            name = f"{_PREFIX[c]}_{suffix}"
            if suffix in _FLAGS[c] and name not in tree:
                missing.append(name)
                continue
            _check_branch(tree, path, name, kinds, jagged=True)
            branches.append(name)
    btag_branch, btag = next(((b, n) for b, n in BTAG_BRANCHES if b in tree), (None, "csvv2"))
    if present["jet"]:
        if btag_branch is None:  # jets without a known discriminant: b-tags would be wrong, not absent
            raise EventFormatError(
                f"{path}: no b-tag branch in the 'Events' tree (need {' or '.join(b for b, _ in BTAG_BRANCHES)})"
            )
        _check_branch(tree, path, btag_branch, "fiu", jagged=True)
        branches.append(btag_branch)
    marker = _marker(file)
    if marker is not None:
        if marker not in _BTAG_BRANCH_OF:
            raise EventFormatError(f"{path}: {MARKER} = {marker!r} is not one of {sorted(_BTAG_BRANCH_OF)}")
        btag = marker
    absent = [_PREFIX[c] for c in COLLECTIONS if not present[c]] + ([] if has_met else ["MET"])
    if absent == [_PREFIX[c] for c in COLLECTIONS] + ["MET"]:
        raise EventFormatError(f"{path}: the 'Events' tree has none of the collections eventcnn reads "
                               "(Jet_*, Electron_*, Muon_*, MET_*): is it NanoAOD?")
    if absent or missing:
        _warn_slimmed(path, absent, [m for m in missing if not m.startswith("MET_")])
    return {"branches": branches, "btag": btag, "btag_branch": btag_branch if present["jet"] else None,
            "is_mc": "genWeight" in tree, "sumet": "MET_sumEt" in tree, "present": present,
            "met": has_met, "missing": set(missing)}


def _warn_slimmed(path: str, absent: list[str], missing: list[str]) -> None:
    """One warning naming what a slimmed file lacks and how it is read."""
    import warnings

    parts = []
    if absent:
        parts.append(f"no {', '.join(absent)} collection(s) (read as none)")
    ids = [m for m in missing if m in _IDS]
    if ids:
        parts.append(f"no {', '.join(ids)} (event = entry number, run = lumi = 0)")
    flags = [m for m in missing if m not in _IDS]
    if flags:
        parts.append(f"no {', '.join(flags)} (read as false: no such object is tight or isolated; "
                     "the default selection needs tight isolated leptons: use --selection none)")
    warnings.warn(f"{path}: a slimmed file: " + "; ".join(parts), UserWarning, stacklevel=4)


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


def _chunk_to_events(arrays: Any, plan: dict[str, Any], source: str, start: int = 0) -> Events:
    """One chunk of NanoAOD arrays (awkward record array) -> :class:`Events`, columnar.

    ``start``: the entry number of the chunk's first event (the event number of a
    slimmed file without ``event``). What ``plan`` marks missing is filled (:func:`_plan`).
    """
    n = len(arrays)
    scal = {attr: np.asarray(arrays[b].to_numpy()) for attr, (b, _) in _SCALARS.items() if b in arrays.fields}
    missing = plan.get("missing", set())
    objects: dict[str, Objects] = {}
    for c in COLLECTIONS:
        p = _PREFIX[c]
        if not plan.get("present", {}).get(c, True):  # a slimmed file without this collection
            objects[c] = _no_objects(c, n)
            continue
        pt, eta, phi = (_flat(arrays[f"{p}_{x}"]) for x in ("pt", "eta", "phi"))
        fields: dict[str, np.ndarray] = {"pt": pt, "eta": eta, "phi": phi}
        no = np.zeros(len(pt), dtype=bool)
        if c == "jet":
            btag = plan["btag_branch"]
            fields["csv"] = _flat(arrays[btag]) if btag else np.full(len(pt), np.nan)
            fields["csv"][fields["csv"] < 0] = np.nan  # -10 / -1: no b-tag value
            fields["tight_id"] = no if "Jet_jetId" in missing else (_flat(arrays["Jet_jetId"], np.int64) & 2) != 0
        else:
            fields["px"], fields["py"], fields["pz"] = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            if c == "muon":
                fields["tight_id"] = no.copy() if "Muon_tightId" in missing else _flat(arrays["Muon_tightId"], bool)
                fields["tight_iso"] = (no.copy() if "Muon_pfRelIso04_all" in missing
                                       else _flat(arrays["Muon_pfRelIso04_all"]) < TIGHT_ISO)
            else:
                tight = no if "Electron_cutBased" in missing else _flat(arrays["Electron_cutBased"], np.int64) >= 4
                fields["tight_id"], fields["tight_iso"] = tight, tight.copy()
        objects[c] = Objects(_offsets(arrays[f"{p}_pt"]), fields)
    zeros = np.zeros(n, dtype=np.float64)
    ids = {attr: scal[attr].astype(np.int64) if attr in scal else
           (np.arange(start, start + n, dtype=np.int64) if attr == "event" else np.zeros(n, np.int64))
           for attr in ("event", "run", "lumi")}
    return Events(
        event=ids["event"],
        met=np.asarray(scal["met"], dtype=np.float64) if "met" in scal else zeros,
        met_phi=np.asarray(scal["met_phi"], dtype=np.float64) if "met_phi" in scal else zeros.copy(),
        sumet=np.asarray(scal["sumet"], dtype=np.float64) if plan["sumet"] else np.full(n, np.nan),
        xsec=np.full(n, np.nan),
        is_mc=np.full(n, plan["is_mc"], dtype=bool),
        lumi=ids["lumi"],
        run=ids["run"],
        jet=objects["jet"], electron=objects["electron"], muon=objects["muon"],
        source=source,
        btag=plan["btag"],
    )


def _no_objects(collection: str, n: int) -> Objects:
    """An empty collection for ``n`` events, with the fields of ``collection``."""
    names = ["pt", "eta", "phi"] + (["csv", "tight_id"] if collection == "jet"
                                    else ["px", "py", "pz", "tight_id", "tight_iso"])
    fields = {k: np.zeros(0, dtype=bool if k.startswith("tight") else np.float64) for k in names}
    return Objects(np.zeros(n + 1, dtype=np.int64), fields)


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
                start = 0
                for arrays in tree.iterate(plan["branches"], step_size=step_size, entry_stop=stop,
                                           library="ak"):
                    bar.update(len(arrays))
                    yield _chunk_to_events(arrays, plan, text, start)
                    start += len(arrays)
            except (uproot.DeserializationError, OSError, ValueError) as exc:
                what = "truncated or corrupt ROOT file: " if _truncated(exc) else ""
                raise EventFormatError(f"{text}: {what}could not read the 'Events' tree ({exc})") from None
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
    executor: Executor | None = None,
) -> Events:
    """A whole NanoAOD file read as entry-range tasks on ``executor`` (or one opened from ``jobs`` / ``scheduler``).

    The same :class:`Events` as :func:`read_nanoaod`, wherever the tasks run.

    Example::

        >>> ev = read_parallel("tt.root", jobs=2)                       # doctest: +SKIP
    """
    from dataclasses import replace

    text = str(path)
    n = num_entries(text)
    ranges = [(text, a, min(a + int(step_size), n)) for a in range(0, n, int(step_size))]
    if not ranges:
        return read_nanoaod(text, quiet=True)
    with use_executor(executor, jobs, scheduler, quiet=quiet) as ex:
        bar = ex.bar(n, f"read {Path(text.split('?')[0]).name}", unit="ev", quiet=quiet)
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
    overwrite: bool = False,
    executor: Executor | None = None,
) -> Path:
    """Convert a CMS JSON event file to NanoAOD (``.root``); the inverse direction writes JSON.

    ``dst`` is checked before anything is read (:func:`eventcnn.errors.check_output`): it is
    never ``src``, and an existing file is replaced only with ``overwrite``.

    A NanoAOD input is read as entry-range tasks (:func:`read_parallel`: on ``executor``,
    else ``jobs`` local worker processes or the Dask cluster at ``scheduler``); the
    output does not depend on them.

    Example::

        >>> convert("TTjets_json.json", "TTjets.root")                  # doctest: +SKIP
        PosixPath('TTjets.root')
    """

    name = str(dst).lower()
    if not name.endswith((".root", ".json", ".json.gz")):
        raise UserError(f"output {dst} must end in .root (NanoAOD), .json or .json.gz (CMS JSON)")
    if "://" not in str(src) and Path(src).is_dir():
        raise EventFormatError(f"{src} is a folder, not an event file: give a .json, .json.gz or .root file")
    if "://" not in str(src) and not Path(src).is_file():
        raise FileNotFoundError(f"event file not found: {src}")
    check_output(dst, inputs=[src], overwrite=overwrite, flag="output")
    events = (read_parallel(src, jobs=jobs, scheduler=scheduler, quiet=quiet, executor=executor) if is_root_path(src)
              else read_json_events(src, skip_bad=skip_bad))
    if is_root_path(dst):
        return write_nanoaod(dst, events)
    return write_events(dst, events)
