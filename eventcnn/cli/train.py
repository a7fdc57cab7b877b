"""``eventcnn train``: train a CNN on an image folder into a resumable run folder.

Example::

    eventcnn train --data CreatedImages --model small --size 64 --epochs 10 --out runs/small
    eventcnn train --data CreatedImages --model resnet50 --weights imagenet --freeze few \\
        --optimizer sgd --lr 1e-3 --epochs 5 --fine-tune-epochs 10 --out runs/resnet50_few

Re-running the same command resumes a killed run from ``last.keras`` and
returns at once for a finished one.
"""

from __future__ import annotations

import argparse

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import IMAGE_FOLDER, VALUE, WEIGHTS, Input, OutputFolder, declare
from eventcnn.learn.registry import (  # the one model registry (no Keras)
    BACKBONES,
    FREEZE_POLICIES,
    HEADS,
)
from eventcnn.learn.runs import MONITORS, TrainConfig  # light: no Keras until a run starts


def register(subparsers) -> None:
    """Add the ``train`` parser."""
    p = subparsers.add_parser(
        "train",
        help="train a CNN on rendered images (resumable run folder)",
        description=(
            "Train a CNN (ImageNet backbone or a small from-scratch CNN) on a folder of "
            "images <class>/*.png with a seeded stratified train/val/test split. The run "
            "folder gets config.json, split.json, history.json, best.keras (best validation "
            "epoch), last.keras + state.json (resume), metrics.json, report.md and plots."
        ),
    )
    p.add_argument("--data", default="CreatedImages", help="image folder (default: %(default)s)")
    p.add_argument("--out", required=True, help="run folder, e.g. runs/small")
    p.add_argument("--model", default=default(TrainConfig, "model"),
                   help=f"{', '.join(BACKBONES)} (default: %(default)s)")
    p.add_argument("--freeze", default=default(TrainConfig, "freeze"), choices=FREEZE_POLICIES,
                   help="backbone layers trained: frozen (none), few (last 20%%), many (last 70%%), none (all); "
                        "default: frozen for ImageNet backbones, none for small")
    p.add_argument("--optimizer", default=default(TrainConfig, "optimizer"), choices=["adam", "rmsprop", "sgd"],
                   help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=default(TrainConfig, "lr"), help="learning rate (default: %(default)s)")
    p.add_argument("--schedule", default=default(TrainConfig, "schedule"), choices=["constant", "cosine", "exponential"],
                   help="learning-rate schedule (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=default(TrainConfig, "epochs"),
                   help="epochs (head epochs with --fine-tune-epochs; default: %(default)s)")
    p.add_argument("--fine-tune-epochs", type=int, default=default(TrainConfig, "fine_tune_epochs"),
                   help="two-phase recipe: after --epochs with a frozen backbone, apply --freeze and train this many more")
    p.add_argument("--fine-tune-lr", type=float, default=default(TrainConfig, "fine_tune_lr"),
                   help="learning rate of the fine-tuning phase (default: %(default)s)")
    p.add_argument("--size", type=int, default=default(TrainConfig, "size"), dest="size", metavar="S",
                   help="resize images to SxS pixels (default: as on disk)")
    p.add_argument("--batch-size", type=int, default=default(TrainConfig, "batch_size"),
                   help="images per device and step (global batch = this x devices; default: %(default)s)")
    p.add_argument("--weights", default=default(TrainConfig, "weights"),
                   help="imagenet, none, sim (simulation-pretrained backbone shipped with eventcnn: small at 64 px) "
                        "or a local backbone weights file .h5/.weights.h5 (imagenet means none for small)")
    p.add_argument("--head", default=default(TrainConfig, "head"), choices=HEADS,
                   help="classifier head (default: paper for ImageNet backbones, simple for small)")
    p.add_argument("--dropout", type=float, default=default(TrainConfig, "dropout"), help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=default(TrainConfig, "seed"),
                   help="seed of the split, the weights and the augmentation (default: %(default)s)")
    p.add_argument("--class-weight", default=default(TrainConfig, "class_weight"), choices=["balanced"],
                   help="weight classes by 1/frequency")
    p.add_argument("--oversample", action="store_true", help="repeat minority-class images up to the largest class")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=default(TrainConfig, "augment"),
                   help="online physics augmentation: phi shift, eta/phi mirror (default: on)")
    p.add_argument("--geometry", default=default(TrainConfig, "augment_geometry"), choices=["etaphi", "endview"],
                   help="augmentation geometry (default: %(default)s)")
    p.add_argument("--patience", type=int, default=default(TrainConfig, "patience"),
                   help="early stopping on val_loss (default: %(default)s)")
    p.add_argument("--monitor", default=default(TrainConfig, "monitor"), choices=MONITORS,
                   help="metric that picks best.keras (default: %(default)s)")
    p.add_argument("--split", default=default(TrainConfig, "split_file"),
                   help="re-use this split.json (default: draw a new seeded split)")
    p.add_argument("--fractions", type=float, nargs=3, default=list(default(TrainConfig, "fractions")),
                   metavar=("TRAIN", "VAL", "TEST"), help="split fractions (default: %(default)s)")
    p.add_argument("--limit-per-class", type=int, default=default(TrainConfig, "limit_per_class"),
                   help="use at most N images per class")
    p.add_argument("--mixed-precision", default=default(TrainConfig, "mixed_precision"), choices=["auto", "on", "off", "bfloat16", "float16"],
                   help="auto: mixed_bfloat16 on GPUs with compute capability >= 8.0, mixed_float16 on older "
                        "GPUs, float32 on CPU")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=default(TrainConfig, "cache"),
                   help="decode the images once into a memory-mapped uint8 cache in the user's cache "
                        "folder (never in --data; see --cache-dir); default: on")
    p.add_argument("--cache-dir", default=default(TrainConfig, "cache_dir"), metavar="DIR",
                   help="where the image cache goes (default: $EVENTCNN_CACHE/images/..., else "
                        "~/.cache/eventcnn/images/...; <out>/cache when that is not writable)")
    p.add_argument("--compile", default=default(TrainConfig, "compile"), choices=["auto", "on", "off"],
                   help="jit_compile of the model: auto = Keras' choice (XLA on JAX; eager on torch), "
                        "on = XLA / torch.compile, off = eager")
    p.add_argument("--scale-lr", action="store_true",
                   help="data-parallel runs: multiply the learning rates by the device count (linear scaling rule)")
    p.add_argument("--workers", type=int, default=default(TrainConfig, "workers"),
                   help="threads decoding and prefetching batches (default: %(default)s)")
    p.add_argument("--no-evaluate", action="store_true", help="skip the test-set evaluation at the end")
    p.add_argument("--no-baseline", action="store_true", help="skip the gradient-boosted baseline")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    declare(p, data=IMAGE_FOLDER, out=OutputFolder("the run folder"), model=VALUE, weights=WEIGHTS,
            split=Input("a split.json written by `eventcnn train`", folder=False, kind="json"),
            cache_dir=OutputFolder("the image cache folder"))


