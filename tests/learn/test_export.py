"""eventcnn export (ONNX with the preprocessing inside and a model card) and predict with ONNX Runtime.

Keras on TensorFlow and ONNX Runtime agree within 1e-5 on fixed inputs for the CMS small CNN and the
OPAL masterclass network; `eventcnn predict --model` runs in a process where importing TensorFlow or
Keras fails.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tf2onnx", reason="ONNX export needs eventcnn[export] (tf2onnx, onnx)")
pytest.importorskip("onnxruntime", reason="classifying needs eventcnn[classify] (onnxruntime)")

from eventcnn.cli import main  # noqa: E402
from eventcnn.errors import UserError  # noqa: E402
from eventcnn.learn.export import export_run  # noqa: E402
from eventcnn.learn.onnx_runtime import CARD_KEY, OnnxClassifier, card_path, read_card  # noqa: E402
from eventcnn.learn.predict import predict  # noqa: E402
from eventcnn.learn.runs import run_kind  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

#: a sitecustomize that makes importing TensorFlow, Keras, JAX or torch fail (the small install)
BLOCKER = textwrap.dedent("""
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "jax", "torch", "tf2onnx"):
                raise ImportError(f"{name} is blocked: this process stands for the install without TensorFlow")
            return None
    sys.meta_path.insert(0, _Block())
""")


@pytest.fixture(scope="module")
def aug_run(tmp_path_factory):
    """A CMS run of 24 + 24 events whose model holds eventcnn's augmentation layers (left out by the export)."""
    from conftest import event_json

    from eventcnn.images.render import RenderConfig, render_to_dir
    from eventcnn.learn.train import TrainConfig, train

    root = tmp_path_factory.mktemp("export")
    tt = event_json(root / "tt.json", 24, 5, 0)
    w = event_json(root / "w.json", 24, 1, 1)
    render_to_dir([(tt, "tt"), (w, "w")], root / "images", RenderConfig(size=32), selection="none", quiet=True)
    train(TrainConfig(root / "images", root / "run", model="small", epochs=1, batch_size=16, quiet=True,
                      augment=True, baseline=False))
    return root


def _blocked_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", str(ROOT))])
    return {**os.environ, "PYTHONPATH": path}


def test_cms_export_agrees_with_keras_and_carries_its_card(aug_run, tmp_path):
    import keras

    out = export_run(aug_run / "run", tmp_path / "small.onnx", quiet=True)
    card = json.loads(card_path(out).read_text())
    clf = OnnxClassifier(out, threads=1)
    assert read_card(out) == card and run_kind(out) == "cms"
    assert clf.card == card and clf.class_names == ["tt", "w"] and clf.size == 32 and clf.kind == "cms"
    assert card["preprocessing"]["render_config"]["size"] == 32 and card["preprocessing"]["selection"] is None
    assert "x / 255" in card["preprocessing"]["inside_model"]
    assert card["export"]["parity"]["max_abs_diff"] <= 1e-5
    assert set(card["metrics"]["accuracy"]) == {"value", "ci95"}  # figures with their intervals
    # fixed inputs: Keras on TensorFlow and ONNX Runtime within 1e-5
    model = keras.saving.load_model(aug_run / "run" / "best.keras")
    x = np.random.default_rng(7).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(clf.predict(x, batch_size=16), model.predict(x, verbose=0), atol=1e-5, rtol=0)
    with pytest.raises(UserError, match="shape"):
        clf.predict(x[:, :16])
    import onnx

    assert CARD_KEY in {p.key for p in onnx.load(str(out)).metadata_props}
    # an existing file is kept unless --overwrite
    with pytest.raises(UserError, match="overwrite"):
        export_run(aug_run / "run", out, quiet=True)


