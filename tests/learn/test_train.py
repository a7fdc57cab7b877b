"""Tests of eventcnn.learn.train: real learning, run folder contents, resume after a kill, CLI, compare."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest

from eventcnn.cli import main
from eventcnn.learn.dataset import make_toy_images
from eventcnn.learn.train import Run, TrainConfig, compare_runs, train


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    # a red disc in the top vs the bottom half: learnable in a few epochs
    return make_toy_images(tmp_path_factory.mktemp("toy"), n_per_class=40, size=32, seed=0)


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "small"
    cfg = TrainConfig(toy, out, model="small", epochs=6, batch_size=8, lr=3e-3, augment=False,
                      seed=1, quiet=True, baseline=False)
    return train(cfg)


def test_training_learns_the_toy_task(trained):
    # chance is 0.5; 12 test images
    assert trained.metrics["accuracy"]["value"] >= 0.8
    assert max(h["val_accuracy"] for h in trained.history) >= 0.8
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]


def test_run_folder_contents(trained):
    out = trained.out
    for name in ("config.json", "history.json", "best.keras", "last.keras", "state.json", "split.json",
                 "metrics.json", "report.md", "learning_curves.png", "roc.png", "confusion_matrix.png"):
        assert (out / name).exists(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["seed"] == 1 and cfg["class_names"] == ["bottom", "top"]
    assert cfg["versions"]["keras"] == keras.__version__ and cfg["image_size"] == 32
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == list(range(1, len(hist) + 1))
    state = json.loads((out / "state.json").read_text())
    # best.keras is the epoch with the best validation accuracy, not training accuracy
    assert state["best"] == max(h["val_accuracy"] for h in hist)
    assert hist[state["best_epoch"] - 1]["val_accuracy"] == state["best"]
    assert Run.load(out).config == trained.config


def test_rerunning_a_finished_run_does_not_retrain(trained):
    mtime = (trained.out / "last.keras").stat().st_mtime_ns
    again = train(trained.config)
    assert (trained.out / "last.keras").stat().st_mtime_ns == mtime
    assert len(again.history) == len(trained.history)


def test_other_settings_in_same_folder_is_an_error(trained):
    cfg = TrainConfig(**{**trained.config.to_dict(), "lr": 0.5})
    with pytest.raises(ValueError, match="lr"):
        train(cfg)


class _Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt  # like Ctrl-C / a killed job after epoch 1 was saved


def test_resume_after_kill(toy, tmp_path):
    cfg = TrainConfig(toy, tmp_path / "r", model="small", epochs=2, batch_size=16, augment=True,
                      seed=3, quiet=True, evaluate=False, limit_per_class=20)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[_Kill()])
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert state["epoch"] == 1 and not state.get("finished")
    model1 = keras.saving.load_model(tmp_path / "r" / "last.keras")
    steps = int(model1.optimizer.iterations.numpy())
    run = train(cfg)
    assert [h["epoch"] for h in run.history] == [1, 2]
    model2 = keras.saving.load_model(tmp_path / "r" / "last.keras")
    # the optimizer continued from epoch 1 instead of starting again
    assert int(model2.optimizer.iterations.numpy()) == 2 * steps
    assert run.state["finished"] and run.metrics is None


def test_two_phase_fine_tuning(toy, tmp_path):
    run = train(toy, tmp_path / "ft", model="small", epochs=1, fine_tune_epochs=1, freeze="many",
                fine_tune_lr=1e-4, batch_size=16, quiet=True, evaluate=False, limit_per_class=12, augment=False)
    assert [h["phase"] for h in run.history] == [1, 2]
    assert run.history[1]["lr"] == pytest.approx(1e-4)
    model = keras.saving.load_model(tmp_path / "ft" / "last.keras")
    base = model.get_layer("backbone")
    assert base.trainable and not base.get_layer("block1_conv").trainable and base.get_layer("block4_conv").trainable


def test_cli_train_and_compare(toy, trained, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["train", "--data", str(toy), "--out", str(out), "--model", "small", "--epochs", "1",
               "--optimizer", "sgd", "--schedule", "cosine", "--batch-size", "16", "--limit-per-class", "12",
               "--class-weight", "balanced", "--oversample", "--no-augment", "--no-baseline", "--quiet"])
    assert rc == 0 and (out / "metrics.json").exists()
    cfg = json.loads((out / "config.json").read_text())["train"]
    assert cfg["optimizer"] == "sgd" and cfg["class_weight"] == "balanced" and cfg["oversample"]
    table = compare_runs([trained.out, out], out=tmp_path / "cmp.md", plot=tmp_path / "cmp.png")
    assert "| small | small | none | adam |" in table and "| cli | small | none | sgd |" in table
    assert (tmp_path / "cmp.csv").read_text().count("\n") == 3 and (tmp_path / "cmp.png").exists()
    capsys.readouterr()
    assert main(["compare", str(trained.out)]) == 0
    assert "test_accuracy" in capsys.readouterr().out
    assert main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "x"), "--quiet"]) == 1


def test_failed_start_does_not_block_the_folder(toy, tmp_path):
    from eventcnn.learn.train import _check_resumable

    cfg = TrainConfig(toy, tmp_path / "f", model="vgg16", size=32, weights=str(tmp_path / "missing.h5"),
                      epochs=1, quiet=True)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        train(cfg)
    assert (tmp_path / "f" / "config.json").exists() and not (tmp_path / "f" / "state.json").exists()
    retry = TrainConfig(**{**cfg.to_dict(), "weights": None, "seed": 5})
    assert _check_resumable(tmp_path / "f", retry) is None  # no error: nothing was trained yet
    assert not (tmp_path / "f" / "split.json").exists()  # the split of the other seed is dropped


def test_phase_two_runs_fine_tune_epochs_after_an_early_stop(toy, tmp_path):
    # a huge learning rate makes the validation loss stop improving, so phase 1 stops early
    run = train(toy, tmp_path / "es", model="small", epochs=6, fine_tune_epochs=2, patience=1, lr=5.0,
                freeze="none", batch_size=16, quiet=True, evaluate=False, limit_per_class=12, augment=False)
    phases = [h["phase"] for h in run.history]
    n1 = phases.count(1)
    assert n1 < 6 and run.state.get("stopped_early_phase1") == n1
    assert run.state["phase2_end"] == n1 + 2
    assert phases.count(2) <= 2 and phases[n1:] == [2] * phases.count(2)
    assert run.state["finished"]


def test_one_class_folder_is_explained(tmp_path, capsys):
    data = make_toy_images(tmp_path / "one", n_per_class=4, size=16, classes=("ttbar",))
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{data} holds images of 1 class ({{'ttbar': 4}}); a classifier needs at least 2" in err


def test_finished_run_with_other_data_is_refused(trained, toy, tmp_path, capsys):
    import shutil

    other = make_toy_images(tmp_path / "other", n_per_class=5, size=32, seed=9, classes=("left", "right"))
    argv = ["train", "--data", str(other), "--out", str(trained.out), "--model", "small", "--epochs", "6",
            "--batch-size", "8", "--lr", "3e-3", "--no-augment", "--seed", "1", "--no-baseline", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"run {trained.out} was trained on {toy}; you passed --data {other}" in err
    assert "it holds classes ['left', 'right'], the run has ['bottom', 'top']" in err
    assert "use a new --out" in err and err.count("\n") == 1
    # the same images under another path (a moved folder) are accepted
    moved = shutil.copytree(toy, tmp_path / "moved")
    argv[2] = str(moved)
    assert main(argv) == 0


def test_run_folder_inside_the_image_folder_is_refused(tmp_path, capsys):
    from eventcnn.cli import main

    data = tmp_path / "images"
    for cls in ("a", "b"):
        (data / cls).mkdir(parents=True)
    for out in (data, data / "run"):
        assert main(["train", "--data", str(data), "--out", str(out), "--model", "small", "--epochs", "1",
                     "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "is the image folder" in err and err.count("\n") == 1
    assert sorted(p.name for p in data.iterdir()) == ["a", "b"]  # nothing written


def test_failed_starts_leave_no_run_folder_and_cache_dir_is_checked(tmp_path, capsys):
    from eventcnn.cli import main
    from eventcnn.learn.dataset import make_toy_images

    events = tmp_path / "events.json"
    events.write_text('{"Event": {}}')
    out = tmp_path / "run"
    assert main(["train", "--data", str(events), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not an image folder" in err and "not found" not in err
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(out), "-q"]) == 1
    capsys.readouterr()
    assert not out.exists()  # no empty run folder left behind
    data = make_toy_images(tmp_path / "toy", n_per_class=3, size=16)
    assert main(["train", "--data", str(data), "--out", str(out), "--cache-dir", str(data / "cache"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "--cache-dir" in err and "is the image folder" in err and not (data / "cache").exists()
    if Path("/proc/self").is_dir():
        assert main(["train", "--data", str(data), "--out", str(out), "--cache-dir", "/proc/x", "-q"]) == 1
        assert "cannot write into folder /proc/x" in capsys.readouterr().err
    assert not out.exists()


def test_the_masterclass_network_trains_on_an_image_folder_too(tmp_path, capsys):
    """One registry: `eventcnn train --model masterclass` builds the OPAL CNN for any image folder."""
    from eventcnn.cli import main
    from eventcnn.learn.runs import load_run_model

    data = make_toy_images(tmp_path / "toy", n_per_class=6, size=56, seed=0)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", "opal", "--epochs", "1", "--batch-size", "8",
                 "--out", str(out), "--no-baseline", "--no-augment", "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "cms" and cfg["train"]["model"] == "masterclass" and cfg["train"]["freeze"] == "none"
    assert load_run_model(out).name == "opal_masterclass_cnn"
    assert main(["train", "--data", str(data), "--model", "masterclass", "--fine-tune-epochs", "1",
                 "--out", str(tmp_path / "two"), "--quiet"]) == 1
    assert "whole network" in capsys.readouterr().err
