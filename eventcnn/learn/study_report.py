"""Figures of the representation study with their uncertainties: learning curves, differences, transfer.

Every point is the mean over the seeds of a metric on the fixed test events,
with (i) a 95 % interval from a seeded bootstrap of the **test events**
(:func:`eventcnn.stats.bootstrap`, resampled within each true class; every
resample recomputes the seed mean) and (ii) the spread over the seeds
(:func:`eventcnn.stats.seed_summary`). The difference of two representations
at one size is paired (:func:`eventcnn.stats.paired_difference`: both scored on
the same resampled events). Metrics: macro one-vs-rest ROC AUC, per-class AUC,
accuracy, and background rejection ``1 / eps_B`` at signal efficiency 0.9 per
class (one-vs-rest on that class's probability).

The metric functions here take probabilities stacked over seeds,
``P (n_events, n_seeds, n_classes)``, and bootstrap weights ``(n_boot, n)``
(vectorised like the fast metrics of :mod:`eventcnn.stats`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn import stats
from eventcnn._io import write_figure_png, write_text_atomic
from eventcnn.learn.study_data import CLASS_WORDS, Views
from eventcnn.learn.study_plots import (
    plot_differences,
    plot_learning_curves,
    plot_transfer,
    summary_markdown,
)
from eventcnn.learn.study_transfer import binary_score

__all__ = ["AucCache", "accuracy_metric", "auc_metric", "macro_auc", "macro_auc_metric", "rejection_metric",
           "write_report"]

SIGNAL_EFFICIENCY = 0.9  # tt+jets is separated so well that at 0.5 no background is left in a small test set


def _weighted(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn._takes_weights = True  # type: ignore[attr-defined]  # eventcnn.stats: vectorised over resamples
    return fn


def _rows(weights: np.ndarray | None, n: int) -> tuple[np.ndarray, bool]:
    if weights is None:
        return np.ones((1, n)), True
    w = np.asarray(weights, dtype=np.float64)
    return (w[None, :], True) if w.ndim == 1 else (w, False)


class AucCache:
    """One-vs-rest AUCs of one model's scores under one set of bootstrap weights, computed once.

    The macro AUC, the per-class AUCs and the paired differences of a report
    resample the same test events with the same seed, so they draw identical
    weights: keyed by a digest of the weights, the scores and the labels, every
    AUC of every resample is computed once (the most expensive part of a report).
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self.store: dict[bytes, Any] = {}
        self.max_entries = max_entries

    @staticmethod
    def _digest(*arrays: np.ndarray) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        for a in arrays:
            a = np.ascontiguousarray(a)
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(memoryview(a).cast("B"))
        return h.digest()

    def roc_auc(self, y: np.ndarray, score: np.ndarray, weights: np.ndarray | None) -> Any:
        if weights is None:
            return stats.roc_auc(y, score)
        key = self._digest(y, score, weights)
        if key not in self.store:
            if len(self.store) >= self.max_entries:
                self.store.clear()
            self.store[key] = stats.roc_auc(y, score, weights=weights)
        return self.store[key]


def auc_metric(c: int, cache: AucCache | None = None) -> Callable[..., Any]:
    """One-vs-rest ROC AUC of class ``c``, mean over seeds."""
    roc = cache.roc_auc if cache is not None else (lambda y, s, w: stats.roc_auc(y, s, weights=w))

    @_weighted
    def auc(y: np.ndarray, P: np.ndarray, weights: np.ndarray | None = None) -> Any:
        vals = [roc(y == c, P[:, s, c], weights) for s in range(P.shape[1])]
        return np.mean(vals, axis=0)

    return auc


def macro_auc_metric(cache: AucCache | None = None) -> Callable[..., Any]:
    """Macro one-vs-rest ROC AUC (mean over classes), mean over seeds."""
    @_weighted
    def macro(y: np.ndarray, P: np.ndarray, weights: np.ndarray | None = None) -> Any:
        return np.mean([auc_metric(c, cache)(y, P, weights) for c in range(P.shape[2])], axis=0)

    return macro


