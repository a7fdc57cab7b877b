"""The reconstruction of generated pp events: anti-kt jets (fastjet) and the CMS-like detector model.

:func:`reconstruct` turns the flat Pythia particle arrays of many events into what
the CMS open-data files hold: electrons and muons (acceptance, efficiency,
smearing, isolation, ID), jets (clustered on the visible particles, resolution,
flavour, b-tag discriminant, ID) and MET, columnar, with the parameters of
:class:`eventcnn.events.detector.DetectorConfig`. A change of the detector goes to
:mod:`eventcnn.events.detector` (its numbers and response functions) or here (what
is reconstructed from what).

Example::

    reco = reconstruct(parts, offsets, np.random.default_rng(1))      # doctest: +SKIP
    reco["jet_pt"], reco["met"]
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from eventcnn._io import quiet_stdout
from eventcnn.events import detector as det

__all__ = ["reconstruct"]

_FASTJET_QUIET = False


def _cluster(px, py, pz, e, counts, r: float, pt_min: float):
    """Anti-kt jets of many events at once (fastjet's multi-event interface).

    Returns the jets' ``px, py, pz, E`` and the number of jets per event, plus
    the constituents: their number per jet and their index within the event's
    input particles.
    """
    global _FASTJET_QUIET
    import awkward as ak
    import fastjet

    flat = ak.zip({"px": px, "py": py, "pz": pz, "E": e}, with_name="Momentum4D")
    arr = ak.unflatten(flat, counts)
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, r)
    # the banner is printed (to C++ stdout) on the first clustering of a process
    with contextlib.nullcontext() if _FASTJET_QUIET else quiet_stdout():
        seq = fastjet.ClusterSequence(arr, jetdef)
        jets = seq.inclusive_jets(pt_min)
        const = seq.constituent_index(pt_min)
    _FASTJET_QUIET = True
    n = np.asarray(ak.to_numpy(ak.num(jets)), dtype=np.int64)
    flat_j = ak.flatten(jets)
    mom = [np.asarray(ak.to_numpy(flat_j[k]), dtype=np.float64) for k in ("px", "py", "pz", "E")]
    n_const = np.asarray(ak.to_numpy(ak.flatten(ak.num(const, axis=2))), dtype=np.int64)
    local = np.asarray(ak.to_numpy(ak.flatten(const, axis=None)), dtype=np.int64)
    return (*mom, n, n_const, local)


def _kinematics(px: np.ndarray, py: np.ndarray, pz: np.ndarray):
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / np.where(pt > 0, pt, 1.0), np.sign(pz) * 1e6))
    return pt, eta, np.arctan2(py, px)


def _heavy_flavour(aid: np.ndarray) -> np.ndarray:
    """5 for b hadrons, 4 for c hadrons, 0 otherwise (PDG codes)."""
    q = aid % 10000
    hadron = (aid > 100) & ((q // 10) % 10 > 0) & ~np.isin(aid, (130, 310))
    heavy = np.maximum((q // 1000) % 10, (q // 100) % 10)
    return np.where(hadron & ((heavy == 5) | (heavy == 4)), heavy, 0)


@dataclass
class _Particles:
    """Flat particle columns of many events, with the event of each and the visible ones."""

    parts: dict[str, np.ndarray]
    n_ev: int
    aid: np.ndarray
    event: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    final: np.ndarray
    visible: np.ndarray


def _particles(parts: dict[str, np.ndarray], offsets: np.ndarray, cfg: det.DetectorConfig) -> _Particles:
    n_ev = len(offsets) - 1
    aid = np.abs(parts["id"])
    pt, eta, phi = _kinematics(parts["px"], parts["py"], parts["pz"])
    final = parts["status"] > 0
    visible = final & ~np.isin(aid, (12, 14, 16)) & (np.abs(eta) < cfg.jet_input_eta_max)
    event = np.repeat(np.arange(n_ev), np.diff(offsets))
    return _Particles(parts, n_ev, aid, event, pt, eta, phi, final, visible)


@dataclass
class _Leptons:
    """Reconstructed electrons and muons: particle index, measured pT, isolation, ID."""

    index: np.ndarray
    pt: np.ndarray
    iso: np.ndarray
    tight_iso: np.ndarray
    tight_id: np.ndarray


def _reco_leptons(p: _Particles, rng: np.random.Generator, cfg: det.DetectorConfig) -> _Leptons:
    """Leptons: acceptance, reconstruction efficiency, smearing, isolation, ID."""
    aid, eta, phi, pt, event = p.aid, p.eta, p.phi, p.pt, p.event
    vis = np.flatnonzero(p.visible)
    vis_off = np.concatenate([[0], np.cumsum(np.bincount(event[vis], minlength=p.n_ev))])
    pos_in_vis = np.full(len(aid), -1, dtype=np.int64)
    pos_in_vis[vis] = np.arange(len(vis))
    is_mu, is_el = aid == 13, aid == 11
    acc = p.final & (
        (is_mu & (np.abs(eta) < cfg.muon_eta_max)) | (is_el & (np.abs(eta) < cfg.electron_eta_max))
    )
    lep = np.flatnonzero(acc)
    eff = np.where(aid[lep] == 13, cfg.muon_reco_eff, cfg.electron_reco_eff)
    found = rng.random(len(lep)) < eff
    lpt = np.where(
        aid[lep] == 13,
        det.smear_pt(pt[lep], eta[lep], "muon", rng),
        det.smear_pt(pt[lep], eta[lep], "electron", rng),
    )
    lep_keep = found & (lpt > cfg.lepton_pt_min)
    lep, lpt = lep[lep_keep], lpt[lep_keep]
    iso = det.isolation_sum(
        eta[lep], phi[lep], event[lep], pos_in_vis[lep],
        pt[vis], eta[vis], phi[vis], vis_off, cfg.iso_cone,
    )
    tight_iso = iso / np.maximum(lpt, 1e-9) < cfg.iso_max
    id_eff = np.where(
        aid[lep] == 13,
        np.where(tight_iso, *cfg.muon_tight_id_eff),
        np.where(tight_iso, *cfg.electron_tight_id_eff),
    )
    tight_id = rng.random(len(lep)) < id_eff
    return _Leptons(lep, lpt, iso, tight_iso, tight_id)


@dataclass
class _Jets:
    """Clustered jets (true and reconstructed momenta), their inputs and the isolated leptons inside."""

    n: int
    event: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pt: np.ndarray
    rx: np.ndarray  # reconstructed momentum
    ry: np.ndarray
    pt_reco: np.ndarray
    eta_reco: np.ndarray
    phi_reco: np.ndarray
    keep: np.ndarray
    csv: np.ndarray
    tight: np.ndarray
    flavour: np.ndarray
    inputs: np.ndarray  # mask of the particles clustered
    iso_rows: np.ndarray  # rows of the isolated leptons in _Leptons
    iso_p: np.ndarray  # their particle index
    lepton_jet: np.ndarray  # the jet holding each isolated lepton (-1: none)
    lreco: dict[str, np.ndarray]  # their measured momentum


def _reco_jets(p: _Particles, lep: _Leptons, rng: np.random.Generator, cfg: det.DetectorConfig) -> _Jets:
    """Jets: anti-kt on the visible particles; resolution, flavour, b-tag, ID.

    As in the real CMS files (particle-flow jets without lepton cleaning) the
    isolated leptons are clustered too, unless ``cfg.jets_include_leptons`` is False.
    A jet's hadronic part is smeared with the jet resolution; its isolated leptons
    keep their (better) lepton measurement.
    """
    parts, event = p.parts, p.event
    iso_rows = np.flatnonzero(lep.tight_iso)
    inputs = p.visible.copy()
    if not cfg.jets_include_leptons:
        inputs[lep.index[iso_rows]] = False
    inp = np.flatnonzero(inputs)
    inp_counts = np.bincount(event[inp], minlength=p.n_ev)
    inp_off = np.concatenate([[0], np.cumsum(inp_counts)])
    jpx, jpy, jpz, je, jcounts, n_const, local = _cluster(
        parts["px"][inp], parts["py"][inp], parts["pz"][inp], parts["e"][inp],
        inp_counts, cfg.jet_r, 0.5 * cfg.jet_pt_min,
    )  # fmt: skip
    n_jets = len(jpx)
    jevent = np.repeat(np.arange(p.n_ev), jcounts)
    const_jet = np.repeat(np.arange(n_jets), n_const)
    jet_of = np.full(len(p.aid), -1, dtype=np.int64)
    jet_of[inp[inp_off[jevent[const_jet]] + local]] = const_jet
    iso_p = lep.index[iso_rows]  # particle index of each isolated reconstructed lepton
    lj = jet_of[iso_p]  # the jet that contains it (-1: none, or not clustered)
    inj = lj >= 0
    lpt = lep.pt[iso_rows]
    lreco = {"px": lpt * np.cos(p.phi[iso_p]), "py": lpt * np.sin(p.phi[iso_p]), "pz": lpt * np.sinh(p.eta[iso_p])}

    def in_jets(w: np.ndarray) -> np.ndarray:
        return np.bincount(lj[inj], w[inj], n_jets)

    hx, hy, hz = (jpx - in_jets(parts["px"][iso_p]), jpy - in_jets(parts["py"][iso_p]),
                  jpz - in_jets(parts["pz"][iso_p]))  # fmt: skip
    he = np.maximum(je - in_jets(parts["e"][iso_p]), 0.0)
    _, heta, _ = _kinematics(hx, hy, hz)
    sigma = det.energy_resolution("jet", he, heta)
    scale = np.maximum(1.0 + sigma * rng.standard_normal(n_jets), 0.0)
    rx = scale * hx + in_jets(lreco["px"])
    ry = scale * hy + in_jets(lreco["py"])
    rz = scale * hz + in_jets(lreco["pz"])
    jpt_reco, jeta_reco, jphi_reco = _kinematics(rx, ry, rz)
    jkeep = (jpt_reco > cfg.jet_pt_min) & (np.abs(jeta_reco) < cfg.jet_eta_max)
    jpt, jeta, jphi = _kinematics(jpx, jpy, jpz)
    hf = _heavy_flavour(p.aid)
    had = np.flatnonzero((hf > 0) & (p.pt > cfg.heavy_hadron_pt_min))
    had_off = np.concatenate([[0], np.cumsum(np.bincount(event[had], minlength=p.n_ev))])
    flav = det.flavour_from_hadrons(
        jeta, jphi, jevent, p.eta[had], p.phi[had], hf[had], had_off, cfg.flavour_dr
    )
    csv = det.btag_discriminant(flav, rng, cfg.btag_eff)
    csv = np.where(np.abs(jeta_reco) < cfg.btag_eta_max, csv, -100.0)
    jet_tight = rng.random(n_jets) < cfg.jet_tight_id_eff
    return _Jets(n_jets, jevent, jpx, jpy, jpt, rx, ry, jpt_reco, jeta_reco, jphi_reco, jkeep, csv, jet_tight,
                 flav, inputs, iso_rows, iso_p, lj, lreco)


def _reco_met(p: _Particles, lep: _Leptons, jets: _Jets, rng: np.random.Generator,
              cfg: det.DetectorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MET and sum ET: kept jets + isolated leptons outside them + smeared unclustered energy."""
    parts, event, n_ev = p.parts, p.event, p.n_ev
    inp = np.flatnonzero(jets.inputs)
    iso_p, lj = jets.iso_p, jets.lepton_jet
    inj = lj >= 0
    sel = np.flatnonzero(jets.keep)
    free = ~(inj & jets.keep[np.maximum(lj, 0)]) if jets.n else np.ones(len(iso_p), bool)
    free_in = free & jets.inputs[iso_p]  # free leptons that were clustering inputs

    def per_event(ev_idx: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.bincount(ev_idx, w, n_ev)

    ux = per_event(event[inp], parts["px"][inp]) - per_event(jets.event[sel], jets.px[sel])
    ux -= per_event(event[iso_p][free_in], parts["px"][iso_p][free_in])
    uy = per_event(event[inp], parts["py"][inp]) - per_event(jets.event[sel], jets.py[sel])
    uy -= per_event(event[iso_p][free_in], parts["py"][iso_p][free_in])
    ust = per_event(event[inp], p.pt[inp]) - per_event(jets.event[sel], jets.pt[sel])
    ust = np.maximum(ust - per_event(event[iso_p][free_in], p.pt[iso_p][free_in]), 0.0)
    sigma_u = cfg.met_unclustered_scale * np.sqrt(ust)
    ux = ux + sigma_u * rng.standard_normal(n_ev)
    uy = uy + sigma_u * rng.standard_normal(n_ev)
    mpx = np.concatenate([jets.lreco["px"][free], jets.rx[sel], ux])
    mpy = np.concatenate([jets.lreco["py"][free], jets.ry[sel], uy])
    mev = np.concatenate([event[iso_p][free], jets.event[sel], np.arange(n_ev)])
    met, met_phi = det.missing_et(mpx, mpy, mev, n_ev)
    sumet = (
        per_event(event[iso_p][free], lep.pt[jets.iso_rows][free])
        + per_event(jets.event[sel], jets.pt_reco[sel])
        + ust
    )
    return met, met_phi, sumet


def reconstruct(
    parts: dict[str, np.ndarray],
    offsets: np.ndarray,
    rng: np.random.Generator,
    config: det.DetectorConfig | None = None,
) -> dict[str, np.ndarray]:
    """Apply the detector model to flat Pythia particle arrays of many events.

    ``parts`` holds ``id``, ``status``, ``px``, ``py``, ``pz``, ``e`` (the
    full event records, ``status > 0`` = final state), ``offsets`` the event
    boundaries. Returns flat columnar arrays: ``lep_*`` (electrons and muons,
    with ``lep_flavour`` 11/13 and ``lep_charge``), ``jet_*`` and per-event
    ``met``, ``met_phi``, ``sumet``. Leptons, then jets, then MET draw from ``rng``
    in this order (the order is part of the reproducibility).
    """
    cfg = config or det.DetectorConfig()
    p = _particles(parts, offsets, cfg)
    lep = _reco_leptons(p, rng, cfg)
    jets = _reco_jets(p, lep, rng, cfg)
    met, met_phi, sumet = _reco_met(p, lep, jets, rng, cfg)
    i, sel = lep.index, np.flatnonzero(jets.keep)
    return {
        "lep_event": p.event[i], "lep_flavour": p.aid[i], "lep_charge": np.where(parts["id"][i] > 0, -1, 1),
        "lep_pt": lep.pt, "lep_eta": p.eta[i], "lep_phi": p.phi[i],
        "lep_tight_id": lep.tight_id, "lep_tight_iso": lep.tight_iso,
        "lep_reliso": lep.iso / np.maximum(lep.pt, 1e-9),
        "jet_event": jets.event[sel], "jet_pt": jets.pt_reco[sel], "jet_eta": jets.eta_reco[sel],
        "jet_phi": jets.phi_reco[sel],
        "jet_csv": jets.csv[sel], "jet_tight_id": jets.tight[sel], "jet_flavour": jets.flavour[sel],
        "met": met, "met_phi": met_phi, "sumet": sumet,
    }  # fmt: skip
