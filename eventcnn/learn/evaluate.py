"""Evaluate a trained run of any kind, and a model on labelled images in memory.

:func:`evaluate_run` is ``eventcnn evaluate``: a ``cms`` run (``eventcnn
train``) is evaluated on its test split with ``best.keras``: ``metrics.json``
(CNN metrics at the top level, the gradient-boosted baseline on the same events
under ``"baseline"``, their paired difference under ``"cnn_minus_baseline"``),
``test_scores.csv`` (every model's score of every test event, for ``eventcnn
compare``), ``report.md`` (:func:`eventcnn.learn.report.report_markdown`) and the
plots (confusion matrices, ROC, efficiency vs rejection, misclassified gallery);
an ``opal`` run (``eventcnn opal train``) on the displays it classified
(``split.json``), against the reference labels it recorded, predicted as it was
trained (TTA copies). Both kinds write every figure as ``{"value", "ci95"}``
(:func:`eventcnn.learn.intervals.metrics_with_intervals`: a seeded bootstrap over
the test events, stratified by class).
:func:`evaluate_images` scores a model on labelled images in memory (the
masterclass evaluates the displays it classified with it). Predictions of new
inputs: :mod:`eventcnn.learn.predict`.

Example::

    from eventcnn.learn.evaluate import evaluate_images, evaluate_run
    m = evaluate_run("runs/small")
    print(m["accuracy"], m["roc_auc"]["macro"], m["cnn_minus_baseline"]["auc"])   # {"value", "ci95"} each
    m = evaluate_images(model, images, ["q", "e", ...], out="runs/opal/eval")
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_writable
from eventcnn.images.display_ids import display_ids
from eventcnn.images.opal_displays import CLASS_NAMES, CLASS_TITLES, label_indices, load_displays
from eventcnn.learn import baseline as B
from eventcnn.learn import metrics as M
from eventcnn.learn.intervals import fmt, metrics_with_intervals, paired_metrics
from eventcnn.learn.loop import fit_verbosity
from eventcnn.learn.metrics import comparison_table, compute_metrics
from eventcnn.learn.predict import predict_images, predict_tta, write_predictions
from eventcnn.learn.report import TEST_SCORES, report_markdown, write_test_scores
from eventcnn.learn.runs import Run, load_run_model, read_run_config, run_kind
from eventcnn.limits import check_batch_size

__all__ = ["evaluate_images", "evaluate_run", "report_markdown"]


def _predict_seq(model, seq: Any, quiet: bool) -> np.ndarray:
    prob = model.predict(seq, verbose=fit_verbosity(quiet))  # one line, not a bar, into a file
    return np.asarray(prob, dtype=np.float64)


def evaluate_run(
    run_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    baseline: bool = True,
    quiet: bool = False,
    max_misclassified: int = 16,
) -> dict[str, Any]:
    """Evaluate a run folder of any kind; write ``metrics.json``, ``report.md`` and plots into it.

    ``data_dir`` defaults to the data the run was trained on (an image folder;
    OPAL: the zip or folder of displays). A ``cms`` run is evaluated on its test
    split; the baseline (gradient-boosted trees on high-level features,
    :mod:`eventcnn.learn.baseline`) is trained on the run's train events and
    tested on the same test events as the CNN when the manifest names their
    source files (``baseline``). An ``opal`` run is evaluated by
    :func:`evaluate_images` on the displays it classified that its reference
    label file labels.

    Example::

        metrics = evaluate_run("runs/small")
    """
    quiet = quiet or quiet_from_env()
    check_batch_size(batch_size)
    cfg_all = read_run_config(run_dir)
    if run_kind(cfg_all) == "opal":
        return _evaluate_display_run(Path(run_dir), cfg_all, data_dir, quiet)
    return _evaluate_image_run(Path(run_dir), cfg_all, data_dir, batch_size, baseline, quiet, max_misclassified)


def _evaluate_image_run(out: Path, cfg_all: dict[str, Any], data_dir: str | os.PathLike[str] | None,
                        batch_size: int, baseline: bool, quiet: bool, max_misclassified: int) -> dict[str, Any]:
    """The ``cms`` branch of :func:`evaluate_run`: the test split of an image folder."""
    from eventcnn.learn.dataset import (  # deferred: Keras (the masterclass imports this module light)
        ImageSequence,
        load_arrays,
        load_split,
        split_arrays,
    )

    say = sayer(quiet)
    run = Run.load(out)
    check_writable(out / "metrics.json")
    data_dir = Path(data_dir or run.config.data_dir)
    split = load_split(out / "split.json")
    names = list(split["class_names"])
    if not split["test"]:
        raise UserError(f"{out}/split.json has an empty test split: nothing to evaluate")
    size = int(cfg_all["image_size"])
    seq = ImageSequence.from_split(split, "test", data_dir, batch_size=batch_size, size=size)
    model = load_run_model(out)
    say(f"evaluating {out} on {len(split['test'])} test images")
    y_prob = _predict_seq(model, seq, quiet)
    files, y_true = split_arrays(split, "test", data_dir)
    result: dict[str, Any] = metrics_with_intervals(y_true, y_prob, names)  # every figure {"value", "ci95"}
    result["model"] = run.config.model
    result["freeze"] = run.config.freeze
    result["best_epoch"] = run.state.get("best_epoch")
    result["val_best"] = {run.config.monitor: run.state.get("best")}
    result["train_seconds"] = run.state.get("train_seconds")
    cm = np.asarray(result["confusion_matrix"]["counts"])
    plots = {
        "confusion_matrix": M.plot_confusion_matrix(cm, names, out / "confusion_matrix.png"),
        "confusion_matrix_normalized": M.plot_confusion_matrix(cm, names, out / "confusion_matrix_normalized.png", normalize=True),
        "roc": M.plot_roc(y_true, y_prob, names, out / "roc.png"),
        "efficiency_rejection": M.plot_efficiency_rejection(y_true, y_prob, names, out / "efficiency_rejection.png"),
    }
    wrong = np.flatnonzero(y_prob.argmax(1) != y_true)
    n_wrong = len(wrong)
    wrong = wrong[np.argsort(-y_prob[wrong].max(1))][:max_misclassified]
    if len(wrong):
        images = load_arrays([files[i] for i in wrong], size=size)
        plots["misclassified"] = M.plot_misclassified(images, y_true[wrong], y_prob[wrong], names,
                                                      out / "misclassified.png", max_images=max_misclassified,
                                                      total_wrong=n_wrong, total=len(y_true))
    result["plots"] = {k: Path(v).name for k, v in plots.items()}
    result["test_files"] = len(files)
    result["baseline"], b_prob = (_baseline(split, data_dir, run.config.seed, names, say) if baseline
                                  else ({"skipped": "disabled"}, None))
    scores = {"cnn": y_prob}
    if b_prob is not None:  # the same test events, in the same order: a paired difference
        result["cnn_minus_baseline"] = paired_metrics(y_true, y_prob, b_prob, names)
        scores["baseline"] = b_prob
    write_test_scores(out / TEST_SCORES, split["test"], y_true, names, scores)
    result["test_scores"] = TEST_SCORES
    write_json_atomic(out / "metrics.json", result)
    write_text_atomic(out / "report.md", report_markdown(result, run))
    say(f"test accuracy {fmt(result['accuracy'], 4)}, macro AUC {fmt(result['roc_auc']['macro'], 4)}")
    return result


def _baseline(split: dict[str, Any], data_dir: Path, seed: int, names: Sequence[str],
              say) -> tuple[dict[str, Any], np.ndarray | None]:
    """The gradient-boosted baseline on the run's own train/test events: its figures and test probabilities.

    Skipped (loudly, with the reason recorded in ``metrics.json``) only when the
    images cannot be traced back to their events: the manifest does not name
    the source event files, or those files are not readable where it says.
    Any other error propagates.
    """

    def skip(reason: str) -> tuple[dict[str, Any], None]:
        msg = f"baseline skipped: {reason}"
        warnings.warn(msg, UserWarning, stacklevel=3)
        say(msg)
        return {"skipped": msg}, None

    train_rows, test_rows = split["train"], split["test"]
    unnamed = [r["file"] for r in train_rows + test_rows if not (r.get("source") and r.get("event"))]
    if unnamed:
        return skip(f"the manifest of {data_dir} does not name the source event file of {len(unnamed)} "
                    f"image(s) (e.g. {unnamed[0]}), so there are no events to compute high-level features from")
    try:
        X, y, feature_names = B.features_for_manifest(train_rows + test_rows, base=data_dir)
    except (FileNotFoundError, ValueError) as exc:  # the event files are gone or do not match the images
        return skip(f"cannot read the events behind the images of {data_dir}: {exc}")
    n = len(train_rows)
    model = B.train_baseline(X[:n], y[:n], seed)
    prob = B.baseline_predict_proba(model, X[n:], class_names=list(names))
    index = {c: i for i, c in enumerate(names)}
    result = metrics_with_intervals(np.array([index[c] for c in y[n:]]), prob, list(names))
    result["model"] = B.baseline_spec(model, feature_names)
    return result, np.asarray(prob, dtype=np.float64)


def evaluate_images(model: Any, images: np.ndarray, labels: Sequence[str] | np.ndarray,
                    out: str | os.PathLike[str] | None = None, names: Sequence[str] | None = None,
                    probs: np.ndarray | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of ``model`` on labelled OPAL ``images`` (class codes), from :mod:`eventcnn.learn.metrics`.

    ``probs``: the predictions when already made (e.g. with TTA), else one pass
    (:func:`eventcnn.learn.predict.predict_images`). ``extra`` is added to the
    metrics (the masterclass adds its overview). With ``out``:
    ``metrics.json``, ``confusion_matrix.png`` (classes in words, the count in
    every cell), ``misclassified.png`` (gallery with probabilities) and, when
    ``names`` are given, ``misclassified.csv``.

    Example::

        m = evaluate_images(result.model, data.images[test], data.labels[test], out="runs/opal")
        m["balanced_accuracy"]
    """
    y = label_indices(labels)
    if probs is None:
        probs = predict_images(model, images)
    m = compute_metrics(y, probs, list(CLASS_NAMES))
    m.update(extra or {})
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "metrics.json", m)
        words = [CLASS_TITLES[c].split(" (")[0] for c in CLASS_NAMES]
        M.plot_confusion_matrix(m["confusion_matrix"]["counts"], words, out / "confusion_matrix.png")
        M.plot_misclassified(images, y, probs, words, out / "misclassified.png")
        if names is not None:
            wrong = np.flatnonzero(probs.argmax(axis=1) != y)
            write_predictions(out / "misclassified.csv", np.asarray(names)[wrong], probs[wrong])
    return m


