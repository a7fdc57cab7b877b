"""Simulated OPAL displays written in the masterclass format: ``eventcnn opal simulate``.

The physics and the pictures live on the floors where CMS's do: Pythia 8 Z decays
in :mod:`eventcnn.events.zpole`, the OPAL-like detector in
:mod:`eventcnn.events.opal_detector`, the displays (and the unit of work,
:func:`~eventcnn.images.opal_display.simulate_chunk` ``(seed, class, start, n) ->
images``) in :mod:`eventcnn.images.opal_display`. Every event has its own seed
derived from ``(seed, class, index)``, so the output does not depend on how the
events are split among workers. :func:`simulate` runs the chunks on an executor
(:mod:`eventcnn.executor`) and writes the masterclass format (``<name>.zip`` of
PNGs plus ``events_list.csv`` with ``<event>.png;<label>`` rows) that every
``opal`` command reads unchanged; the event names (``sim_000123``) carry no class.

Example::

    from eventcnn.images.opal_simulation import simulate
    out = simulate(400, "sim", seed=1, jobs=2)
    out.zip_path, out.labels_path   # sim/sim.zip, sim/events_list.csv
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eventcnn._env import quiet_from_env
from eventcnn._io import atomic_path, write_text_atomic
from eventcnn.errors import UserError
from eventcnn.executor import Executor, check_jobs, use_executor
from eventcnn.images.opal_display import CHUNK, chunk_pngs
from eventcnn.names import OPAL_CLASSES
from eventcnn.seeds import DEFAULT_SEED

__all__ = ["SimulationResult", "simulate"]


@dataclass
class SimulationResult:
    """What :func:`simulate` wrote: the zip, the label list, counts and speed."""

    zip_path: Path
    labels_path: Path
    counts: dict[str, int]
    seconds: float

    @property
    def per_second(self) -> float:
        """Displays per second (wall clock, start-up included)."""
        return sum(self.counts.values()) / max(self.seconds, 1e-9)


def _split_counts(n_events: int, classes: Sequence[str]) -> dict[str, int]:
    base, extra = divmod(n_events, len(classes))
    return {c: base + (1 if k < extra else 0) for k, c in enumerate(classes)}


def simulate(n_events: int, out: str | os.PathLike[str], seed: int = DEFAULT_SEED,
             classes: Sequence[str] = OPAL_CLASSES, jobs: int = 1, name: str = "sim",
             quiet: bool | None = None, *, scheduler: str | None = None,
             executor: Executor | None = None) -> SimulationResult:
    """Simulate ``n_events`` displays (equal numbers per class) into ``out`` in masterclass format.

    Writes ``out/<name>.zip`` (PNG members ``sim_000000.png`` ... in a seeded
    random order, so names carry no class) and ``out/events_list.csv``
    (``<event>.png;<label>``), both atomically. Chunks of :data:`CHUNK` events
    run as tasks on ``executor`` (:mod:`eventcnn.executor`), else on one opened
    for the call (``jobs`` local worker processes, or the Dask cluster at
    ``scheduler``); the output is the same wherever they run.

    Example::

        res = simulate(40, "sim", seed=1, classes=("e", "m"))
        res.counts   # {'e': 20, 'm': 20}
    """
    quiet = quiet_from_env() if quiet is None else bool(quiet)
    classes = tuple(classes)
    bad = [c for c in classes if c not in OPAL_CLASSES]
    if bad or not classes or len(set(classes)) != len(classes):
        raise UserError(f"--classes must be distinct codes among {','.join(OPAL_CLASSES)}, got {','.join(classes)}")
    if n_events < 1:
        raise UserError(f"--events must be >= 1, got {n_events}")
    check_jobs(jobs)
    start_t = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = _split_counts(n_events, classes)
    tasks = [(seed, c, s, min(CHUNK, counts[c] - s)) for c in classes for s in range(0, counts[c], CHUNK)]
    labels = [c for c in classes for _ in range(counts[c])]
    order = np.random.default_rng([int(seed), 7919]).permutation(len(labels))  # event k -> name order[k]
    pngs: list[bytes] = []
    with use_executor(executor, jobs, scheduler, quiet=quiet) as ex:
        bar = ex.bar(n_events, "simulating", unit="display", quiet=quiet)
        try:
            for chunk in ex.map(chunk_pngs, tasks, bar=bar, weight=lambda t, _r: t[3], name="simulate"):
                pngs += chunk
        finally:
            bar.close()
    width = max(6, len(str(n_events - 1)))
    names = [f"{name}_{k:0{width}d}.png" for k in order]
    zip_path = out / f"{name}.zip"
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for k in np.argsort(order):
            zf.writestr(names[k], pngs[k])
    rows = sorted(zip(names, labels))
    labels_path = write_text_atomic(out / "events_list.csv", "".join(f"{n};{c}\n" for n, c in rows))
    return SimulationResult(zip_path, Path(labels_path), counts, time.perf_counter() - start_t)
