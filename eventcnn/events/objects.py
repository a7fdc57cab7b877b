"""Reconstructed objects as a padded set: MET, leptons and jets of every event, columnar.

The input of a permutation-invariant network (Deep Sets / Particle Flow
Network, :mod:`eventcnn.learn.sets`): per event a fixed-size array of objects
``(n_objects, n_features)`` and a mask of the real ones. This module is the one
place that defines the object features (:data:`OBJECT_FEATURES`):

====================  =========================================================
``log_pt``            ln(pT / GeV) (MET: ln(MET / GeV)); 0 below 1 GeV
``eta``               pseudorapidity (MET: 0, as the image draws it)
``cos_dphi``          cos and sin of the azimuth relative to the event's
``sin_dphi``          leading visible object (see below)
``is_met``            one-hot object kind ...
``is_jet``            ... a jet without b tag
``is_bjet``           ... a jet with b tag (discriminant above its working point)
``is_electron``
``is_muon``
====================  =========================================================

These are exactly what the paper-style image shows (kind by colour, b tag by
colour, pT by ring size, eta and phi by position), so the image CNN and the
set network see the same information.

The event's symmetries are taken out once, here: every event is rotated in phi
so that its leading visible object (highest-pT lepton or jet; MET when there is
none) sits at phi = 0, mirrored in eta so that this object has eta >= 0, and
mirrored in phi so that the MET has sin(dphi) >= 0. (The image CNN learns the
same symmetries from online augmentation instead.)

Slots: MET first, then up to ``max_leptons`` leptons (electrons and muons by
decreasing pT), then up to ``max_jets`` jets by decreasing pT. Objects beyond
the slots are dropped and counted (:attr:`ObjectArrays.truncated`).
Everything is columnar (no per-event Python loop).

Example::

    >>> from eventcnn.events import events_from_records
    >>> from eventcnn.events.objects import object_arrays
    >>> jet = {"pt": 50.0, "eta": 0.5, "phi": 0.0, "CSV": 0.9, "tightID": True}
    >>> ev = events_from_records({"Event": {"1": {"met": 40.0, "met_phi": 1.0, "jet": {"0": jet}}}})
    >>> arr = object_arrays(ev)
    >>> arr.values.shape, int(arr.mask.sum())
    ((1, 15, 9), 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.events.cms_json import Events
from eventcnn.events.selection import BTAG_WORKING_POINTS, Selection

__all__ = ["MAX_JETS", "MAX_LEPTONS", "OBJECT_FEATURES", "ObjectArrays", "object_arrays"]

OBJECT_FEATURES: tuple[str, ...] = (
    "log_pt", "eta", "cos_dphi", "sin_dphi", "is_met", "is_jet", "is_bjet", "is_electron", "is_muon",
)
MAX_LEPTONS = 4
MAX_JETS = 10
_MET, _JET, _BJET, _ELECTRON, _MUON = range(5)


@dataclass(frozen=True)
class ObjectArrays:
    """Padded objects: ``values`` float32 ``(n_events, n_slots, n_features)``, ``mask`` bool ``(n_events, n_slots)``.

    ``truncated`` counts the objects that did not fit, per collection
    (``{"leptons": k, "jets": m}``); ``feature_names`` is :data:`OBJECT_FEATURES`.
    """

    values: np.ndarray
    mask: np.ndarray
    feature_names: tuple[str, ...] = OBJECT_FEATURES
    truncated: dict[str, int] | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def take(self, index: np.ndarray) -> ObjectArrays:
        """The events ``index`` (an integer array or a boolean mask), in that order."""
        return ObjectArrays(self.values[index], self.mask[index], self.feature_names, self.truncated)

    @staticmethod
    def concat(parts: list[ObjectArrays]) -> ObjectArrays:
        """Several arrays of the same slot layout, one after the other (truncation counts summed)."""
        if not parts:
            raise UserError("nothing to concatenate: no object arrays given")
        shapes = {p.values.shape[1:] for p in parts}
        if len(shapes) != 1:
            raise UserError(f"object arrays of different layouts {sorted(shapes)}")
        trunc: dict[str, int] = {}
        for p in parts:
            for k, v in (p.truncated or {}).items():
                trunc[k] = trunc.get(k, 0) + int(v)
        return ObjectArrays(np.concatenate([p.values for p in parts]), np.concatenate([p.mask for p in parts]),
                            parts[0].feature_names, trunc)


def _ranked(event_index: np.ndarray, pt: np.ndarray, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Order of objects by (event, decreasing pT) and each ordered object's rank in its event."""
    order = np.lexsort((-pt, event_index))
    ev = event_index[order]
    starts = np.searchsorted(ev, np.arange(n_events))
    return order, np.arange(len(order)) - starts[ev]


