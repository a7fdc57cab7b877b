"""Rendering speed: eventcnn vs the matplotlib way of the original notebooks.

The reference draws one matplotlib figure per event with Ellipse patches and
saves it with ``savefig`` at 56 dpi (4x4 inches -> 224x224 px), as the
original notebooks did. eventcnn renders the same selected events to PNG files
(``--jobs 1`` in process; ``--jobs N`` on a local Dask cluster of N workers, its
start-up included). Both write PNGs into a temporary folder. Prints events/s,
the ratio and the parallel efficiency.

    python bench/render.py [--events 1500] [--ref-events 100] [--jobs 1 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cms" / "TTjets_json.json"
sys.path.insert(0, str(ROOT))  # this checkout's eventcnn, also in the Dask workers


def matplotlib_reference(events, out: Path) -> None:
    """One figure per event, Ellipse patches, savefig at 56 dpi (the original way)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    for i in range(len(events)):
        fig = plt.figure(figsize=(4, 4), dpi=56)
        ax = fig.add_axes([0, 0, 1, 1])
        ax.set_xlim(-3, 3)
        ax.set_ylim(-np.pi, np.pi)
        ax.axis("off")
        objs = [(0.0, events.met_phi[i], events.met[i], "black")]
        j = events.jet.of_event(i)
        objs += [(e, p, t, "red" if c > 0.679 else (1, 125 / 255, 125 / 255))
                 for e, p, t, c in zip(j["eta"], j["phi"], j["pt"], np.nan_to_num(j["csv"], nan=-1))]
        for coll, color in ((events.electron, "blue"), (events.muon, "green")):
            o = coll.of_event(i)
            objs += [(e, p, t, color) for e, p, t in zip(o["eta"], o["phi"], o["pt"])]
        for eta, phi, pt, color in objs:
            d = max(np.log(max(pt, 1e-12)) / np.log(1.1), 1.0)
            ax.add_patch(Ellipse((eta, phi), d * 6 / 224, d * 2 * np.pi / 224,
                                 fill=False, edgecolor=color, linewidth=4 * 72 / 56 / 1.0))
        fig.savefig(out / f"ref_{i}.png", dpi=56)
        plt.close(fig)


@contextlib.contextmanager
def _cluster(n: int):
    """A local Dask cluster like ``--jobs n`` starts, kept running across rounds."""
    import logging

    import distributed

    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=DEFAULT)
    parser.add_argument("--events", type=int, default=600, help="events for eventcnn (repeated if needed)")
    parser.add_argument("--ref-events", type=int, default=100, help="events for the slow reference")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best rate of each")
    parser.add_argument("--compare-zlib", action="store_true",
                        help="also time --jobs 1 with the standard zlib deflate (before the ISA-L hot-spot fix)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "_out",
                        help="scratch folder for the PNGs of both (default: %(default)s)")
    args = parser.parse_args()
    if not args.input.exists():
        sys.exit(f"input not found: {args.input} (pass --input FILE.json)")

    from eventcnn.events import concat_events, read_events, write_events
    from eventcnn.events.selection import Selection
    from eventcnn.images import png as render_mod
    from eventcnn.images.render import RenderConfig, render_to_dir

    events, _ = Selection().apply(read_events(args.input))
    reps = -(-args.events // len(events))
    pool = concat_events([events] * reps)[: args.events]
    pool = pool.__class__(**{**pool.__dict__, "event": np.arange(len(pool))})
    args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        src = tmp / "bench.json"
        write_events(src, pool)
        ref = pool[: args.ref_events]
        # Rounds alternate the methods; each keeps its best rate (like timeit), so a
        # busy machine slows neither side more than the other.
        ref_rate, zlib_rate, rates = 0.0, 0.0, dict.fromkeys(args.jobs, 0.0)
        warm = dict.fromkeys([j for j in args.jobs if j > 1], 0.0)
        with contextlib.ExitStack() as stack:
            clusters = {j: stack.enter_context(_cluster(j)) for j in warm}  # started outside the timing
            for r in range(args.rounds):
                ref_dir = tmp / f"ref_{r}"
                ref_dir.mkdir()
                t0 = time.perf_counter()
                matplotlib_reference(ref, ref_dir)
                ref_rate = max(ref_rate, len(ref) / (time.perf_counter() - t0))
                if args.compare_zlib:  # the same renderer with the standard library's deflate
                    saved, render_mod._deflate = render_mod._deflate, zlib
                    try:
                        t0 = time.perf_counter()
                        render_to_dir([(src, "bench")], tmp / f"zlib_{r}", RenderConfig(), selection="none",
                                      quiet=True)
                        zlib_rate = max(zlib_rate, len(pool) / (time.perf_counter() - t0))
                    finally:
                        render_mod._deflate = saved
                for jobs in args.jobs:
                    out = tmp / f"ec_{jobs}_{r}"
                    t0 = time.perf_counter()
                    render_to_dir([(src, "bench")], out, RenderConfig(), selection="none", jobs=jobs,
                                  quiet=True)
                    rates[jobs] = max(rates[jobs], len(pool) / (time.perf_counter() - t0))
                    if jobs in warm:
                        t0 = time.perf_counter()
                        render_to_dir([(src, "bench")], tmp / f"warm_{jobs}_{r}", RenderConfig(),
                                      selection="none", quiet=True, scheduler=clusters[jobs].scheduler_address,
                                      chunk_size=-(-len(pool) // (4 * jobs)))
                        warm[jobs] = max(warm[jobs], len(pool) / (time.perf_counter() - t0))
        print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; "
              f"input {args.input.name}; best of {args.rounds} rounds")
        print(f"matplotlib reference (savefig 56 dpi): {ref_rate:8.1f} events/s  ({len(ref)} events)")
        for jobs, rate in rates.items():
            what = "in process" if jobs == 1 else "new local Dask cluster, start-up included"
            print(f"eventcnn render, --jobs {jobs} (PNG files, {what}):  {rate:8.1f} events/s  "
                  f"ratio vs reference: {rate / ref_rate:6.1f}x  ({len(pool)} events)")
        if args.compare_zlib:
            print(f"eventcnn render, --jobs 1 with zlib deflate (before):  {zlib_rate:8.1f} events/s  "
                  f"ratio vs reference: {zlib_rate / ref_rate:6.1f}x; deflate in use: {render_mod._deflate.__name__}")
        base = rates.get(1)
        for jobs, rate in warm.items():
            eff = f", {rate / base:.2f}x of --jobs 1, parallel efficiency {rate / base / jobs:.0%}" if base else ""
            print(f"eventcnn render, {jobs} Dask workers already running (PNG files): {rate:8.1f} events/s  "
                  f"ratio vs reference: {rate / ref_rate:6.1f}x{eff}")
        # identical images regardless of jobs
        first = sorted((tmp / f"ec_{args.jobs[0]}_0" / "bench").glob("*.png"))
        for jobs in args.jobs[1:]:
            same = all((tmp / f"ec_{jobs}_0" / "bench" / f.name).read_bytes() == f.read_bytes() for f in first)
            print(f"images identical for --jobs {args.jobs[0]} and {jobs}: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
