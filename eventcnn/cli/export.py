"""``eventcnn export``: a run's model as one ONNX file with its preprocessing and a model card.

Example::

    eventcnn export runs/small --format onnx --out small.onnx      # + small.card.json
    eventcnn predict --model small.onnx events.json --out predictions.csv   # ONNX Runtime, no TensorFlow
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import RUN, Output, declare
from eventcnn.learn.export import (  # light: Keras only when exporting
    EXPORT_FORMATS,
    PARITY_TOLERANCE,
    export_run,
)
from eventcnn.learn.onnx_runtime import card_path  # light: onnxruntime only when a model is loaded


def register(subparsers) -> None:
    """Add the ``export`` parser."""
    p = subparsers.add_parser(
        "export",
        help="export a run's model (CMS or OPAL) as ONNX with its preprocessing and a model card",
        description=(
            "Write the run's best model as ONNX: uint8 RGB images in (the scaling is inside), class "
            f"probabilities out, checked against Keras (max difference <= {PARITY_TOLERANCE:g}) before anything "
            "is written. "
            "The model card (classes, image size, render config and selection or display preparation and "
            "test-time augmentation, training data, test figures with 95 % intervals) is stored in the "
            "file's metadata and beside it as <name>.card.json. Needs `pip install eventcnn[export]`; "
            "classifying with the file needs only `eventcnn[classify]` (ONNX Runtime)."
        ),
    )
    p.add_argument("run", help="run folder written by `eventcnn train` or `eventcnn opal train`")
    p.add_argument("--format", default=default(export_run, "format"), choices=EXPORT_FORMATS,
                   help="model format (default: %(default)s)")
    p.add_argument("--out", default=None, help="model file (default: RUN/model.onnx)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the converter's)")
    p.add_argument("--overwrite", action="store_true", help="replace --out (and its card) if they exist")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run)
    declare(p, run=replace(RUN, outputs_inside=True, what="a run folder of `eventcnn train` or `eventcnn opal train`"),
            out=Output("the ONNX model file", also=lambda _args, path: [card_path(path)]))


def run(args: argparse.Namespace) -> int:
    """Run the command (Keras and TensorFlow are imported when the model is read)."""
    path = export_run(args.run, args.out, format=args.format, opset=args.opset, overwrite=args.overwrite,
                      quiet=args.quiet)
    if not args.quiet:
        print(f"{path}: classify with `eventcnn predict --model {path} INPUTS...`")
    return 0
