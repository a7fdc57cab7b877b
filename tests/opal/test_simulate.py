"""Simulated OPAL displays (issue 22): format, reproducibility, physics sanity, training from the shipped weights."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("pythia8mc")

from eventcnn import opal  # noqa: E402
from eventcnn.cli import main  # noqa: E402
from eventcnn.errors import UserError  # noqa: E402
from eventcnn.learn.weights import resolve_weights  # noqa: E402
from eventcnn.opal import simulate as sim  # noqa: E402


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    res = sim.simulate(16, out, seed=3, jobs=1, quiet=True)
    return res


def test_masterclass_format_read_by_load_displays(simulated):
    data = opal.load_displays(simulated.zip_path, simulated.labels_path, quiet=True)
    assert data.images.shape == (16, 200, 200, 3) and data.images.dtype == np.uint8
    assert data.labelled.all()
    assert sorted(data.counts().items()) == sorted({"q": 4, "e": 4, "m": 4, "t": 4}.items())
    # black background, masked outside the display circle, something drawn
    assert data.images[:, 0, 0].max() == 0 and data.images[:, 100, 2].max() == 0
    assert (data.images.reshape(16, -1).max(1) > 0).all()


def test_names_carry_no_class(simulated):
    rows = [r.split(";") for r in simulated.labels_path.read_text().split()]
    names = [n for n, _ in rows]
    assert all(n.startswith("sim_") and n[4:-4].isdigit() for n in names)
    with zipfile.ZipFile(simulated.zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(names)
    # the classes are shuffled over the names, not in blocks of one class
    labels = [c for _, c in sorted(rows)]
    assert labels != sorted(labels)


def test_reproducible_and_independent_of_jobs(tmp_path, simulated):
    res = sim.simulate(16, tmp_path / "j2", seed=3, jobs=2, quiet=True)
    assert res.labels_path.read_text() == simulated.labels_path.read_text()
    with zipfile.ZipFile(res.zip_path) as a, zipfile.ZipFile(simulated.zip_path) as b:
        assert {n: a.read(n) for n in a.namelist()} == {n: b.read(n) for n in b.namelist()}
    other = sim.simulate(16, tmp_path / "s4", seed=4, quiet=True)
    with zipfile.ZipFile(other.zip_path) as a, zipfile.ZipFile(simulated.zip_path) as b:
        assert [a.read(n) for n in sorted(a.namelist())] != [b.read(n) for n in sorted(b.namelist())]


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--events"):
        sim.simulate(0, tmp_path)
    with pytest.raises(UserError, match="classes"):
        sim.simulate(4, tmp_path, classes=("q", "x"))
    with pytest.raises(SystemExit):  # argparse: usage error, exit 2
        main(["opal", "simulate", "--events", "4", "--out", str(tmp_path), "--classes", "q,z"])


def test_cli_simulate_then_opal_commands_read_it(tmp_path, capsys):
    assert main(["opal", "simulate", "--events", "8", "--out", str(tmp_path / "s"), "--classes", "e,m",
                 "--quiet"]) == 0
    assert "e 4, m 4" in capsys.readouterr().out
    data = opal.load_displays(tmp_path / "s" / "sim.zip", tmp_path / "s" / "events_list.csv", quiet=True)
    assert set(data.labels) == {"e", "m"}


def test_train_from_sim_weights(tmp_path, simulated):
    data = opal.load_displays(simulated.zip_path, simulated.labels_path, quiet=True)
    model = opal.build_model(augment=True)
    opal.load_pretrained(model, resolve_weights("sim", "masterclass"))
    plain = opal.build_model()
    opal.load_pretrained(plain, resolve_weights("sim", "masterclass"))
    # the same network with and without the augmentation stage
    assert np.allclose(opal.predict(model, data.images[:4]), opal.predict(plain, data.images[:4]), atol=1e-5)
    res = opal.train(data.images, data.labels, weights="sim", epochs=1, steps_per_epoch=1,
                     val_fraction=0.0, quiet=True)
    assert res.config.weights == "sim"
    labels = tmp_path / "labels.csv"
    rows = simulated.labels_path.read_text().split()
    labels.write_text("\n".join(rows[:8]) + "\n")
    assert main(["opal", "train", "--data", str(simulated.zip_path), "--labels", str(labels),
                 "--out", str(tmp_path / "run"), "--weights", "sim", "--epochs", "1", "--no-tta",
                 "--quiet"]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["train"]["weights"] == "sim"
    assert (tmp_path / "run" / "predictions.csv").read_text().count("\n") == 16 - 8 + 1


def test_opal_train_starts_from_the_pretrained_weights_by_default(tmp_path, simulated, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(simulated.labels_path.read_text().split()[:8]) + "\n")
    common = ["opal", "train", "--data", str(simulated.zip_path), "--labels", str(labels), "--epochs", "1",
              "--quiet", "--sim-displays", "8"]
    assert main([*common, "--out", str(tmp_path / "run")]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    train = cfg["train"]
    assert train["weights"] == "sim" and train["sim_displays"] == 8 and train["learning_rate"] == 3e-5
    assert cfg["opal"]["tta_copies"] == 1  # fine-tuned from pretrained weights: one pass by default
    capsys.readouterr()
    # displays of another size: the shipped weights do not fit, random weights, and it is said
    assert main([*common, "--out", str(tmp_path / "small"), "--size", "64"]) == 0
    assert "trained from scratch" in capsys.readouterr().err
    cfg = json.loads((tmp_path / "small" / "config.json").read_text())
    assert cfg["train"]["weights"] is None and cfg["opal"]["tta_copies"] == 8  # random weights: TTA


