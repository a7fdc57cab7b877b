"""``eventcnn evaluate`` and ``eventcnn predict``: test metrics of a run, predictions for new inputs.

Example::

    eventcnn evaluate runs/small
    eventcnn predict runs/small new_events.json images/ --out predictions.csv
"""

from __future__ import annotations

import argparse

from eventcnn.cli._parallel import add_parallel_flags


def register(subparsers) -> None:
    """Add the ``evaluate`` and ``predict`` parsers."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a run on its test split (metrics.json, report.md, plots)",
        description=(
            "Predict the test split of a run with its best.keras: accuracy, balanced accuracy, "
            "per-class precision/recall/F1, confusion matrices, ROC/AUC, efficiency vs rejection, "
            "misclassified gallery, and the gradient-boosted baseline on the same events."
        ),
    )
    p.add_argument("run", help="run folder written by `eventcnn train` or `eventcnn opal train`")
    p.add_argument("--data", default=None,
                   help="image folder, or OPAL displays (default: the one the run was trained on)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--no-baseline", action="store_true", help="skip the gradient-boosted baseline")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run_evaluate)

    q = subparsers.add_parser(
        "predict",
        help="classify images or event JSON files with a trained run (CSV)",
        description=(
            "Inputs are PNG/JPG images, folders of images, or CMS event JSON files; events are "
            "rendered with the run's own render config after the selection. Writes a CSV with "
            "input, event, predicted class and one probability column per class."
        ),
    )
    q.add_argument("run", nargs="?", default=None,
                   help="run folder written by `eventcnn train` (or a model.onnx; see --model)")
    q.add_argument("inputs", nargs="*",
                   help="images, image folders (PNG, or shards from render --format shards) or event "
                   ".json/.json.gz/.root files; OPAL ONNX models: a zip or folder of displays")
    q.add_argument("--model", default=None,
                   help="an ONNX model written by `eventcnn export`: classify with ONNX Runtime, without "
                        "TensorFlow or Keras (then every positional argument is an input)")
    q.add_argument("--threads", type=int, default=None,
                   help="ONNX Runtime threads (default: all cores)")
    q.add_argument("--out", default="predictions.csv", help="CSV file (default: predictions.csv)")
    q.add_argument("--selection", default="auto",
                   help="event selection for JSON inputs: auto (the run's, else paper), paper, none or a JSON file")
    q.add_argument("--batch-size", type=int, default=64)
    add_parallel_flags(q)
    q.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    q.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    q.set_defaults(func=run_predict)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``evaluate`` (imports Keras only here)."""
    from eventcnn import kinds
    from eventcnn.learn.intervals import fmt

    m = kinds.evaluate(args.run, data=args.data, batch_size=args.batch_size,
                       baseline=not args.no_baseline, quiet=args.quiet)
    if not args.quiet:
        print(f"{args.run}: accuracy {fmt(m['accuracy'], 4)}, balanced accuracy {fmt(m['balanced_accuracy'], 4)} "
              f"(95 % intervals); see {args.run}/report.md and metrics.json")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Run ``predict`` (imports Keras only here; an ONNX model imports neither Keras nor TensorFlow)."""
    if args.model is not None or (args.run or "").lower().endswith(".onnx"):
        from eventcnn.cli._onnx import predict_onnx_command

        return predict_onnx_command(args)
    if args.run is None or not args.inputs:
        from eventcnn.errors import UserError

        raise UserError("give a run folder and at least one input (eventcnn predict RUN INPUT...), "
                        "or an exported model: eventcnn predict --model model.onnx INPUT...")
    from eventcnn import kinds

    sel = None if args.selection == "none" else args.selection
    kinds.predict(args.run, args.inputs, args.out, batch_size=args.batch_size, selection=sel, quiet=args.quiet,
                  jobs=args.jobs, scheduler=args.scheduler, overwrite=args.overwrite)
    return 0
