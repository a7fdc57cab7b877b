"""Event-generation speed per process: full simulation vs ``--fast`` (MPI off).

For each process, generates N events with ``jobs=1`` in full mode (ISR, FSR,
MPI, hadronisation on) and in fast mode (multiparton interactions off), times
both end to end (Pythia init + generation + clustering + detector + JSON
records), and prints events/s and the ratio fast/full measured in the same run.
With ``--jobs 2`` it also times full mode with two processes (needs
N > the chunk size of 250 events to use them) and prints jobs/1-job.

    python bench/generate.py [--events 200] [--processes tt wjets dy zz] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time

from eventcnn.events.generate import generate
from eventcnn.names import PROCESSES


def rate(process: str, n: int, fast: bool = False, jobs: int = 1, seed: int = 123) -> float:
    """Events per second of one ``generate`` call (wall clock)."""
    t0 = time.perf_counter()
    generate(process, n, seed=seed, jobs=jobs, quiet=True, fast=fast)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    ap.add_argument("--jobs", type=int, default=1, help="also time full mode with this many processes")
    ap.add_argument("--jobs-events", type=int, default=1000, help="events for the --jobs comparison")
    args = ap.parse_args(argv)

    rate("dy", 10)  # warm-up: imports, first fastjet call
    print(f"{'process':8s} {'full ev/s':>10s} {'fast ev/s':>10s} {'fast/full':>9s}")
    for p in args.processes:
        full = rate(p, args.events)
        fast = rate(p, args.events, fast=True)
        print(f"{p:8s} {full:10.1f} {fast:10.1f} {fast / full:9.2f}", flush=True)
    if args.jobs > 1:
        n = args.jobs_events
        print(f"\njobs comparison, {n} events, full mode")
        print(f"{'process':8s} {'1 job ev/s':>11s} {f'{args.jobs} jobs ev/s':>12s} {'ratio':>6s}")
        for p in args.processes:
            one = rate(p, n)
            many = rate(p, n, jobs=args.jobs)
            print(f"{p:8s} {one:11.1f} {many:12.1f} {many / one:6.2f}", flush=True)


if __name__ == "__main__":
    main()