def test_predict_with_onnx_runtime_without_tensorflow(aug_run, tmp_path):
    model = export_run(aug_run / "run", tmp_path / "m.onnx", quiet=True)
    inputs = [aug_run / "w.json", aug_run / "images" / "tt"]
    keras_rows = predict(aug_run / "run", inputs, quiet=True)
    res = subprocess.run([sys.executable, "-m", "eventcnn", "predict", "--model", str(model),
                          *map(str, inputs), "--out", str(tmp_path / "p.csv"), "--quiet"],
                         capture_output=True, text=True, env=_blocked_env(tmp_path), cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    with open(tmp_path / "p.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(keras_rows) == 48
    by_key = {(r["input"], str(r["event"])): r for r in keras_rows}
    for r in rows:
        k = by_key[(r["input"], r["event"])]
        assert r["predicted"] == k["predicted"]
        assert abs(float(r["p_tt"]) - k["p_tt"]) < 1e-5
    # the blocker works: importing TensorFlow fails in such a process
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True,
                           env=_blocked_env(tmp_path), timeout=60)
    assert probe.returncode != 0 and "blocked" in probe.stderr


def test_an_export_predicts_through_the_one_predict_in_chunks_and_keeps_rejected_rows(aug_run, tmp_path,
                                                                                      monkeypatch):
    import eventcnn.learn.scoring as scoring

    model = export_run(aug_run / "run", tmp_path / "m.onnx", quiet=True)
    whole = predict(model, [aug_run / "tt.json"], selection="none", quiet=True)
    monkeypatch.setattr(scoring, "CHUNK_EVENTS", 5)
    chunked = predict(model, [aug_run / "tt.json"], tmp_path / "c.csv", selection="none", quiet=True, threads=1)
    assert [r["event"] for r in chunked] == [r["event"] for r in whole] == list(range(1000, 1024))
    assert all(abs(a["p_w"] - b["p_w"]) < 1e-6 for a, b in zip(whole, chunked))
    tight = {"min_jets": 3}
    with pytest.warns(UserWarning, match="rejected"):
        rows = predict(model, [aug_run / "w.json"], selection=tight, quiet=True)
    assert len(rows) == 24 and all(r["rejected_by"] for r in rows)
    with pytest.raises(UserError, match="for OPAL display runs only"):
        predict(model, [aug_run / "w.json"], tta=True)
    with pytest.raises(UserError, match="threads"):
        predict(aug_run / "run", [aug_run / "w.json"], threads=2)


def test_opal_export_with_tta_policy(tmp_path):
    from eventcnn import opal
    from eventcnn.opal.tta import predict_tta

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(16, 64, 64, 3), dtype=np.uint8)
    y = np.array(list("qqqqqqqqeemmttqe"))
    opal.train(x, y, recipe="default", epochs=1, steps_per_epoch=2, batch_size=8, seed=3,
               out=tmp_path / "run", quiet=True)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    cfg["opal"] = {**cfg.get("opal", {}), "tta_copies": 4}  # as `opal train` records its TTA
    (tmp_path / "run" / "config.json").write_text(json.dumps(cfg))
    assert main(["export", str(tmp_path / "run"), "--format", "onnx", "--out", str(tmp_path / "opal.onnx"),
                 "--quiet"]) == 0
    card = json.loads((tmp_path / "opal.card.json").read_text())
    assert card["kind"] == "opal" and card["tta"]["copies"] == 4 and card["class_names"] == ["q", "e", "m", "t"]
    assert "Rescaling" in card["preprocessing"]["inside_model"]
    model = opal.load_model(tmp_path / "run")
    clf = OnnxClassifier(tmp_path / "opal.onnx", threads=1)
    np.testing.assert_allclose(clf.predict(x), opal.predict(model, x), atol=1e-5, rtol=0)
    # displays in, TTA as the card says, in a process without TensorFlow
    displays = tmp_path / "displays"
    displays.mkdir()
    for i, im in enumerate(x[:6]):
        Image.fromarray(im).save(displays / f"ev{i}.png")
    res = subprocess.run([sys.executable, "-m", "eventcnn", "predict", "--model", str(tmp_path / "opal.onnx"),
                          str(displays), "--out", str(tmp_path / "o.csv"), "--quiet"],
                         capture_output=True, text=True, env=_blocked_env(tmp_path), cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    with open(tmp_path / "o.csv") as fh:
        rows = list(csv.DictReader(fh))
    expected = predict_tta(model, x[:6], copies=4)
    got = np.array([[float(r[f"p_{c}"]) for c in "qemt"] for r in rows])
    order = np.argsort([int(r["event"].removeprefix("ev")) if r["event"].startswith("ev") else 0 for r in rows])
    assert len(rows) == 6
    np.testing.assert_allclose(got[order], expected, atol=2e-5)


def test_export_refuses_bad_requests(aug_run, tmp_path):
    with pytest.raises(UserError, match="format"):
        export_run(aug_run / "run", tmp_path / "m.onnx", format="tflite")
    with pytest.raises(UserError, match=".onnx"):
        export_run(aug_run / "run", tmp_path / "m.bin")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(UserError, match="not an ONNX model"):
        OnnxClassifier(bad)
