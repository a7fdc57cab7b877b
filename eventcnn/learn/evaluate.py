"""Evaluate a trained run on its test split, and predict new images or events.

:func:`evaluate_run` predicts the run's test split with ``best.keras`` and
writes ``metrics.json`` (CNN metrics at the top level, the gradient-boosted
baseline on the same events under ``"baseline"``), ``report.md`` and the plots
(confusion matrices, ROC, efficiency vs rejection, misclassified gallery).
:func:`predict` classifies PNG/JPG images or CMS event JSON files (rendered
with the run's own render config) into a CSV.

Example::

    from eventcnn.learn.evaluate import evaluate_run, predict
    m = evaluate_run("runs/small")
    print(m["accuracy"], m["roc_auc"]["macro"], m["baseline"]["accuracy"])
    rows = predict("runs/small", ["new_events.json", "images/"], "predictions.csv")
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_output, check_writable
from eventcnn.learn import baseline as B
from eventcnn.learn import metrics as M
from eventcnn.learn.dataset import (
    ImageSequence,
    load_arrays,
    load_split,
    split_arrays,
)
from eventcnn.learn.intervals import fmt, metrics_with_intervals, paired_metrics
from eventcnn.learn.loop import fit_verbosity
from eventcnn.learn.report import TEST_SCORES, write_test_scores
from eventcnn.learn.report import (
    report_markdown as report_markdown,  # the one report (intervals on every figure)
)
from eventcnn.learn.runs import Run, load_run_model, read_run_config, run_kind
from eventcnn.learn.scoring import (  # noqa: F401 - re-exported
    FOLDER_METADATA,
    JSON_SUFFIXES,
    _scan_folder,  # noqa: F401 - re-exported for existing imports
    predict_inputs,
    write_predictions_csv,
)
from eventcnn.learn.scoring import expand_inputs as _expand_inputs
from eventcnn.limits import check_batch_size

__all__ = ["evaluate_run", "predict", "report_markdown", "write_predictions_csv"]



def _predict_seq(model, seq: ImageSequence, quiet: bool) -> np.ndarray:
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
    """Evaluate ``best.keras`` of a run on its test split; write metrics.json, report.md, plots.

    ``data_dir`` defaults to the run's training data folder. The baseline (gradient-
    boosted trees on high-level features, :mod:`eventcnn.learn.baseline`) is trained on the
    run's train events and tested on the same test events as the CNN when the
    manifest names their source files.

    Example::

        metrics = evaluate_run("runs/small")
    """

    quiet = quiet or quiet_from_env()
    say = sayer(quiet)
    out = Path(run_dir)
    check_batch_size(batch_size)
    cfg_all = read_run_config(out)
    if run_kind(cfg_all) != "cms":
        raise UserError(f"{out} is an {run_kind(cfg_all)} run: evaluate it with eventcnn.kinds.evaluate "
                        "(the `eventcnn evaluate` command dispatches on the run's kind)")
    run = Run.load(run_dir)
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


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------


def _run_selection(run_dir: Path, cfg_all: dict[str, Any], selection: Any) -> Any:
    """The selection for event files: given, else the one recorded with the run (null = none)."""
    if selection != "auto":
        return selection
    if "selection" in cfg_all:
        return cfg_all["selection"]
    data_sel = Path(cfg_all["train"]["data_dir"]) / "selection.json"
    if data_sel.exists():
        return str(data_sel)
    warnings.warn(
        f"{run_dir} records no event selection and {data_sel} is missing: using the 'paper' "
        "selection for event files (pass --selection to choose)",
        stacklevel=3,
    )
    return "paper"


def predict(
    run_dir: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    selection: Any = "auto",
    quiet: bool = False,
    jobs: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
) -> Sequence[dict[str, Any]]:
    """Classify images or event JSON files with a run's ``best.keras``; optionally write a CSV.

    Images (files or folders) are resized to the run's input size; event files
    are rendered with the run's render config after the selection (``"auto"``:
    the one recorded with the run/data folder, else the ``paper`` selection
    that ``eventcnn render`` applies by default; ``None``/``"none"`` for none).
    Rows: ``input``, ``event`` (event files), ``predicted``, ``p_<class>`` per class,
    ``rejected_by``: for an event the selection rejected, the first cut it failed
    (its ``predicted`` and probabilities are empty; nothing is dropped silently).
    Event files are streamed (:mod:`eventcnn.learn.scoring`): read, selected, rendered
    and scored a chunk at a time, the CSV written as the rows come, so memory does not
    grow with the file (``jobs``/``scheduler`` are accepted for compatibility; the
    streamed path runs in this process). A shard folder (``render --format shards``)
    is read row by row from its memory-mapped shards.
    ``out`` is checked before the model is loaded (:func:`eventcnn.errors.check_output`):
    never an input, never inside the run folder or its image folder, and an existing
    file is replaced only with ``overwrite``.

    Example::

        rows = predict("runs/small", ["TTjets_json.json"], "predictions.csv")
    """
    quiet = quiet or quiet_from_env()
    run_dir = Path(run_dir)
    cfg_all = read_run_config(run_dir)
    names = list(cfg_all["class_names"])
    size = int(cfg_all["image_size"])
    check_batch_size(batch_size)
    protected = [("the run folder", run_dir), ("the image folder of the run", cfg_all["train"]["data_dir"])]
    if out is not None:
        check_output(out, inputs=list(inputs), overwrite=overwrite, protected=protected)
    _, event_files = _expand_inputs(inputs)
    sel = _run_selection(run_dir, cfg_all, selection) if event_files else None
    model = load_run_model(run_dir)
    return predict_inputs(lambda x: model.predict(x, batch_size=batch_size, verbose=0), inputs, names, size,
                          render_config=cfg_all.get("render_config"), selection=sel, out=out,
                          overwrite=overwrite, quiet=quiet, protected=protected)


