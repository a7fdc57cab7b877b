"""The Z measurement over the whole masterclass challenge: fractions with uncertainties vs the PDG, and the
issue's targets (issue 35): side-view fractions within 2 sigma of the end-view ones and of the PDG; the CNN
ahead of the cut rules and of the boosted trees by more than the uncertainty of each paired difference.

Runs :func:`eventcnn.opal.measure.measure_challenge` (what ``eventcnn opal measure`` runs) on the
Manchester displays of ``--shared`` and writes the report (measurement.json, report.md, figures)
into ``--out``. Prints each set's fractions, R and lepton universality beside the PDG, the
cross-validated balanced accuracy of the two classifiers (the CNN on end-view crops, the trees on
the header numbers), the agreement checks, the wall time and the machine's load.

Usage (docs/benchmarks.md)::

    nice -n 5 python bench/opal_measure.py --shared ../shared/data --out bench/_out/opal_measure
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from eventcnn.opal.measure import CNN_EPOCHS, CNN_STEPS, MEASURE_FOLDS, measure_challenge
from eventcnn.opal.measure_report import write_measurement
from eventcnn.seeds import DEFAULT_SEED


def _line(name: str, f: dict) -> str:
    pull = f"{f['pull']:+.2f}" if f.get("pull") is not None else "  –  "
    return (f"  {name:8s} {f['value']:.4f} ± {f['stat']:.4f} (stat) ± {f['confusion']:.4f} (mis-id)"
            f"   PDG {f['pdg']:.4f}   pull {pull}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data", help="folder with opal/ and opal_manchester/")
    ap.add_argument("--out", default="bench/_out/opal_measure")
    ap.add_argument("--folds", type=int, default=MEASURE_FOLDS)
    ap.add_argument("--epochs", type=int, default=CNN_EPOCHS)
    ap.add_argument("--steps", type=int, default=CNN_STEPS)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-header-cnn", dest="header_cnn", action="store_false",
                    help="leave out the CNN that also reads the header numbers")
    ap.add_argument("--quiet", "-q", action="store_true")
    ap.add_argument("--report-only", metavar="JSON", help="print the figures of an earlier run's measurement.json")
    args = ap.parse_args(argv)
    if args.report_only:  # print an earlier run's figures (its measurement.json), measure nothing
        r = json.loads(Path(args.report_only).read_text())
    else:
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        r = measure_challenge(args.shared, folds=args.folds, epochs=args.epochs, steps=args.steps, seed=args.seed,
                              header_cnn=args.header_cnn, limit=args.limit, quiet=args.quiet)
        r["bench"] = {"seconds": time.perf_counter() - t0, "load_before": load0, "load_after": os.getloadavg(),
                      "cpu_count": os.cpu_count()}
        write_measurement(r, args.out)
    _print(r)
    return 0


def _print(r: dict) -> None:
    for key in ("end", "side", "all"):
        m = r[key]
        print(f"{key}: {m.get('classifier', '')}")
        if "error" in m:
            print(f"  not measured: {m['error']}")
            continue
        for c, f in m["fractions"].items():
            print(_line(c, f))
        print(_line("R", m["R"]))
        for k in ("mu/e", "tau/e"):
            print(_line(k, m["universality"][k]))
    for key, cv in r["cross_validation"].items():
        if isinstance(cv, dict) and "balanced_accuracy" in cv:
            b = cv["balanced_accuracy"]
            print(f"cross-validated balanced accuracy, {key}: {b['value']:.3f} [{b['ci95'][0]:.3f}, {b['ci95'][1]:.3f}]")
    for key, what in (("balanced_accuracy_cnn_minus_trees", "CNN - trees (same displays, same folds)"),
                      ("balanced_accuracy_cnn_minus_rules_where_decided", "CNN - cut rules (displays the rules decide)"),
                      ("balanced_accuracy_cnn_and_numbers_minus_cnn", "CNN output and numbers stacked - CNN"),
                      ("balanced_accuracy_cnn_with_header_minus_cnn", "CNN reading the header numbers too - CNN")):
        d = r["cross_validation"].get(key)
        if d:
            print(f"paired difference {what}: {d['value']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
    rules = r["cross_validation"].get("rules")
    if rules:
        print(f"cut rules decide {rules['displays']} displays ({rules['undecided']} lack a number they need)")
    for key, a in r["agreement"].items():
        if a:
            print(f"{key}: " + ", ".join(f"{c} {x['pull']:+.2f} sigma" + ("" if x["within_2_sigma"] else " (NOT within 2 sigma)")
                                          for c, x in a.items() if x["pull"] is not None))
    for view, x in r["displays"]["low_multiplicity"].items():
        if x:
            print(f"low multiplicity (Ctrk N <= 6, no classifier), {view}: {x['k']}/{x['n']} = {x['value']:.3f} "
                  f"[{x['ci95'][0]:.3f}, {x['ci95'][1]:.3f}]")
    target = r["agreement"]["side_vs_end"] and r["agreement"]["side_vs_pdg"]
    ok = bool(target) and all(x["within_2_sigma"] for k in ("side_vs_end", "side_vs_pdg")
                              for x in r["agreement"][k].values())
    print(f"target (side within 2 sigma of end and of the PDG for every class): {'met' if ok else 'NOT met'}")
    lead = [r["cross_validation"].get(k) for k in ("balanced_accuracy_cnn_minus_trees",
                                                    "balanced_accuracy_cnn_minus_rules_where_decided")]
    if all(lead):
        ahead = all(d["ci95"][0] > 0 for d in lead)
        print(f"target (the CNN ahead of the trees and of the cut rules beyond the uncertainty of each difference): "
              f"{'met' if ahead else 'NOT met'}")
    bench = r.get("bench") or {}
    if bench:
        print(f"{bench['seconds']:.0f} s; load {bench['load_before'][0]:.2f} before, {bench['load_after'][0]:.2f} after; "
              f"{bench['cpu_count']} cores")


if __name__ == "__main__":
    raise SystemExit(main())
