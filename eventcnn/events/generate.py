"""Generate CMS-like events with Pythia 8 and fastjet, written in the CMS JSON schema.

Four processes of pp collisions at 7 TeV (the 2011 CMS open-data samples),
see :data:`eventcnn.names.PROCESSES`: ``tt`` (tt+jets), ``wjets`` (W -> l nu + jets),
``dy`` (Drell-Yan Z/gamma* -> l l, m > 50 GeV) and ``zz`` (ZZ -> 2l 2X).
Each event is showered and hadronised by Pythia (ISR, FSR, MPI on; ``fast``
turns MPI off), passed through the columnar detector model of
:mod:`eventcnn.events.detector`, and its jets are clustered with anti-kt (R = 0.5).

Work is split into fixed chunks of :data:`CHUNK_SIZE` events, each with its
own Pythia seed derived from ``(seed, chunk index)``; ``jobs`` only says how
many processes run the chunks, so the output for a given ``(seed, n_events)``
is identical for every ``jobs``.

Pythia and fastjet are imported only when events are generated.

Example::

    >>> from eventcnn.events.generate import generate
    >>> data = generate("dy", 20, seed=1, quiet=True)  # doctest: +SKIP
    >>> len(data["Event"])  # doctest: +SKIP
    20
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import quiet_stdout, write_bytes_atomic
from eventcnn.errors import OutputExistsError, UserError, check_output
from eventcnn.events import detector as det
from eventcnn.events import events_from_records
from eventcnn.events.nanoaod_write import write_nanoaod
from eventcnn.executor import Executor, use_executor
from eventcnn.limits import (
    BYTES_PER_GENERATED_EVENT,
    MAX_EVENTS,
    check_count,
    check_jobs,
    check_memory,
)
from eventcnn.names import canonical_process
from eventcnn.seeds import DEFAULT_SEED, derive_rng, pythia_seed

__all__ = [
    "CHUNK_SIZE",
    "OutputExistsError",
    "generate",
    "generate_to_file",
    "pythia_settings",
    "reco_records",
    "reconstruct",
]

#: Events per independent Pythia run (and seed).
CHUNK_SIZE = 250
#: Events per ``nextBatch`` call (the progress-bar granularity).
_BATCH = 25
_SQRT_S = 7000.0

_PROCESS_SETTINGS: dict[str, list[str]] = {
    "tt": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
    "wjets": ["WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11 13 15"],
    "dy": [
        "WeakSingleBoson:ffbar2gmZ = on",
        "PhaseSpace:mHatMin = 50.",
        "23:onMode = off",
        "23:onIfAny = 11 13 15",
    ],
    "zz": ["WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2"],
}


def pythia_settings(process: str, seed: int, fast: bool = False) -> list[str]:
    """The Pythia ``readString`` settings of one run of ``process``.

    Example::

        >>> "Random:seed = 7" in pythia_settings("tt", 7)
        True
    """
    settings = [
        "Beams:idA = 2212",
        "Beams:idB = 2212",
        f"Beams:eCM = {_SQRT_S}",
        *_PROCESS_SETTINGS[canonical_process(process)],
        "Print:quiet = on",
        "Init:showProcesses = off",
        "Init:showChangedSettings = off",
        "Init:showChangedParticleData = off",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        f"Random:seed = {int(seed)}",
    ]
    if fast:
        settings.append("PartonLevel:MPI = off")
    return settings


# --------------------------------------------------------------------------- chunks


@dataclass
class _Chunk:
    events: list[tuple[str, dict[str, Any]]]
    sigma_pb: float
    n: int


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


def _zz_accept(aid: np.ndarray, mother_id: np.ndarray, event: np.ndarray, n: int) -> np.ndarray:
    """Events where at least one Z decays to a charged-lepton pair."""
    lep_from_z = np.isin(aid, (11, 13, 15)) & (mother_id == 23)
    return np.bincount(event[lep_from_z], minlength=n) > 0


def _run_pythia(
    process: str, n: int, seed: int, fast: bool, report: Callable[[int], None]
) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Generate ``n`` events; return flat particle arrays, offsets and sigma in pb."""
    import awkward as ak
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for s in pythia_settings(process, seed, fast):
        if not pythia.readString(s):
            raise RuntimeError(f"Pythia rejected the setting {s!r}")
    with quiet_stdout():
        ok = pythia.init()
    if not ok:
        raise RuntimeError(f"Pythia failed to initialise process {process!r}")
    parts: list[dict[str, np.ndarray]] = []
    counts: list[np.ndarray] = []
    accepted = tried = 0
    while accepted < n:
        if tried > 50 * n + 1000:
            raise RuntimeError(
                f"Pythia produced only {accepted} accepted {process!r} events in {tried} tries"
            )
        want = min(_BATCH, n - accepted) if process != "zz" else _BATCH
        batch = pythia.nextBatch(want).prt
        cnt = ak.to_numpy(ak.num(batch)).astype(np.int64)
        flat = ak.flatten(batch)
        cols = {
            "id": ak.to_numpy(flat.id).astype(np.int64),
            "status": ak.to_numpy(flat.status).astype(np.int64),
            "mother1": ak.to_numpy(flat.mother1).astype(np.int64),
            "px": ak.to_numpy(flat.p.px),
            "py": ak.to_numpy(flat.p.py),
            "pz": ak.to_numpy(flat.p.pz),
            "e": ak.to_numpy(flat.p.e),
        }
        tried += len(cnt)
        keep = np.ones(len(cnt), dtype=bool)
        if process == "zz":
            off = np.concatenate([[0], np.cumsum(cnt)])
            ev = np.repeat(np.arange(len(cnt)), cnt)
            mid = np.abs(cols["id"][off[ev] + cols["mother1"]])
            keep = _zz_accept(np.abs(cols["id"]), mid, ev, len(cnt))
            keep &= np.cumsum(keep) <= n - accepted
        if not keep.all():
            ev = np.repeat(np.arange(len(cnt)), cnt)
            sel = keep[ev]
            cols = {k: v[sel] for k, v in cols.items()}
            cnt = cnt[keep]
        parts.append(cols)
        counts.append(cnt)
        accepted += len(cnt)
        report(len(cnt))
    sigma_pb = float(pythia.infoPython().sigmaGen()) * 1e9  # mb -> pb
    if process == "zz":
        sigma_pb *= accepted / max(tried, 1)
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    cnt_all = np.concatenate(counts)
    return merged, np.concatenate([[0], np.cumsum(cnt_all)]), sigma_pb


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
    ``met``, ``met_phi``, ``sumet``.
    """
    cfg = config or det.DetectorConfig()
    n_ev = len(offsets) - 1
    aid = np.abs(parts["id"])
    event = np.repeat(np.arange(n_ev), np.diff(offsets))
    pt, eta, phi = _kinematics(parts["px"], parts["py"], parts["pz"])
    final = parts["status"] > 0
    visible = final & ~np.isin(aid, (12, 14, 16)) & (np.abs(eta) < cfg.jet_input_eta_max)
    vis = np.flatnonzero(visible)
    vis_off = np.concatenate([[0], np.cumsum(np.bincount(event[vis], minlength=n_ev))])
    pos_in_vis = np.full(len(aid), -1, dtype=np.int64)
    pos_in_vis[vis] = np.arange(len(vis))

    # leptons: acceptance, reconstruction efficiency, smearing, isolation, ID
    is_mu, is_el = aid == 13, aid == 11
    acc = final & (
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

    # jets: anti-kt on the visible particles. As in the real CMS files (particle-flow
    # jets without lepton cleaning) the isolated leptons are clustered too, unless
    # cfg.jets_include_leptons is False. A jet's hadronic part is smeared with the
    # jet resolution; its isolated leptons keep their (better) lepton measurement.
    iso_rows = np.flatnonzero(tight_iso)
    inputs = visible.copy()
    if not cfg.jets_include_leptons:
        inputs[lep[iso_rows]] = False
    inp = np.flatnonzero(inputs)
    inp_counts = np.bincount(event[inp], minlength=n_ev)
    inp_off = np.concatenate([[0], np.cumsum(inp_counts)])
    jpx, jpy, jpz, je, jcounts, n_const, local = _cluster(
        parts["px"][inp], parts["py"][inp], parts["pz"][inp], parts["e"][inp],
        inp_counts, cfg.jet_r, 0.5 * cfg.jet_pt_min,
    )  # fmt: skip
    n_jets = len(jpx)
    jevent = np.repeat(np.arange(n_ev), jcounts)
    const_jet = np.repeat(np.arange(n_jets), n_const)
    jet_of = np.full(len(aid), -1, dtype=np.int64)
    jet_of[inp[inp_off[jevent[const_jet]] + local]] = const_jet
    iso_p = lep[iso_rows]  # particle index of each isolated reconstructed lepton
    lj = jet_of[iso_p]  # the jet that contains it (-1: none, or not clustered)
    inj = lj >= 0
    lreco = {
        "px": lpt[iso_rows] * np.cos(phi[iso_p]),
        "py": lpt[iso_rows] * np.sin(phi[iso_p]),
        "pz": lpt[iso_rows] * np.sinh(eta[iso_p]),
    }

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
    hf = _heavy_flavour(aid)
    had = np.flatnonzero((hf > 0) & (pt > cfg.heavy_hadron_pt_min))
    had_off = np.concatenate([[0], np.cumsum(np.bincount(event[had], minlength=n_ev))])
    flav = det.flavour_from_hadrons(
        jeta, jphi, jevent, eta[had], phi[had], hf[had], had_off, cfg.flavour_dr
    )
    csv = det.btag_discriminant(flav, rng, cfg.btag_eff)
    csv = np.where(np.abs(jeta_reco) < cfg.btag_eta_max, csv, -100.0)
    jet_tight = rng.random(n_jets) < cfg.jet_tight_id_eff

    # MET: kept jets + isolated leptons outside them + smeared unclustered energy
    sel = np.flatnonzero(jkeep)
    free = ~(inj & jkeep[np.maximum(lj, 0)]) if n_jets else np.ones(len(iso_p), bool)
    free_in = free & inputs[iso_p]  # free leptons that were clustering inputs

    def per_event(ev_idx: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.bincount(ev_idx, w, n_ev)

    ux = per_event(event[inp], parts["px"][inp]) - per_event(jevent[sel], jpx[sel])
    ux -= per_event(event[iso_p][free_in], parts["px"][iso_p][free_in])
    uy = per_event(event[inp], parts["py"][inp]) - per_event(jevent[sel], jpy[sel])
    uy -= per_event(event[iso_p][free_in], parts["py"][iso_p][free_in])
    ust = per_event(event[inp], pt[inp]) - per_event(jevent[sel], jpt[sel])
    ust = np.maximum(ust - per_event(event[iso_p][free_in], pt[iso_p][free_in]), 0.0)
    sigma_u = cfg.met_unclustered_scale * np.sqrt(ust)
    ux = ux + sigma_u * rng.standard_normal(n_ev)
    uy = uy + sigma_u * rng.standard_normal(n_ev)
    mpx = np.concatenate([lreco["px"][free], rx[sel], ux])
    mpy = np.concatenate([lreco["py"][free], ry[sel], uy])
    mev = np.concatenate([event[iso_p][free], jevent[sel], np.arange(n_ev)])
    met, met_phi = det.missing_et(mpx, mpy, mev, n_ev)
    sumet = (
        per_event(event[iso_p][free], lpt[iso_rows][free])
        + per_event(jevent[sel], jpt_reco[sel])
        + ust
    )
    return {
        "lep_event": event[lep], "lep_flavour": aid[lep], "lep_charge": np.where(parts["id"][lep] > 0, -1, 1),
        "lep_pt": lpt, "lep_eta": eta[lep], "lep_phi": phi[lep],
        "lep_tight_id": tight_id, "lep_tight_iso": tight_iso, "lep_reliso": iso / np.maximum(lpt, 1e-9),
        "jet_event": jevent[sel], "jet_pt": jpt_reco[sel], "jet_eta": jeta_reco[sel],
        "jet_phi": jphi_reco[sel],
        "jet_csv": csv[sel], "jet_tight_id": jet_tight[sel], "jet_flavour": flav[sel],
        "met": met, "met_phi": met_phi, "sumet": sumet,
    }  # fmt: skip


def _r(x: np.ndarray) -> list[float]:
    return np.round(np.asarray(x, dtype=np.float64), 4).tolist()


def _collections(ev: np.ndarray, pt: np.ndarray, n_ev: int, build) -> list[dict[str, dict]]:
    """Per-event ``{"0": {...}, ...}`` dicts, objects sorted by decreasing pT."""
    order = np.lexsort((-pt, ev))
    rows = build(order)
    counts = np.bincount(ev, minlength=n_ev)
    out, start = [], 0
    for c in counts.tolist():
        out.append({str(k): rows[start + k] for k in range(c)})
        start += c
    return out


def reco_records(reco: dict[str, np.ndarray], n_ev: int) -> list[dict[str, Any]]:
    """Turn :func:`reconstruct` output into per-event dicts of the CMS JSON schema.

    (Not :func:`eventcnn.events.to_records`, which writes a whole :class:`~eventcnn.events.Events`
    back to the JSON document; this was also called ``to_records`` before, a deprecated alias.)
    """

    def leptons(flavour: int) -> list[dict[str, dict]]:
        m = reco["lep_flavour"] == flavour
        pt, eta, phi = reco["lep_pt"][m], reco["lep_eta"][m], reco["lep_phi"][m]

        def build(o: np.ndarray) -> list[dict]:
            cols = zip(
                _r(pt[o]), _r(eta[o]), _r(phi[o]), _r(pt[o] * np.cos(phi[o])),
                _r(pt[o] * np.sin(phi[o])), _r(pt[o] * np.sinh(eta[o])),
                reco["lep_tight_id"][m][o].tolist(), reco["lep_tight_iso"][m][o].tolist(),
                reco["lep_charge"][m][o].tolist(),
            )  # fmt: skip
            keys = ("pt", "eta", "phi", "px", "py", "pz", "tightID", "tightIso", "charge")
            return [dict(zip(keys, c)) for c in cols]

        return _collections(reco["lep_event"][m], pt, n_ev, build)

    def jets() -> list[dict[str, dict]]:
        pt = reco["jet_pt"]

        def build(o: np.ndarray) -> list[dict]:
            cols = zip(_r(pt[o]), _r(reco["jet_eta"][o]), _r(reco["jet_phi"][o]),
                       _r(reco["jet_csv"][o]), reco["jet_tight_id"][o].tolist())  # fmt: skip
            return [dict(zip(("pt", "eta", "phi", "CSV", "tightID"), c)) for c in cols]

        return _collections(reco["jet_event"], pt, n_ev, build)

    els, mus, js = leptons(11), leptons(13), jets()
    met, met_phi, sumet = _r(reco["met"]), _r(reco["met_phi"]), _r(reco["sumet"])
    records = []
    for i in range(n_ev):
        rec: dict[str, Any] = {}
        if els[i]:
            rec["electron"] = els[i]
        if js[i]:
            rec["jet"] = js[i]
        rec["met"], rec["met_phi"] = met[i], met_phi[i]
        if mus[i]:
            rec["muon"] = mus[i]
        rec.update(njet=len(js[i]), numel=len(els[i]), nummu=len(mus[i]), sumet=sumet[i])
        records.append(rec)
    return records


def _generate_chunk(
    process: str, chunk: int, n: int, seed: int, fast: bool,
    config: det.DetectorConfig | None, chunk_size: int, report: Callable[[int], None],
) -> _Chunk:  # fmt: skip
    parts, offsets, sigma = _run_pythia(process, n, pythia_seed(seed, chunk), fast, report)
    rng = derive_rng(seed, chunk, 1)
    reco = reconstruct(parts, offsets, rng, config)
    records = reco_records(reco, n)
    first = chunk * chunk_size + 1
    events = []
    for k, rec in enumerate(records):
        rec.update(isMC=1, lumi=chunk + 1, run=1)
        events.append((str(first + k), rec))
    return _Chunk(events, sigma, n)


def _worker(args: tuple) -> _Chunk:
    """One chunk as a task of an :class:`~eventcnn.executor.Executor` (the bar advances when the chunk is done)."""
    return _generate_chunk(*args, report=lambda _k: None)


def _check(n_events: int, seed: int, jobs: int) -> None:
    if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 1:
        raise UserError(f"n_events must be a positive integer, got {n_events!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise UserError(f"jobs must be a positive integer, got {jobs!r}")


def generate(
    process: str,
    n_events: int,
    seed: int = DEFAULT_SEED,
    jobs: int = 1,
    *,
    quiet: bool = False,
    fast: bool = False,
    config: det.DetectorConfig | None = None,
    chunk_size: int = CHUNK_SIZE,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Generate ``n_events`` events of ``process``; return the CMS JSON-schema dict.

    ``{"Event": {"1": {...}, "2": {...}}}`` with the keys of the real CMS
    files (``electron``/``muon``/``jet`` collections absent when empty), plus a
    ``charge`` (+1/-1) per lepton. ``xsec`` is Pythia's generated cross
    section in pb (for ``zz`` times the fraction of events with a Z -> l l).
    The fixed chunks run on ``executor`` (:mod:`eventcnn.executor`), else on one
    opened for the call: ``jobs`` worker processes (a local Dask cluster) or the
    cluster at ``scheduler`` (default ``EVENTCNN_SCHEDULER``); the result does not
    depend on where they run.
    ``fast`` turns multiparton interactions off. ``chunk_size`` events share one
    Pythia seed; it is part of the reproducibility key (keep the default).
    ``quiet`` hides the progress bar (``progress=`` is its deprecated old name).

    Example::

        >>> data = generate("tt", 10, seed=3, quiet=True)  # doctest: +SKIP
        >>> sorted(data["Event"]["1"])[:3]  # doctest: +SKIP
        ['electron', 'isMC', 'jet']
    """
    process = canonical_process(process)
    _check(n_events, seed, jobs)
    if int(chunk_size) < 1:
        raise UserError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    n_events, seed, jobs, chunk_size = int(n_events), int(seed), int(jobs), int(chunk_size)
    sizes = [min(chunk_size, n_events - s) for s in range(0, n_events, chunk_size)]
    tasks = [(process, k, n, seed, fast, config, chunk_size) for k, n in enumerate(sizes)]
    from tqdm.auto import tqdm

    bar = tqdm(total=n_events, unit="ev", desc=f"generate {process}", disable=quiet)
    try:
        with use_executor(executor, min(jobs, len(tasks)), scheduler, quiet=quiet) as ex:
            if ex.in_process:  # per-batch progress
                chunks = [_generate_chunk(*t, report=bar.update) for t in tasks]
            else:
                chunks = ex.map(_worker, tasks, bar=bar, weight=lambda t, _c: t[2], name=f"generate-{process}")
    finally:
        bar.close()
    total = sum(c.n for c in chunks)
    xsec = round(sum(c.sigma_pb * c.n for c in chunks) / total, 6)
    events: dict[str, Any] = {}
    for c in chunks:
        for key, rec in c.events:
            rec["xsec"] = xsec
            events[key] = dict(sorted(rec.items()))
    return {"Event": events}




