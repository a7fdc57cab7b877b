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

import csv
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_output, check_writable, few_names
from eventcnn.images.folder import image_folder_of
from eventcnn.images.render import RenderConfig, render_files
from eventcnn.images.shards import is_shard_folder, read_index, shard_ref
from eventcnn.learn import baseline as B
from eventcnn.learn import metrics as M
from eventcnn.learn.dataset import (
    IMAGE_SUFFIXES,
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
from eventcnn.limits import check_batch_size

__all__ = ["evaluate_run", "predict", "report_markdown", "write_predictions_csv"]

JSON_SUFFIXES = (".json", ".json.gz", ".root")  # event files: CMS JSON or NanoAOD


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


#: files eventcnn writes into image folders (metadata, not inputs): skipped without a word
FOLDER_METADATA = frozenset({"manifest.csv", "render_config.json", "selection.json", "augment_config.json",
                             "skipped.csv", ".eventcnn.lock", ".eventcnn-cache"})


def _scan_folder(folder: Path) -> list[Path]:
    """Images under ``folder``, skipping hidden folders/files; skipped entries are counted in a warning.

    eventcnn's own metadata files (:data:`FOLDER_METADATA`) are not inputs and are not reported.
    """
    found: list[Path] = []
    hidden: list[str] = []
    other: list[str] = []
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        hidden += [(rel_root / d).as_posix() + "/" for d in dirs if d.startswith(".") and d not in FOLDER_METADATA]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            rel = (rel_root / name).as_posix()
            if name in FOLDER_METADATA:
                continue
            if name.startswith("."):
                hidden.append(rel)
            elif Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(root) / name)
            else:
                other.append(rel)
    if hidden:
        warnings.warn(f"{folder}: skipped {len(hidden)} hidden folder(s)/file(s): {few_names(hidden)}",
                      UserWarning, stacklevel=3)
    if other:
        warnings.warn(f"{folder}: skipped {len(other)} file(s) that are not images "
                      f"({'/'.join(IMAGE_SUFFIXES)}): {few_names(other)}", UserWarning, stacklevel=3)
    return sorted(found)


def _expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    images: list[Path] = []
    events: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and is_shard_folder(p):  # render --format shards: every row of the index
            images.extend(p / shard_ref(int(r["shard"]), int(r["row"])) for r in read_index(p))
        elif p.is_dir():
            found = _scan_folder(p)
            if not found:
                raise UserError(f"folder {p} holds no images ({'/'.join(IMAGE_SUFFIXES)})")
            images.extend(found)
        elif not p.exists():
            raise FileNotFoundError(f"input {p} not found")
        elif p.name.lower().endswith(JSON_SUFFIXES):
            events.append(p)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        else:
            raise UserError(f"input {p}: expected an image ({'/'.join(IMAGE_SUFFIXES)}), a folder of images "
                            "or an event file (.json/.json.gz/.root)")
    return images, events


