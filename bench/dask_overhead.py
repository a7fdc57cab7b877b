"""Dask overhead on a small render job: ``--jobs 2`` on a local Dask cluster vs the former process pool.

The former ``render_to_dir`` (``concurrent.futures.ProcessPoolExecutor``, the
driver reads and selects, the pool draws) is loaded from git history
(``git show REF:eventcnn/images/render.py``, default ``b1d9008``: the commit
before the Dask executor) into this process as a module, so both run on the
same machine in the same run; rounds alternate the methods and each keeps its
best wall time. The Dask time includes starting and closing the local
cluster (what a user of ``--jobs 2`` waits for); the start, first tasks and
close of a bare 2-worker cluster are timed separately at the end. Also ``--jobs 1`` (in
process, no Dask). Inputs: the selected events of the development tt+jets and
W+jets JSON files, cut to ``--events`` each.

    python bench/dask_overhead.py [--events 300] [--size 64] [--rounds 3] [--ref b1d9008]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cms"
sys.path.insert(0, str(ROOT))


def old_render(ref: str) -> types.ModuleType:
    """The former eventcnn.images.render at ``ref``, as module ``_old_render`` (its pool forks this process)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:eventcnn/images/render.py"],
                         check=True, capture_output=True, text=True).stdout
    if "ProcessPoolExecutor" not in src:
        sys.exit(f"{ref}:eventcnn/images/render.py has no process pool; pass the commit before the Dask change")
    mod = types.ModuleType("_old_render")
    mod.__file__ = f"{ref}:eventcnn/images/render.py"
    sys.modules["_old_render"] = mod
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def _import_render(_: int) -> int:
    import eventcnn.images.render  # noqa: F401  (what a worker's first task imports)

    return 1


def startup(rounds: int) -> list[tuple[float, float, float]]:
    """Seconds to start a 2-worker local cluster, run its first tasks (imports) and close it."""
    from eventcnn.executor import open_executor

    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        with open_executor(jobs=2, quiet=True) as ex:
            t1 = time.perf_counter()
            ex.map(_import_render, [0, 1, 2, 3])
            t2 = time.perf_counter()
        out.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300, help="selected events per class")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ref", default="b1d9008", help="commit with the former process pool")
    args = parser.parse_args()

    from eventcnn.events import read_events, write_events
    from eventcnn.events.selection import Selection
    from eventcnn.images import render as new

    old = old_render(args.ref)
    best = {"old pool --jobs 2": 1e9, "Dask --jobs 2": 1e9, "in process --jobs 1": 1e9}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = []
        for name, label in (("TTjets_json.json", "ttjets"), ("Wjets_json.json", "wjets")):
            ev, _ = Selection().apply(read_events(DATA / name))
            write_events(tmp / f"{label}.json", ev[: args.events])
            inputs.append((tmp / f"{label}.json", label))
        n = sum(len(read_events(p)) for p, _ in inputs)
        for r in range(args.rounds):
            for key, fn, kw in (("old pool --jobs 2", old.render_to_dir, {"jobs": 2}),
                                ("Dask --jobs 2", new.render_to_dir, {"jobs": 2}),
                                ("in process --jobs 1", new.render_to_dir, {"jobs": 1})):
                cfg = (old if key.startswith("old") else new).RenderConfig(size=args.size)
                t0 = time.perf_counter()
                fn(inputs, tmp / f"{key[:3]}{r}", cfg, selection="none", quiet=True, **kw)
                best[key] = min(best[key], time.perf_counter() - t0)
        olds = sorted((tmp / "old0").glob("*/*.png"))
        same = len(olds) == n and all(
            np.array_equal(np.asarray(Image.open(f)), np.asarray(Image.open(tmp / "Das0" / f.relative_to(tmp / "old0"))))
            for f in olds)
    print(f"machine: {os.cpu_count()} CPU cores (shared), load average {os.getloadavg()[0]:.1f}; "
          f"{n} events, {args.size} px PNG, best of {args.rounds} rounds; old = {args.ref}")
    for key, t in best.items():
        print(f"{key:22s} {t:6.2f} s  ({n / t:6.0f} img/s)")
    d, o = best["Dask --jobs 2"], best["old pool --jobs 2"]
    print(f"Dask overhead vs the old pool: {d - o:+.2f} s ({d / o:.2f}x the old wall time)")
    print(f"same images (decoded pixels) from the old pool and Dask: {same}")
    for start, first, close in startup(args.rounds):
        print(f"2-worker local cluster: start {start:.2f} s, first tasks (imports) {first:.2f} s, close {close:.2f} s "
              f"(load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
