"""Write :class:`Events` as NanoAOD: a TTree, an RNTuple with flat fields, or an RNTuple with collection fields.

The three layouts eventcnn reads (:mod:`eventcnn.events.nanoaod_layout`), written
with uproot: ``"ttree"`` (``nMuon``, ``Muon_pt``, ...: NanoAOD as CMS publishes it
today), ``"rntuple"`` (the same names as RNTuple fields) and
``"rntuple-collections"`` (``Muon`` a collection of records with ``pt``, ``eta``,
...; ``MET`` a record: how CMSSW's RNTuple NanoAOD stores them). The same events
read back from any of them are identical.

Example::

    >>> from eventcnn.events import read_events
    >>> write_nanoaod("tt.root", read_events("TTjets_json.json"), layout="rntuple-collections")  # doctest: +SKIP
    PosixPath('tt.root')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import atomic_path
from eventcnn.errors import UserError
from eventcnn.events.cms_json import Events, Objects
from eventcnn.events.nanoaod_layout import DEFAULT_STEP, MARKER, uproot_module

__all__ = ["WRITE_LAYOUTS", "nanoaod_arrays", "write_nanoaod"]

#: the layouts :func:`write_nanoaod` writes
WRITE_LAYOUTS = ("ttree", "rntuple", "rntuple-collections")

_BTAG_BRANCH_OF = {"csv": "Jet_btagCSVV2", "csvv2": "Jet_btagCSVV2", "deepflavb": "Jet_btagDeepFlavB"}
_SINGLE = ("run", "luminosityBlock", "event", "genWeight")


def nanoaod_arrays(events: Events) -> dict[str, Any]:
    """The NanoAOD content of ``events``: per-event arrays and one record collection per object type.

    ``run``, ``luminosityBlock``, ``event``, ``MET_pt``, ``MET_phi``, ``MET_sumEt``
    (and ``genWeight`` for simulation) as numpy arrays; ``Jet``, ``Electron``,
    ``Muon`` as awkward arrays of records (float64 kinematics: a round trip is exact).
    """
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


def _in_layout(data: dict[str, Any], layout: str) -> dict[str, Any]:
    """``data`` (:func:`nanoaod_arrays`) arranged as ``layout`` stores it."""
    import awkward as ak

    if layout == "ttree":
        return data  # uproot's TTree writer makes nJet + Jet_pt ... of a record collection
    if layout == "rntuple":
        flat = {k: v for k, v in data.items() if not isinstance(v, ak.Array)}
        for coll in ("Jet", "Electron", "Muon"):
            flat[f"n{coll}"] = np.asarray(ak.num(data[coll], axis=1), dtype=np.uint32)
            flat.update({f"{coll}_{f}": data[coll][f] for f in data[coll].fields})
        return flat
    out = {k: data[k] for k in _SINGLE if k in data}
    out["MET"] = ak.zip({"pt": data["MET_pt"], "phi": data["MET_phi"], "sumEt": data["MET_sumEt"]})
    out.update({coll: data[coll] for coll in ("Jet", "Electron", "Muon")})
    return out


def write_nanoaod(
    path: str | os.PathLike[str], events: Events, step_size: int = DEFAULT_STEP, *, layout: str = "ttree"
) -> Path:
    """Write ``events`` as a NanoAOD ``Events`` TTree or RNTuple (:data:`WRITE_LAYOUTS`), atomically.

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
    if layout not in WRITE_LAYOUTS:
        raise UserError(f"unknown NanoAOD layout {layout!r}; choose one of {', '.join(WRITE_LAYOUTS)}")
    uproot = uproot_module()
    import awkward as ak

    out = Path(path)
    with atomic_path(out) as tmp, uproot.recreate(tmp) as file:
        target = None
        for start in range(0, max(len(events), 1), step_size):
            data = _in_layout(nanoaod_arrays(events[start : start + step_size]), layout)
            if target is None and layout == "ttree":
                types = {k: (v.type if hasattr(v, "layout") else v.dtype) for k, v in data.items()}
                target = file.mktree("Events", types)
            elif target is None:
                target = file.mkrntuple("Events", ak.Array(data)[:0])
            target.extend(data if layout == "ttree" else ak.Array(data))
        if events.btag == "csv":
            file[MARKER] = "csv"
    return out
