"""The shared training loop (eventcnn.learn.loop): history rows, best model, early stopping, restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from eventcnn.learn.loop import BEST_PENDING, LoopSettings, fit_phase, settle_best


def _model_and_data(seed: int = 0, n: int = 32):
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class Batches(keras.utils.PyDataset):
        def __init__(self, xs, ys):
            super().__init__()
            self.xs, self.ys = xs, ys

        def __len__(self):
            return 2

        def __getitem__(self, i):
            h = len(self.xs) // 2
            return self.xs[i * h:(i + 1) * h], self.ys[i * h:(i + 1) * h]

    return model, Batches(x, y), Batches(x[::-1].copy(), 1 - y[::-1])  # val labels flipped: val loss rises


def test_rows_best_and_last_written_per_epoch(tmp_path):
    model, tr, va = _model_and_data()
    state, history = fit_phase(model, tr, va, epochs=3, out=tmp_path, quiet=True,
                               settings=LoopSettings(monitor="val_loss", patience=None))
    assert [h["epoch"] for h in history] == [1, 2, 3] and {h["phase"] for h in history} == {1}
    assert {"loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds"} <= set(history[0])
    assert json.loads((tmp_path / "history.json").read_text()) == history
    best = int(np.argmin([h["val_loss"] for h in history])) + 1
    assert state["best_epoch"] == best and state["epoch"] == 3
    assert (tmp_path / "best.keras").is_file() and (tmp_path / "last.keras").is_file()
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 3


def test_early_stop_and_restore_best_in_memory():
    model, tr, va = _model_and_data()
    state, history = fit_phase(model, tr, va, epochs=20, quiet=True,
                               settings=LoopSettings(monitor="val_loss", patience=2, min_delta=0.0, restore_best=True))
    losses = [h["val_loss"] for h in history]
    assert len(history) < 20 and state["stopped_early_phase1"] == len(history)
    assert state["best_epoch"] == int(np.argmin(losses)) + 1
    # the model ends with the best epoch's weights: its validation loss is the best one
    res = model.evaluate(va, verbose=0, return_dict=True)
    assert res["loss"] == pytest.approx(min(losses), rel=1e-4)


def test_no_monitor_keeps_the_last_epoch():
    model, tr, _ = _model_and_data()
    state, history = fit_phase(model, tr, None, epochs=2, quiet=True,
                               settings=LoopSettings(monitor=None, patience=None, restore_best=True))
    assert state["best_epoch"] == 2 and len(history) == 2


def test_monitor_without_validation_data_is_an_error():
    model, tr, _ = _model_and_data()
    with pytest.raises(ValueError, match="needs validation data"):
        fit_phase(model, tr, None, epochs=1, quiet=True)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="monitor"):
        LoopSettings(monitor="accuracy")
    with pytest.raises(ValueError, match="patience"):
        LoopSettings(patience=0)


def test_interrupted_best_update_is_finished_on_resume(tmp_path):
    (tmp_path / "best.keras").write_text("old")
    (tmp_path / BEST_PENDING).write_text("new")
    state = {"best_epoch": 3, "best_pending": True}  # state.json was written, the rename was not
    settle_best(tmp_path, state)
    assert (tmp_path / "best.keras").read_text() == "new" and "best_pending" not in state
    assert not (tmp_path / BEST_PENDING).exists()
    # a pending file without the state's word (kill before state.json) is dropped
    (tmp_path / BEST_PENDING).write_text("newer")
    settle_best(tmp_path, {"best_epoch": 3})
    assert (tmp_path / "best.keras").read_text() == "new" and not (tmp_path / BEST_PENDING).exists()


def test_output_to_a_file_gets_one_line_per_epoch_not_one_per_step(tmp_path):
    """Keras' progress bar rewrites its line with ANSI/carriage returns per step; a log file gets epochs."""
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent("""
        import keras
        import numpy as np

        from eventcnn.learn.loop import LoopSettings, fit_phase, fit_verbosity

        x, y = np.zeros((64, 4), "float32"), np.zeros(64, "int64")

        class Seq(keras.utils.PyDataset):
            def __len__(self):
                return 8

            def __getitem__(self, i):
                return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

        print("verbosity", fit_verbosity(quiet=False), flush=True)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        m.compile("sgd", "sparse_categorical_crossentropy")
        fit_phase(m, Seq(), None, epochs=3, settings=LoopSettings(monitor=None, patience=None))
    """))
    log = tmp_path / "log.txt"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "EVENTCNN_QUIET": "",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with open(log, "w") as fh:
        subprocess.run([sys.executable, str(script)], stdout=fh, stderr=subprocess.DEVNULL, env=env,
                       check=True, timeout=300)
    text = log.read_text()
    assert "verbosity 2" in text
    assert "\r" not in text and "\x1b[" not in text  # no progress-bar redraws
    assert sum(line.startswith("Epoch ") for line in text.splitlines()) == 3
    assert len([line for line in text.splitlines() if "loss" in line]) == 3  # one summary line per epoch


def test_fit_verbosity_quiet_terminal_and_jupyter(monkeypatch):
    import io
    import sys

    from eventcnn.learn.loop import fit_verbosity

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert fit_verbosity(quiet=True) == 0
    monkeypatch.setattr(sys, "stdout", Tty())
    assert fit_verbosity(quiet=False) == 1
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert fit_verbosity(quiet=False) == 2
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert fit_verbosity(quiet=False) == 1
