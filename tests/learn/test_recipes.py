"""Tests of eventcnn.learn.recipes: the recipes' settings and policy, read by the library and the command line alike."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.errors import UserError
from eventcnn.learn.recipes import (
    FINE_TUNE,
    RECIPE_EPOCHS,
    SMALL_SET,
    SMALL_SET_EPOCHS,
    RecipeConfig,
    recipe_config,
    recipe_copies,
)


def test_recipe_factors_and_determinism() -> None:
    y = np.array([0] * 10 + [1] * 2 + [2] * 3 + [3] * 1)
    cfg = RecipeConfig(recipe="original", copies=3, lepton_factor=20, seed=7, val_fraction=0.2)
    a = recipe_copies(y, cfg)
    b = recipe_copies(y, cfg)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    per_class = np.bincount(y[a["source"]], minlength=4)
    assert per_class.tolist() == [30, 2 * 60, 3 * 60, 1 * 60]
    assert np.bincount(a["source"]).tolist() == [3] * 10 + [60] * 6
    assert a["train"].sum() == round(0.8 * len(a["source"]))
    assert a["angle"].min() >= 0 and a["angle"].max() < 360
    c = recipe_copies(y, RecipeConfig(recipe="original", seed=8))
    assert not np.array_equal(a["angle"], c["angle"])
    assert RecipeConfig(recipe="original", lepton_factor=60).factors() == {
        "q": 3, "e": 180, "m": 180, "t": 180}
    with pytest.raises(ValueError, match="recipe"):
        RecipeConfig(recipe="fancy")


def _tiny(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(n, 64, 64, 3)).astype(np.uint8)
    y = np.array(list("qemt") * (n // 4))
    return x, y


def test_small_label_set_caps_epochs():
    x, y = _tiny()
    res = opal.train(x, y, steps_per_epoch=1, val_fraction=0.0, quiet=True)
    assert res.config.epochs == SMALL_SET_EPOCHS
    assert len(res.history) == SMALL_SET_EPOCHS


def test_explicit_epochs_win():
    x, y = _tiny()
    res = opal.train(x, y, steps_per_epoch=1, val_fraction=0.0, epochs=2, quiet=True)
    assert len(res.history) == 2


def test_pretrained_start_fine_tunes_unless_told_otherwise() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 40, size=(8, 200, 200, 3), dtype=np.uint8)
    y = np.array(list("qqeemmtt"))
    kw = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 4, "val_fraction": 0.0, "quiet": True}
    tuned = opal.train(x, y, weights="sim", sim_displays=4, **kw).config
    assert tuned.learning_rate == FINE_TUNE["learning_rate"] and tuned.sim_displays == 4
    assert tuned.sim_share == FINE_TUNE["sim_share"]
    mine = opal.train(x, y, weights="sim", sim_displays=0, learning_rate=1e-3, **kw).config
    assert (mine.learning_rate, mine.sim_displays) == (1e-3, 0)
    scratch = opal.train(x, y, **kw).config
    assert scratch.sim_displays == 0 and scratch.learning_rate == RecipeConfig().learning_rate
    with pytest.raises(UserError, match="sim_share"):
        RecipeConfig(sim_share=1.0)
    with pytest.raises(UserError, match="default recipe"):
        RecipeConfig(recipe="original", sim_displays=8)
    with pytest.raises(UserError, match=r"0 \(no simulated displays\) or at least 4"):
        RecipeConfig(sim_displays=-5)


def test_the_policy_is_the_librarys_for_every_caller() -> None:
    """The original recipe trains RECIPE_EPOCHS["original"] (3) epochs from the library as from `opal train`."""
    assert recipe_config("original").epochs == RECIPE_EPOCHS["original"] == 3
    assert RecipeConfig(recipe="original").epochs == 3 and RecipeConfig().epochs == RECIPE_EPOCHS["default"]
    assert recipe_config("default", n_labels=SMALL_SET - 1).epochs == SMALL_SET_EPOCHS
    assert recipe_config("default", n_labels=SMALL_SET).epochs == RECIPE_EPOCHS["default"]
    assert recipe_config("default", n_labels=10, epochs=5).epochs == 5
    tuned = recipe_config("default", n_labels=10, weights="sim")
    assert (tuned.learning_rate, tuned.sim_displays, tuned.sim_share) == tuple(FINE_TUNE[k] for k in (
        "learning_rate", "sim_displays", "sim_share"))
    assert recipe_config("default", weights="sim", sim_displays=0).sim_displays == 0
    given = RecipeConfig(recipe="default", epochs=40)
    assert recipe_config(given, n_labels=10) is given  # a config passed in is taken as it is
