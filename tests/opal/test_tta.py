"""Test-time augmentation: the average over rotated/mirrored copies, and the --tta option."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.opal import ids, tta

keras = pytest.importorskip("keras")


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255),
                             keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])


def test_predict_tta_is_the_mean_over_the_copies() -> None:
    model = _model()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(5, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_allclose(tta.predict_tta(model, x, copies=1), opal.predict(model, x), atol=1e-6)
    want = np.mean([opal.predict(model, opal.rotate_images(x, np.full(5, k * 90.0), np.full(5, k % 2 == 1)))
                    for k in range(4)], axis=0)
    got = tta.predict_tta(model, x, copies=4)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert not np.allclose(got, opal.predict(model, x), atol=1e-4)  # the copies do change it
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="copies"):
        tta.predict_tta(model, x, copies=0)


def test_cli_help_mentions_tta(capsys) -> None:
    from eventcnn.cli import main

    for cmd in ("train", "predict"):
        with pytest.raises(SystemExit):
            main(["opal", cmd, "--help"])
        assert "--tta" in capsys.readouterr().out


def test_cli_predict_tta_writes_the_averaged_probabilities(tmp_path) -> None:
    import csv

    from eventcnn.cli import main

    d, labels, run = _trained_run(tmp_path, seed=1, options=["--tta"])
    out = tmp_path / "p.csv"
    assert main(["opal", "predict", str(run), "--data", str(d), "--all", "--tta",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    got = np.array([[float(r[f"p_{c}"]) for c in opal.CLASS_NAMES] for r in rows])
    data = opal.load_displays(d, size=64, quiet=True)
    model = opal.load_model(run)
    want = tta.predict_tta(model, data.images)
    shown = ids.display_ids(data.names)  # predictions.csv names displays by opaque id
    np.testing.assert_allclose(got, want[[shown.index(r["event"]) for r in rows]], atol=1e-5)


def test_cli_predicts_with_tta_by_default_and_plain_with_no_tta(tmp_path) -> None:
    """TTA is the default of `opal train` (predictions.csv) and `opal predict`; --no-tta is one pass."""
    import csv
    import json

    from eventcnn.cli import main

    d, labels, run = _trained_run(tmp_path, seed=2)
    assert json.loads((run / "config.json").read_text())["opal"]["tta_copies"] == tta.TTA_COPIES

    def probs(path):
        with open(path, newline="") as fh:
            rows = sorted(csv.DictReader(fh), key=lambda r: r["event"])
        return np.array([[float(r[f"p_{c}"]) for c in opal.CLASS_NAMES] for r in rows])

    data = opal.load_displays(d, labels, size=64, quiet=True)
    rest = data.images[~data.labelled]  # ev4, ev5 in name order
    model = opal.load_model(run)
    np.testing.assert_allclose(probs(run / "predictions.csv"), tta.predict_tta(model, rest), atol=1e-5)
    for opts, want in (([], tta.predict_tta(model, rest)), (["--no-tta"], opal.predict(model, rest))):
        out = tmp_path / "p.csv"
        assert main(["opal", "predict", str(run), "--data", str(d), "--labels", str(labels),
                     "--out", str(out), "--overwrite", *opts]) == 0
        np.testing.assert_allclose(probs(out), want, atol=1e-5)


def test_default_follows_the_starting_weights(tmp_path, capsys) -> None:
    """TTA by default from random weights; one pass for a run fine-tuned from pretrained weights."""
    import json

    from eventcnn.cli import main

    assert tta.default_tta(None) and tta.default_tta("none") and tta.default_tta("None")
    assert not tta.default_tta("sim") and not tta.default_tta("my.weights.h5")
    d, labels, run = _trained_run(tmp_path, seed=3)
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["weights"] is None and config["opal"]["tta_copies"] == tta.TTA_COPIES
    data = opal.load_displays(d, labels, size=64, quiet=True)
    rest = data.images[~data.labelled]
    model = opal.load_model(run)

    def predicted(run_path, *opts):
        out = tmp_path / "p.csv"
        assert main(["opal", "predict", str(run_path), "--data", str(d), "--labels", str(labels),
                     "--out", str(out), "--overwrite", *opts]) == 0
        rows = sorted(out.read_text().splitlines()[1:])
        return np.array([[float(v) for v in r.split(",")[2:]] for r in rows])

    np.testing.assert_allclose(predicted(run), tta.predict_tta(model, rest), atol=1e-5)
    config["train"]["weights"] = "sim"  # as if it had started from the shipped weights
    (run / "config.json").write_text(json.dumps(config))
    np.testing.assert_allclose(predicted(run), opal.predict(model, rest), atol=1e-5)
    np.testing.assert_allclose(predicted(run / "best.keras"), opal.predict(model, rest), atol=1e-5)
    np.testing.assert_allclose(predicted(run, "--tta"), tta.predict_tta(model, rest), atol=1e-5)
    # a damaged config.json: one clear line naming the run, nothing written
    (run / "config.json").write_text("{not json")
    out = tmp_path / "damaged.csv"
    assert main(["opal", "predict", str(run), "--data", str(d), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "config.json is not JSON" in err and str(run) in err and "Traceback" not in err
    assert not out.exists()


def _trained_run(tmp_path, seed: int, options: tuple[str, ...] | list[str] = ()):
    """Six random 70x70 displays (four labelled, ev4/ev5 not) and `opal train` on them: (folder, labels, run)."""
    from PIL import Image

    from eventcnn.cli import main

    d = tmp_path / "displays"
    d.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (70, 70, 3), dtype=np.uint8)).save(d / f"ev{i}.png")
    labels = tmp_path / "l.csv"
    labels.write_text("ev0.png;q\nev1.png;e\nev2.png;m\nev3.png;t\n")
    run = tmp_path / "run"
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64",
                 "--epochs", "1", "--out", str(run), "--quiet", *options]) == 0
    return d, labels, run
