"""Tests of eventcnn.opal.workflow: the masterclass in one call, and `eventcnn opal train` / `opal predict`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.images import display_ids as ids


def test_cli_train_and_predict(opal_folder, tmp_path: Path) -> None:
    from eventcnn.cli import main

    d, labels = opal_folder
    out = tmp_path / "run"
    rc = main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64",
               "--epochs", "1", "--out", str(out), "--quiet", "--reference", str(labels)])
    assert rc == 0
    rows = list(csv.reader((out / "predictions.csv").open()))
    # one row per unlabelled event, named by its opaque id (names give the class away)
    assert [r[0] for r in rows[1:]] == [ids.display_id("ev6")]
    assert "ev6" not in (out / "split.json").read_text()
    assert (out / "learning_curves.png").exists()
    pred = tmp_path / "all.csv"
    assert main(["opal", "predict", str(out), "--data", str(d), "--size", "64",
                 "--out", str(pred)]) == 0
    rows = list(csv.reader(pred.open()))
    assert len(rows) == 1 + 6 and all(ids.is_display_id(r[0]) for r in rows[1:])
    # the teacher maps the ids back
    named = tmp_path / "teacher" / "all_named.csv"
    assert main(["opal", "ids", "--data", str(d), "--file", str(pred), "--out", str(named)]) == 0
    assert sorted(r[0] for r in list(csv.reader(named.open()))[1:]) == [f"ev{i}" for i in range(1, 7)]


def test_cli_size_is_checked_up_front_and_predict_uses_the_models_size(opal_folder, tmp_path: Path, capsys) -> None:
    from eventcnn.cli import main

    d, labels = opal_folder
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "48",
                 "--out", str(tmp_path / "r"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("eventcnn opal train: error: image size 48 is too small") and "at least 53" in err
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()
    out = tmp_path / "run"
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "56",
                 "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    pred = tmp_path / "p.csv"
    assert main(["opal", "predict", str(out), "--data", str(d), "--out", str(pred)]) == 0
    assert len(list(csv.reader(pred.open()))) == 1 + 6  # read at the model's 56 px, not the default 200
    assert main(["opal", "predict", str(out), "--data", str(d), "--size", "64",
                 "--out", str(pred), "--overwrite"]) == 1
    assert "--size 64 does not match the model" in capsys.readouterr().err


def test_masterclass_trains_classifies_the_rest_and_evaluates(tiny_displays, tmp_path: Path) -> None:
    x, y = tiny_displays
    labels = y.copy()
    labels[10:] = ""  # six events left for the CNN
    mc = opal.masterclass(x, labels, [f"ev{i}" for i in range(len(x))], out=tmp_path / "mc", recipe="default",
                          reference=y, epochs=1, steps_per_epoch=2, batch_size=8, seed=3, quiet=True)
    assert mc.train_mask.sum() == 10 and mc.rest.sum() == 6 and mc.probs.shape == (6, 4)
    assert [r["class"] for r in mc.overview] == list(opal.CLASS_NAMES)
    assert mc.metrics is not None and sum(map(sum, mc.metrics["confusion_matrix"]["counts"])) == 6
    with open(tmp_path / "mc" / "predictions.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    for name in ("best.keras", "history.json", "learning_curves.png", "metrics.json", "confusion_matrix.png"):
        assert (tmp_path / "mc" / name).exists(), name
    with pytest.raises(ValueError, match="no labelled events"):
        opal.masterclass(x, np.full(len(x), ""), y, out=tmp_path / "none")


def test_labels_of_one_class_are_refused_before_training(opal_folder, tmp_path: Path, capsys) -> None:
    from eventcnn.cli import main
    from eventcnn.errors import UserError

    d, _ = opal_folder
    labels = tmp_path / "only_q.csv"
    labels.write_text("ev1.png;q\nev2.png;q\nev3.png;q\nev4.png;q\nev5.png;q\n")
    out = tmp_path / "runs" / "opal"
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64",
                 "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "only hadronic (q) displays" in err and "at least two classes" in err
    assert not out.exists()  # refused before anything is written
    with pytest.raises(UserError, match="one class"):
        opal.masterclass(np.zeros((4, 64, 64, 3), np.uint8), ["e", "e", "", ""], ["a", "b", "c", "d"],
                         out=tmp_path / "lib")
    assert not (tmp_path / "lib").exists()


def test_run_folder_is_locked_and_leaves_nothing_behind(tmp_path: Path) -> None:
    from eventcnn._io import file_lock
    from eventcnn.errors import UserError

    out = tmp_path / "run"
    with opal.run_folder(out):
        assert (out / opal.LOCK_FILE).exists()
        with pytest.raises(UserError, match="another `eventcnn opal train` is training into this folder"), \
                opal.run_folder(out):
            pass
    assert out.is_dir() and not any(out.iterdir())  # the lock file is gone
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError), opal.run_folder(fresh):
        raise RuntimeError("failed start")
    assert not fresh.exists()  # a failed start leaves no empty folder
    with file_lock(out / opal.LOCK_FILE), pytest.raises(UserError, match="another"), opal.run_folder(out):
        pass  # another process holds the lock


def test_cli_original_recipe_trains_the_librarys_epochs(opal_folder, tmp_path: Path) -> None:
    """`opal train --recipe original` trains RECIPE_EPOCHS["original"] epochs, as opal.train(recipe="original")."""
    import json

    from eventcnn.cli import main
    from eventcnn.learn.recipes import RECIPE_EPOCHS

    d, labels = opal_folder
    run = tmp_path / "run"
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64", "--recipe",
                 "original", "--lepton-factor", "2", "--out", str(run), "--quiet", "--no-tta"]) == 0
    history = json.loads((run / "history.json").read_text())
    assert len(history) == RECIPE_EPOCHS["original"] == 3
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 3
