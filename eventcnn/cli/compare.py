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
        help="compare run folders: settings, test figures with 95 %% intervals, paired differences",
        description="Tabulate several run folders as Markdown (printed and --out), CSV and JSON (next to --out): "
                    "every figure with its 95 % bootstrap interval, the paired difference of each run against "
                    "the reference on the test events both scored, and runs that differ only in their seed "
                    "as mean +- spread.",
    )
    p.add_argument("runs", nargs="+", help="run folders (e.g. runs/*)")
    p.add_argument("--out", default=None,
                   help="Markdown file; a .csv and a .json with the same stem are written too")
    p.add_argument("--json", default=None, dest="json_out",
                   help="JSON file: every figure {value, ci95}, paired differences, seed summaries "
                        "(default with --out: its stem + .json)")
    p.add_argument("--reference", default=None,
                   help="run folder the others are compared with, event by event (default: the first)")
    p.add_argument("--plot", default=None, help="optional PNG: test accuracy and AUC per run")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress output (compare has none; the table, its result, is always printed)")
    p.add_argument("--overwrite", action="store_true", help="replace --out/--plot files that exist (default: refuse)")
    p.set_defaults(func=run)
    declare(p, runs=RUN, reference=RUN, out=Output("the Markdown table", also=_beside_out),
            json_out=Output("the JSON of the figures"), plot=Output("the PNG plot"))


def _beside_out(args: argparse.Namespace, path: Path) -> list[Path]:
    """The files ``--out x.md`` writes beside it: ``x.csv``, and ``x.json`` unless ``--json`` names another."""
    return [Path(path).with_suffix(".csv"), *([Path(path).with_suffix(".json")] if args.json_out is None else [])]


def run(args: argparse.Namespace) -> int:
    """Run the command (no Keras needed)."""
    from eventcnn.learn.comparison import compare_runs

    table = compare_runs(args.runs, out=args.out, plot=args.plot, overwrite=args.overwrite,
                         json_out=args.json_out, reference=args.reference)
    print(table)
    return 0