def generate_to_file(
    process: str,
    n_events: int,
    out: str | os.PathLike[str],
    seed: int = DEFAULT_SEED,
    jobs: int = 1,
    *,
    quiet: bool = False,
    fast: bool = False,
    config: det.DetectorConfig | None = None,
    overwrite: bool = False,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> Path:
    """Generate events and write them atomically to ``out`` (gzip if it ends in ``.gz``, NanoAOD if ``.root``).

    An existing ``out`` is an :class:`OutputExistsError` (checked before any
    event is generated) unless ``overwrite=True``. The chunks run on ``executor``
    (or one opened from ``jobs`` / ``scheduler``), as in :func:`generate`. ``quiet`` hides the bar and the summary line.

    Example::

        >>> generate_to_file("dy", 100, "json_files/DY_json.json", seed=1)  # doctest: +SKIP
        PosixPath('json_files/DY_json.json')
    """
    out = Path(out)
    nano = out.suffix == ".root"  # NanoAOD (eventcnn.events.nanoaod), same events
    if not nano and (out.suffix not in (".json", ".gz") or (out.suffix == ".gz" and not out.name.endswith(".json.gz"))):
        raise UserError(f"output file {out} must end in .json, .json.gz or .root (NanoAOD)")
    check_count("--events", n_events, 1, MAX_EVENTS,
                hint="write several files with different --seed values instead")
    check_jobs(jobs)
    check_memory(n_events * BYTES_PER_GENERATED_EVENT, f"generating {n_events:,} events",
                 hint="the events are held in memory until written: generate fewer per file "
                 "(several files with different --seed values)")
    check_output(out, overwrite=overwrite)
    t0 = time.perf_counter()
    data = generate(process, n_events, seed=seed, jobs=jobs, quiet=quiet, fast=fast, config=config,
                    scheduler=scheduler, executor=executor)
    if nano:

        write_nanoaod(out, events_from_records(data, source=str(out)))
        if not quiet:
            print(f"wrote {n_events} {process} events to {out} (NanoAOD)", file=sys.stderr)
        return out
    payload = json.dumps(data, separators=(",", ":")).encode("utf-8")
    if out.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    write_bytes_atomic(out, payload)
    if not quiet:
        dt = time.perf_counter() - t0
        print(f"wrote {n_events} {process} events to {out} ({n_events / dt:.1f} ev/s)", file=sys.stderr)
    return out