def _flat(events: Events, selection: Selection | None) -> dict[str, np.ndarray]:
    """Leptons and jets of all events as flat columns (event, kind, pt, eta, phi)."""
    jets, el, mu = events.jet, events.electron, events.muon
    jmask = selection.jets(jets) if selection else np.ones(jets.n_objects, bool)
    emask = selection.leptons(el) if selection else np.ones(el.n_objects, bool)
    mmask = selection.leptons(mu) if selection else np.ones(mu.n_objects, bool)
    wp = selection.btag_threshold(events.btag) if selection else BTAG_WORKING_POINTS[events.btag]
    btag = np.nan_to_num(jets["csv"], nan=-np.inf) > wp
    return {
        "event": np.concatenate([el.event_index[emask], mu.event_index[mmask], jets.event_index[jmask]]),
        "kind": np.concatenate([np.full(int(emask.sum()), _ELECTRON), np.full(int(mmask.sum()), _MUON),
                                np.where(btag[jmask], _BJET, _JET)]),
        "pt": np.concatenate([el["pt"][emask], mu["pt"][mmask], jets["pt"][jmask]]),
        "eta": np.concatenate([el["eta"][emask], mu["eta"][mmask], jets["eta"][jmask]]),
        "phi": np.concatenate([el["phi"][emask], mu["phi"][mmask], jets["phi"][jmask]]),
    }


def object_arrays(events: Events, selection: Selection | None = None, *, max_leptons: int = MAX_LEPTONS,
                  max_jets: int = MAX_JETS) -> ObjectArrays:
    """The objects of every event as a padded set (see the module docstring for slots and features).

    ``selection``: only objects passing its object cuts count (the objects the
    image of the same selection shows); ``None`` takes every object of ``events``.
    """
    if max_leptons < 0 or max_jets < 0:
        raise UserError(f"max_leptons and max_jets must be >= 0, got {max_leptons}, {max_jets}")
    n = len(events)
    f = _flat(events, selection)
    n_slots = 1 + max_leptons + max_jets
    values = np.zeros((n, n_slots, len(OBJECT_FEATURES)), dtype=np.float32)
    mask = np.zeros((n, n_slots), dtype=bool)
    met = np.asarray(events.met, dtype=np.float64)
    met_phi = np.asarray(events.met_phi, dtype=np.float64)

    # the leading visible object fixes phi = 0 and the sign of eta
    order, rank = _ranked(f["event"], f["pt"], n)
    lead = order[rank == 0]
    ref_phi, eta_sign = met_phi.copy(), np.ones(n)
    ref_phi[f["event"][lead]] = f["phi"][lead]
    eta_sign[f["event"][lead]] = np.where(f["eta"][lead] < 0, -1.0, 1.0)
    met_dphi = np.angle(np.exp(1j * (met_phi - ref_phi)))
    phi_sign = np.where(met_dphi < 0, -1.0, 1.0)

    def put(slot_event: np.ndarray, slot: np.ndarray, kind: np.ndarray, pt: np.ndarray, eta: np.ndarray,
            phi: np.ndarray) -> None:
        dphi = np.angle(np.exp(1j * (phi - ref_phi[slot_event]))) * phi_sign[slot_event]
        row = values[slot_event, slot]
        row[:, 0] = np.log(np.maximum(pt, 1.0))
        row[:, 1] = eta * eta_sign[slot_event]
        row[:, 2], row[:, 3] = np.cos(dphi), np.sin(dphi)
        row[np.arange(len(kind)), 4 + kind] = 1.0
        values[slot_event, slot] = row
        mask[slot_event, slot] = True

    put(np.arange(n), np.zeros(n, dtype=np.int64), np.full(n, _MET), met, np.zeros(n), met_phi)
    truncated: dict[str, Any] = {}
    is_lep = f["kind"] >= _ELECTRON
    for name, sel, first, cap in (("leptons", is_lep, 1, max_leptons), ("jets", ~is_lep, 1 + max_leptons, max_jets)):
        ev, pt = f["event"][sel], f["pt"][sel]
        o, r = _ranked(ev, pt, n)
        keep = r < cap
        truncated[name] = int((~keep).sum())
        idx = np.flatnonzero(sel)[o[keep]]
        put(f["event"][idx], first + r[keep], f["kind"][idx], f["pt"][idx], f["eta"][idx], f["phi"][idx])
    return ObjectArrays(values, mask, OBJECT_FEATURES, truncated)
