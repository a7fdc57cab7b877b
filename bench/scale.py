"""Rendering at scale on Dask: a simulated large job end to end to shards, and worker scaling.

Builds NanoAOD files (``eventcnn.events.nanoaod.write_nanoaod``) from the real
development CMS JSON (``../shared/data/cms``: tt+jets, W+jets; 6,997 events),
tiled to ``--events`` with unique event numbers and every copy rotated in phi by
a seeded random angle (so the images differ), half the files tt+jets and half
W+jets. Then, for each ``--jobs`` value, ``render_to_dir(..., format="shards")``
(read + ``--selection`` + draw + write ``shard-NNNNN.npy`` + ``shards.csv``) on a
local Dask cluster started here exactly as ``--jobs N`` starts it (so the peak
memory of every worker can be asked for afterwards); ``--jobs 1`` runs in
process without Dask, like the command line. Prints wall time, events read per
second, images per second, per-worker peak RSS, the driver's peak RSS, the
parallel efficiency and the machine load before and after. The shards of every
run are compared byte for byte with the first run's.

    python bench/scale.py --events 1000000 --files 10 --size 64 --jobs 2
    python bench/scale.py --events 100000 --files 4 --size 64 --jobs 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import resource
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cms"
sys.path.insert(0, str(ROOT))  # this checkout's eventcnn, also in the Dask workers (spawned with sys.path)


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def build(workdir: Path, n_events: int, n_files: int, seed: int) -> list[tuple[Path, str]]:
    """``n_files`` NanoAOD files of ``n_events`` in all: tiled, phi-rotated tt+jets / W+jets events."""
    from eventcnn.events import Objects, concat_events, read_events
    from eventcnn.events.nanoaod_write import write_nanoaod

    bases = {"ttjets": read_events(DATA / "TTjets_json.json"), "wjets": read_events(DATA / "Wjets_json.json")}
    rng = np.random.default_rng(seed)
    per_file = -(-n_events // n_files)
    out = []
    first = 1
    for k in range(n_files):
        label = "ttjets" if k < (n_files + 1) // 2 else "wjets"
        base = bases[label]
        n = min(per_file, n_events - k * per_file)
        copies = []
        for _ in range(-(-n // len(base))):
            a = rng.uniform(-np.pi, np.pi)
            rot = {c: Objects(getattr(base, c).offsets, {**getattr(base, c).fields,
                                                         "phi": _wrap(getattr(base, c)["phi"] + a)})
                   for c in ("jet", "electron", "muon")}
            copies.append(replace(base, met_phi=_wrap(base.met_phi + a), **rot))
        ev = concat_events(copies)[:n]
        ev = replace(ev, event=np.arange(first, first + n, dtype=np.int64))
        first += n
        path = workdir / f"{label}_{k:02d}.root"
        write_nanoaod(path, ev)
        out.append((path, label))
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(inputs: list[tuple[Path, str]], out: Path, jobs: int, size: int, selection: str) -> dict:
    from eventcnn.images.render import RenderConfig, render_to_dir

    load0 = os.getloadavg()[0]
    if jobs == 1:
        t0 = time.perf_counter()
        s = render_to_dir(inputs, out, RenderConfig(size=size), selection=selection, quiet=True, format="shards")
        wall = time.perf_counter() - t0
        workers = [_peak_rss_mb()]  # in process: the driver is the worker
    else:
        import distributed

        with distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as client:
            t0 = time.perf_counter()
            s = render_to_dir(inputs, out, RenderConfig(size=size), selection=selection, quiet=True,
                              format="shards", scheduler=cluster.scheduler_address)
            wall = time.perf_counter() - t0
            workers = sorted(client.run(_peak_rss_mb).values())
    return {"jobs": jobs, "wall": wall, "read": sum(s.read.values()), "images": sum(s.written.values()),
            "workers_mb": workers, "driver_mb": _peak_rss_mb(), "load": (load0, os.getloadavg()[0])}


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def control(jobs: int, tasks: int = 8, n: int = 6_000_000) -> tuple[float, float]:
    """Wall time of ``tasks`` pure-Python CPU tasks in process and on ``jobs`` warm Dask workers.

    The machine's own parallel headroom, with nothing of eventcnn in the tasks: on an
    idle 2-core box the ratio is near 2; near 1 means the cores are taken by others.
    """
    from eventcnn.executor import open_executor

    t0 = time.perf_counter()
    with open_executor(jobs=1, quiet=True) as ex:
        ex.map(_spin, [n] * tasks)
    alone = time.perf_counter() - t0
    with open_executor(jobs=jobs, quiet=True) as ex:
        ex.map(_spin, [n] * jobs)  # warm up
        t0 = time.perf_counter()
        ex.map(_spin, [n] * tasks)
        spread = time.perf_counter() - t0
    return alone, spread


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.glob("shard-*.npy")) + [folder / "shards.csv"]:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                h.update(block)
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--selection", default="paper")
    parser.add_argument("--jobs", type=int, nargs="+", default=[2])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "_out" / "scale")
    parser.add_argument("--keep", action="store_true", help="keep the NanoAOD files and shards")
    parser.add_argument("--control", action="store_true",
                        help="first time pure-Python CPU tasks in process and on the largest --jobs (the "
                        "machine's parallel headroom); with --events 0 only that")
    args = parser.parse_args()
    if args.control:
        jobs = max(args.jobs)
        alone, spread = control(jobs)
        print(f"control (load {os.getloadavg()[0]:.1f}): 8 pure-Python CPU tasks in process {alone:.2f} s, on {jobs} "
              f"warm Dask workers {spread:.2f} s: {alone / spread:.2f}x (ideal {jobs}x on idle cores)")
        if args.events == 0:
            return 0
    if not (DATA / "TTjets_json.json").exists():
        sys.exit(f"development data not found in {DATA} (set EVENTCNN_SHARED_DATA)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    inputs = build(args.workdir, args.events, args.files, args.seed)
    size_mb = sum(p.stat().st_size for p, _ in inputs) / 2**20
    print(f"machine: {os.cpu_count()} CPU cores (shared), load average {os.getloadavg()[0]:.1f}")
    print(f"built {args.events:,} events in {len(inputs)} NanoAOD files ({size_mb:.0f} MB) "
          f"in {time.perf_counter() - t0:.0f} s")
    rows, first = [], None
    for jobs in args.jobs:
        out = args.workdir / f"shards_jobs{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        r = run(inputs, out, jobs, args.size, args.selection)
        shards = sorted(out.glob("shard-*.npy"))
        r["shards"], r["gb"] = len(shards), sum(f.stat().st_size for f in shards) / 2**30
        d = digest(out)
        r["same"] = first is None or d == first
        first = first or d
        rows.append(r)
        print(f"--jobs {jobs}: {r['wall']:.1f} s wall; {r['read']:,} events read ({r['read'] / r['wall']:,.0f} ev/s), "
              f"{r['images']:,} images {args.size}x{args.size} ({r['images'] / r['wall']:,.0f} img/s, "
              f"{r['images'] / r['wall'] / jobs:,.0f} img/s per worker) in {r['shards']} shards ({r['gb']:.2f} GB); "
              f"peak RSS per worker {', '.join(f'{m:.0f}' for m in r['workers_mb'])} MB, driver "
              f"{r['driver_mb']:.0f} MB; load {r['load'][0]:.1f} -> {r['load'][1]:.1f}; "
              f"shards identical to the first run: {r['same']}")
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            speedup = base["wall"] / r["wall"]
            print(f"scaling --jobs {base['jobs']} -> {r['jobs']}: {speedup:.2f}x, parallel efficiency "
                  f"{speedup / (r['jobs'] / base['jobs']):.0%}")
    if not args.keep:
        for p, _ in inputs:
            p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
