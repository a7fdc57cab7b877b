"""``eventcnn evaluate`` and ``eventcnn predict``: test metrics of a run, predictions for new inputs.

Both take a run of any kind: one of ``eventcnn train`` (images) or of
``eventcnn opal train`` (OPAL displays); :func:`eventcnn.learn.evaluate.evaluate_run`
and :func:`eventcnn.learn.predict.predict` read which from the run folder.

``predict`` also takes a model exported by ``eventcnn export`` (``--model
model.onnx``, or the ``.onnx`` file in place of the run): the same prediction on
ONNX Runtime, which imports neither Keras nor TensorFlow.

Example::

    eventcnn evaluate runs/small
    eventcnn predict runs/small new_events.json images/ --out predictions.csv
    eventcnn predict runs/opal centered-masked-rotated1.zip --out opal_predictions.csv
    eventcnn predict --model small.onnx new_events.json --out predictions.csv
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from eventcnn.cli._defaults import default
from eventcnn.cli._parallel import add_parallel_flags
from eventcnn.cli._paths import RUN, SELECTION, VALUE, Input, Output, Update, declare
from eventcnn.cli._reading import add_absent_flag
from eventcnn.errors import UserError
from eventcnn.learn.evaluate import evaluate_run  # light: Keras is imported when a run is read
from eventcnn.learn.intervals import fmt
from eventcnn.learn.predict import BATCH_SIZE, TTA_COPIES, predict
from eventcnn.learn.runs import run_kind


def register(subparsers) -> None:
    """Add the ``evaluate`` and ``predict`` parsers."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a run on its test split (metrics.json, report.md, plots)",
        description=(
            "Predict the test split of a run with its best.keras: accuracy, balanced accuracy, "
            "per-class efficiency/precision/F1, background rejection, confusion matrices, ROC/AUC, efficiency "
            "vs rejection, misclassified gallery, and the gradient-boosted baseline on the same events with "
            "the paired CNN - trees difference; every figure with its 95 % bootstrap interval "
            "(metrics.json: {value, ci95}; test_scores.csv for `eventcnn compare`). An OPAL run is evaluated "
            "on the displays it classified, against its reference labels."
        ),
    )
    p.add_argument("run", help="run folder written by `eventcnn train` or `eventcnn opal train`")
    p.add_argument("--data", default=None,
                   help="image folder, or OPAL displays (default: the one the run was trained on)")
    p.add_argument("--batch-size", type=int, default=default(evaluate_run, "batch_size"),
                   help="(default: %(default)s)")
    p.add_argument("--no-baseline", action="store_true", help="skip the gradient-boosted baseline")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run_evaluate)
    declare(p, run=Update(RUN.what, file=False, missing_ok=False, noun=RUN.noun, kind=RUN.kind),
            data=Input("an image folder, or a zip or folder of OPAL displays"))

    q = subparsers.add_parser(
        "predict",
        help="classify images, event files or OPAL displays with a trained run (CSV)",
        description=(
            "A run of `eventcnn train`: inputs are PNG/JPG images, folders of images, or CMS event JSON "
            "files; events are rendered with the run's own render config after the selection. Writes a "
            "CSV with input, event, predicted class and one probability column per class. A run of "
            "`eventcnn opal train` (or its .keras file): inputs are zips or folders of event displays; "
            "the CSV names each display by its opaque id (as `eventcnn opal predict`). A model exported "
            "by `eventcnn export` (--model model.onnx) predicts the same on ONNX Runtime, without "
            "TensorFlow or Keras. With --jobs 1 event files are streamed (memory flat in the number of "
            "events); with --jobs N / --scheduler they run as tasks on the Dask cluster."
        ),
    )
    q.add_argument("run", nargs="?", default=None,
                   help="run folder written by `eventcnn train` or `eventcnn opal train`, or a model.onnx "
                        "(see --model)")
    q.add_argument("inputs", nargs="*",
                   help="images, image folders (PNG, or shards from render --format shards) or event "
                   ".json/.json.gz/.root files; for an OPAL run (or export) zips or folders of displays")
    q.add_argument("--model", default=None, metavar="MODEL.onnx",
                   help="a model written by `eventcnn export`: classify with ONNX Runtime, without TensorFlow "
                        "or Keras (then every positional argument is an input)")
    q.add_argument("--threads", type=int, default=default(predict, "threads"),
                   help="ONNX Runtime's threads (default: all cores)")
    q.add_argument("--out", default="predictions.csv", help="CSV file (default: predictions.csv)")
    q.add_argument("--selection", default=default(predict, "selection"),
                   help="event selection for JSON inputs: auto (the run's, else paper), paper, none or a JSON file")
    q.add_argument("--batch-size", type=int, default=default(predict, "batch_size"),
                   help=f"images per batch (default: {BATCH_SIZE['cms']}, OPAL runs {BATCH_SIZE['opal']})")
    q.add_argument("--tta", action=argparse.BooleanOptionalAction, default=default(predict, "tta"),
                   help=f"OPAL runs: average the CNN over {TTA_COPIES} rotated/mirrored copies of each display "
                        "(default: as the run was trained)")
    add_parallel_flags(q)
    add_absent_flag(q)
    q.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    q.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    q.set_defaults(func=run_predict)
    declare(q, run=RUN, inputs=Input("images, image folders, shard folders or event files (for an OPAL run: zips "
                                     "or folders of displays)", kind="inputs"),
            model=Input("a model file written by `eventcnn export` (.onnx)", folder=False, kind="onnx"),
            out=Output("the predictions CSV"), scheduler=VALUE, absent=VALUE,
            selection=replace(SELECTION, words=lambda: ["auto", *SELECTION.word_set()]))


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``evaluate`` (Keras is imported when the run is read)."""
    m = evaluate_run(args.run, data_dir=args.data, batch_size=args.batch_size,
                     baseline=not args.no_baseline, quiet=args.quiet)
    if not args.quiet:
        print(f"{args.run}: accuracy {fmt(m['accuracy'], 4)}, balanced accuracy {fmt(m['balanced_accuracy'], 4)} "
              f"(95 % intervals); see {args.run}/report.md and metrics.json")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Run ``predict`` (Keras is imported when a Keras model is loaded; an ONNX model needs neither it nor TF)."""
    run, inputs = args.run, list(args.inputs)
    if args.model is not None:  # every positional argument is an input
        run, inputs = args.model, [a for a in [args.run, *inputs] if a is not None]
    if run is None or not inputs:
        raise UserError("give a run folder and at least one input (eventcnn predict RUN INPUT...), "
                        "or an exported model: eventcnn predict --model model.onnx INPUT...")
    sel = None if args.selection == "none" else args.selection
    rows = predict(run, inputs, args.out, batch_size=args.batch_size, selection=sel, tta=args.tta,
                   threads=args.threads, absent=args.absent, quiet=args.quiet, jobs=args.jobs,
                   scheduler=args.scheduler, overwrite=args.overwrite)
    if run_kind(run) == "opal":  # CMS runs: the library says where it wrote; OPAL runs name displays by id
        print(f"{len(rows)} events classified -> {args.out} (displays named by id; "
              "`eventcnn opal ids` maps ids to names for the teacher)")
    return 0