def run(args: argparse.Namespace) -> int:
    """Run the command (imports Keras only here)."""
    from eventcnn.learn.train import train

    cfg = TrainConfig(
        data_dir=args.data, out=args.out, model=args.model, freeze=args.freeze,
        optimizer=args.optimizer, epochs=args.epochs, size=args.size,
        batch_size=args.batch_size, weights=None if args.weights.lower() == "none" else args.weights,
        lr=args.lr, schedule=args.schedule, head=args.head, dropout=args.dropout, seed=args.seed,
        class_weight=args.class_weight, oversample=args.oversample, augment=args.augment,
        augment_geometry=args.geometry, fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_lr=args.fine_tune_lr, patience=args.patience, monitor=args.monitor,
        fractions=tuple(args.fractions), split_file=args.split, limit_per_class=args.limit_per_class,
        mixed_precision=args.mixed_precision, workers=args.workers, cache=args.cache, cache_dir=args.cache_dir,
        compile=args.compile, scale_lr=args.scale_lr, evaluate=not args.no_evaluate,
        baseline=not args.no_baseline, quiet=args.quiet,
    )
    run_ = train(cfg)
    if run_.metrics and not args.quiet:
        from eventcnn.learn.intervals import fmt

        print(f"{args.out}: test accuracy {fmt(run_.metrics['accuracy'], 4)}; report in {args.out}/report.md")
    return 0
