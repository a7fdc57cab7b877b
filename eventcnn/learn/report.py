"""Evaluation reports and per-event test scores: every figure printed with its interval.

``report_markdown`` writes a run's ``report.md`` (CNN and the boosted trees
side by side, their paired difference, per-class figures, the confusion
matrix); ``write_test_scores`` / ``read_test_scores`` keep each model's score
of every test event in ``test_scores.csv`` beside ``metrics.json``, so that
``eventcnn compare`` can make paired differences between runs scored on the
same events. Numpy only (no Keras).

Example::

    from eventcnn.learn.report import read_test_scores
    scores = read_test_scores("runs/small")      # keys, y, {"cnn": prob, "baseline": prob}
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_text_atomic
from eventcnn.errors import UserError
from eventcnn.learn.intervals import fmt

__all__ = ["TEST_SCORES", "TestScores", "event_key", "read_test_scores", "report_markdown", "write_test_scores"]

#: per-event test scores of a run (one row per test event, one probability column per model and class)
TEST_SCORES = "test_scores.csv"


def event_key(row: Mapping[str, Any]) -> str:
    """The identity of a test event across runs: ``<source file name>#<event number>``, else the image path.

    Two runs rendered from the same event files at different sizes or styles
    share keys, so their scores can be paired.
    """
    source = str(row.get("source") or "")
    event = "" if row.get("event") is None else str(row.get("event"))
    if source and event:
        return f"{Path(source).name}#{event}"
    return str(row["file"])


def write_test_scores(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], y_true: np.ndarray,
                      class_names: Sequence[str], models: Mapping[str, np.ndarray]) -> Path:
    """Write ``key,file,true,<model>:p_<class>...`` for every test event, atomically."""
    names = list(class_names)
    cols = ["key", "file", "true", *[f"{m}:p_{c}" for m in models for c in names]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for i, row in enumerate(rows):
        w.writerow([event_key(row), row.get("file", ""), names[int(y_true[i])],
                    *[f"{float(p):.7g}" for m in models for p in np.asarray(models[m])[i]]])
    return write_text_atomic(path, buf.getvalue())


class TestScores:
    """The per-event test scores of one run: ``keys``, ``y`` (class indices), ``models`` ``{name: (n, k)}``."""

    __test__ = False  # not a pytest class

    def __init__(self, keys: list[str], y: np.ndarray, class_names: list[str], models: dict[str, np.ndarray]):
        self.keys, self.y, self.class_names, self.models = keys, y, class_names, models


def read_test_scores(run_dir: str | os.PathLike[str]) -> TestScores | None:
    """A run's ``test_scores.csv`` (``None`` when the run was evaluated before it existed)."""
    path = Path(run_dir) / TEST_SCORES
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise UserError(f"{path} is empty: run `eventcnn evaluate {run_dir}` again") from None
        rows = list(reader)
    if header[:3] != ["key", "file", "true"]:
        raise UserError(f"{path}: not a test-scores file (columns {header[:3]})")
    models: dict[str, list[int]] = {}
    classes: list[str] = []
    for j, col in enumerate(header[3:], start=3):
        model, _, cls = col.partition(":p_")
        models.setdefault(model, []).append(j)
        if cls not in classes:
            classes.append(cls)
    index = {c: i for i, c in enumerate(classes)}
    try:
        y = np.array([index[r[2]] for r in rows], dtype=np.int64)
        arrays = {m: np.array([[float(r[j]) for j in cols] for r in rows], dtype=np.float64).reshape(len(rows), -1)
                  for m, cols in models.items()}
    except (KeyError, ValueError, IndexError) as exc:
        raise UserError(f"{path}: damaged row ({exc}); run `eventcnn evaluate {run_dir}` again") from None
    return TestScores([r[0] for r in rows], y, classes, arrays)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    cols = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _headline(m: Mapping[str, Any], name: str, digits: int) -> dict[str, str]:
    return {"classifier": name, "accuracy": fmt(m.get("accuracy"), digits),
            "balanced accuracy": fmt(m.get("balanced_accuracy"), digits),
            "ROC AUC" if "auc" in m else "macro ROC AUC": fmt(m.get("auc", (m.get("roc_auc") or {}).get("macro")), digits)}


