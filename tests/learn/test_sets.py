"""Tests of eventcnn.learn.sets: the Deep Sets / Particle Flow Network on object sets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from eventcnn.errors import UserError
from eventcnn.learn.sets import MaskedPooling, build_set_model, feature_statistics, set_inputs


def _sets(n=64, slots=8, features=5, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, slots, features)).astype(np.float32)
    counts = rng.integers(1, slots + 1, n)
    mask = np.arange(slots)[None, :] < counts[:, None]
    values[~mask] = 0.0
    return values, mask


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_output_is_invariant_under_permutations_and_padding(pooling):
    values, mask = _sets()
    mean, var = feature_statistics(values, mask)
    model = build_set_model(3, values.shape[1], values.shape[2], pooling=pooling, mean=mean, variance=var)
    p = model.predict(set_inputs(values, mask), verbose=0)
    assert p.shape == (64, 3) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    rng = np.random.default_rng(1)
    perm = np.stack([rng.permutation(values.shape[1]) for _ in range(len(values))])
    pv = np.take_along_axis(values, perm[:, :, None], axis=1)
    pm = np.take_along_axis(mask, perm, axis=1)
    assert np.allclose(model.predict(set_inputs(pv, pm), verbose=0), p, atol=1e-5)
    junk = values.copy()
    junk[~mask] = rng.normal(size=int((~mask).sum() * values.shape[2])).reshape(-1, values.shape[2])
    assert np.allclose(model.predict(set_inputs(junk, mask), verbose=0), p, atol=1e-5)


def test_masked_pooling_sums_and_averages_real_objects_only():
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    m = np.array([[1, 0, 1]], dtype=np.float32)
    assert np.allclose(keras.ops.convert_to_numpy(MaskedPooling("sum")([x, m])), [[8, 10, 12, 14]])
    assert np.allclose(keras.ops.convert_to_numpy(MaskedPooling("mean")([x, m])), [[4, 5, 6, 7]])
    with pytest.raises(UserError):
        MaskedPooling("max")


def test_feature_statistics_leave_padding_out():
    values, mask = _sets()
    values[~mask] = 1000.0
    mean, var = feature_statistics(values, mask)
    assert np.allclose(mean, values[mask].mean(axis=0)) and np.all(var > 0)
    with pytest.raises(UserError):
        feature_statistics(values, np.zeros_like(mask))


def test_save_and_load_gives_the_same_predictions(tmp_path):
    values, mask = _sets(n=16)
    model = build_set_model(2, 8, 5, f_sizes=(16,), phi_sizes=(16, 16))
    path = tmp_path / "sets.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = set_inputs(values, mask)
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_learns_a_set_property():
    """Class 1 when some real object has feature 0 above 1.5: a property of the set, not of a slot."""
    values, mask = _sets(n=1200, seed=4)
    y = ((values[:, :, 0] > 1.5) & mask).any(axis=1).astype(np.int64)
    keras.utils.set_random_seed(0)
    mean, var = feature_statistics(values[:800], mask[:800])
    model = build_set_model(2, 8, 5, mean=mean, variance=var)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(set_inputs(values[:800], mask[:800]), y[:800], epochs=25, batch_size=64, verbose=0)
    acc = np.mean(model.predict(set_inputs(values[800:], mask[800:]), verbose=0).argmax(1) == y[800:])
    assert acc > 0.85


def test_bad_settings_are_clear_errors():
    with pytest.raises(UserError, match="num_classes"):
        build_set_model(1, 4, 3)
    with pytest.raises(UserError, match="mean and variance"):
        build_set_model(2, 4, 3, mean=[0.0, 1.0])
    with pytest.raises(UserError, match="at least one layer"):
        build_set_model(2, 4, 3, phi_sizes=())
