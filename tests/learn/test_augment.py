"""Tests of eventcnn.learn.augment: the physics augmentation layers (exact eta-phi symmetries, Keras)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import shift_of

from eventcnn.learn.augment import (
    PhysicsAugmentation,
    RandomEtaFlip,
    RandomPhiFlip,
    RandomPhiShift,
    physics_augmentation,
    plot_symmetry_grid,
)


def _np(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def test_phi_shift_is_exact_cyclic_roll(batch):
    out = _np(RandomPhiShift(seed=1)(batch, training=True))
    assert out.dtype == np.uint8 and out.shape == batch.shape
    shifts = [shift_of(o, b) for o, b in zip(out, batch)]
    assert None not in shifts  # every image is an exact cyclic roll
    # nothing lost: per column the multiset of pixel values is preserved
    np.testing.assert_array_equal(np.sort(out, axis=1), np.sort(batch, axis=1))
    # per sample, not per batch
    assert len(set(shifts)) > 4


def test_phi_shift_float_keeps_dtype(batch):
    x = batch.astype("float32") / 255
    out = _np(RandomPhiShift(seed=2)(x, training=True))
    assert out.dtype == np.float32
    assert all(shift_of(o, b) is not None for o, b in zip(out, x))


def test_flips_are_exact_and_per_sample(batch):
    out = _np(RandomEtaFlip(seed=3)(batch, training=True))
    flipped = [np.array_equal(o, b[:, ::-1]) for o, b in zip(out, batch)]
    same = [np.array_equal(o, b) for o, b in zip(out, batch)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 0 < sum(flipped) < len(batch)
    out = _np(RandomPhiFlip(seed=3)(batch, training=True))
    flipped = [np.array_equal(o, b[::-1]) for o, b in zip(out, batch)]
    same = [np.array_equal(o, b) for o, b in zip(out, batch)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 0 < sum(flipped) < len(batch)


@pytest.mark.parametrize("geometry", ["etaphi", "endview"])
def test_inference_is_identity(batch, geometry):
    layer = physics_augmentation(geometry, seed=0)
    np.testing.assert_array_equal(_np(layer(batch)), batch)
    np.testing.assert_array_equal(_np(layer(batch, training=False)), batch)
    out = _np(layer(batch, training=True))
    assert out.dtype == batch.dtype and out.shape == batch.shape
    assert not np.array_equal(out, batch)


def test_combined_etaphi_is_exact(batch):
    out = _np(physics_augmentation(seed=11)(batch, training=True))
    kinds = set()
    for o, b in zip(out, batch):
        variants = {"none": b, "eta": b[:, ::-1], "phi": b[::-1], "both": b[::-1, ::-1]}
        hits = [k for k, v in variants.items() if shift_of(o, v) is not None]
        assert hits, "output is not a rolled/mirrored copy of its input"
        kinds.update(hits)
    assert len(kinds) >= 3  # the mirrors are drawn per sample


def test_seeded_layers_are_deterministic(batch):
    a = _np(physics_augmentation(seed=7)(batch, training=True))
    b = _np(physics_augmentation(seed=7)(batch, training=True))
    c = _np(physics_augmentation(seed=8)(batch, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_endview_rotation_fills_background():
    img = np.full((1, 32, 32, 3), 255, dtype=np.uint8)
    out = _np(
        physics_augmentation("endview", seed=1, background=0)(np.repeat(img, 8, 0), training=True)
    )
    # rotated corners come from outside the image: filled with the background value
    assert (out[:, 0, 0] == 0).any()


def test_model_with_augmentation_round_trips_as_keras(tmp_path, batch):
    model = keras.Sequential(
        [
            keras.Input(batch.shape[1:]),
            physics_augmentation(seed=5, phi_flip=False),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    aug = loaded.layers[0]
    assert isinstance(aug, PhysicsAugmentation)
    assert aug.get_config()["seed"] == 5 and aug.get_config()["phi_flip"] is False
    np.testing.assert_allclose(_np(loaded(batch)), _np(model(batch)), rtol=1e-6)


def test_bad_geometry_and_rank():
    with pytest.raises(ValueError, match="geometry"):
        physics_augmentation("xy")
    with pytest.raises(ValueError, match="NHWC"):
        RandomPhiShift(seed=0)(np.zeros((4, 4, 3), np.uint8), training=True)


def test_plot_symmetry_grid_shows_the_original_and_n_versions(batch, tmp_path):
    fig = plot_symmetry_grid(batch[0], n=3, seed=1, path=tmp_path / "grid.png")
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 4 and shown[0].get_title() == "original"
    np.testing.assert_array_equal(shown[0].get_images()[0].get_array(), batch[0])
    assert shown[0].get_xlabel() == "eta" and (tmp_path / "grid.png").stat().st_size > 0
