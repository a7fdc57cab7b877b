"""``eventcnn generate``: Pythia 8 + fastjet events in the CMS JSON schema."""

from __future__ import annotations

import argparse
from pathlib import Path

from eventcnn.cli._defaults import default
from eventcnn.cli._parallel import add_parallel_flags
from eventcnn.cli._paths import VALUE, Output, declare
from eventcnn.errors import UserError
from eventcnn.events.generate import generate_to_file  # light: Pythia is imported when it runs
from eventcnn.names import PROCESS_CHOICES


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``generate`` sub-command to ``sub``."""
    p = sub.add_parser(
        "generate",
        help="generate events (Pythia 8 + fastjet + CMS-like detector) as CMS JSON",
        description=(
            "Generate pp collisions at 7 TeV with Pythia 8, cluster anti-kt R=0.5 jets with "
            "fastjet, apply a CMS-like detector response and write the CMS JSON schema. "
            "Processes: tt (tt+jets), wjets (W -> l nu), dy (Z/gamma* -> l l, m > 50 GeV), "
            "zz (ZZ -> 2l 2X). The output is identical for a given --seed and --events "
            "whatever --jobs is."
        ),
        epilog=(
            "examples:\n"
            "  eventcnn generate dy --events 2000 --seed 1 --out json_files/DY_json.json\n"
            "  eventcnn generate zz --events 5000 --jobs 2 --out json_files/ZZ_json.json.gz\n"
            "  eventcnn generate tt --events 1000 --fast --quiet --out tt.json\n"
            "  eventcnn generate dy --events 500 --format nano --out dy.root"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("process", choices=PROCESS_CHOICES, metavar="PROCESS",
                   help="tt|ttjets, wjets, dy, zz")  # fmt: skip
    p.add_argument("--events", "-n", type=int, required=True, help="number of events")
    p.add_argument("--out", "-o", type=Path, required=True,
                   help="output file (.json, .json.gz, or .root with --format nano)")  # fmt: skip
    p.add_argument("--format", choices=["json", "nano"], default=None,
                   help="json (CMS JSON schema) or nano (NanoAOD ROOT, needs uproot); default: from --out")  # fmt: skip
    p.add_argument("--seed", type=int, default=default(generate_to_file, "seed"),
                   help="master random seed (default: %(default)s)")
    add_parallel_flags(p, short=True)
    p.add_argument("--fast", action="store_true",
                   help="multiparton interactions off (faster, less underlying event)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (default: refuse)")  # fmt: skip
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar (also when EVENTCNN_QUIET=1)")  # fmt: skip
    p.set_defaults(func=run)
    declare(p, out=Output("the event file"), scheduler=VALUE)


def run(args: argparse.Namespace) -> int:
    """Run ``eventcnn generate`` (imports Pythia and fastjet only here)."""
    from eventcnn.executor import open_executor

    quiet = args.quiet  # --quiet or EVENTCNN_QUIET (eventcnn.cli.main)
    if args.format is not None and (args.format == "nano") != (args.out.suffix == ".root"):
        raise UserError(f"--format {args.format} needs an --out file ending in "
                         f"{'.root' if args.format == 'nano' else '.json or .json.gz'}, not {args.out.name}")
    with open_executor(args.jobs, args.scheduler, quiet=quiet) as executor:
        generate_to_file(
            args.process, args.events, args.out, seed=args.seed, jobs=args.jobs,
            quiet=quiet, fast=args.fast, overwrite=args.overwrite, executor=executor,
        )  # fmt: skip
    return 0