def report_markdown(m: Mapping[str, Any], run: Any, digits: int = 4) -> str:
    """A run's ``report.md``: settings, CNN vs baseline with the paired difference, per class, confusion, plots.

    Every figure carries its 95 % interval (``value [low, high]``).
    """
    cfg = run.config
    boot = m.get("bootstrap") or {}
    lines = [f"# Evaluation of `{run.out}`", "",
             f"Model `{cfg.model}` (freeze `{cfg.freeze}`, optimizer `{cfg.optimizer}`, weights `{cfg.weights}`), "
             f"seed {cfg.seed}, best epoch {m.get('best_epoch')}, {m['n']} test events.", "",
             f"Figures: value [95 % interval], {boot.get('method', 'bootstrap')} "
             f"({boot.get('n_boot', '?')} resamples, seed {boot.get('seed', '?')}, stratified by true class).", "",
             "## CNN vs baseline", ""]
    rows = [_headline(m, "CNN", digits)]
    b = m.get("baseline") or {}
    if "accuracy" in b:
        rows.append(_headline(b, "gradient-boosted trees", digits))
    diff = m.get("cnn_minus_baseline")
    if diff:
        auc_col = list(rows[0])[-1]
        rows.append({"classifier": "CNN - trees (paired, same events)",
                     "accuracy": fmt(diff.get("accuracy"), digits, signed=True),
                     "balanced accuracy": fmt(diff.get("balanced_accuracy"), digits, signed=True),
                     auc_col: fmt(diff.get("auc", (diff.get("roc_auc") or {}).get("macro")), digits, signed=True)})
    lines += [_table(rows), ""]
    if diff:
        lines += [_verdict(diff), ""]
    if "skipped" in b:
        lines += [f"Baseline: {b['skipped']}", ""]
    names = m["class_names"]
    lines += ["## Per class (CNN, one vs rest)", ""]
    per = []
    for c in names:
        pc = m["per_class"][c]
        rej = (m.get("background_rejection") or {}).get(c) or {}
        per.append({"class": c, "efficiency": fmt(pc.get("efficiency"), digits),
                    "precision": fmt(pc.get("precision"), digits), "support": pc.get("support"),
                    "ROC AUC": fmt((m.get("roc_auc") or {}).get(c), digits),
                    **{f"rejection at {k.split('=')[1]} signal eff.": fmt(v, 1) for k, v in rej.items()}})
    lines += [_table(per), ""]
    lines += ["## Confusion matrix (rows: true class)", ""]
    cm_rows = [{"true \\ predicted": names[i], **dict(zip(names, r))} for i, r in enumerate(m["confusion_matrix"]["counts"])]
    lines += [_table(cm_rows), ""]
    lines += ["## Plots", ""] + [f"![{k}]({v})" for k, v in (m.get("plots") or {}).items()]
    return "\n".join(lines) + "\n"


def _verdict(diff: Mapping[str, Any]) -> str:
    """One sentence on whether the CNN and the trees differ beyond the test set's precision (AUC)."""
    d = diff.get("auc") or (diff.get("roc_auc") or {}).get("macro")
    if not d or d.get("value") is None or None in d.get("ci95", [None]):
        return "No paired AUC difference could be computed."
    lo, hi = d["ci95"]
    if lo > 0:
        return f"The CNN's AUC is higher than the trees' beyond the statistical precision of these {diff['n']} events."
    if hi < 0:
        return f"The trees' AUC is higher than the CNN's beyond the statistical precision of these {diff['n']} events."
    return (f"The AUC difference is within the statistical precision of these {diff['n']} test events "
            "(its 95 % interval contains 0): no significant difference.")
