"""``eventcnn opal header``: the numbers students read off the Manchester OPAL displays.

Registered from :mod:`eventcnn.cli.opal`. Example::

    eventcnn data fetch manchester
    eventcnn opal header ~/.cache/eventcnn/opal_manchester/z_displays.zip --out header.csv
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from eventcnn.errors import few_names


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``opal header``."""
    h = sub.add_parser(
        "header", help="read the header numbers (run, event, tracks, calorimeters, muons...) of OPAL displays",
        description="Read the header of every display of a zip or folder of Manchester OPAL displays "
                    "(GIF/PNG) from its pixels: run and event, Ctrk N and Sump, Ecal N and SumE, Hcal N and "
                    "SumE, Muon N, Ebeam, the vertex, the scale bar (100 or 200 cm). A character a track "
                    "covers is reported as hidden, never guessed; a field not read is empty, and the "
                    "'error' column says why. One CSV row per display.")
    h.add_argument("displays", metavar="DISPLAYS", help="zip or folder of displays (e.g. z_displays.zip)")
    h.add_argument("--out", required=True, help="CSV to write (one row per display)")
    h.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    h.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    h.set_defaults(func=run_header)


def run_header(args: argparse.Namespace) -> int:
    """Read every header, write the CSV, print a summary (stderr) and the CSV's path."""
    from eventcnn.errors import check_output
    from eventcnn.images.display_header import read_headers, write_header_csv

    out = check_output(args.out, inputs=[args.displays], overwrite=args.overwrite)
    reads = read_headers(args.displays, quiet=args.quiet)
    write_header_csv(out, reads)
    if not args.quiet:
        for line in summary(reads):
            print(line, file=sys.stderr)
    print(out)
    return 0


def summary(reads) -> list[str]:
    """A few lines for people: views, headers read, run:event against the file names, what was not read."""
    views = Counter(r.view or "unreadable" for r in reads)
    complete = [r for r in reads if not r.error]
    matched = [r for r in reads if r.matches_name]  # over every display: one not read does not match
    hidden = [r for r in reads if r.hidden]
    lines = [f"{len(reads)} displays ({', '.join(f'{n} {v}' for v, n in sorted(views.items()))}): "
             f"{len(complete)} headers read completely"]
    if reads:
        lines.append(f"run:event equal to the file name: {len(matched)} of {len(reads)} "
                     f"({100.0 * len(matched) / len(reads):.1f} %)")
        wrong = [r.display for r in reads if not r.matches_name]
        if wrong:
            lines.append(f"not equal (or not read): {few_names(wrong, 10)}")
    if hidden:
        lines.append(f"{len(hidden)} displays with characters hidden by tracks: {few_names([r.display for r in hidden], 5)}")
    bad = [r for r in reads if r.error]
    if bad:
        lines.append(f"{len(bad)} displays with a field not read (see the 'error' column): "
                     f"{few_names([r.display for r in bad], 5)}")
    return lines
