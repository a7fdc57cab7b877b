"""Class balance and stratified sampling: one implementation for CMS, OPAL, notebooks and benchmarks.

numpy and scikit-learn only (no Keras).

Example::

    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 1])
    >>> balanced_class_weight(y, 2)
    {0: 0.6666666666666666, 1: 2.0}
    >>> stratified_sample(y, 0.5, seed=0, min_per_class=1).tolist()   # doctest: +SKIP
    [1, 3]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eventcnn.errors import UserError

__all__ = ["balanced_class_weight", "class_weight_vector", "oversample_factors", "stratified_holdout",
           "stratified_sample"]


def class_weight_vector(labels: Any, num_classes: int, present_only: bool = False) -> np.ndarray:
    """Per-class weights ``n / (k * n_c)`` (scikit-learn's ``"balanced"``) as an array of ``num_classes``.

    ``k`` is ``num_classes``, or with ``present_only`` the number of classes that
    occur in ``labels`` (exactly :func:`sklearn.utils.class_weight.compute_class_weight`
    over the present classes). Absent classes get 1 (they weigh no sample).
    """
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(labels, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise UserError(f"labels must be class indices in [0, {num_classes}), got {y.min()}..{y.max()}")
    out = np.ones(num_classes, dtype=np.float64)
    present = np.unique(y)
    if present.size == 0:
        return out
    out[present] = compute_class_weight("balanced", classes=present, y=y)
    if not present_only:  # sklearn divides by the present classes; "balanced" over all of them
        out[present] *= present.size / num_classes
    return out


def balanced_class_weight(labels: Any, num_classes: int) -> dict[int, float]:
    """Class weights ``n / (num_classes * n_c)`` as the ``{class: weight}`` dict Keras takes; absent classes get 1."""
    return {c: float(w) for c, w in enumerate(class_weight_vector(labels, num_classes))}


def oversample_factors(labels: Any, num_classes: int) -> dict[int, float]:
    """Per-class repeat factors that bring every class up to the largest one."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    top = counts.max()
    return {c: (float(top / counts[c]) if counts[c] else 1.0) for c in range(num_classes)}


def stratified_sample(labels: Any, fraction: float, seed: int = 0, *, min_per_class: int = 1,
                      keep_out: int = 0, classes: Sequence[Any] | None = None) -> np.ndarray:
    """Sorted indices of a class-proportional random sample.

    Per class (in the order of ``classes``, default ``np.unique(labels)``):
    ``round(fraction * n_c)`` draws, at least ``min_per_class``, at most
    ``n_c - keep_out`` (so ``keep_out=1`` always leaves one event of a class
    out). The same seed gives the same sample.

    Example::

        idx = stratified_sample(data.labels, 0.1, seed=1)          # a 10% subset, every class kept
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked: list[np.ndarray] = []
    for c in (np.unique(labels) if classes is None else classes):
        idx = np.flatnonzero(labels == c)
        n = max(int(round(fraction * len(idx))), min_per_class)
        n = max(min(n, len(idx) - keep_out), 0)
        picked.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def stratified_holdout(labels: Any, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a stratified validation share (at least one per class with >= 2 events, never all)."""
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), dtype=bool)
    if fraction <= 0:
        return mask
    mask[stratified_sample(labels, fraction, seed, min_per_class=1, keep_out=1)] = True
    return mask
