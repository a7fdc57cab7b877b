"""Benchmark: NanoAOD read-and-select (uproot, chunked) vs the JSON reader; peak memory on 1M events.

Builds NanoAOD files from the real development CMS JSON (``../shared/data/cms``,
tt+jets and W+jets, 6,997 events):

- ``same.root``: exactly those events, to compare events/s with the JSON reader
  on the same events (read + paper selection), the ratio printed;
- ``big.root``: the same events tiled to ``--events`` (default 1,000,000) with
  unique event numbers, written chunk by chunk.

Each measurement runs in a fresh subprocess that reports its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

- ``json``: ``read_events`` + ``Selection().apply`` on the two JSON files;
- ``nano-same``: the same through ``read_events`` of ``same.root``;
- ``nano-stream``: ``iter_events(big.root)`` + the selection chunk by chunk
  (what ``render`` does): the target is a peak RSS under 1 GB;
- ``nano-full``: ``read_events(big.root)``, everything in memory at once (information).

Usage::

    python bench/nanoaod_read.py [--events 1000000] [--step 200000] [--workdir /tmp/nanobench] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cms"
JSONS = [DATA / "TTjets_json.json", DATA / "Wjets_json.json"]
sys.path.insert(0, str(ROOT))  # this checkout's eventcnn, also in the child processes

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
mode, path, step = sys.argv[2], sys.argv[3], int(sys.argv[4])
from eventcnn.events import read_events
from eventcnn.events.selection import Selection
from eventcnn.events.nanoaod import iter_events
sel = Selection()
t0 = time.perf_counter()
n = kept = 0
if mode == "json":
    for p in path.split(","):
        ev = read_events(p); n += len(ev); kept += len(sel.apply(ev)[0])
elif mode == "nano-stream":
    for chunk in iter_events(path, step_size=step, quiet=True):
        n += len(chunk); kept += len(sel.apply(chunk)[0])
else:  # nano-same, nano-full: one read_events, then select
    ev = read_events(path); n = len(ev); kept = len(sel.apply(ev)[0])
dt = time.perf_counter() - t0
try:  # VmHWM: this process's own peak (ru_maxrss would include the parent's peak at fork)
    rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
except OSError:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB on Linux
print(json.dumps({"mode": mode, "events": n, "selected": kept, "seconds": dt, "peak_rss_mb": rss}))
"""


def measure(mode: str, path: str, step: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), mode, path, str(step)],
                         check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def build(workdir: Path, n_events: int, step: int, json_events: int) -> tuple[Path, Path]:
    import numpy as np
    import uproot

    from eventcnn.events import concat_events, read_events, write_events
    from eventcnn.events.nanoaod_layout import MARKER
    from eventcnn.events.nanoaod_write import nanoaod_arrays, write_nanoaod

    base = concat_events([read_events(p) for p in JSONS])
    same = write_nanoaod(workdir / "same.root", base)
    if json_events:  # the same events tiled, as JSON and as NanoAOD
        idx = np.arange(json_events) % len(base)
        tiled = base[idx]
        tiled = tiled.__class__(**{**tiled.__dict__, "event": np.arange(json_events)})
        write_events(workdir / "tiled.json", tiled)
        write_nanoaod(workdir / "tiled.root", tiled)
    big = workdir / "big.root"
    if big.exists() and uproot.open(big)["Events"].num_entries == n_events:
        return same, big
    t0 = time.perf_counter()
    with uproot.recreate(big) as f:
        tree = None
        for start in range(0, n_events, step):
            idx = np.arange(start, min(start + step, n_events)) % len(base)
            chunk = base[idx]
            chunk = chunk.__class__(**{**chunk.__dict__, "event": np.arange(start, start + len(idx))})
            data = nanoaod_arrays(chunk)
            if tree is None:
                tree = f.mktree("Events", {k: (v.type if hasattr(v, "layout") else v.dtype) for k, v in data.items()})
            tree.extend(data)
        f[MARKER] = "csv"
    print(f"wrote {big} ({n_events:,} events, {big.stat().st_size / 1e6:.0f} MB) in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return same, big


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--step", type=int, default=200_000, help="events per chunk")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/eventcnn-nanobench"))
    ap.add_argument("--json-events", type=int, default=100_000,
                    help="also compare JSON and NanoAOD on this many tiled events (0: skip)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    missing = [p for p in JSONS if not p.exists()]
    if missing:
        sys.exit(f"needs the development data: {missing[0]} not found")
    args.workdir.mkdir(parents=True, exist_ok=True)
    same, big = build(args.workdir, args.events, args.step, args.json_events)
    rows = [
        measure("json", ",".join(map(str, JSONS)), args.step),
        measure("nano-same", str(same), args.step),
        measure("nano-stream", str(big), args.step),
        measure("nano-full", str(big), args.step),
    ]
    if args.json_events:
        rows += [measure("json", str(args.workdir / "tiled.json"), args.step),
                 measure("nano-same", str(args.workdir / "tiled.root"), args.step)]
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'mode':<12} {'events':>10} {'selected':>9} {'seconds':>8} {'events/s':>11} {'peak RSS MB':>12}")
    for r in rows:
        r["rate"] = r["events"] / r["seconds"]
        print(f"{r['mode']:<12} {r['events']:>10,} {r['selected']:>9,} {r['seconds']:>8.2f} "
              f"{r['rate']:>11,.0f} {r['peak_rss_mb']:>12.0f}")
    js, same_r, stream = rows[0], rows[1], rows[2]
    assert js["selected"] == same_r["selected"], "JSON and NanoAOD must select the same events"
    print(f"read+select, same {js['events']:,} events: NanoAOD {same_r['rate'] / js['rate']:.1f}x the JSON reader")
    if args.json_events:
        tj, tn = rows[4], rows[5]
        assert tj["selected"] == tn["selected"]
        print(f"read+select, same {tj['events']:,} tiled events: NanoAOD {tn['rate'] / tj['rate']:.1f}x "
              f"the JSON reader (peak RSS {tn['peak_rss_mb']:.0f} MB vs {tj['peak_rss_mb']:.0f} MB)")
    print(f"read+select, {stream['events']:,} events streamed: {stream['rate'] / js['rate']:.1f}x the JSON "
          f"reader's events/s; peak RSS {stream['peak_rss_mb']:.0f} MB "
          f"({'under' if stream['peak_rss_mb'] < 1024 else 'OVER'} the 1 GB target)")
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
