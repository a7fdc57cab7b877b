"""``eventcnn pretrain``: pretrain a backbone on simulated events for ``--weights sim`` / a weights file.

Example::

    eventcnn pretrain --out runs/pretrain_sim --events 4000 --seed 1 --size 64 --epochs 20
    eventcnn train --data CreatedImages --model small --size 64 \\
        --weights runs/pretrain_sim/sim_small_64.weights.h5 --freeze many --epochs 10 --fine-tune-epochs 15 --out runs/ft

Re-running the same command resumes (events, images and the run folder are kept).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from eventcnn.cli._parallel import add_parallel_flags
from eventcnn.cli._paths import EVENT_FILE, SELECTION, VALUE, Name, OutputFolder, declare
from eventcnn.errors import UserError
from eventcnn.learn.pretrain import (  # light: no Keras or Pythia until the run
    PretrainConfig,
    pretrain_defaults,
)
from eventcnn.learn.registry import BACKBONES

#: the library's defaults of a pretraining on generated events (`eventcnn opal pretrain`: the opal dataset)
DEFAULTS = pretrain_defaults("cms")


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected LABEL=FILE, got {text!r}")
    label, path = text.split("=", 1)
    return label.strip(), path.strip()


def register(subparsers) -> None:
    """Add the ``pretrain`` parser."""
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a CNN backbone on generated events (tt/W/DY/ZZ) for transfer learning",
        description=(
            "Generate events of several processes with Pythia 8 (or take given event files), select "
            "events with a tight isolated lepton, draw eta-phi images, train a multi-class CNN with "
            "physics augmentation in a resumable run folder and export its backbone as "
            "<name>.weights.h5 + <name>.json (recipe, command, figures, sha256)."
        ),
        epilog="example:\n  eventcnn pretrain --out runs/pretrain_sim --events 4000 --seed 1 --size 64 --epochs 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="output folder (events/, images/, run/, the exported weights)")
    p.add_argument("--processes", nargs="*", default=list(DEFAULTS["processes"]),
                   help="processes to generate, in this order (process k gets seed SEED+k); default: tt wjets dy zz")
    p.add_argument("--inputs", type=_pair, action="append", default=[], metavar="LABEL=FILE",
                   help="use this event file for class LABEL instead of generating it (repeatable)")
    p.add_argument("--events", type=int, default=DEFAULTS["events"],
                   help="generated events per process (default: %(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                   help="master seed: generation, split, training (default: %(default)s)")
    p.add_argument("--size", type=int, default=DEFAULTS["size"], help="image size in pixels (default: %(default)s)")
    p.add_argument("--selection", default=DEFAULTS["selection"],
                   help="event selection (default: %(default)s; lepton: >= 1 tight isolated lepton)")
    p.add_argument("--model", default=DEFAULTS["model"],
                   help=f"backbone: {', '.join(k for k, v in BACKBONES.items() if not v.network)} (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                   help="at most this many epochs, early stop on val_loss (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"],
                   help="initial learning rate, cosine schedule (default: %(default)s)")
    p.add_argument("--patience", type=int, default=DEFAULTS["patience"], help="(default: %(default)s)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=DEFAULTS["augment"],
                   help="phi shift and eta/phi mirror augmentation (default: on)")
    p.add_argument("--fast", action="store_true", help="generate with multiparton interactions off")
    add_parallel_flags(p)  # generation and drawing run on the one executor
    p.add_argument("--name", default=DEFAULTS["name"], help="weights name (default: sim_<model>_<size>)")
    p.add_argument("--export", default=DEFAULTS["export"], help="also copy <name>.weights.h5 and <name>.json into this folder")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run)
    declare(p, out=OutputFolder("the pretraining folder"),
            inputs=(Name("class label", becomes="one folder name", part=0), replace(EVENT_FILE, part=1)),
            processes=VALUE, selection=SELECTION, model=VALUE, scheduler=VALUE,
            name=Name("weights name", becomes="the file names <name>.weights.h5 and <name>.json inside --out"),
            export=OutputFolder("the folder the weights are copied to", replaces=exported_files))


def exported_files(args: argparse.Namespace) -> list[str]:
    """The two files ``--export`` gets (and replaces): ``<name>.weights.h5`` and ``<name>.json``."""
    from eventcnn.learn.registry import canonical_backbone

    if args.export is None:
        return []
    name = args.name
    if name is None:  # the library's default name of a cms pretraining (opal: --name has its default)
        try:
            name = f"sim_{canonical_backbone(args.model)}_{args.size}"
        except UserError:  # a wrong --model: the library words it when the command starts
            return []
    return [f"{name}.weights.h5", f"{name}.json"]


def run(args: argparse.Namespace) -> int:
    """Run the command (imports Keras and Pythia only here)."""
    from eventcnn.executor import open_executor
    from eventcnn.learn.pretrain import run_pretrain

    cfg = PretrainConfig(
        out=args.out, processes=tuple(args.processes), inputs=dict(args.inputs), events=args.events,
        seed=args.seed, size=args.size, selection=args.selection, model=args.model,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
        augment=args.augment, fast=args.fast, jobs=args.jobs, name=args.name, export=args.export, quiet=args.quiet,
    )
    with open_executor(args.jobs, args.scheduler, quiet=args.quiet) as executor:  # checked first, opened once
        meta = run_pretrain(cfg, executor=executor)
    if not args.quiet:
        print(f"{meta['weights_file']}: load with build_model(..., weights=<file>) or eventcnn train --weights <file>")
    return 0