macro_auc = macro_auc_metric()


@_weighted
def accuracy_metric(y: np.ndarray, P: np.ndarray, weights: np.ndarray | None = None) -> Any:
    """Accuracy of the most probable class, mean over seeds."""
    return np.mean([stats.accuracy(y, P[:, s].argmax(axis=1), weights=weights) for s in range(P.shape[1])], axis=0)


def rejection_metric(c: int, efficiency: float = SIGNAL_EFFICIENCY) -> Callable[..., Any]:
    """``1 / eps_B`` of class ``c`` against the others where its signal efficiency reaches ``efficiency``."""
    @_weighted
    def rejection(y: np.ndarray, P: np.ndarray, weights: np.ndarray | None = None) -> Any:
        w, single = _rows(weights, len(y))
        out = []
        for s in range(P.shape[1]):
            order = np.argsort(-P[:, s, c], kind="mergesort")
            sig = (y[order] == c).astype(np.float64)
            ws = w[:, order]
            cum_sig = np.cumsum(ws * sig, axis=1)
            cum_bkg = np.cumsum(ws * (1.0 - sig), axis=1)
            cut = np.argmax(cum_sig >= efficiency * cum_sig[:, -1:], axis=1)
            eps_b = cum_bkg[np.arange(len(ws)), cut] / np.maximum(cum_bkg[:, -1], 1e-300)
            with np.errstate(divide="ignore"):
                out.append(np.where(eps_b > 0, 1.0 / eps_b, np.nan))
        r = np.mean(out, axis=0)
        return float(r[0]) if single else r

    return rejection


def _quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A metric that is not a number on a resample (no background left at the cut) stays NaN, without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def _figure_json(metric: Callable[..., Any], y: np.ndarray, P: np.ndarray, n_boot: int, seed: int = 7) -> dict[str, Any]:
    """Seed mean with its bootstrap interval over the test events, plus the spread over seeds."""
    est = _quietly(stats.bootstrap, metric, y, P, n_boot=n_boot, seed=seed, strata=y)
    per_seed = [float(metric(y, P[:, s:s + 1])) for s in range(P.shape[1])]
    return {**est.to_json(), "seeds": _quietly(stats.seed_summary, per_seed)}


def _diff_json(metric: Callable[..., Any], y: np.ndarray, A: np.ndarray, B: np.ndarray, n_boot: int) -> dict[str, Any]:
    # the same resamples as the points (seed 7): the AUCs of both models come from the cache
    est = _quietly(stats.paired_difference, metric, y, A, B, n_boot=n_boot, seed=7, strata=y)
    k = min(A.shape[1], B.shape[1])
    per_seed = [float(metric(y, A[:, s:s + 1]) - metric(y, B[:, s:s + 1])) for s in range(k)]
    return {**est.to_json(), "seeds": _quietly(stats.seed_summary, per_seed)}


def _metrics(names: list[str], cache: AucCache) -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {"macro_auc": macro_auc_metric(cache), "accuracy": accuracy_metric}
    for c, name in enumerate(names):
        out[f"auc_{name}"] = auc_metric(c, cache)
        out[f"rejection_{name}"] = rejection_metric(c)
    return out


def _stack(out: Path, keys: list[str]) -> np.ndarray | None:
    paths = [out / "preds" / f"{k}.npy" for k in keys]
    if not paths or not all(p.exists() for p in paths):
        return None
    return np.stack([np.load(p) for p in paths], axis=1)


