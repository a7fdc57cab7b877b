"""``eventcnn compare``: one table over several run folders (Markdown + CSV).

Example::

    eventcnn compare runs/* --out compare.md      # also writes compare.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eventcnn.cli._paths import RUN, Output, declare


def register(subparsers) -> None:
    """Add the ``compare`` parser."""
    p = subparsers.add_parser(
        "compare",
        help="compare run folders: model, freeze, optimizer, epochs, val/test accuracy, AUC, time",
        description="Tabulate several run folders as Markdown (printed and --out) and CSV (next to --out).",
    )
    p.add_argument("runs", nargs="+", help="run folders (e.g. runs/*)")
    p.add_argument("--out", default=None, help="Markdown file; a .csv with the same stem is written too")
    p.add_argument("--plot", default=None, help="optional PNG: test accuracy and AUC per run")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress output (compare has none; the table, its result, is always printed)")
    p.add_argument("--overwrite", action="store_true", help="replace --out/--plot files that exist (default: refuse)")
    p.set_defaults(func=run)
    declare(p, runs=RUN, out=Output("the Markdown table", also=lambda _args, path: [Path(path).with_suffix(".csv")]),
            plot=Output("the PNG plot"))


def run(args: argparse.Namespace) -> int:
    """Run the command (no Keras needed)."""
    from eventcnn.learn.runs import compare_runs

    table = compare_runs(args.runs, out=args.out, plot=args.plot, overwrite=args.overwrite)
    print(table)
    return 0
