"""``eventcnn opal``: the OPAL masterclass from the command line.

Sub-commands::

    eventcnn opal train   --data ZIP --labels CSV [--recipe original|default] [--out runs/opal]
                          [--no-tta] [--self-train]
    eventcnn opal predict RUN --data ZIP [--labels CSV] --out predictions.csv [--no-tta]
    eventcnn opal label   --data ZIP --labels my_labels.csv [--n 50] [--order suggest]
    eventcnn opal suggest --data ZIP [--labels CSV] [--n 10]
    eventcnn opal ids     --data ZIP --out teacher/ids.csv [--reference KEY] [--file STUDENT.csv]
    eventcnn opal simulate --events N --out DIR [--seed S] [--classes q,e,m,t] [--jobs J] [--scheduler ADDR]
    eventcnn opal pretrain --out DIR [--events N] [--epochs E] [--export eventcnn/learn/weights --overwrite]

``train`` trains on the labelled events, writes the run folder (config,
history, model, learning curves) and predicts every unlabelled event into
``predictions.csv``; with ``--reference`` it also scores those predictions
against reference labels (metrics, confusion matrix, misclassified gallery).
A network trained from random weights predicts with the average over 8
rotated/mirrored copies of each display (test-time augmentation,
:func:`eventcnn.learn.predict.predict_tta`), one fine-tuned from pretrained weights in one pass
(measured as good or better there); ``--tta`` / ``--no-tta`` decide explicitly.
``--self-train`` (fewer than 100 labels, default recipe) trains a second network
with pseudo-labels of the unlabelled displays (:mod:`eventcnn.opal.self_training`).
Training starts from the shipped simulation-pretrained weights
(:mod:`eventcnn.learn.weights`) when the displays are the size they were made
for, fine-tuned with simulated displays in every batch (``--sim-displays``);
``--weights none`` starts from random weights. ``simulate`` writes simulated displays
(Pythia 8 + an OPAL-like detector, :mod:`eventcnn.opal.simulate`) in the
masterclass format (``DIR/sim.zip`` + ``DIR/events_list.csv``), which every
command here reads; ``pretrain`` makes the simulation-pretrained weights.

These are the masterclass's words for the shared stack: ``train`` is
:func:`eventcnn.opal.masterclass` over :func:`eventcnn.learn.train_arrays.train_arrays`,
``predict`` is :func:`eventcnn.learn.predict.predict` (as ``eventcnn predict``),
``pretrain`` is :func:`eventcnn.learn.pretrain.run_pretrain` (as ``eventcnn
pretrain``); every default is the library's. Keras is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from eventcnn.cli._defaults import default
from eventcnn.cli._opal_manchester import register as _register_manchester
from eventcnn.cli._parallel import add_parallel_flags
from eventcnn.cli._paths import (
    DISPLAYS,
    LABEL_FILE,
    RUN,
    VALUE,
    WEIGHTS,
    Name,
    Output,
    OutputFolder,
    Update,
    declare,
)
from eventcnn.cli.pretrain import exported_files
from eventcnn.errors import UserError
from eventcnn.images.opal_displays import IMAGE_SIZE
from eventcnn.learn.predict import TTA_COPIES
from eventcnn.learn.recipes import (  # light: Keras is imported when training starts
    FINE_TUNE,
    RECIPE_EPOCHS,
    RECIPES,
    SMALL_SET,
    SMALL_SET_EPOCHS,
    RecipeConfig,
    recipe_config,
)
from eventcnn.learn.weights import DEFAULT_WEIGHTS
from eventcnn.names import OPAL_CLASSES
from eventcnn.opal.labeller import choose_events  # light: no Keras (opal label starts in a second)
from eventcnn.opal.self_training import SELF_TRAIN
from eventcnn.opal.simulate import simulate  # light: Pythia is imported when simulating
from eventcnn.opal.suggest import suggest_indices


def _crop(text: str) -> tuple[int, int, int, int]:
    try:
        box = tuple(int(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"--crop must be LEFT,TOP,RIGHT,BOTTOM pixels, got {text!r}")
    return box  # type: ignore[return-value]


def _add_data_args(p: argparse.ArgumentParser, labels_required: bool = False) -> None:
    p.add_argument("--data", required=True, help="zip or folder of event displays (PNG/GIF/JPEG)")
    p.add_argument("--labels", required=labels_required,
                   help="label file '<event>.png;<label>' (q/e/m/t), no header")
    p.add_argument("--size", type=int, default=None,
                   help=f"image size in pixels (default {IMAGE_SIZE}; predict: the model's own input size)")
    p.add_argument("--crop", type=_crop, default=None,
                   help="crop box LEFT,TOP,RIGHT,BOTTOM applied before resizing (raw displays)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``opal`` with its sub-commands ``train``, ``predict`` and ``label``."""
    parser = subparsers.add_parser("opal", help="OPAL masterclass: label, train, classify Z decays",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="opal_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    t = sub.add_parser("train", help="train the masterclass CNN and classify the unlabelled events")
    _add_data_args(t, labels_required=True)
    t.add_argument("--recipe", choices=RECIPES, default=default(RecipeConfig, "recipe"),
                   help=f"original: rotated copies x{default(RecipeConfig, 'copies')}, leptons x LEPTON_FACTOR; "
                        "default: on-the-fly augmentation, balanced sampling, early stopping (default %(default)s)")
    t.add_argument("--out", default="runs/opal", help="run folder (default %(default)s)")
    t.add_argument("--epochs", type=int, default=default(RecipeConfig, "epochs"),
                   help=f"epochs (default: original recipe {RECIPE_EPOCHS['original']}; default recipe up to "
                        f"{RECIPE_EPOCHS['default']} with early stopping, at most {SMALL_SET_EPOCHS} with fewer "
                        f"than {SMALL_SET} labelled events)")
    t.add_argument("--lepton-factor", type=int, default=default(RecipeConfig, "lepton_factor"),
                   help="original recipe: extra copies of e/m/t (masterclass 20, later 60; "
                        "default %(default)s)")
    t.add_argument("--seed", type=int, default=default(RecipeConfig, "seed"), help="seed (default %(default)s)")
    t.add_argument("--reference", default=None,
                   help="reference label file to score the predictions of the unlabelled events")
    t.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    t.add_argument("--weights", default=None,
                   help="starting weights: 'sim' (shipped, pretrained on simulated displays), "
                        "'none' (random) or a .weights.h5 from 'opal pretrain' (default: "
                        f"{DEFAULT_WEIGHTS} when the displays are the size it was made for, else none)")
    t.add_argument("--sim-displays", type=int, default=None, metavar="N",
                   help=f"simulated displays mixed into every training batch ({FINE_TUNE['sim_share'] * 100:.0f}%% of it), "
                        f"made on the fly; default {FINE_TUNE['sim_displays']} when starting from pretrained "
                        f"weights, else {default(RecipeConfig, 'sim_displays')}; 0 turns it off")
    _add_tta_arg(t)
    _add_self_train_args(t)
    t.set_defaults(func=run_train)
    declare(t, data=DISPLAYS, labels=LABEL_FILE, reference=LABEL_FILE, crop=VALUE, out=OutputFolder("the run folder"),
            weights=WEIGHTS)

    p = sub.add_parser("predict", help="classify events with a trained model (as `eventcnn predict`)")
    p.add_argument("run", metavar="RUN", help="run folder of `eventcnn opal train` (or its .keras file)")
    _add_data_args(p)
    p.add_argument("--all", action="store_true", help="predict labelled events too")
    p.add_argument("--out", default="predictions.csv", help="CSV to write, atomically (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    _add_tta_arg(p)
    p.set_defaults(func=run_predict)
    declare(p, run=RUN, data=DISPLAYS, labels=LABEL_FILE, crop=VALUE, out=Output("the predictions CSV"))

    lab = sub.add_parser("label", help="label events by hand in the console (blind, resumable)")
    _add_label_args(lab)
    lab.set_defaults(func=run_label)
    declare(lab, data=DISPLAYS, labels=Update(LABEL_FILE.what, folder=False, kind="labels"), crop=VALUE,
            show=Output("the PNG the display to label is shown in"))

    _register_suggest(sub)
    _register_ids(sub)
    _register_simulation(sub)
    _register_pretrain(sub)
    _register_manchester(sub)


def _classes(text: str) -> tuple[str, ...]:
    out = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in out if c not in OPAL_CLASSES]
    if bad or not out or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"--classes must be distinct codes among {','.join(OPAL_CLASSES)}, "
                                         f"got {text!r}")
    return out