def learning_curves(out: Path, y: np.ndarray, names: list[str], sizes: list[int], reps: list[str], seeds: list[int],
                    n_boot: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The points (rep x size) and the paired differences image - other at each size."""
    metrics = _metrics(names, AucCache())
    points, diffs = [], []
    for size in sizes:
        stacks = {rep: _stack(out, [f"{rep}_n{size}_s{s}" for s in seeds]) for rep in reps}
        for rep, P in stacks.items():
            if P is not None:
                points.append({"rep": rep, "size": size, "n_seeds": P.shape[1],
                               **{m: _figure_json(f, y, P, n_boot) for m, f in metrics.items()}})
        A = stacks.get("image")
        for other in (r for r in reps if r != "image"):
            B = stacks.get(other)
            if A is not None and B is not None:
                diffs.append({"pair": f"image - {other}", "size": size,
                              **{m: _diff_json(metrics[m], y, A, B, n_boot)
                                 for m in ("macro_auc", "accuracy", f"auc_{names[0]}")}})
    return points, diffs


def transfer_figures(out: Path, transfer: Any, reps: list[str], seeds: list[int], n_boot: int,
                     per_class: int) -> dict[str, Any]:
    """AUC (tt+jets vs W+jets) on the real test events per arm and representation, and image - other."""

    y = transfer.y_test
    arms = ["generated", "fine-tuned", f"real-{per_class}", "real-all"]  # those with predictions are shown

    @_weighted
    def auc(yy: np.ndarray, S: np.ndarray, weights: np.ndarray | None = None) -> Any:
        return np.mean([stats.roc_auc(yy, S[:, s], weights=weights) for s in range(S.shape[1])], axis=0)

    scores: dict[tuple[str, str], np.ndarray] = {}
    for arm in arms:
        for rep in reps:
            paths = [transfer.path(out, arm, rep, s) for s in seeds]
            if all(p.exists() for p in paths):
                scores[arm, rep] = np.stack([binary_score(np.load(p), transfer.gen_classes) for p in paths], axis=1)
    result: dict[str, Any] = {"n_test": int(len(y)), "n_test_tt": int(y.sum()), "arms": {}, "differences": {}}
    for (arm, rep), S in scores.items():
        result["arms"].setdefault(arm, {})[rep] = _figure_json(auc, y, S, n_boot)
        if rep != "image" and (arm, "image") in scores:
            result["differences"].setdefault(arm, {})[f"image - {rep}"] = _diff_json(auc, y, scores[arm, "image"], S, n_boot)
    return result


def write_report(out: Path, work: Path, views: Views, pool: dict[str, list[np.ndarray]], sizes: list[int], settings: Any,
                 log: Path, transfer: Any) -> dict[str, Any]:
    """Compute every figure from the predictions cached in ``work``; write ``summary.md`` and the plots
    into ``out``; return the results dict (JSON-ready)."""

    test = np.concatenate(pool["test"])
    y = views.labels[test]
    names = list(views.class_names)
    points, diffs = learning_curves(work, y, names, sizes, list(settings.reps), list(settings.seeds), settings.n_boot)
    runs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    report: dict[str, Any] = {
        "settings": settings.to_json(),
        "classes": {n: CLASS_WORDS.get(n, n) for n in names},
        "events": {"total": len(views), "train_pool_per_class": [len(r) for r in pool["train"]],
                   "validation_per_class": len(pool["val"][0]), "test": int(len(test)),
                   "objects_cut_off": views.objects.truncated},
        "signal_efficiency_for_rejection": SIGNAL_EFFICIENCY,
        "points": points, "differences": diffs, "runs": runs,
    }
    if transfer is not None:
        report["transfer"] = transfer_figures(work, transfer, list(settings.reps), list(settings.seeds), settings.n_boot,
                                              settings.real_per_class)
    write_figure_png(plot_learning_curves(points, names, SIGNAL_EFFICIENCY), out / "learning_curves.png")
    write_figure_png(plot_differences(diffs), out / "differences.png")
    if transfer is not None:
        write_figure_png(plot_transfer(report["transfer"]), out / "transfer.png")
    write_text_atomic(out / "summary.md", summary_markdown(report))
    return report
