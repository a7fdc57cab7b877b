"""Result figures with their uncertainties: the JSON of ``evaluate``, ``compare`` and reports.

Every figure is ``{"value": v, "ci95": [low, high]}``: a seeded percentile
bootstrap over the test events, stratified by true class (the class counts of
the test set stay fixed in every resample), all figures of one call computed
on the same resamples (:func:`eventcnn.stats.bootstrap`). Two models scored on
the same events are compared by the paired difference of each figure with its
own interval (:func:`eventcnn.stats.paired_difference`); repeated seeds are
summarised as mean +- spread (:func:`eventcnn.stats.seed_summary`).
Numpy only (no Keras): the classroom, ``compare`` and the benches use it.

Figures (``metrics_with_intervals``): ``accuracy``, ``balanced_accuracy``,
``auc`` (two classes: the AUC of the second class, the signal), ``roc_auc``
(one-vs-rest per class and ``macro``), ``per_class`` (``efficiency`` = recall,
``precision``, ``f1``, ``support``), ``background_rejection`` (one-vs-rest,
1 / background efficiency at the cut that keeps a fixed signal efficiency;
``value`` null when no background event passes: the rejection is then only
bounded from below by the number of background events), ``signal_efficiency``
at fixed background efficiency, ``confusion_matrix`` (``counts``; ``normalized``
row fractions with Clopper-Pearson intervals).

Example::

    >>> import numpy as np
    >>> from eventcnn.learn.intervals import metrics_with_intervals, fmt
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400); p1 = np.clip(0.5 * y + rng.random(400) * 0.6, 0, 1)
    >>> m = metrics_with_intervals(y, np.c_[1 - p1, p1], ["w", "tt"], n_boot=200)
    >>> sorted(m["auc"])
    ['ci95', 'value']
    >>> fmt(m["accuracy"]).count("[")
    1
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from eventcnn import stats
from eventcnn.errors import UserError

__all__ = [
    "BKG_EFFICIENCIES",
    "SIGNAL_EFFICIENCIES",
    "fmt",
    "is_estimate",
    "metrics_with_intervals",
    "paired_metrics",
    "rejection_from_efficiency",
    "seed_summaries",
    "value_of",
]

#: signal efficiencies at which the background rejection is given (one-vs-rest)
SIGNAL_EFFICIENCIES: tuple[float, ...] = (0.5, 0.7, 0.9)
#: background efficiencies at which the signal efficiency is given (one-vs-rest)
BKG_EFFICIENCIES: tuple[float, ...] = (0.01, 0.1)

_LEVEL = 0.95


# --------------------------------------------------------------------------- metrics of (y, probabilities)


def _rows(weights: np.ndarray | None, n: int) -> tuple[np.ndarray, bool]:
    if weights is None:
        return np.ones((1, n)), True
    w = np.asarray(weights, dtype=np.float64)
    return (w[None, :], True) if w.ndim == 1 else (w, False)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _prediction_figures(names: Sequence[str]) -> Callable[..., Any]:
    """Accuracy, balanced accuracy and per-class efficiency/precision/F1 of the most probable class, in one pass."""
    k = len(names)

    @stats.vectorised
    def figures(y: Any, prob: Any, weights: np.ndarray | None = None) -> dict[str, Any]:
        y = np.asarray(y)
        pred = np.asarray(prob).argmax(axis=1)
        w, single = _rows(weights, len(y))
        classes = np.arange(k)
        is_true = (y[:, None] == classes).astype(np.float64)
        is_pred = (pred[:, None] == classes).astype(np.float64)
        hit = (y == pred).astype(np.float64)
        true, predicted, tp = w @ is_true, w @ is_pred, w @ (is_true * hit[:, None])
        recall, precision = _ratio(tp, true), _ratio(tp, predicted)
        f1 = _ratio(2 * tp, true + predicted)
        with np.errstate(invalid="ignore"):
            balanced = np.nanmean(np.where(true > 0, recall, np.nan), axis=1)
        out = {"accuracy": (w @ hit) / w.sum(axis=1), "balanced_accuracy": balanced}
        for i, name in enumerate(names):
            out[f"per_class/{name}/efficiency"] = recall[:, i]
            out[f"per_class/{name}/precision"] = precision[:, i]
            out[f"per_class/{name}/f1"] = f1[:, i]
        return {key: (float(v[0]) if single else v) for key, v in out.items()}

    return figures


def _score_figures(names: Sequence[str], present: Sequence[int], sig_effs: Sequence[float],
                   bkg_effs: Sequence[float]) -> Callable[..., Any]:
    """One-vs-rest AUC, background efficiency at fixed signal efficiency and the reverse, one sort per class."""

    @stats.vectorised
    def figures(y: Any, prob: Any, weights: np.ndarray | None = None) -> dict[str, Any]:
        y, prob = np.asarray(y), np.asarray(prob, dtype=np.float64)
        w, single = _rows(weights, len(y))
        out: dict[str, np.ndarray] = {}
        aucs = []
        for c in present if len(present) > 1 else []:
            name, score = names[c], prob[:, c]
            order = np.argsort(-score, kind="mergesort")  # highest score first
            s, sig = score[order], (y == c)[order]
            ws = w[:, order]
            starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # blocks of equal scores
            S = np.add.reduceat(ws * sig, starts, axis=1)
            B = np.add.reduceat(ws, starts, axis=1) - S
            cs, cb = np.cumsum(S, axis=1), np.cumsum(B, axis=1)
            ts, tb = cs[:, -1], cb[:, -1]
            below = tb[:, None] - cb  # background strictly below each block
            auc = _ratio(np.sum(S * (below + 0.5 * B), axis=1), ts * tb)
            out[f"roc_auc/{name}"] = auc
            aucs.append(auc)
            rows = np.arange(len(ts))
            for e in sig_effs:  # the tightest cut that keeps >= e of the signal
                first = np.argmax(cs >= e * ts[:, None] * (1 - 1e-12), axis=1)
                out[f"background_efficiency/{name}/sig_eff={e:g}"] = _ratio(cb[rows, first], tb)
            for b in bkg_effs:  # the loosest cut that keeps <= b of the background
                kept = np.sum(cb <= b * tb[:, None] * (1 + 1e-12), axis=1)
                passed = np.where(kept > 0, cs[rows, np.maximum(kept - 1, 0)], 0.0)
                out[f"signal_efficiency/{name}/bkg_eff={b:g}"] = _ratio(passed, ts)
        with np.errstate(invalid="ignore"):
            out["roc_auc/macro"] = np.nanmean(np.stack(aucs), axis=0) if aucs else np.full(len(w), np.nan)
        return {key: (float(v[0]) if single else v) for key, v in out.items()}

    return figures


def _figure_metrics(names: Sequence[str], present: Sequence[int], sig_effs: Sequence[float],
                    bkg_effs: Sequence[float]) -> dict[str, Callable[..., Any]]:
    """The bootstrapped figures of :func:`metrics_with_intervals` (two passes), keyed ``path/with/slashes``."""
    return {"": _prediction_figures(names), "scores": _score_figures(names, present, sig_effs, bkg_effs)}


def _validate(y_true: Any, y_prob: Any, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=np.float64)
    k = len(names)
    if p.ndim == 1 and k == 2:
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2 or p.shape[1] != k:
        raise UserError(f"y_prob must have shape (n, {k}) for classes {list(names)}, got {p.shape}")
    if y.ndim != 1 or len(y) != len(p):
        raise UserError(f"y_true must hold one class index per event: {y.shape} for {len(p)} events")
    if len(y) == 0:
        raise UserError("no events: cannot give a figure with an uncertainty for an empty test set")
    if y.dtype.kind in "USO":
        lookup = {str(n): i for i, n in enumerate(names)}
        unknown = sorted({str(v) for v in y} - set(lookup))
        if unknown:
            raise UserError(f"y_true holds labels {unknown[:5]} that are not among the classes {list(names)}")
        y = np.array([lookup[str(v)] for v in y])
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= k:
        raise UserError(f"y_true holds class indices outside 0..{k - 1}")
    if not np.all(np.isfinite(p)):
        raise UserError("y_prob contains NaN or infinite values")
    return y, p


def _strip(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("scores/").lstrip("/"): v for k, v in figures.items()}


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split("/")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value


def rejection_from_efficiency(eff: stats.Estimate) -> dict[str, Any]:
    """``1 / efficiency`` as ``{"value", "ci95"}`` (the percentile interval maps through the inverse).

    A background efficiency of 0 (no background event passes the cut) has no
    finite rejection: its ``value`` and upper end are ``None``.
    """
    def inv(x: float) -> float | None:
        return None if not math.isfinite(x) or x <= 0 else 1.0 / x

    lo, hi = eff.ci95
    return {"value": inv(eff.value), "ci95": [inv(hi), inv(lo)]}


def metrics_with_intervals(y_true: Any, y_prob: Any, class_names: Sequence[str], *,
                           n_boot: int = stats.DEFAULT_BOOTSTRAP, seed: int = 42,
                           signal_efficiencies: Sequence[float] = SIGNAL_EFFICIENCIES,
                           bkg_efficiencies: Sequence[float] = BKG_EFFICIENCIES) -> dict[str, Any]:
    """Every figure of a classifier on a test set, each ``{"value": v, "ci95": [low, high]}``.

    ``y_true``: class indices (or names), ``y_prob``: ``(n, k)`` probabilities.
    The bootstrap (``n_boot`` resamples, ``seed``) is stratified by true class.
    Also returns ``n``, ``class_names``, the ``confusion_matrix`` counts and a
    ``bootstrap`` block saying how the intervals were made.

    Example::

        m = metrics_with_intervals(y, prob, ["tt", "W"])
        print(fmt(m["auc"], 4))      # 0.9907 [0.9851, 0.9950]
    """
    names = [str(c) for c in class_names]
    y, p = _validate(y_true, y_prob, names)
    present = [int(c) for c in np.unique(y)]
    figures = stats.bootstrap(_figure_metrics(names, present, signal_efficiencies, bkg_efficiencies),
                              y, p, n_boot=n_boot, seed=seed, strata=y, level=_LEVEL)
    out: dict[str, Any] = {"n": int(len(y)), "class_names": names}
    for path, est in _strip(figures).items():
        if path.startswith("background_efficiency/"):
            _, name, point = path.split("/")
            _set(out, f"background_rejection/{name}/{point}", rejection_from_efficiency(est))
        _set(out, path, est.to_json())
    for i, name in enumerate(names):
        out["per_class"][name]["recall"] = out["per_class"][name]["efficiency"]  # the same figure, sklearn's word
        out["per_class"][name]["support"] = int(np.sum(y == i))
        out["roc_auc"].setdefault(name, None)
    if len(names) == 2:
        out["auc"] = out["roc_auc"][names[1]]
    pred = p.argmax(axis=1)
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (y, pred), 1)
    out["confusion_matrix"] = {"counts": counts.tolist(), "normalized": [
        [stats.binomial_interval(int(c), int(row.sum())).to_json() if row.sum() else None for c in row]
        for row in counts]}
    out["bootstrap"] = {"n_boot": int(n_boot), "seed": int(seed), "level": _LEVEL, "stratified_by": "true class",
                        "method": "percentile bootstrap over test events; confusion-matrix fractions: Clopper-Pearson"}
    return out


def paired_metrics(y_true: Any, prob_a: Any, prob_b: Any, class_names: Sequence[str], *,
                   n_boot: int = stats.DEFAULT_BOOTSTRAP, seed: int = 42,
                   signal_efficiencies: Sequence[float] = SIGNAL_EFFICIENCIES,
                   bkg_efficiencies: Sequence[float] = BKG_EFFICIENCIES) -> dict[str, Any]:
    """Figure of model A minus figure of model B on the SAME events, each with its paired interval.

    Both models' figures are computed on the same resamples of the events, so
    the interval is that of the difference (it excludes 0 when one model is
    better beyond the statistical precision of the shared test set). Background
    rejections are compared as background efficiencies (a difference of
    rejections is dominated by the smaller efficiency).

    Example::

        d = paired_metrics(y, cnn_prob, bdt_prob, ["tt", "W"])
        d["auc"]     # {"value": 0.0012, "ci95": [-0.0021, 0.0046]}
    """
    names = [str(c) for c in class_names]
    y, a = _validate(y_true, prob_a, names)
    _, b = _validate(y_true, prob_b, names)
    present = [int(c) for c in np.unique(y)]
    figures = stats.paired_difference(_figure_metrics(names, present, signal_efficiencies, bkg_efficiencies),
                                      y, a, b, n_boot=n_boot, seed=seed, strata=y, level=_LEVEL)
    out: dict[str, Any] = {"n": int(len(y)), "class_names": names}
    for path, est in _strip(figures).items():
        _set(out, path, est.to_json())
    if len(names) == 2 and names[1] in out.get("roc_auc", {}):
        out["auc"] = out["roc_auc"][names[1]]
    out["bootstrap"] = {"n_boot": int(n_boot), "seed": int(seed), "level": _LEVEL, "stratified_by": "true class",
                        "method": "paired percentile bootstrap: both models resampled with the same draws"}
    return out


# --------------------------------------------------------------------------- reading and printing figures


def is_estimate(x: Any) -> bool:
    """Whether ``x`` is a figure with an uncertainty: ``{"value", "ci95"}`` or a seed summary ``{"mean", "std"}``."""
    return isinstance(x, Mapping) and (("value" in x and "ci95" in x) or ("mean" in x and "std" in x))


def value_of(x: Any) -> float | None:
    """The central value of a figure (an estimate dict, a seed summary, or a plain number of an old run)."""
    if isinstance(x, Mapping):
        x = x.get("value", x.get("mean"))
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt(x: Any, digits: int = 3, signed: bool = False) -> str:
    """A figure as text: ``0.991 [0.985, 0.996]``, ``0.954 +- 0.008 (4 seeds)``; never a bare number.

    A plain number (a run evaluated before intervals existed) prints with
    ``(no interval)``; ``None`` prints ``–``.
    """
    sign = "+" if signed else ""

    def num(v: Any) -> str:
        return "∞" if v is None else f"{float(v):{sign}.{digits}f}"

    if x is None:
        return "–"
    if isinstance(x, Mapping) and "ci95" in x:
        if x.get("value") is None:
            lo = x["ci95"][0]
            return "–" if lo is None else f"> {float(lo):.{digits}f} (no background passes)"
        lo, hi = x["ci95"]
        return f"{num(x['value'])} [{num(lo)}, {num(hi)}]"
    if isinstance(x, Mapping) and "mean" in x:
        std = x.get("std")
        spread = "n/a" if std is None else f"{float(std):.{digits}f}"
        return f"{float(x['mean']):{sign}.{digits}f} +- {spread} ({x.get('n', '?')} seeds)"
    v = value_of(x)
    return "–" if v is None else f"{v:{sign}.{digits}f} (no interval)"


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if is_estimate(tree):
        return {prefix: tree}
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            if k in ("bootstrap", "confusion_matrix", "class_names", "n"):
                continue
            out.update(_leaves(v, f"{prefix}/{k}" if prefix else str(k)))
        return out
    return {}


def seed_summaries(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Figures of repeated runs (one metrics dict per seed) as ``{"mean", "std", "n", "values"}`` each.

    Only figures present in every result are summarised; the tree keeps the
    shape of the inputs (``accuracy``, ``roc_auc/macro``, ...).

    Example::

        s = seed_summaries([run1_metrics, run2_metrics, run3_metrics])
        fmt(s["accuracy"])    # '0.954 +- 0.008 (3 seeds)'
    """
    if not results:
        raise UserError("no results to summarise: give one metrics dict per seed")
    leaves = [_leaves(r) for r in results]
    common = [k for k in leaves[0] if all(k in other for other in leaves[1:])]
    out: dict[str, Any] = {}
    for key in common:
        values = [value_of(leaf[key]) for leaf in leaves]
        if any(v is None for v in values):
            continue
        _set(out, key, stats.seed_summary(values))
    return out
