"""Tests of eventcnn.learn.train_arrays: displays in memory trained by a recipe into a resumable run folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.learn.train_arrays import train_arrays


def test_opal_train_is_train_arrays() -> None:
    assert opal.train is train_arrays  # the masterclass's word for the one implementation


@pytest.mark.parametrize("recipe", ["original", "default"])
def test_train_one_epoch_and_predict(tiny_displays, recipe: str, tmp_path: Path) -> None:
    x, y = tiny_displays
    res = opal.train(x, y, recipe=recipe, epochs=1, copies=1, lepton_factor=2, steps_per_epoch=2,
                     batch_size=8, seed=3, out=tmp_path / "run", quiet=True)
    assert len(res.history) == 1
    # best_epoch is 1-based and only set where the best weights were restored (default recipe)
    assert res.best_epoch == (1 if recipe == "default" else None)
    assert {"config.json", "history.json", "best.keras", "state.json"} <= {p.name for p in (tmp_path / "run").iterdir()}
    assert opal.load_model(tmp_path / "run").count_params() == res.model.count_params()
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["kind"] == "opal"  # eventcnn.kinds dispatches on it
    # the recipe as it ran: the original keeps the last epoch and monitors nothing
    assert cfg["train"]["monitor"] == ("val_loss" if recipe == "default" else None)
    assert cfg["train"]["restore_best"] is (recipe == "default")
    probs = opal.predict(res.model, x[:5])
    assert probs.shape == (5, 4)
    assert np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    if recipe == "default":
        m = opal.evaluate(res.model, x[:8], y[:8], out=tmp_path / "eval", names=[f"n{i}" for i in range(8)],
                          extra={"overview": "the masterclass adds its own"})
        assert 0.0 <= m["balanced_accuracy"] <= 1.0
        assert np.sum(m["confusion_matrix"]["counts"]) == 8
        assert m["overview"] == "the masterclass adds its own"
        assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["overview"] == m["overview"]
        written = {p.name for p in (tmp_path / "eval").iterdir()}
        assert {"metrics.json", "confusion_matrix.png", "misclassified.png", "misclassified.csv"} <= written


def test_train_rejects_float_images(tiny_displays) -> None:
    x, y = tiny_displays
    with pytest.raises(ValueError, match="uint8"):
        opal.train(x.astype(np.float64), y, epochs=1)
    with pytest.raises(ValueError, match="unknown class"):
        opal.label_indices(["q", "z"])


def test_opal_run_is_a_common_run_folder(tiny_displays, tmp_path: Path, capsys) -> None:
    """An OPAL run folder has the format of eventcnn.learn.runs: `eventcnn compare` reads it next to a CMS run."""
    import json

    from eventcnn.cli import main
    from eventcnn.learn.comparison import compare_rows
    from eventcnn.learn.dataset import make_toy_images
    from eventcnn.learn.runs import read_run_config
    from eventcnn.learn.train import TrainConfig, train

    x, y = tiny_displays
    res = opal.train(x, y, recipe="default", epochs=2, steps_per_epoch=2, batch_size=8, seed=3,
                     out=tmp_path / "opal", quiet=True, data_dir="displays.zip")
    hist = json.loads((tmp_path / "opal" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2] and hist[0]["loss"] == res.history[0]["loss"]
    raw = read_run_config(tmp_path / "opal")  # the checks every run reader applies
    assert raw["class_names"] == list(opal.CLASS_NAMES) and raw["image_size"] == 64
    assert raw["train"]["model"] == "opal" and raw["train"]["data_dir"] == "displays.zip"
    toy = make_toy_images(tmp_path / "toy", n_per_class=8, size=16, seed=0)
    train(TrainConfig(toy, tmp_path / "small", model="small", epochs=1, batch_size=8, augment=False,
                      quiet=True, baseline=False, evaluate=False))
    rows = compare_rows([tmp_path / "opal", tmp_path / "small"])
    assert [r["model"] for r in rows] == ["opal", "small"]
    assert rows[0]["epochs"] == 2 and rows[0]["image_size"] == 64
    assert rows[0]["val_accuracy"] == max(res.curve("val_accuracy"))
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "opal"), str(tmp_path / "small")]) == 0
    table = capsys.readouterr().out
    assert "| opal " in table and "| small " in table


def test_opal_trains_through_the_shared_loop(tiny_displays, monkeypatch) -> None:
    """opal.train uses eventcnn.learn.loop.fit_phase (the CMS loop): rows with lr/seconds; verbose= is gone."""
    import eventcnn.learn.loop

    calls = []
    real = eventcnn.learn.loop.fit_phase

    def spy(*a, **k):
        calls.append(k["settings"])
        return real(*a, **k)

    monkeypatch.setattr("eventcnn.learn.train_arrays.fit_phase", spy)
    x, y = tiny_displays
    res = opal.train(x, y, recipe="default", epochs=2, steps_per_epoch=1, batch_size=8, seed=3, quiet=True)
    assert len(calls) == 1 and calls[0].monitor == "val_loss" and calls[0].restore_best
    assert [h["epoch"] for h in res.history] == [1, 2]
    assert {"loss", "val_loss", "lr", "seconds", "phase"} <= set(res.history[0])
    assert res.curve("loss") == [h["loss"] for h in res.history]
    with pytest.raises(TypeError):
        opal.train(x, y, epochs=1, steps_per_epoch=1, quiet=True, verbose=0)


def _interrupt_after(epoch: int):
    """A fit_phase spy that stops the process (KeyboardInterrupt) after ``epoch``, like Ctrl-C."""
    import keras

    import eventcnn.learn.loop

    real = eventcnn.learn.loop.fit_phase
    calls = []

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, e, logs=None):
            if e + 1 == epoch:
                raise KeyboardInterrupt

    def spy(*a, **k):
        calls.append(k.get("initial_epoch", 0))
        if epoch:
            k["callbacks"] = [*k.get("callbacks", ()), Stop()]
        return real(*a, **k)

    return spy, calls


@pytest.mark.parametrize("recipe", ["default", "original"])
def test_an_interrupted_opal_training_resumes(tiny_displays, recipe: str, tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    x, y = tiny_displays
    settings = dict(recipe=recipe, epochs=3, copies=1, lepton_factor=2, steps_per_epoch=2, batch_size=8,
                    seed=3, out=tmp_path / "run", quiet=False)
    spy, calls = _interrupt_after(2)
    monkeypatch.setattr("eventcnn.learn.train_arrays.fit_phase", spy)
    with pytest.raises(KeyboardInterrupt):
        opal.train(x, y, **settings)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 2 and not state.get("finished")
    assert (tmp_path / "run" / "last.keras").is_file()
    spy, calls = _interrupt_after(0)
    monkeypatch.setattr("eventcnn.learn.train_arrays.fit_phase", spy)
    res = opal.train(x, y, **settings)  # the same command again: continues
    assert calls == [2]
    assert "resuming after epoch 2 of 3" in capsys.readouterr().out
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    assert json.loads((tmp_path / "run" / "state.json").read_text())["finished"]
    assert json.loads((tmp_path / "run" / "history.json").read_text()) == res.history
    # once more: finished, nothing to train; other labels: a fresh training, said so
    again = opal.train(x, y, **settings)
    assert calls == [2] and len(again.history) == 3 and "not retraining" in capsys.readouterr().out
    other = opal.train(x, np.roll(y, 1), **{**settings, "epochs": 1})
    assert calls == [2, 0] and len(other.history) == 1
    assert "holds a run on other displays, labels or settings" in capsys.readouterr().out