def _register_simulation(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("simulate", help="simulate labelled displays (Pythia 8 + OPAL-like detector)")
    s.add_argument("--events", type=int, required=True, help="number of displays (split equally per class)")
    s.add_argument("--out", required=True, help="folder for <name>.zip and events_list.csv")
    s.add_argument("--seed", type=int, default=default(simulate, "seed"), help="seed (default %(default)s)")
    s.add_argument("--classes", type=_classes, default=default(simulate, "classes"),
                   help=f"classes to simulate, comma-separated (default {','.join(default(simulate, 'classes'))})")
    add_parallel_flags(s)
    s.add_argument("--name", default=default(simulate, "name"), help="zip name and event-name prefix (default %(default)s)")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    s.set_defaults(func=run_simulate)
    declare(s, out=OutputFolder("the folder of the simulated displays", replaces=("{name}.zip", "events_list.csv")),
            classes=VALUE, scheduler=VALUE, name=Name("zip name", becomes="the file name <name>.zip inside --out"))


def _register_pretrain(sub: argparse._SubParsersAction) -> None:
    """``opal pretrain``: the masterclass's words for ``eventcnn pretrain`` of the opal dataset."""
    from eventcnn.learn.pretrain import pretrain_defaults  # light: no Keras or Pythia until the run

    d = pretrain_defaults("opal")
    p = sub.add_parser("pretrain", help="train the masterclass CNN on simulated displays (the shipped weights)")
    p.add_argument("--out", required=True, help="folder: sim/ (the displays), run/, <name>.weights.h5 + .json")
    p.add_argument("--events", type=int, default=d["events"], help="simulated displays (default %(default)s)")
    p.add_argument("--seed", type=int, default=d["seed"], help="seed (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="at most this many epochs (default %(default)s)")
    p.add_argument("--steps", type=int, default=d["steps_per_epoch"],
                   help=f"batches of {d['batch_size']} per epoch (default %(default)s)")
    p.add_argument("--patience", type=int, default=d["patience"],
                   help="early stopping on the simulated validation loss (default %(default)s)")
    p.add_argument("--lr", type=float, default=d["lr"], help="learning rate (default %(default)s)")
    add_parallel_flags(p)  # the simulation runs on the one executor
    p.add_argument("--name", default=d["name"], help="weights name (default %(default)s)")
    p.add_argument("--export", default=None,
                   help="also copy the weights + json here (eventcnn/learn/weights to ship them)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run_pretrain)
    declare(p, out=OutputFolder("the pretraining folder"), name=Name("weights name", becomes="the file names <name>.weights.h5 and <name>.json inside --out"), scheduler=VALUE,
            export=OutputFolder("the folder the weights are copied to", replaces=exported_files))


def run_simulate(args: argparse.Namespace) -> int:
    """Simulate displays into the masterclass format."""
    from eventcnn.executor import open_executor
    from eventcnn.opal.simulate import simulate

    with open_executor(args.jobs, args.scheduler, quiet=args.quiet) as executor:
        res = simulate(args.events, args.out, seed=args.seed, classes=args.classes, name=args.name,
                       quiet=args.quiet, executor=executor)
    print(f"{sum(res.counts.values())} displays (" + ", ".join(f"{c} {n}" for c, n in res.counts.items())
          + f") in {res.seconds:.1f} s ({res.per_second:.0f}/s) -> {res.zip_path}, {res.labels_path}")
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    """Simulate, train on the simulation, write the weights (:func:`eventcnn.learn.pretrain.run_pretrain`)."""
    from eventcnn.executor import open_executor
    from eventcnn.learn.pretrain import PretrainConfig, run_pretrain

    cfg = PretrainConfig(args.out, dataset="opal", events=args.events, seed=args.seed, epochs=args.epochs,
                         steps_per_epoch=args.steps, patience=args.patience, lr=args.lr, jobs=args.jobs,
                         name=args.name, export=args.export, quiet=args.quiet)
    with open_executor(args.jobs, args.scheduler, quiet=args.quiet) as executor:  # checked first, opened once
        meta = run_pretrain(cfg, executor=executor)
    f = meta["figures"]
    print(f"pretrained {f['epochs']} epochs (best {f['best_epoch']}, simulated validation accuracy "
          f"{f['val_accuracy']:.3f}) -> {meta['weights_file']} (sha256 {meta['sha256'][:12]}...)")
    return 0


def _add_tta_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help=f"test-time augmentation: average the CNN over {TTA_COPIES} rotated/mirrored copies "
                        "of each display (end views are symmetric under rotation about the beam "
                        "axis and mirroring; 8x the prediction time, steadier with few labels "
                        "from random weights); --no-tta: one pass per display (default: one pass "
                        "for a network fine-tuned from pretrained weights, as measured best, "
                        "--tta for one trained from random weights)")


def _add_self_train_args(t: argparse.ArgumentParser) -> None:
    t.add_argument("--self-train", action=argparse.BooleanOptionalAction, default=False,
                   help=f"default recipe, fewer than {SMALL_SET} labels: train, take the confident "
                        "predictions of the unlabelled displays as pseudo-labels, train again and "
                        "predict with both networks (eventcnn.opal.self_training; about twice the time, and "
                        "measured worse than one training with TTA, docs/benchmarks.md) "
                        "(default: --no-self-train)")
    t.add_argument("--pseudo-threshold", type=float, default=SELF_TRAIN.threshold,
                   help="self-training: least probability of a pseudo-label (default %(default)s)")
    t.add_argument("--pseudo-per-class", type=int, default=SELF_TRAIN.per_class,
                   help="self-training: at most this many pseudo-labels per class (default %(default)s)")


def _self_train_config(args: argparse.Namespace) -> Any:
    """The self-training settings of ``opal train`` (checked here), or None without --self-train."""
    from dataclasses import replace

    if not args.self_train:
        return None
    return replace(SELF_TRAIN, threshold=args.pseudo_threshold, per_class=args.pseudo_per_class,
                   copies=_tta_copies(args))


def _tta_copies(args: argparse.Namespace) -> int:
    """Copies averaged per display by self-training: TTA_COPIES unless --no-tta (as it was measured)."""
    return 1 if args.tta is False else TTA_COPIES


def run_train(args: argparse.Namespace) -> int:
    """Train, save the run, predict the unlabelled events (a re-run of the same command resumes)."""
    from eventcnn.learn.registry import MASTERCLASS, check_input_size

    size = check_input_size(MASTERCLASS, args.size or IMAGE_SIZE)  # before any loading
    self_train = _self_train_config(args)
    recipe_config(args.recipe, **_recipe_overrides(args))  # every option checked when the command starts
    if args.weights is not None:
        from eventcnn.learn.weights import resolve_weights

        resolve_weights(args.weights, MASTERCLASS)  # a wrong name or a missing file: before any loading
    out_existed = Path(args.out).exists()
    try:
        return _train(args, size, self_train)
    except BaseException:  # a failed start leaves no empty run folder behind
        out = Path(args.out)
        if not out_existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _train(args: argparse.Namespace, size: int, self_train: Any) -> int:
    import warnings

    import numpy as np

    from eventcnn import opal
    from eventcnn.errors import check_output, check_writable
    from eventcnn.opal import ids

    check_output(args.out, inputs=[p for p in (args.data, args.labels, args.reference) if p], folder=True)
    check_writable(Path(args.out) / "config.json")
    data = opal.load_displays(args.data, args.labels, size=size, crop=args.crop)
    lab = data.labelled
    # one class or fewer than MIN_LABELS labels: refused before training (the library's one rule)
    opal.check_classes(data.labels[lab], source=str(args.labels))
    from eventcnn.learn.registry import MASTERCLASS
    from eventcnn.learn.weights import default_weights, resolve_weights

    weights = args.weights
    if weights is None:  # the default: the shipped pretrained weights when they fit these displays
        weights, said = default_weights(int(data.images.shape[1]))
        if weights == "none":
            print(f"note: {said}", file=sys.stderr)
    resolve_weights(weights, MASTERCLASS)  # a wrong name or a damaged file fails before loading
    overrides = {**_recipe_overrides(args), "weights": None if str(weights).lower() == "none" else weights}
    ref_labels = None
    if args.reference:
        ref = opal.load_displays(args.data, args.reference, size=8, quiet=True)
        table = dict(zip(ref.names, ref.labels))
        ref_labels = np.array([table.get(n, "") for n in data.names])
    train_labels = np.where(lab, data.labels, "")
    shown = np.array(ids.display_ids(data.names))  # students read ids, never names (opal ids maps back)
    with warnings.catch_warnings():  # checked above, said once
        warnings.filterwarnings("ignore", message=r"(NO |very few labels)")
        mc = _masterclass(opal, data, train_labels, shown, ref_labels, self_train, overrides, args)
    return _report_train(args, mc)


def _recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Only what was given: the recipe's own epochs and fine-tuning settings are the library's."""
    overrides = {"seed": args.seed, "lepton_factor": args.lepton_factor}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.sim_displays is not None:
        overrides["sim_displays"] = args.sim_displays
    return overrides


def _masterclass(opal: Any, data: Any, train_labels: Any, shown: Any, ref_labels: Any, self_train: Any,
                 overrides: dict[str, Any], args: argparse.Namespace) -> Any:
    return opal.masterclass(data.images, train_labels, shown, out=args.out, recipe=args.recipe,
                          reference=ref_labels, data_dir=args.data, quiet=args.quiet,
                          sources={"labels": str(args.labels),
                                   "reference": str(args.reference) if args.reference else None,
                                   "crop": args.crop}, tta=args.tta,
                          self_train=self_train, **overrides)


def _report_train(args: argparse.Namespace, mc: Any) -> int:
    from eventcnn import opal

    out = mc.out
    if mc.self_train is not None:
        st = mc.self_train
        print(f"self-training: {len(st.pseudo_index)} pseudo-labels "
              + ", ".join(f"{c} {k}" for c, k in st.pseudo_counts.items())
              + f"; two trainings in {st.first.seconds:.0f} + {st.second.seconds:.0f} s")
    print(f"trained in {mc.result.seconds:.0f} s; {int(mc.rest.sum())} unlabelled events classified "
          f"-> {out / 'predictions.csv'}")
    if len(mc.pred):
        from eventcnn.opal import pictures as classroom

        rows = opal.predicted_overview(mc.pred)
        print(opal.overview_table(rows))
        classroom.save(classroom.overview_figure(rows), out / "overview.png")
    if args.reference and mc.rest.any():
        if mc.metrics is None:
            print(f"{args.reference}: no reference label for any unlabelled event")
            return 0
        import numpy as np

        from eventcnn import stats

        cm = np.asarray(mc.metrics["confusion_matrix"]["counts"])  # the events behind the figures, for intervals
        y = np.repeat(np.arange(len(cm)), cm.sum(axis=1))
        pred = np.concatenate([np.repeat(np.arange(len(cm)), row) for row in cm])
        est = stats.bootstrap({"accuracy": stats.accuracy, "balanced": stats.balanced_accuracy}, y, pred, strata=y)
        print(f"against the reference ({len(y)} events): accuracy {est['accuracy']}, balanced accuracy "
              f"{est['balanced']} (95 % intervals) -> {out / 'metrics.json'}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Predict displays with a saved model into a CSV (:func:`eventcnn.learn.predict.predict`, as `eventcnn predict`)."""
    from eventcnn.learn.predict import predict

    rows = predict(args.run, [args.data], args.out, labels=args.labels, every=args.all, size=args.size,
                   crop=args.crop, tta=args.tta, overwrite=args.overwrite, quiet=args.quiet)
    print(f"{len(rows)} events classified -> {args.out} (displays named by id; "
          "`eventcnn opal ids` maps ids to names for the teacher)")
    return 0


def _add_label_args(lab: argparse.ArgumentParser) -> None:
    """Options of ``opal label`` (blind labelling of suggested events)."""
    from eventcnn.opal.labeller import ORDERS

    _add_data_args(lab)
    lab.add_argument("--n", type=int, default=50,
                     help="events to label in this sitting (default %(default)s); re-running "
                          "asks a fresh batch chosen with your answers so far")
    lab.add_argument("--order", choices=ORDERS, default="suggest",
                     help="which events: suggest (what to label next, eventcnn.opal.suggest), shuffle "
                          "(random) or name (name order); always shown shuffled (default %(default)s)")
    lab.add_argument("--seed", type=int, default=default(choose_events, "seed"),
                     help="seed of the choice and order (default %(default)s)")
    lab.add_argument("--quiet", "-q", action="store_true", help="no progress output (the prompts stay)")
    lab.add_argument("--show", default=None,
                     help="PNG the current display is written to (default: label_current.png "
                          "next to the label file; the name never reveals the event)")
    lab.add_argument("--window", choices=["auto", "no"], default="auto",
                     help="auto: also show the display in a window when matplotlib has an "
                          "interactive backend and a screen (default %(default)s)")


def _label_window() -> Callable[[Any, str], None] | None:
    """A function drawing a display in a matplotlib window, or None when there is no screen.

    Decided here, in the command, never in library code: nothing changes the
    backend; a non-interactive one (Agg, no screen, MPLBACKEND=Agg) means no window.
    """
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    backend = matplotlib.get_backend().lower()
    if backend in {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"} or "inline" in backend:
        return None
    plt.ion()
    fig = plt.figure("eventcnn opal label", figsize=(5, 5))
    ax = fig.add_subplot()

    def draw(image: Any, title: str) -> None:
        ax.clear()
        ax.imshow(image)
        ax.set_title(title)
        ax.axis("off")
        fig.canvas.draw_idle()
        plt.pause(0.05)

    return draw


def run_label(args: argparse.Namespace) -> int:
    """Blind console labeller of suggested events; every answer is saved at once.

    Nothing printed or written names an event (names such as ``e5293_...`` give
    the class away): the prompt says "event 7 of 50", the display goes to a PNG
    whose name says nothing, and the label file records opaque ids
    (:mod:`eventcnn.images.display_ids`; ``opal train`` reads them, ``opal ids`` maps them).
    """
    import warnings

    from eventcnn import opal
    from eventcnn.errors import check_output
    from eventcnn.opal import ids, labeller
    from eventcnn.opal import pictures as classroom

    if args.labels is None:
        raise UserError("give --labels FILE: the CSV your labels are saved to (created if missing)")
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    path = Path(args.labels)
    show = Path(args.show) if args.show else path.parent / "label_current.png"
    check_output(path, inputs=[args.data], overwrite=True, flag="--labels")  # the labels grow in place
    check_output(show, inputs=[args.data, path], overwrite=True, flag="--show")  # rewritten per event
    have = path.is_file() and path.stat().st_size > 0
    with warnings.catch_warnings():  # its lists of unmatched names would give classes away
        warnings.simplefilter("ignore")
        data = opal.load_displays(args.data, path if have else None,
                                  size=args.size or opal.IMAGE_SIZE, crop=args.crop, quiet=True)
    print(f"{len(data)} displays in {Path(args.data).name}, {int(data.labelled.sum())} of them "
          f"labelled so far in {path}")
    idx = labeller.choose_events(data.images, data.labels, args.n, order=args.order, seed=args.seed)
    if len(idx) == 0:
        print("every display is labelled already")
        return 0
    if len(idx) < args.n:
        print(f"only {len(idx)} unlabelled displays left: this sitting has {len(idx)} (not {args.n})")
    if msg := data.report.unreadable_message(args.data):  # broken files never pass silently
        warnings.warn(msg, UserWarning, stacklevel=1)
    # the file records opaque ids (names give the class away); opal train reads them, opal ids maps them
    session = labeller.LabelSession(ids.display_ids(data.names[idx]), path)
    window = _label_window() if args.window == "auto" else None
    print(classroom.hint_card())
    where = "in a window and in" if window else "in"
    print(f"The display to label is shown {where} {show.resolve()} (open it in an image viewer; "
          "it is rewritten for every event).")

    def show_fn(pos: int) -> None:  # large, with a key of the detector parts (never the name)
        classroom.save(classroom.displays_figure(data.images[idx[pos]], [f"event {pos + 1} of {len(idx)}"],
                                                 cols=1, inches=5.5), show, dpi=100)
        if window is not None:
            window(data.images[idx[pos]], f"event {pos + 1} of {len(idx)}")

    labeller.run_console(session, show_fn=show_fn)
    return 0


def _register_suggest(sub: argparse._SubParsersAction) -> None:
    """``opal suggest``: the events to label next (active learning, eventcnn.opal.suggest)."""
    s = sub.add_parser("suggest", help="print the N events the class should label next")
    s.add_argument("--data", required=True, help="zip or folder of event displays (PNG/GIF/JPEG)")
    s.add_argument("--labels", default=None,
                   help="label file so far ('<event>.png;<label>'); absent or empty: a first batch")
    s.add_argument("--n", type=int, default=10, help="number of events to suggest (default %(default)s)")
    s.add_argument("--seed", type=int, default=default(suggest_indices, "seed"), help="seed (default %(default)s)")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress output (the ids are printed)")
    s.add_argument("--crop", type=_crop, default=None,
                   help="crop box LEFT,TOP,RIGHT,BOTTOM applied before resizing (raw displays)")
    s.set_defaults(func=run_suggest)
    declare(s, data=DISPLAYS, labels=replace(LABEL_FILE, missing_ok=True, empty_ok=True), crop=VALUE)


def run_suggest(args: argparse.Namespace) -> int:
    """Print one display id per line (``<id>.png``, as written in label files)."""
    import sys

    from eventcnn.opal import ids
    from eventcnn.opal.suggest import suggest

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    names = suggest(args.data, args.labels, n=args.n, seed=args.seed, crop=args.crop)
    if not names:
        print("every event is labelled already", file=sys.stderr)
    elif len(names) < args.n:
        print(f"only {len(names)} unlabelled displays left: suggesting all of them (not {args.n})",
              file=sys.stderr)
    for name in names:  # opaque ids: display names give the class away
        print(f"{ids.display_id(name)}.png")
    return 0


def _register_ids(sub: argparse._SubParsersAction) -> None:
    """``opal ids``: the teacher's table of opaque display ids (eventcnn.images.display_ids)."""
    s = sub.add_parser(
        "ids", help="teacher: map the opaque display ids students see to display names",
        description="Students see displays by opaque id (opal suggest, opal label, predictions.csv): "
                    "display names give the class away. This writes the teacher's table "
                    "id,event[,label] (--reference adds the answer key's label), or with --file a copy "
                    "of a student's label file or predictions.csv with names for ids. Keep the output "
                    "in the teacher's folder, away from the students.")
    s.add_argument("--data", required=True, help="zip or folder of event displays")
    s.add_argument("--out", required=True, help="CSV to write (e.g. teacher/ids.csv)")
    s.add_argument("--reference", default=None, help="answer key (e.g. answer_key/events_list.csv)")
    s.add_argument("--file", default=None,
                   help="a student's label file or predictions.csv: write it with names for ids")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    s.set_defaults(func=run_ids)
    declare(s, data=DISPLAYS, reference=LABEL_FILE, file=replace(LABEL_FILE, what="a label file or predictions.csv"),
            out=Output("the id table"))


def run_ids(args: argparse.Namespace) -> int:
    """Write the id table, or a student's file with display names."""
    import warnings

    from eventcnn import opal
    from eventcnn.errors import check_writable
    from eventcnn.opal import ids

    check_writable(args.out)
    with warnings.catch_warnings():  # unmatched lists are expected here (the teacher's view)
        warnings.simplefilter("ignore")
        data = opal.load_displays(args.data, args.reference, size=8, quiet=True)
    if args.file:
        n = ids.rename_file(args.file, args.out, ids.id_table(data.names))
        print(f"{n} ids replaced by display names -> {args.out}")
        return 0
    ids.write_mapping(args.out, data.names, data.labels if args.reference else None)
    print(f"{len(data)} display ids -> {args.out} (the teacher's table: keep it away from students)")
    return 0