def _render_event_files(paths: Sequence[Path], render_cfg: dict[str, Any] | None, selection: Any, size: int,
                        jobs: int, scheduler: str | None, quiet: bool) -> list[Any]:
    """Render event files like the run's training images (in parallel tasks: ``jobs`` / ``scheduler``).

    One :class:`eventcnn.images.render.RenderedFile` per file, images resized to ``size``;
    a warning per file names how many events the selection rejected.
    """
    from PIL import Image


    if render_cfg is None:
        raise UserError(
            f"cannot render {paths[0]}: the run has no render config (its data folder had no render_config.json); "
            "render the events with `eventcnn render` and predict the PNG files instead"
        )
    config = RenderConfig.from_dict(render_cfg)
    done = render_files(paths, config, selection, jobs=jobs, scheduler=scheduler, quiet=quiet)
    for part in done:
        if part.rejected and part.cutflow is not None:
            steps = "; ".join(f"{name}: {count}" for name, count in part.cutflow.steps)
            warnings.warn(f"{part.source}: the selection rejected {len(part.rejected)} of {part.n_read} events, "
                          f"which get no prediction (rows with the cut in 'rejected_by'; cut flow: {steps}); "
                          "pass --selection none to classify every event", UserWarning, stacklevel=3)
        if len(part.images) and part.images.shape[1:3] != (size, size):
            part.images = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                                    for im in part.images])
    return done


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
) -> list[dict[str, Any]]:
    """Classify images or event JSON files with a run's ``best.keras``; optionally write a CSV.

    Images (files or folders) are resized to the run's input size; event files
    are rendered with the run's render config after the selection (``"auto"``:
    the one recorded with the run/data folder, else the ``paper`` selection
    that ``eventcnn render`` applies by default; ``None``/``"none"`` for none).
    Rows: ``input``, ``event`` (event files), ``predicted``, ``p_<class>`` per class,
    ``rejected_by``: for an event the selection rejected, the first cut it failed
    (its ``predicted`` and probabilities are empty; nothing is dropped silently).
    Event files are rendered as parallel tasks (``jobs`` local worker processes or
    the Dask cluster at ``scheduler``; :mod:`eventcnn._dask`); a shard folder
    (``render --format shards``) is read row by row from its memory-mapped shards.
    ``out`` is checked before the model is loaded (:func:`eventcnn.errors.check_output`):
    never an input, never inside the run folder or its image folder, and an existing
    file is replaced only with ``overwrite``.

    Example::

        rows = predict("runs/small", ["TTjets_json.json"], "predictions.csv")
    """

    quiet = quiet or quiet_from_env()
    say = sayer(quiet)
    run_dir = Path(run_dir)
    cfg_all = read_run_config(run_dir)
    names = list(cfg_all["class_names"])
    size = int(cfg_all["image_size"])
    check_batch_size(batch_size)
    if out is not None:
        image_folders = [f for f in dict.fromkeys(map(image_folder_of, inputs)) if f is not None]
        check_output(out, inputs=list(inputs), overwrite=overwrite,
                     protected=[("the run folder", run_dir),
                                ("the image folder of the run", cfg_all["train"]["data_dir"]),
                                *[("the image folder", f) for f in image_folders]])
    images, event_files = _expand_inputs(inputs)
    if not images and not event_files:
        raise UserError("no inputs to predict")
    model = load_run_model(run_dir)
    rows: list[dict[str, Any]] = []

    def add(prob: np.ndarray, inputs_: Sequence[str], events_: Sequence[Any]) -> None:
        for p, src, ev in zip(prob, inputs_, events_):
            rows.append({"input": src, "event": ev, "predicted": names[int(np.argmax(p))],
                         **{f"p_{c}": float(p[i]) for i, c in enumerate(names)}})

    if images:
        seq = ImageSequence(images, None, batch_size=batch_size, size=size)
        add(np.asarray(model.predict(seq, verbose=0)), [str(f) for f in images], [""] * len(images))
    sel = _run_selection(run_dir, cfg_all, selection)
    rendered = (_render_event_files(event_files, cfg_all.get("render_config"), sel, size, jobs, scheduler, quiet)
                if event_files else [])
    for f, part in zip(event_files, rendered):
        x, numbers = part.images, part.numbers
        say(f"{f}: {len(numbers)} events (selection {sel if isinstance(sel, str) else 'custom'})")
        if len(numbers):
            add(np.asarray(model.predict(x, batch_size=batch_size, verbose=0)), [str(f)] * len(numbers), [int(n) for n in numbers])
        rows.extend({"input": str(f), "event": int(ev), "predicted": "", "rejected_by": cut}
                    for ev, cut in part.rejected)
    if out is not None:
        write_predictions_csv(rows, names, out)
        n_rej = sum(1 for r in rows if r.get("rejected_by"))
        extra = f" ({n_rej} of them rejected by the selection, with the cut in 'rejected_by')" if n_rej else ""
        say(f"wrote {len(rows)} rows to {out}{extra}")
    return rows


def write_predictions_csv(rows: Sequence[dict[str, Any]], class_names: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """Write prediction rows atomically as CSV (columns input, event, predicted, p_<class>..., rejected_by)."""
    buf = io.StringIO()
    cols = ["input", "event", "predicted", *[f"p_{c}" for c in class_names], "rejected_by"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", restval="")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    return write_text_atomic(path, buf.getvalue())
