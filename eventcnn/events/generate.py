"""Generate CMS-like events with Pythia 8 and fastjet, written in the CMS JSON schema.

Four processes of pp collisions at 7 TeV (the 2011 CMS open-data samples),
see :data:`eventcnn.names.PROCESSES`: ``tt`` (tt+jets), ``wjets`` (W -> l nu + jets),
``dy`` (Drell-Yan Z/gamma* -> l l, m > 50 GeV) and ``zz`` (ZZ -> 2l 2X).
Each event is showered and hadronised by Pythia (ISR, FSR, MPI on; ``fast``
turns MPI off), its jets are clustered with anti-kt (R = 0.5) and the columnar
detector model of :mod:`eventcnn.events.detector` is applied (:mod:`eventcnn.events.cms_reco`).

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
from eventcnn.events.cms_reco import reconstruct
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
