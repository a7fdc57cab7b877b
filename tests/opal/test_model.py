"""Tests of eventcnn.opal: loading, the masterclass network, recipes, predictions."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventcnn import opal
from eventcnn.opal import ids

# ---------------------------------------------------------------- real data


def test_load_real_zip(opal_zip: Path, opal_labels: Path) -> None:
    data = opal.load_displays(opal_zip, opal_labels, quiet=True)
    assert data.images.shape == (497, 200, 200, 3)
    assert data.images.dtype == np.uint8
    assert data.counts() == {"q": 431, "e": 18, "m": 26, "t": 22}
    assert data.report.ok, data.report.summary()
    # the zip names carry the prefix; the event names do not
    assert not any(n.startswith("final") or n.endswith(".png") for n in data.names)
    labels = opal.read_labels(opal_labels)
    table = {k[:-4]: v for k, v in labels.items()}
    assert all(table[n] == lab for n, lab in zip(data.names, data.labels))


# ---------------------------------------------------------------- synthetic folder


def _display(color: tuple[int, int, int], size: int = 120) -> Image.Image:
    im = Image.new("RGB", (size, size), (0, 0, 0))
    im.paste(color, (size // 4, size // 4, size // 2, size // 2))
    return im


@pytest.fixture()
def folder(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "displays"
    (d / "final").mkdir(parents=True)
    _display((255, 0, 0)).save(d / "final" / "finalcenteredmaskedrotatedopencvev1.png")
    _display((0, 255, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "ev2.gif")
    _display((0, 0, 255), size=300).save(d / "ev3.jpg", quality=95)
    rgba = Image.new("RGBA", (200, 200), (255, 0, 0, 0))  # fully transparent red -> black
    rgba.paste((255, 255, 255, 255), (0, 0, 100, 100))
    rgba.save(d / "ev4.png")
    pal = _display((9, 9, 9)).convert("P")
    pal.save(d / "ev5.png")
    _display((1, 2, 3)).save(d / "ev6.png")  # no label
    (d / "notes.txt").write_text("not an image")
    labels = tmp_path / "labels.csv"
    labels.write_text("ev1.png;q\nev2.png;e\nev3.png;m\n\nev4.png;t\nev5.PNG;q\nev7.png;e\n")
    return d, labels


def test_load_folder_formats_and_report(folder: tuple[Path, Path]) -> None:
    d, labels = folder
    with pytest.warns(UserWarning, match="without a label"):
        data = opal.load_displays(d, labels, quiet=True)
    assert data.images.shape == (6, 200, 200, 3) and data.images.dtype == np.uint8
    assert sorted(data.names) == ["ev1", "ev2", "ev3", "ev4", "ev5", "ev6"]
    got = dict(zip(data.names, data.labels))
    assert got == {"ev1": "q", "ev2": "e", "ev3": "m", "ev4": "t", "ev5": "q", "ev6": ""}
    assert data.report.unmatched_images == ["ev6"]
    assert data.report.unmatched_labels == ["ev7.png"]
    assert data.labelled.sum() == 5 and data.counts() == {"q": 2, "e": 1, "m": 1, "t": 1}
    ev4 = data.images[list(data.names).index("ev4")]
    assert ev4[150, 150].tolist() == [0, 0, 0]  # transparent part composited on black
    assert ev4[20, 20].tolist() == [255, 255, 255]
    ev2 = data.images[list(data.names).index("ev2")]
    assert ev2[:, :, 1].max() > 200 and ev2[:, :, 0].max() < 50  # palette GIF decoded to green


def test_load_zip_skips_dirs_and_rejects_huge(tmp_path: Path, monkeypatch) -> None:
    z = tmp_path / "d.zip"
    buf = tmp_path / "a.png"
    _display((255, 0, 0)).save(buf)
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("top/", "")
        zf.write(buf, "top/final/finalcenteredmaskedrotatedopencvz1_2.png")
        zf.writestr("__MACOSX/._x.png", b"junk")
        zf.writestr("top/broken.png", b"not a png")
    with pytest.warns(UserWarning, match="skipped"):
        data = opal.load_displays(z, quiet=True)
    assert list(data.names) == ["z1_2"] and data.labels is None
    assert data.report.skipped[0][0] == "top/broken.png"
    assert not (tmp_path / "top").exists()  # nothing extracted
    monkeypatch.setattr(opal.displays, "MAX_MEMBER_BYTES", 100)
    with pytest.warns(UserWarning, match="skipped"):
        small = opal.load_displays(z, quiet=True)
    assert len(small) == 0  # the oversized display is reported, not read, not dropped silently
    assert any("z1_2.png" in m and "more than" in why for m, why in small.report.skipped)


def test_corrupt_zip_member_is_reported(tmp_path: Path) -> None:
    z = tmp_path / "c.zip"
    buf = tmp_path / "a.png"
    _display((0, 255, 0)).save(buf)
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.write(buf, "ev1.png")
        zf.write(buf, "ev2.png")
    raw = bytearray(z.read_bytes())
    at = raw.index(b"IDAT") + 8  # flip a byte inside the second member's data: CRC fails
    at = raw.index(b"IDAT", at) + 8
    raw[at] ^= 0xFF
    z.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="skipped"):
        data = opal.load_displays(z, quiet=True)
    assert list(data.names) == ["ev1"]
    assert data.report.skipped[0][0] == "ev2.png"


def test_crop_box(tmp_path: Path) -> None:
    im = Image.new("RGB", (400, 300), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 200, 300))  # left half white ("logo")
    im.save(tmp_path / "raw1.png")
    full = opal.load_displays(tmp_path, quiet=True)
    cropped = opal.load_displays(tmp_path, crop=(200, 0, 400, 300), quiet=True)
    assert full.images.max() == 255 and cropped.images.max() == 0
    with pytest.raises(ValueError, match="crop box"):
        opal.load_displays(tmp_path, crop=(0, 0, 500, 300), quiet=True)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a.png;q\nb.png;q\nc.png;x\n", r"labels\.csv:3: field 'label'"),
        ("a.png;q\nb.png q\n", r"labels\.csv:2: expected 2 fields"),
        ("a.png;q\n;e\n", r"labels\.csv:2: field 'event' is empty"),
        ("a.png;q\na.png;e\n", r"labels\.csv:2: field 'event' 'a.png' repeats line 1"),
    ],
)
def test_bad_label_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(opal.LabelFormatError, match=match):
        opal.read_labels(path)


def test_missing_source_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fetch"):
        opal.load_displays(tmp_path / "nope.zip")


def test_match_names_longest_suffix() -> None:
    got = opal.match_names(["opencvz5_11", "x1", "y"], ["z5_11.png", "5_11.png", "1.png"])
    assert got == ["z5_11.png", "1.png", None]


# ---------------------------------------------------------------- physics


def test_expected_fractions() -> None:
    f = opal.expected_fractions()
    assert sum(f.values()) == pytest.approx(1.0)
    assert f["q"] == pytest.approx(0.874, abs=5e-4)
    for c in "emt":
        assert f[c] == pytest.approx(0.042, abs=5e-4)
    rows = opal.predicted_overview(np.array(["q", "q", "e", "t"]), np.array(["q", "e", "e", ""]))
    assert [r["predicted"] for r in rows] == [2, 1, 0, 1]
    assert [r["reference"] for r in rows] == [1, 2, 0, 0]


# ---------------------------------------------------------------- recipe


def test_recipe_factors_and_determinism() -> None:
    y = np.array([0] * 10 + [1] * 2 + [2] * 3 + [3] * 1)
    cfg = opal.RecipeConfig(recipe="original", copies=3, lepton_factor=20, seed=7, val_fraction=0.2)
    a = opal.recipe_copies(y, cfg)
    b = opal.recipe_copies(y, cfg)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    per_class = np.bincount(y[a["source"]], minlength=4)
    assert per_class.tolist() == [30, 2 * 60, 3 * 60, 1 * 60]
    assert np.bincount(a["source"]).tolist() == [3] * 10 + [60] * 6
    assert a["train"].sum() == round(0.8 * len(a["source"]))
    assert a["angle"].min() >= 0 and a["angle"].max() < 360
    c = opal.recipe_copies(y, opal.RecipeConfig(recipe="original", seed=8))
    assert not np.array_equal(a["angle"], c["angle"])
    assert opal.RecipeConfig(recipe="original", lepton_factor=60).factors() == {
        "q": 3, "e": 180, "m": 180, "t": 180}
    with pytest.raises(ValueError, match="recipe"):
        opal.RecipeConfig(recipe="fancy")


def test_rotate_images_shape_dtype() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    out = opal.rotate_images(x, np.array([0.0, 90.0, 33.0]), np.array([False, True, False]))
    assert out.shape == x.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_array_equal(out[1], np.rot90(x[1])[:, ::-1])


# ---------------------------------------------------------------- model and training


def test_model_has_masterclass_parameter_count() -> None:
    model = opal.build_model()
    assert model.count_params() == 204_100
    assert opal.build_model(augment=True).count_params() == 204_100
    flat = next(layer for layer in model.layers if layer.name.startswith("flatten"))
    assert flat.output.shape[-1] == 2304


@pytest.fixture(scope="module")
def tiny() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(16, 64, 64, 3), dtype=np.uint8)
    y = np.array(list("qqqqqqqqeemmttqe"))
    return x, y


@pytest.mark.parametrize("recipe", ["original", "default"])
def test_train_one_epoch_and_predict(tiny, recipe: str, tmp_path: Path) -> None:
    x, y = tiny
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
        m = opal.evaluate(res.model, x[:8], y[:8], out=tmp_path / "eval", names=[f"n{i}" for i in range(8)])
        assert 0.0 <= m["balanced_accuracy"] <= 1.0
        assert np.sum(m["confusion_matrix"]["counts"]) == 8
        assert [r["class"] for r in m["overview"]] == list(opal.CLASS_NAMES)
        written = {p.name for p in (tmp_path / "eval").iterdir()}
        assert {"metrics.json", "confusion_matrix.png", "misclassified.png", "misclassified.csv"} <= written


def test_train_rejects_float_images(tiny) -> None:
    x, y = tiny
    with pytest.raises(ValueError, match="uint8"):
        opal.train(x.astype(np.float64), y, epochs=1)
    with pytest.raises(ValueError, match="unknown class"):
        opal.label_indices(["q", "z"])


def test_write_predictions_atomic(tmp_path: Path) -> None:
    path = tmp_path / "pred.csv"
    names = np.array(["a", "b", "c"])
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7], [0.2, 0.5, 0.2, 0.1]])
    opal.write_predictions(path, names, probs)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["event", "predicted", "p_q", "p_e", "p_m", "p_t"]
    assert [r[:2] for r in rows[1:]] == [["a", "q"], ["b", "t"], ["c", "e"]]
    before = path.read_text()
    with pytest.raises(ValueError, match="shape"):
        opal.write_predictions(path, names, probs[:2])
    assert path.read_text() == before  # a failed write leaves the old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["pred.csv"]


def test_cli_train_and_predict(folder, tmp_path: Path) -> None:
    from eventcnn.cli import main

    d, labels = folder
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


def test_zip_members_with_the_same_event_name_are_refused(tmp_path: Path) -> None:
    z = tmp_path / "d.zip"
    buf = tmp_path / "a.png"
    _display((255, 0, 0)).save(buf)
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(buf, "set1/ev1.png")
        zf.write(buf, "set2/finalcenteredmaskedrotatedopencvev1.png")
    with pytest.raises(ValueError, match=r"members 'set1/ev1.png' and 'set2/finalcenteredmaskedrotatedopencvev1.png'"
                                         r" are both event 'ev1'"):
        opal.load_displays(z, quiet=True)


def test_min_input_size_follows_the_architecture() -> None:
    need = opal.min_input_size()
    assert need == 53
    assert opal.build_model((need, need, 3)).output_shape == (None, 4)
    with pytest.raises(ValueError, match="at least 53 x 53"):
        opal.build_model((need - 1, need - 1, 3))


def test_cli_size_is_checked_up_front_and_predict_uses_the_models_size(folder, tmp_path: Path, capsys) -> None:
    from eventcnn.cli import main

    d, labels = folder
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


def test_folder_skips_hidden_copies_and_names_other_files(folder: tuple[Path, Path]) -> None:
    d, _ = folder
    (d / ".ipynb_checkpoints").mkdir()
    _display((255, 0, 0)).save(d / ".ipynb_checkpoints" / "ev1.png")  # would duplicate ev1
    with pytest.warns(UserWarning, match=r"2 file\(s\) skipped"):
        data = opal.load_displays(d, quiet=True)
    assert sorted(data.names) == ["ev1", "ev2", "ev3", "ev4", "ev5", "ev6"]
    assert dict(data.report.skipped) == {".ipynb_checkpoints/": "hidden folder",
                                         "notes.txt": "not an image (.png/.jpg/.jpeg/.gif/.bmp/.webp/.tif/.tiff)"}


def test_predict_calls_the_model_with_one_batch_shape() -> None:
    class Recorder:  # a per-image model: the probability of class k is pixel k / 255
        shapes: list[tuple[int, ...]] = []

        def predict_on_batch(self, x):
            self.shapes.append(x.shape)
            return x[:, 0, 0, :].astype(np.float32).repeat(2, axis=1)[:, :4] / 255.0

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(37, 6, 6, 3), dtype=np.uint8)
    model = Recorder()
    probs = opal.predict(model, images, batch_size=16)
    assert set(model.shapes) == {(16, 6, 6, 3)}  # 16 + 16 + 5 padded to 16: XLA compiles once
    expected = images[:, 0, 0, :].astype(np.float32).repeat(2, axis=1)[:, :4] / 255.0
    np.testing.assert_array_equal(probs, expected)
    assert opal.predict(model, images[:3], batch_size=16).shape == (3, 4)


def test_opal_run_is_a_common_run_folder(tiny, tmp_path: Path, capsys) -> None:
    """An OPAL run folder has the format of eventcnn.learn.runs: `eventcnn compare` reads it next to a CMS run."""
    import json

    from eventcnn.cli import main
    from eventcnn.learn.comparison import compare_rows
    from eventcnn.learn.dataset import make_toy_images
    from eventcnn.learn.runs import read_run_config
    from eventcnn.learn.train import TrainConfig, train

    x, y = tiny
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


def test_masterclass_trains_classifies_the_rest_and_evaluates(tiny, tmp_path: Path) -> None:
    x, y = tiny
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


def test_cli_opal_run_is_evaluated_and_compared_like_a_cms_run(folder, tmp_path: Path, capsys) -> None:
    """`eventcnn evaluate` and `eventcnn compare` read the run folder `eventcnn opal train` writes."""
    import json

    from eventcnn.cli import main

    d, labels = folder
    reference = tmp_path / "reference.csv"
    reference.write_text(labels.read_text() + "ev6.png;m\n")
    out = tmp_path / "run"
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64", "--epochs", "1",
                 "--out", str(out), "--quiet", "--reference", str(reference)]) == 0
    first = json.loads((out / "metrics.json").read_text())
    (out / "metrics.json").unlink()
    assert main(["evaluate", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "opal" and sum(map(sum, m["confusion_matrix"]["counts"])) == 1  # ev6, the one unlabelled
    assert m["accuracy"]["value"] == first["accuracy"] and len(m["accuracy"]["ci95"]) == 2
    assert (out / "test_scores.csv").read_text().startswith("key,file,true,cnn:p_q")
    assert (out / "report.md").read_text().startswith(f"# Evaluation of `{out}` (OPAL)")
    capsys.readouterr()
    assert main(["compare", str(out)]) == 0
    assert "| run " in capsys.readouterr().out


def test_opal_trains_through_the_shared_loop(tiny, monkeypatch) -> None:
    """opal.train uses eventcnn.learn.loop.fit_phase (the CMS loop): rows with lr/seconds; verbose= is gone."""
    import eventcnn.learn.loop

    calls = []
    real = eventcnn.learn.loop.fit_phase

    def spy(*a, **k):
        calls.append(k["settings"])
        return real(*a, **k)

    monkeypatch.setattr("eventcnn.opal.model.fit_phase", spy)
    x, y = tiny
    res = opal.train(x, y, recipe="default", epochs=2, steps_per_epoch=1, batch_size=8, seed=3, quiet=True)
    assert len(calls) == 1 and calls[0].monitor == "val_loss" and calls[0].restore_best
    assert [h["epoch"] for h in res.history] == [1, 2]
    assert {"loss", "val_loss", "lr", "seconds", "phase"} <= set(res.history[0])
    assert res.curve("loss") == [h["loss"] for h in res.history]
    with pytest.raises(TypeError):
        opal.train(x, y, epochs=1, steps_per_epoch=1, quiet=True, verbose=0)


# ---------------------------------------------------------------- classroom guards, resume


def test_labels_of_one_class_are_refused_before_training(folder, tmp_path: Path, capsys) -> None:
    from eventcnn.cli import main
    from eventcnn.errors import UserError

    d, _ = folder
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


def test_missing_and_rare_classes_are_warned_in_words() -> None:
    with pytest.warns(UserWarning) as rec:
        msgs = opal.check_classes(["q"] * 10 + ["e"] * 2, source="my_labels.csv")
    text = " | ".join(str(w.message) for w in rec)
    assert len(msgs) == 2 and len(rec) == 2
    assert "NO muon (m) and no tau (t) display is labelled in my_labels.csv" in text
    assert "can never answer muon or tau" in text
    assert "electron (e) only 2" in text and "hadronic" not in text.split("|")[1]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert opal.check_classes(list("qqqeeemmmttt")) == []  # 3 each: nothing to say


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
def test_an_interrupted_opal_training_resumes(tiny, recipe: str, tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    x, y = tiny
    settings = dict(recipe=recipe, epochs=3, copies=1, lepton_factor=2, steps_per_epoch=2, batch_size=8,
                    seed=3, out=tmp_path / "run", quiet=False)
    spy, calls = _interrupt_after(2)
    monkeypatch.setattr("eventcnn.opal.model.fit_phase", spy)
    with pytest.raises(KeyboardInterrupt):
        opal.train(x, y, **settings)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 2 and not state.get("finished")
    assert (tmp_path / "run" / "last.keras").is_file()
    spy, calls = _interrupt_after(0)
    monkeypatch.setattr("eventcnn.opal.model.fit_phase", spy)
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


# ---- (was test_opal_small_sets.py)

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


def test_simulated_batch_pool_is_balanced_seeded_compact_and_decoded() -> None:
    from eventcnn.opal.model import RecipeConfig, decode_displays, simulated_batch_pool
    from eventcnn.opal.simulate import DETECTOR, LOOSE_DETECTOR, simulate_chunk

    pngs, y = simulated_batch_pool(RecipeConfig(sim_displays=6, seed=2))
    assert np.bincount(y, minlength=4).tolist() == [2, 2, 1, 1]
    assert all(len(b) < 40_000 for b in pngs)  # PNG, not 120 kB arrays
    x = decode_displays(pngs, range(6), 200)
    assert x.shape == (6, 200, 200, 3) and x.dtype == np.uint8
    # per class: the first half with the tuned detector, the rest with the looser thresholds
    assert np.array_equal(x[0], simulate_chunk(2, "q", 0, 1, det=DETECTOR)[0])
    assert np.array_equal(x[1], simulate_chunk(2, "q", 1, 1, det=LOOSE_DETECTOR)[0])
    assert decode_displays(pngs, [0, 5], 64).shape == (2, 64, 64, 3)
    again, _ = simulated_batch_pool(RecipeConfig(sim_displays=6, seed=2))
    assert again == pngs
    other, _ = simulated_batch_pool(RecipeConfig(sim_displays=6, seed=3))
    assert other != pngs


def test_training_batches_mix_real_and_simulated_displays() -> None:
    from eventcnn.opal.model import RecipeConfig, _make_datasets

    real = np.zeros((10, 8, 8, 3), np.uint8)
    y = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, 3])
    from eventcnn.opal.simulate import png_bytes

    sim = ([png_bytes(np.full((8, 8, 3), 255, np.uint8))] * 40, np.repeat(np.arange(4), 10))
    cfg = RecipeConfig(sim_displays=40, sim_share=0.25, batch_size=8, steps_per_epoch=50, seed=1)
    train_ds, val_ds = _make_datasets(real, y, cfg, sim)
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


def test_pretrained_start_fine_tunes_unless_told_otherwise() -> None:
    from eventcnn.errors import UserError
    from eventcnn.opal.model import FINE_TUNE, RecipeConfig

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
