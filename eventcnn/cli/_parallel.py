"""The ``--jobs`` / ``--scheduler`` flags shared by the commands that run tasks on :mod:`eventcnn.executor`."""

from __future__ import annotations

import argparse

from eventcnn.cli._defaults import default
from eventcnn.executor import open_executor

__all__ = ["add_parallel_flags"]


def add_parallel_flags(p: argparse.ArgumentParser, short: bool = False) -> None:
    """Add ``--jobs N`` (a local Dask cluster of N worker processes; 1: in this process) and ``--scheduler``."""
    names = ["--jobs", "-j"] if short else ["--jobs"]
    p.add_argument(*names, type=int, default=default(open_executor, "jobs"),
                   help="worker processes: 1 runs in this process (default: %(default)s), N > 1 a local Dask cluster")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the tasks on an existing Dask cluster (e.g. tcp://10.0.0.5:8786; default: "
                   "$EVENTCNN_SCHEDULER); --jobs is then ignored")
