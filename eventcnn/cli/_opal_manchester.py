"""``eventcnn opal header`` and ``eventcnn opal measure``: the Manchester OPAL displays.

``header``: the numbers students read off the displays; ``measure``: the Z decay
fractions over the whole challenge (end views, side views, all). Registered from
:mod:`eventcnn.cli.opal`. Example::

    eventcnn data fetch opal manchester
    eventcnn opal header ~/.cache/eventcnn/opal_manchester/z_displays.zip --out header.csv
    eventcnn opal measure --out measurement/
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import DISPLAYS, Input, Output, OutputFolder, declare
from eventcnn.errors import UserError, few_names
from eventcnn.opal.measure import measure_challenge
from eventcnn.opal.measure_report import MEASUREMENT_FILES


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
    declare(h, displays=DISPLAYS, out=Output("the header CSV"))
    _register_measure(sub)


def _register_measure(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser(
        "measure", help="measure the Z decay fractions over the masterclass challenge (end, side, all views)",
        description="Classify every display of the Manchester Z challenge and measure the fractions of "
                    "hadronic, electron, muon and tau decays, corrected for misidentification with the "
                    "cross-validated confusion on the labelled end views, with statistical uncertainties, "
                    "R = hadronic/leptonic and lepton universality beside the PDG. End views: the masterclass "
                    "CNN (out-of-fold); side views: boosted trees on the header numbers. Writes "
                    "DIR/measurement.json, DIR/report.md and figures.")
    m.add_argument("--out", required=True, metavar="DIR", help="folder for measurement.json, report.md, figures")
    m.add_argument("--data", default=None,
                   help="folder holding opal/ and opal_manchester/ (default: the data sources' cache, filled as "
                        "'eventcnn data fetch opal manchester' does, from EVENTCNN_DATA_MIRROR when set)")
    m.add_argument("--folds", type=int, default=default(measure_challenge, "folds"),
                   help="cross-validation folds (default: %(default)s)")
    m.add_argument("--epochs", type=int, default=default(measure_challenge, "epochs"),
                   help="epochs of each fold's CNN (default: %(default)s)")
    m.add_argument("--steps", type=int, default=default(measure_challenge, "steps"),
                   help="training batches per epoch (default: %(default)s)")
    m.add_argument("--seed", type=int, default=default(measure_challenge, "seed"),
                   help="seed of folds, training and pseudo-experiments (default: %(default)s)")
    m.add_argument("--toys", type=int, default=default(measure_challenge, "toys"),
                   help="pseudo-experiments per uncertainty (default: %(default)s)")
    m.add_argument("--no-header-cnn", dest="header_cnn", action="store_false",
                   help="do not train the CNN that also reads the header numbers (one per fold, about as long "
                        "as the fold's CNN); the comparison then lacks it")
    m.add_argument("--limit", type=int, default=None,
                   help="a quick sample: about this many labelled end views, other end views and side views")
    m.add_argument("--overwrite", action="store_true", help="replace an earlier report in DIR")
    m.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    m.set_defaults(func=run_measure)
    declare(m, data=Input("a folder holding opal/ and opal_manchester/ (laid out like ../shared/data)", file=False,
                          noun="data folder", kind="folder"),
            out=OutputFolder("the measurement folder", replaces=MEASUREMENT_FILES))


def run_header(args: argparse.Namespace) -> int:
    """Read every header, write the CSV, print a summary (stderr) and the CSV's path."""
    from eventcnn.images.display_header import read_headers, write_header_csv

    out = args.out  # checked by eventcnn.cli._paths before the command runs
    reads = read_headers(args.displays, quiet=args.quiet)
    if not any(r.view for r in reads):  # nothing usable is an error (a display decoded has a view)
        why = f" ({reads[0].display}: {reads[0].error})" if reads else ""
        raise UserError(f"{args.displays}: no readable display (GIF/PNG/JPEG) in it{why}: "
                        "give a zip or folder of OPAL displays (e.g. opal_manchester/z_displays.zip)")
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


def run_measure(args: argparse.Namespace) -> int:
    """Measure, write the report, print the fractions (stderr) and the JSON's path; exit 1 if a view failed."""
    from eventcnn.opal.measure_report import write_measurement

    out = args.out  # checked by eventcnn.cli._paths (an existing report is replaced only with --overwrite)
    result = measure_challenge(args.data, folds=args.folds, epochs=args.epochs, steps=args.steps, seed=args.seed,
                               toys=args.toys, header_cnn=args.header_cnn, limit=args.limit, quiet=args.quiet)
    path = write_measurement(result, out)
    for key in ("end", "side", "all"):
        m = result[key]
        if "error" in m:
            print(f"{key}: not measured ({m['error']})", file=sys.stderr)
        elif not args.quiet:
            f = m["fractions"]
            print(f"{key}: " + ", ".join(f"{c} {f[c]['value']:.3f} +- {f[c]['stat']:.3f}" for c in f)
                  + f"; R {m['R']['value']:.2f} +- {m['R']['stat']:.2f} (PDG {m['pdg']['R']:.2f})", file=sys.stderr)
    print(path)
    return 1 if result["errors"] else 0
