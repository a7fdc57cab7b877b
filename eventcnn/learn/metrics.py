"""Classification metrics and plots (numpy, scikit-learn and matplotlib only; no Keras).

Every function is pure: arrays in, plain Python numbers / PNG files out. Inputs
are ``y_true`` (integer class indices, shape ``(n,)``) and ``y_prob`` (class
probabilities, shape ``(n, n_classes)``; for two classes a 1-d array of the
positive-class probability is accepted too).

Example::

    from eventcnn.learn.metrics import compute_metrics, plot_confusion_matrix
    m = compute_metrics(y_true, y_prob, ["ttbar", "wjets"])
    print(m["accuracy"], m["roc_auc"]["macro"])
    plot_confusion_matrix(m["confusion_matrix"]["counts"], ["ttbar", "wjets"], "cm.png")
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_figure_png
from eventcnn.errors import UserError

__all__ = [
    "BKG_EFFICIENCIES",
    "comparison_table",
    "MIN_BACKGROUND",
    "compute_metrics",
    "plot_confusion_matrix",
    "plot_efficiency_rejection",
    "plot_history",
    "plot_misclassified",
    "plot_roc",
    "signal_efficiency_at",
]

BKG_EFFICIENCIES: tuple[float, ...] = (0.01, 0.1)


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


def _validate(
    y_true: Any, y_prob: Any, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = [str(c) for c in class_names]
    k = len(names)
    if k < 2:
        raise UserError(f"need at least 2 class names, got {names}")
    if len(set(names)) != k:
        raise UserError(f"class names must be unique, got {names}")
    y_true = np.asarray(y_true)
    if y_true.ndim == 2 and y_true.shape[1] == k:  # one-hot labels
        y_true = y_true.argmax(axis=1)
    if y_true.ndim != 1:
        raise UserError(
            f"y_true must be a 1-d array of class indices (or one-hot (n, {k})), got shape {y_true.shape}"
        )
    if y_true.dtype.kind in "USO":  # class names instead of indices
        lookup = {n: i for i, n in enumerate(names)}
        unknown = sorted({str(v) for v in y_true} - set(lookup))
        if unknown:
            raise UserError(
                f"y_true holds labels {unknown[:5]} that are not among the class names {names}"
            )
        y_true = np.array([lookup[str(v)] for v in y_true], dtype=np.int64)
    elif (
        y_true.size
        and not np.issubdtype(y_true.dtype, np.integer)
        and not np.all(np.mod(y_true, 1) == 0)
    ):
        raise UserError("y_true must hold integer class indices")
    y_true = y_true.astype(np.int64)
    if y_true.size and (y_true.min() < 0 or y_true.max() >= k):
        raise UserError(
            f"y_true holds class indices outside 0..{k - 1} ({k} class names {names}): "
            f"found {int(y_true.min())}..{int(y_true.max())}"
        )
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_prob.ndim == 1 and k == 2:
        y_prob = np.stack([1.0 - y_prob, y_prob], axis=1)
    if y_prob.ndim != 2 or y_prob.shape[1] != k:
        raise UserError(
            f"y_prob must have shape (n, {k}) for {k} classes {names}, got {y_prob.shape}"
        )
    if y_prob.shape[0] != y_true.shape[0]:
        raise UserError(
            f"y_true and y_prob disagree on the number of samples: {y_true.shape[0]} vs {y_prob.shape[0]}"
        )
    if y_true.size == 0:
        raise UserError("no samples: y_true is empty")
    if not np.all(np.isfinite(y_prob)):
        raise UserError("y_prob contains NaN or infinite values")
    return y_true, y_prob, names


def _py(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------


def signal_efficiency_at(scores_sig: np.ndarray, scores_bkg: np.ndarray, bkg_eff: float) -> float:
    """Signal efficiency when the cut on the score keeps a fraction ``bkg_eff`` of background.

    The cut is the ``1 - bkg_eff`` quantile of the background scores; events
    strictly above it pass. Returns NaN when either sample is empty.

    Example::

        signal_efficiency_at(np.array([0.9, 0.8]), np.array([0.1, 0.2, 0.95]), 0.34)  # 1.0
    """
    scores_sig, scores_bkg = np.asarray(scores_sig, float), np.asarray(scores_bkg, float)
    if scores_sig.size == 0 or scores_bkg.size == 0:
        return math.nan
    cut = np.quantile(scores_bkg, 1.0 - bkg_eff, method="higher")
    return float(np.mean(scores_sig > cut))


def compute_metrics(
    y_true: Any,
    y_prob: Any,
    class_names: Sequence[str],
    bkg_efficiencies: Sequence[float] = BKG_EFFICIENCIES,
) -> dict[str, Any]:
    """All standard metrics as a JSON-serialisable dict of plain Python types.

    Keys: ``n``, ``class_names``, ``accuracy``, ``balanced_accuracy``,
    ``per_class`` (``{name: {precision, recall, f1, support}}``),
    ``confusion_matrix`` (``counts`` and row-normalised ``normalized``; rows are
    the true class), ``roc_auc`` (one-vs-rest per class and ``macro``; ``None``
    for a class absent from ``y_true``), ``auc`` (binary problems: the AUC of
    the positive class, index 1), and ``signal_efficiency``
    (``{name: {"bkg_eff=0.01": eff, ...}}``, one-vs-rest on the class's probability).

    Example::

        >>> m = compute_metrics([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]], ["a", "b"])
        >>> m["accuracy"], m["auc"]
        (1.0, 1.0)
    """
    from sklearn.metrics import (
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y_true, y_prob, names = _validate(y_true, y_prob, class_names)
    k = len(names)
    labels = np.arange(k)
    y_pred = y_prob.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    row = cm.sum(axis=1, keepdims=True)
    cm_norm = np.divide(cm, row, out=np.zeros(cm.shape, dtype=float), where=row > 0)
    prec, rec, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    aucs: dict[str, float | None] = {}
    eff: dict[str, dict[str, float | None]] = {}
    for i, name in enumerate(names):
        is_sig = y_true == i
        if is_sig.all() or not is_sig.any():
            aucs[name] = None
            eff[name] = {f"bkg_eff={b:g}": None for b in bkg_efficiencies}
            continue
        aucs[name] = float(roc_auc_score(is_sig, y_prob[:, i]))
        eff[name] = {
            f"bkg_eff={b:g}": _py(signal_efficiency_at(y_prob[is_sig, i], y_prob[~is_sig, i], b))
            for b in bkg_efficiencies
        }
    valid = [a for a in aucs.values() if a is not None]
    result: dict[str, Any] = {
        "n": int(len(y_true)),
        "class_names": names,
        "accuracy": float(np.mean(y_pred == y_true)),
        # the mean recall of the classes present (sklearn's balanced_accuracy_score, without its
        # warning when the prediction names a class absent from the truth: normal for few events)
        "balanced_accuracy": float(np.mean(rec[support > 0])) if np.any(support > 0) else float("nan"),
        "per_class": per_class,
        "confusion_matrix": {"counts": cm.astype(int).tolist(), "normalized": cm_norm.tolist()},
        "roc_auc": {**aucs, "macro": float(np.mean(valid)) if valid else None},
        "signal_efficiency": eff,
    }
    if k == 2:
        result["auc"] = aucs[names[1]]
    return result


# --------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------


def _figure(*args: Any, figsize: tuple[float, float] | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """A figure of the object-oriented API: no pyplot, no backend chosen or changed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def plot_confusion_matrix(
    cm: Any,
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    normalize: bool = False,
    log: bool = False,
    title: str | None = None,
) -> Path:
    """Annotated confusion matrix (rows: true class, columns: predicted class) as PNG.

    ``cm`` holds counts. ``normalize=True`` shows row fractions (recall per
    class) and annotates them with the counts in brackets; ``log=True`` uses a
    logarithmic colour scale (useful for very unbalanced classes, e.g. OPAL).

    Example::

        plot_confusion_matrix([[50, 2], [5, 40]], ["tt", "W"], "cm.png", normalize=True)
    """
    from matplotlib.colors import LogNorm

    cm = np.asarray(cm, dtype=float)
    names = [str(c) for c in class_names]
    if cm.ndim != 2 or cm.shape != (len(names), len(names)):
        raise UserError(
            f"confusion matrix must be ({len(names)}, {len(names)}) for classes {names}, got {cm.shape}"
        )
    row = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, row, out=np.zeros_like(cm), where=row > 0)
    values = frac if normalize else cm
    k = len(names)
    fig, ax = _figure(figsize=(1.2 * k + 2.5, 1.1 * k + 2))
    if log:
        positive = values[values > 0]
        vmin = positive.min() if positive.size else 1e-3
        vmax = max(values.max(), vmin * 10)
        norm = LogNorm(vmin=vmin, vmax=vmax)
        shown = np.where(values > 0, values, np.nan)
    else:
        norm, shown = None, values
    im = ax.imshow(shown, cmap="Blues", norm=norm, vmin=None if log else 0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix")
    )
    finite = values[np.isfinite(values)]
    threshold = (
        (np.sqrt(finite.max() * max(finite[finite > 0].min(), 1e-12)) if log else finite.max() / 2)
        if finite.size and finite.max() > 0
        else 0
    )
    for i in range(k):
        for j in range(k):
            text = f"{frac[i, j]:.2f}\n({int(cm[i, j])})" if normalize else f"{int(cm[i, j])}"
            color = "white" if values[i, j] > threshold else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=9)
    return write_figure_png(fig, path)