def _evaluate_display_run(out: Path, cfg_all: dict[str, Any], data_dir: str | os.PathLike[str] | None,
                          quiet: bool) -> dict[str, Any]:
    """The ``opal`` branch of :func:`evaluate_run`: the displays the CNN classified, against the reference labels."""
    from eventcnn.learn.dataset import (
        load_split,  # deferred: Keras (the masterclass imports this module light)
    )

    say = sayer(quiet)
    check_writable(out / "metrics.json")
    info = cfg_all.get("opal") or {}
    labels_file = info.get("reference") or info.get("labels")
    source = data_dir or cfg_all["train"].get("data_dir")
    if not source or not labels_file:
        raise UserError(f"{out} is an OPAL run without a recorded display source and label file: "
                        "train it with `eventcnn opal train --reference LABELS` (or pass --data)")
    split = load_split(out / "split.json")
    crop = info.get("crop")
    data = load_displays(source, labels_file, size=int(cfg_all["image_size"]),
                         crop=tuple(crop) if crop else None, quiet=True)
    index = {n: i for i, n in enumerate(data.names)}
    index.update({d: i for i, d in enumerate(display_ids(data.names))})  # split.json names displays by id
    test = np.array([index[n] for n in split["test"] if n in index and data.labels[index[n]] != ""], dtype=int)
    if not len(test):
        raise UserError(f"{labels_file}: no reference label for any event {out} classified: nothing to evaluate")
    say(f"evaluating {out} on {len(test)} events with reference labels from {labels_file}")
    model = load_run_model(out)
    copies = int(info.get("tta_copies") or 1)  # predicted as `opal train` did (eventcnn.learn.predict)
    probs = predict_tta(model, data.images[test], copies=copies)
    shown = np.array(display_ids(data.names[test]))  # misclassified.csv: ids, as predictions.csv
    m = evaluate_images(model, data.images[test], data.labels[test], out=out, names=shown, probs=probs)
    y_test = label_indices(data.labels[test])
    m.update(metrics_with_intervals(y_test, probs, list(CLASS_NAMES)))  # every figure {"value", "ci95"}
    # per-display scores, keyed by display id: `eventcnn compare` pairs OPAL runs on the displays both scored
    write_test_scores(out / TEST_SCORES, [{"file": str(d)} for d in shown], y_test, list(CLASS_NAMES), {"cnn": probs})
    m.update({"test_scores": TEST_SCORES, "model": "opal", "tta_copies": copies,
              "best_epoch": cfg_all.get("best_epoch"), "train_seconds": cfg_all.get("seconds")})
    write_json_atomic(out / "metrics.json", m)
    rows = [{"class": c, **{k: fmt(v) for k, v in m["per_class"][c].items() if k in ("efficiency", "precision", "f1")},
             "support": m["per_class"][c]["support"]} for c in m["per_class"]]
    write_text_atomic(out / "report.md", "\n".join([
        f"# Evaluation of `{out}` (OPAL)", "",
        f"{len(test)} events classified by the CNN, reference labels from `{labels_file}`.", "",
        f"accuracy {fmt(m['accuracy'], 4)}, balanced accuracy {fmt(m['balanced_accuracy'], 4)} "
        "(value [95 % interval], bootstrap over the events, stratified by class)", "",
        comparison_table(rows, digits=3), ""]))
    say(f"accuracy {fmt(m['accuracy'], 4)}, balanced accuracy {fmt(m['balanced_accuracy'], 4)}")
    return m
