"""Tests of eventcnn.learn.batches: rotated copies, simulated displays mixed into the batches."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn.learn.batches import decode_pngs, recipe_batches, rotate_images, simulated_batch_pool
from eventcnn.learn.recipes import RecipeConfig


def test_rotate_images_shape_dtype() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    out = rotate_images(x, np.array([0.0, 90.0, 33.0]), np.array([False, True, False]))
    assert out.shape == x.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_array_equal(out[1], np.rot90(x[1])[:, ::-1])


def test_simulated_batch_pool_is_balanced_seeded_compact_and_decoded() -> None:
    pytest.importorskip("pythia8mc")
    from eventcnn.opal.simulate import DETECTOR, LOOSE_DETECTOR, simulate_chunk

    pngs, y = simulated_batch_pool(RecipeConfig(sim_displays=6, seed=2))
    assert np.bincount(y, minlength=4).tolist() == [2, 2, 1, 1]
    assert all(len(b) < 40_000 for b in pngs)  # PNG, not 120 kB arrays
    x = decode_pngs(pngs, range(6), 200)
    assert x.shape == (6, 200, 200, 3) and x.dtype == np.uint8
    # per class: the first half with the tuned detector, the rest with the looser thresholds
    assert np.array_equal(x[0], simulate_chunk(2, "q", 0, 1, det=DETECTOR)[0])
    assert np.array_equal(x[1], simulate_chunk(2, "q", 1, 1, det=LOOSE_DETECTOR)[0])
    assert decode_pngs(pngs, [0, 5], 64).shape == (2, 64, 64, 3)
    again, _ = simulated_batch_pool(RecipeConfig(sim_displays=6, seed=2))
    assert again == pngs
    other, _ = simulated_batch_pool(RecipeConfig(sim_displays=6, seed=3))
    assert other != pngs


def test_training_batches_mix_real_and_simulated_displays() -> None:
    real = np.zeros((10, 8, 8, 3), np.uint8)
    y = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, 3])
    from eventcnn.opal.simulate import png_bytes

    sim = ([png_bytes(np.full((8, 8, 3), 255, np.uint8))] * 40, np.repeat(np.arange(4), 10))
    cfg = RecipeConfig(sim_displays=40, sim_share=0.25, batch_size=8, steps_per_epoch=50, seed=1)
    train_ds, val_ds = recipe_batches(real, y, cfg, sim)
    sim_codes = []
    for i in range(len(train_ds)):
        xb, yb = train_ds[i]
        simulated = xb.reshape(len(xb), -1).max(axis=1) == 255
        assert len(xb) == 8 and simulated.sum() == 2  # a quarter of every batch
        sim_codes += yb[simulated].tolist()
    counts = np.bincount(sim_codes, minlength=4)
    assert counts.min() > 10  # class-balanced draws from the simulated pool
    xv = np.concatenate([val_ds[i][0] for i in range(len(val_ds))])
    assert xv.max() == 0  # validation: real displays only