def _one_vs_rest(y_true: np.ndarray, y_prob: np.ndarray, names: Sequence[str]):
    """Yield ``(class name, fpr, tpr)`` per class (only the positive class for two classes)."""
    from sklearn.metrics import roc_curve

    for i in [1] if len(names) == 2 else range(len(names)):
        is_sig = y_true == i
        if is_sig.all() or not is_sig.any():
            continue
        fpr, tpr, _ = roc_curve(is_sig, y_prob[:, i])
        yield names[i], fpr, tpr


def plot_roc(
    y_true: Any, y_prob: Any, class_names: Sequence[str], path: str | os.PathLike[str]
) -> Path:
    """One-vs-rest ROC curves (true vs false positive rate) with the AUC in the legend.

    For two classes only the positive class (index 1) is drawn.

    Example::

        plot_roc(y_true, y_prob, ["tt", "W"], "roc.png")
    """
    from sklearn.metrics import auc

    y_true, y_prob, names = _validate(y_true, y_prob, class_names)
    fig, ax = _figure(figsize=(5.5, 5))
    for name, fpr, tpr in _one_vs_rest(y_true, y_prob, names):
        ax.plot(fpr, tpr, label=f"{name} vs rest (AUC = {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="random")
    ax.set_xlabel("false positive rate (background efficiency)")
    ax.set_ylabel("true positive rate (signal efficiency)")
    ax.set_title("ROC (one vs rest)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return write_figure_png(fig, path)


#: the rejection curve stops where fewer background events than this pass the cut
MIN_BACKGROUND = 5


def plot_efficiency_rejection(
    y_true: Any, y_prob: Any, class_names: Sequence[str], path: str | os.PathLike[str],
    min_background: int = MIN_BACKGROUND,
) -> Path:
    """Background rejection (1 / background efficiency, log scale) vs signal efficiency, per class.

    Honest where statistics are thin: the band is the statistical uncertainty
    (Poisson, +-1 sigma on the number of background events that pass), and the
    curve stops where fewer than ``min_background`` background events pass
    (one event is a rejection of N with an uncertainty as large as N).

    Example::

        plot_efficiency_rejection(y_true, y_prob, ["tt", "W"], "rejection.png")
    """
    y_true, y_prob, names = _validate(y_true, y_prob, class_names)
    fig, ax = _figure(figsize=(5.5, 5))
    drawn = 0
    for name, fpr, tpr in _one_vs_rest(y_true, y_prob, names):
        cls = list(names).index(name)
        n_bkg = int(np.sum(y_true != cls))
        passed = fpr * n_bkg  # background events that pass the cut
        ok = passed >= max(min_background, 1) - 1e-9
        if not ok.any():
            continue
        rej = n_bkg / passed[ok]
        err = np.sqrt(passed[ok])
        lo = n_bkg / (passed[ok] + err)
        hi = n_bkg / np.maximum(passed[ok] - err, 0.5)
        line, = ax.plot(tpr[ok], rej, label=f"{name} vs rest ({n_bkg} background events)")
        ax.fill_between(tpr[ok], lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        drawn += 1
    if not drawn:  # say so in the picture instead of an empty frame
        ax.text(0.5, 0.5, f"too few test events for a curve:\nfewer than {min_background} background "
                "events pass any cut", ha="center", va="center", transform=ax.transAxes)
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background rejection 1 / eff(bkg)")
    ax.set_title(f"efficiency vs rejection\nband: statistical uncertainty; curves stop where "
                 f"< {min_background} background events pass", fontsize=9)
    if drawn:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return write_figure_png(fig, path)


def plot_misclassified(
    images: Any,
    y_true: Any,
    y_prob: Any,
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    max_images: int = 16,
    total_wrong: int | None = None,
    total: int | None = None,
) -> Path:
    """Gallery of the most confidently misclassified images with true/predicted class and probability.

    ``images``: ``(n, H, W[, C])`` uint8 or float in [0, 1]. When nothing is
    misclassified the figure says so. The title counts honestly: "16 of 26
    misclassified images shown (26 of 484 wrong)"; pass ``total_wrong`` and
    ``total`` when ``images`` holds only a selection (e.g. the wrong ones).

    Example::

        plot_misclassified(x_test, y_test, probs, ["tt", "W"], "wrong.png", max_images=9)
    """
    y_true, y_prob, names = _validate(y_true, y_prob, class_names)
    images = np.asarray(images)
    if images.ndim not in (3, 4) or images.shape[0] != len(y_true):
        raise UserError(
            f"images must have shape (n, H, W[, C]) with n = {len(y_true)} samples, got {images.shape}"
        )
    y_pred = y_prob.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    wrong = wrong[np.argsort(-y_prob[wrong, y_pred[wrong]], kind="stable")][
        : max(int(max_images), 0)
    ]
    cols = max(1, min(4, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / cols))
    fig, axes = _figure(rows, cols, figsize=(3 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if len(wrong) == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    for ax, i in zip(axes.flat, wrong):
        img = images[i]
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255 if img.max() > 1.0 else 1.0)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_title(
            f"true {names[y_true[i]]} ({y_prob[i, y_true[i]]:.2f})\npred {names[y_pred[i]]} ({y_prob[i, y_pred[i]]:.2f})",
            fontsize=8,
        )
    n_wrong = int((y_pred != y_true).sum()) if total_wrong is None else int(total_wrong)
    n_all = len(y_true) if total is None else int(total)
    if len(wrong) < n_wrong:
        fig.suptitle(f"{len(wrong)} of {n_wrong} misclassified images shown ({n_wrong} of {n_all} wrong)")
    else:
        fig.suptitle(f"misclassified: {n_wrong} of {n_all} images")
    return write_figure_png(fig, path)


def plot_history(
    history: dict[str, Sequence[float]],
    path: str | os.PathLike[str],
    phase_start: int | None = None,
) -> Path:
    """Loss and accuracy per epoch, training vs validation (Keras ``History.history`` dict).

    Missing keys are skipped (e.g. no ``val_*`` without a validation set).
    ``phase_start`` (1-based epoch) draws a dashed line where fine-tuning began.

    Example::

        plot_history({"loss": [0.7, 0.5], "val_loss": [0.6, 0.55],
                      "accuracy": [0.6, 0.7], "val_accuracy": [0.65, 0.7]}, "history.png")
    """
    if not isinstance(history, dict) or not history:
        raise UserError("history must be a non-empty dict like {'loss': [...], 'val_loss': [...]}")
    panels = [("loss", "loss"), ("accuracy", "accuracy")]
    if "accuracy" not in history and "acc" in history:
        panels[1] = ("acc", "accuracy")
    fig, axes = _figure(1, 2, figsize=(10, 4))
    for ax, (key, label) in zip(axes, panels):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + key)
            if values is None or len(values) == 0:
                continue
            epochs = np.arange(1, len(values) + 1)
            ax.plot(
                epochs,
                values,
                style,
                marker="o",
                ms=3,
                label="validation" if prefix else "training",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if phase_start is not None:
            ax.axvline(phase_start - 0.5, color="grey", ls=":", lw=1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        else:
            ax.text(
                0.5, 0.5, f"no '{key}' in history", ha="center", va="center", transform=ax.transAxes
            )
    return write_figure_png(fig, path)


def comparison_table(
    rows: list[dict[str, Any]], columns: Sequence[str] | None = None, digits: int = 3
) -> str:
    """A Markdown table of result rows (e.g. one per model); floats rounded to ``digits``.

    Columns default to the union of the keys in first-seen order; missing cells are empty.

    Example::

        >>> print(comparison_table([{"model": "CNN", "auc": 0.91234}, {"model": "BDT", "auc": 0.8}]))
        | model | auc |
        |---|---|
        | CNN | 0.912 |
        | BDT | 0.800 |
    """
    if not rows:
        raise UserError("comparison_table needs at least one row")
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
