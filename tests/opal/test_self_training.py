"""Tests of eventcnn.opal.self_training: pseudo-labels of the unlabelled displays, and ``opal train --self-train``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.images import display_ids as ids
from eventcnn.opal import self_training as semi


def test_select_pseudo_labels_threshold_cap_and_order() -> None:
    probs = np.array([
        [0.95, 0.05, 0.0, 0.0],   # q, confident
        [0.50, 0.50, 0.0, 0.0],   # not confident
        [0.99, 0.01, 0.0, 0.0],   # q, most confident
        [0.00, 0.00, 0.92, 0.08],  # m
        [0.91, 0.09, 0.0, 0.0],   # q, third: over the cap of 2
        [0.0, 0.0, 0.05, 0.95],   # t
    ])
    rows, codes = semi.select_pseudo_labels(probs, threshold=0.9, per_class=2)
    assert rows.tolist() == [0, 2, 3, 5]
    assert codes.tolist() == ["q", "q", "m", "t"]
    rows, codes = semi.select_pseudo_labels(probs, threshold=0.99, per_class=5)
    assert rows.tolist() == [2] and codes.tolist() == ["q"]
    assert len(semi.select_pseudo_labels(probs, per_class=0)[0]) == 0
    with pytest.raises(ValueError, match="shape"):
        semi.select_pseudo_labels(probs[:, :3])


@pytest.mark.parametrize("bad", [{"threshold": 0.0}, {"threshold": 1.5}, {"per_class": -1},
                                 {"epochs": 0}, {"copies": 0}])
def test_config_checks(bad) -> None:
    with pytest.raises(ValueError):
        semi.SelfTrainConfig(**bad)


def _displays(tmp_path, n=10, size=70):
    from PIL import Image

    d = tmp_path / "displays"
    d.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        img[: size // 2, :, i % 4 % 3] = 200  # a class-dependent colour band
        Image.fromarray(img).save(d / f"ev{i}.png")
    labels = tmp_path / "l.csv"
    labels.write_text("".join(f"ev{i}.png;{'qemt'[i % 4]}\n" for i in range(6)))
    return d, labels


def test_self_train_records_pseudo_labels_and_saves_the_average(tmp_path) -> None:
    d, labels = _displays(tmp_path)
    data = opal.load_displays(d, labels, size=64, quiet=True)
    train_labels = np.where(data.labelled, data.labels, "")
    cfg = semi.SelfTrainConfig(threshold=0.25, per_class=1, epochs=1, copies=2)
    out = tmp_path / "run"
    st = semi.self_train(data.images, train_labels, config=cfg, out=out, seed=1, steps_per_epoch=2,
                         quiet=True)
    assert st.first.config.epochs == 1 and st.second.config.seed == 2
    assert sum(st.pseudo_counts.values()) == len(st.pseudo_index) <= 4
    assert all(k <= 1 for k in st.pseudo_counts.values())
    assert not data.labelled[st.pseudo_index].any()  # only unlabelled events get pseudo-labels
    rest = ~data.labelled
    assert st.probs.shape == (int(rest.sum()), 4)
    info = json.loads((out / "config.json").read_text())["opal"]["self_train"]
    assert info["pseudo_counts"] == st.pseudo_counts and info["threshold"] == 0.25 and info["copies"] == 2
    # the saved model is both networks' average: predicting with it gives the run's predictions
    from eventcnn.opal import tta

    model = opal.load_model(out)
    np.testing.assert_allclose(tta.predict_tta(model, data.images[rest], copies=2), st.probs, atol=1e-5)
    both = (opal.predict(st.first.model, data.images) + opal.predict(st.second.model, data.images)) / 2
    np.testing.assert_allclose(opal.predict(model, data.images), both, atol=1e-5)


def test_cli_train_self_trains_only_with_self_train(tmp_path, capsys) -> None:
    from eventcnn.cli import main

    d, labels = _displays(tmp_path)
    run = tmp_path / "run"
    args = ["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64", "--epochs", "1",
            "--quiet", "--seed", "1", "--pseudo-threshold", "0.25"]
    assert main([*args, "--out", str(run), "--self-train"]) == 0
    assert "self-training:" in capsys.readouterr().out
    st = json.loads((run / "config.json").read_text())["opal"]["self_train"]
    assert st["copies"] == 8 and st["threshold"] == 0.25
    rows = list(csv.DictReader((run / "pseudo_labels.csv").open()))
    unlabelled = {ids.display_id(f"ev{i}") for i in (6, 7, 8, 9)}  # opaque ids, as predictions.csv
    assert len(rows) == st["n_pseudo"] and all(r["event"] in unlabelled for r in rows)
    assert json.loads((run / "config.json").read_text())["opal"]["tta_copies"] == 8
    plain = tmp_path / "plain"
    assert main([*args, "--out", str(plain)]) == 0  # the default: one training
    assert "self-training:" not in capsys.readouterr().out
    info = json.loads((plain / "config.json").read_text())["opal"]
    assert "self_train" not in info and info["tta_copies"] == 8
    assert not (plain / "pseudo_labels.csv").exists()
    assert main([*args, "--out", str(plain), "--self-train", "--no-tta"]) == 0
    st = json.loads((plain / "config.json").read_text())["opal"]
    assert st["self_train"]["copies"] == 1 and st["tta_copies"] == 1


@pytest.mark.slow
@pytest.mark.shared_data
def test_self_train_on_the_real_displays_only_uses_unlabelled_events(shared_data, tmp_path) -> None:
    """Thirty labelled OPAL displays, one short epoch per round: pseudo-labels are from the rest."""
    zip_path = shared_data / "opal" / "centered-masked-rotated1.zip"
    ref = opal.load_displays(zip_path, shared_data / "opal" / "events_list.csv", size=64, quiet=True)
    labels = np.full(len(ref), "", dtype="<U1")
    for c in opal.CLASS_NAMES:  # a few of each class
        labels[np.flatnonzero(ref.labels == c)[:5]] = c
    st = semi.self_train(ref.images, labels, config=semi.SelfTrainConfig(epochs=1, copies=2, per_class=5),
                         seed=0, steps_per_epoch=4, quiet=True)
    assert not (labels[st.pseudo_index] != "").any()
    assert st.probs.shape == (int((labels == "").sum()), 4)


def test_self_training_that_cannot_run_says_why(tmp_path, capsys) -> None:
    """Asked for but not applicable: a warning names the reason (never a silent single training)."""
    from eventcnn.cli import main

    d, labels = _displays(tmp_path)
    data = opal.load_displays(d, labels, size=64, quiet=True)
    train_labels = np.where(data.labelled, data.labels, "")
    with pytest.warns(UserWarning, match="self-training skipped: it needs the default recipe"):
        mc = opal.masterclass(data.images, train_labels, data.names, out=tmp_path / "orig", recipe="original",
                              self_train=semi.SELF_TRAIN, epochs=1, copies=1, lepton_factor=1, quiet=True)
    assert mc.self_train is None
    # a bad setting is one clear line before any loading or training
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--self-train",
                 "--pseudo-threshold", "1.5", "--out", str(tmp_path / "bad"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "threshold" in err and not (tmp_path / "bad").exists()
