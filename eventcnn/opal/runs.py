"""OPAL run folders: evaluate one (``eventcnn opal train``) against reference labels.

The OPAL counterpart of :func:`eventcnn.learn.evaluate.evaluate_run`; the
``eventcnn evaluate`` command picks one or the other by the run's ``kind``
(:mod:`eventcnn.kinds`).

Example::

    from eventcnn.opal.runs import evaluate_run
    metrics = evaluate_run("runs/opal")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_writable
from eventcnn.learn.dataset import load_split
from eventcnn.learn.intervals import fmt, metrics_with_intervals
from eventcnn.learn.metrics import comparison_table
from eventcnn.learn.report import TEST_SCORES, write_test_scores
from eventcnn.learn.runs import read_run_config
from eventcnn.opal.displays import CLASS_NAMES, label_indices, load_displays
from eventcnn.opal.ids import display_ids
from eventcnn.opal.model import evaluate, load_model
from eventcnn.opal.tta import predict_tta

__all__ = ["evaluate_run"]


def evaluate_run(run_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
                 quiet: bool = False) -> dict[str, Any]:
    """Evaluate an OPAL run (``eventcnn opal train``) on the events it classified, against the reference labels.

    The displays come from ``data_dir`` (default: the run's), the labels from the
    run's reference file (else its label file); ``split.json`` names the events
    the CNN did not train on; predictions average ``tta_copies`` rotated/mirrored
    copies when the run recorded them (``opal train``'s default, :mod:`eventcnn.opal.tta`).
    Writes ``metrics.json``, plots and ``report.md``.
    """
    say = sayer(quiet or quiet_from_env())
    out = Path(run_dir)
    cfg_all = read_run_config(out)
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
    test = [index[n] for n in split["test"] if n in index and data.labels[index[n]] != ""]
    if not test:
        raise UserError(f"{labels_file}: no reference label for any event {out} classified: nothing to evaluate")
    say(f"evaluating {out} on {len(test)} events with reference labels from {labels_file}")
    model = load_model(out)
    test_idx = np.array(test)
    copies = int(info.get("tta_copies") or 1)  # predicted as `opal train` did (eventcnn.opal.tta)
    probs = predict_tta(model, data.images[test_idx], copies=copies)
    shown = np.array(display_ids(data.names[test_idx]))  # misclassified.csv: ids, as predictions.csv
    m = evaluate(model, data.images[test_idx], data.labels[test_idx], out=out, names=shown, probs=probs)
    y_test = label_indices(data.labels[test_idx])
    m.update(metrics_with_intervals(y_test, probs, list(CLASS_NAMES)))
    # per-display scores, keyed by display id: `eventcnn compare` pairs OPAL runs on the displays both scored
    write_test_scores(out / TEST_SCORES, [{"file": str(d)} for d in shown], y_test, list(CLASS_NAMES), {"cnn": probs})
    m["test_scores"] = TEST_SCORES
    m["model"] = "opal"
    m["tta_copies"] = copies
    m["best_epoch"] = cfg_all.get("best_epoch")
    m["train_seconds"] = cfg_all.get("seconds")
    write_json_atomic(out / "metrics.json", m)
    rows = [{"class": c, **{k: fmt(v) for k, v in m["per_class"][c].items() if k in ("efficiency", "precision", "f1")},
             "support": m["per_class"][c]["support"]} for c in m["per_class"]]
    write_text_atomic(out / "report.md", "\n".join([
        f"# Evaluation of `{out}` (OPAL)", "",
        f"{len(test)} events classified by the CNN, reference labels from `{labels_file}`.", "",
        f"accuracy {fmt(m['accuracy'], 4)}, balanced accuracy {fmt(m['balanced_accuracy'], 4)} "
        f"(value [95 % interval], bootstrap over the events, stratified by class)", "",
        comparison_table(rows, digits=3), ""]))
    say(f"accuracy {fmt(m['accuracy'], 4)}, balanced accuracy {fmt(m['balanced_accuracy'], 4)}")
    return m
