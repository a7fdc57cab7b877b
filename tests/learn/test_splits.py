"""eventcnn.learn.splits: class weights (sklearn "balanced") and stratified samples."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from eventcnn.learn.splits import (
    balanced_class_weight,
    class_weight_vector,
    stratified_holdout,
    stratified_sample,
)


def test_class_weights_match_sklearn_balanced():
    y = np.array([0, 0, 0, 1, 2, 2])
    assert np.allclose(class_weight_vector(y, 3), compute_class_weight("balanced", classes=np.arange(3), y=y))
    w = balanced_class_weight(y, 4)  # one class absent: n / (4 n_c), absent weight 1
    assert w == pytest.approx({0: 6 / 12, 1: 6 / 4, 2: 6 / 8, 3: 1.0})
    present = class_weight_vector(y, 4, present_only=True)
    assert np.allclose(present[:3], compute_class_weight("balanced", classes=np.arange(3), y=y))
    with pytest.raises(ValueError, match="class indices"):
        class_weight_vector([0, 5], 3)


def test_stratified_sample_is_seeded_proportional_and_bounded():
    y = np.array([0] * 50 + [1] * 10 + [2] * 2)
    a = stratified_sample(y, 0.2, seed=3)
    assert np.array_equal(a, stratified_sample(y, 0.2, seed=3))
    assert np.bincount(y[a]).tolist() == [10, 2, 1]  # at least one per class
    assert np.bincount(y[stratified_sample(y, 0.0, seed=0, min_per_class=3)], minlength=3).tolist() == [3, 3, 2]
    assert np.all(np.diff(a) > 0)


def test_stratified_holdout_leaves_one_out_per_class():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    mask = stratified_holdout(y, 0.9, seed=0)
    assert np.bincount(y[mask], minlength=3).tolist() == [3, 1, 0]
    assert not stratified_holdout(y, 0.0, seed=0).any()
