"""``eventcnn demo``: the whole pipeline on a built-in default."""

from __future__ import annotations

import argparse

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import OutputFolder, declare
from eventcnn.demo import DemoConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on generated events (minutes on a laptop CPU)",
        description=(
            "Generate tt+jets, W+jets and Drell-Yan events with Pythia 8, draw them as eta-phi "
            "images, train a small CNN and a gradient-boosted baseline, evaluate both on a "
            "held-out test set and write a report. Re-running resumes finished stages."
        ),
    )
    p.add_argument("--out", default="demo_output", help="report folder (default: %(default)s)")
    p.add_argument("--events", type=int, default=None, help=f"generated events per class (default: {default(DemoConfig, 'events')})")
    p.add_argument("--size", type=int, default=None, help=f"image size in pixels (default: {default(DemoConfig, 'size')})")
    p.add_argument("--epochs", type=int, default=None, help=f"at most this many training epochs (default: {default(DemoConfig, 'epochs')}, early stopping)")
    p.add_argument("--seed", type=int, default=default(DemoConfig, "seed"), help="seed of every random step (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=None, help="parallel processes (default: CPU count, at most 4)")
    p.add_argument("--real", nargs="?", const="json", choices=["json", "nano"], default=None,
                   help="use public CMS data instead of generated events: json (2011 tt+jets vs "
                   "W+jets, the default) or nano (2016 NanoAOD tt / W+jets / Drell-Yan)")
    p.add_argument("--nano-events", type=int, default=None,
                   help=f"with --real nano: the first N events of each file (default: {default(DemoConfig, 'nano_events')})")
    p.add_argument("--tiny", action="store_true", help="a seconds-long smoke run (few events, 1 epoch)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run)
    declare(p, out=OutputFolder("the report folder"))


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from eventcnn.demo import default_jobs, run_demo

    cfg = DemoConfig.tiny() if args.tiny else DemoConfig()
    overrides = {"events": args.events, "size": args.size, "epochs": args.epochs, "jobs": args.jobs}
    overrides["nano_events"] = args.nano_events
    cfg = replace(cfg, out=args.out, seed=args.seed, real=args.real is not None,
                  nano=args.real == "nano", quiet=args.quiet,
                  **{k: v for k, v in overrides.items() if v is not None})
    if args.jobs is None and not args.tiny:
        cfg = replace(cfg, jobs=default_jobs())
    run_demo(cfg)
    return 0
