"""Tests for eventcnn.learn.explain (occlusion maps) and ``eventcnn explain``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventcnn.cli import main
from eventcnn.learn import explain

REGION = (8, 16, 20, 28)  # y0, y1, x0, x1 of the only region the model sees


def _region_model(n_classes: int = 2, name: str = "region_model"):
    """A model whose output depends only on the brightness of REGION (uint8 in)."""
    import keras
    from keras import layers

    y0, y1, x0, x1 = REGION
    inp = keras.Input((32, 32, 3))
    x = layers.Rescaling(1.0 / 255.0)(inp)
    x = layers.Cropping2D(((y0, 32 - y1), (x0, 32 - x1)))(x)
    x = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(n_classes, activation="softmax")
    out = dense(x)
    model = keras.Model(inp, out, name=name)
    kernel = np.zeros((3, n_classes), dtype="float32")
    kernel[:, 0], kernel[:, 1] = -0.5, 0.5  # unsaturated softmax
    dense.set_weights([kernel, np.zeros(n_classes, dtype="float32")])
    return model


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 40, size=(32, 32, 3)).astype(np.uint8)
    y0, y1, x0, x1 = REGION
    img[y0:y1, x0:x1] = 255  # the discriminative patch
    img[24:30, 2:8] = 255     # a bright decoy the model ignores
    return img


def test_map_peaks_on_the_discriminative_patch():
    model, img = _region_model(), _image()
    heat = explain.occlusion_map(model, img, patch=4, stride=2, batch_size=16)
    assert heat.shape == (32, 32) and heat.dtype == np.float32
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    y0, y1, x0, x1 = REGION
    assert y0 <= y < y1 and x0 <= x < x1
    assert heat[y0:y1, x0:x1].mean() > 0.02
    assert np.abs(heat[24:30, 2:8]).max() < 1e-6  # covering the decoy changes nothing
    # the other class: covering the patch makes it more likely (negative drop)
    other = explain.occlusion_map(model, img, target=0, patch=4, stride=2)
    assert other[y0:y1, x0:x1].mean() < 0


def test_bad_arguments():
    model, img = _region_model(), _image()
    with pytest.raises(ValueError, match="patch"):
        explain.occlusion_map(model, img, patch=64)
    with pytest.raises(ValueError, match="target"):
        explain.occlusion_map(model, img, target=5, patch=4)
    with pytest.raises(ValueError, match="H, W, C"):
        explain.occlusion_map(model, img[..., 0], patch=4)


def test_plot_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot(1, 1, 1)
    img = _image()
    assert explain.plot_occlusion(img, np.zeros(img.shape[:2]), title="x", ax=ax) is fig
    assert ax.get_title() == "x"


def test_cli_writes_png_for_opal_run_and_keras_file(tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "opal_run"
    run.mkdir()
    _region_model(4, name="opal_masterclass_cnn").save(run / "best.keras")
    (run / "config.json").write_text(json.dumps({"kind": "opal", "class_names": ["q", "e", "m", "t"]}))
    src = tmp_path / "event.png"
    Image.fromarray(_image()).save(src)
    out = tmp_path / "explain"
    assert main(["explain", str(run), str(src), "--out", str(out), "--patch", "4", "--quiet"]) == 0
    png = out / "event_occlusion.png"
    assert png.is_file() and str(png) in capsys.readouterr().out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 100
    model, names, size = explain.load_explainable(run)  # OPAL runs: the classes in words
    assert names[3] == "tau (Z -> tau+ tau-)" and size == (32, 32)
    assert explain.load_explainable(run, words={})[1][3] == "t"  # words can be given
    # a bare masterclass .keras file: the OPAL classes too; another: generic class names
    _region_model(4, name="opal_masterclass_cnn").save(tmp_path / "opal.keras")
    assert explain.load_explainable(tmp_path / "opal.keras")[1][0] == "hadronic (Z -> q qbar)"
    _region_model(2).save(tmp_path / "m.keras")
    _, names, _ = explain.load_explainable(tmp_path / "m.keras")
    assert names == ["class 0", "class 1"]
    assert main(["explain", str(tmp_path / "m.keras"), str(src), "--out", str(out), "--quiet"]) == 1  # maps there
    assert "--overwrite" in capsys.readouterr().err
    assert main(["explain", str(tmp_path / "m.keras"), str(src), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert main(["explain", str(tmp_path / "missing"), str(src)]) == 1


def test_cms_run_folder(tmp_path):
    run = tmp_path / "cms_run"
    run.mkdir()
    _region_model(2).save(run / "best.keras")
    (run / "config.json").write_text(json.dumps({"class_names": ["ttjets", "wjets"], "image_size": 32}))
    model, names, size = explain.load_explainable(run)
    assert names == ["top pair + jets (ttjets)", "W + jets (wjets)"] and size == (32, 32)
    files = explain.explain_files(run, [], out=tmp_path / "none", quiet=True)
    assert files == []
    with pytest.raises(FileNotFoundError, match="best.keras"):
        explain.load_explainable(tmp_path)


def test_occlusion_maps_share_one_scale_and_say_when_nothing_matters():
    from matplotlib.figure import Figure

    img = np.zeros((32, 32, 3), np.uint8)
    img[10:14, 10:20] = (0, 255, 0)  # an object on a black background
    strong = np.zeros((32, 32))
    strong[8:16, 8:16] = 0.4
    tiny = np.full((32, 32), 0.003)  # a saturated p = 1.00: changes of 0.003
    scale = explain.shared_scale([strong, tiny])
    assert scale == pytest.approx(0.4)
    fig = Figure()
    a, b = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    explain.plot_occlusion(img, strong, ax=a, scale=scale)
    explain.plot_occlusion(img, tiny, ax=b, scale=scale)
    assert not any("no region matters" in t.get_text() for t in a.texts)
    assert any("no region matters" in t.get_text() for t in b.texts)
    assert len(b.images) == 1  # the display only, no colours for noise
    # one scale: both colour bars run from -0.4 to 0.4
    bars = [im for im in fig.axes if im not in (a, b)]
    assert [tuple(np.round(bar.get_ylim(), 3)) for bar in bars] == [(-0.4, 0.4)] * 2
    # the object keeps its own colour on top of the map
    overlay, objects = a.images[1].get_array(), a.images[2].get_array()
    assert overlay[12, 12, 3] == 0 and objects[12, 12, 3] == 1 and tuple(objects[12, 12, :3]) == (0, 1, 0)
    assert overlay[9, 9, 3] > 0.5  # the background near it is coloured
