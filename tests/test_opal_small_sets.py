"""opal.train on small label sets: epochs capped unless given (issue 12)."""

from __future__ import annotations

import numpy as np

from eventcnn import opal


def _tiny(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(n, 64, 64, 3)).astype(np.uint8)
    y = np.array(list("qemt") * (n // 4))
    return x, y


def test_small_label_set_caps_epochs():
    x, y = _tiny()
    res = opal.train(x, y, steps_per_epoch=1, val_fraction=0.0, quiet=True)
    assert res.config.epochs == opal.SMALL_SET_EPOCHS
    assert len(res.history) == opal.SMALL_SET_EPOCHS


def test_explicit_epochs_win():
    x, y = _tiny()
    res = opal.train(x, y, steps_per_epoch=1, val_fraction=0.0, epochs=2, quiet=True)
    assert len(res.history) == 2
