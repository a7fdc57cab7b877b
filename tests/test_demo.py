"""The main job end to end in its tiny mode: generate, render, train, evaluate, report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventcnn.cli import main


@pytest.mark.slow
def test_demo_tiny_end_to_end(tmp_path, capsys):
    pytest.importorskip("pythia8mc")
    out = tmp_path / "demo"
    assert main(["demo", "--tiny", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "CNN (small, images)" in printed and "gradient-boosted trees" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == ["dy", "ttjets", "wjets"]
    assert all(n >= 10 for n in summary["events_selected"].values())
    cnn = summary["results"]["CNN (small, images)"]
    lo, hi = cnn["accuracy"]["ci95"]
    assert 0.0 <= lo <= cnn["accuracy"]["value"] <= hi <= 1.0
    base = summary["results"]["gradient-boosted trees (high-level features)"]
    assert base is not None and 0.0 <= base["accuracy"]["value"] <= 1.0
    assert "CNN - trees (paired, same events)" in summary["results"]
    for name in ("report.md", "report.html", "kinematics.png", "gallery.png", "run/best.keras",
                 "run/learning_curves.png", "run/confusion_matrix.png", "run/roc.png",
                 "run/config.json", "run/history.json", "run/metrics.json", "images/manifest.csv",
                 "occlusion.png"):
        assert (out / name).exists(), name
    report = (out / "report.md").read_text()
    assert "## Results on the held-out test set" in report and "![" in report
    assert "(occlusion.png)" in report and "occlusion.png" in (out / "report.html").read_text()
    # a re-run resumes: nothing is generated or trained again
    assert main(["demo", "--tiny", "--out", str(out), "--quiet"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["results"] == summary["results"]
    # other settings into the same folder: a clear error
    assert main(["demo", "--tiny", "--out", str(out), "--quiet", "--seed", "7"]) == 1
    assert "other settings" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.shared_data
def test_demo_real_data_from_mirror(tmp_path, capsys, monkeypatch, shared_data):
    monkeypatch.setenv("EVENTCNN_DATA_MIRROR", str(shared_data))
    monkeypatch.setenv("EVENTCNN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "real"
    assert main(["demo", "--tiny", "--real", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == ["ttjets", "wjets"]
    # the paper selection on the development sample: 866 tt+jets, 1074 W+jets events
    assert summary["events_selected"] == {"ttjets": 866, "wjets": 1074}
    assert "public CMS open data" in (out / "report.md").read_text()


@pytest.mark.parametrize("option, value", [("--size", "3"), ("--events", "-5"), ("--epochs", "0")])
def test_bad_numbers_fail_before_any_work(tmp_path, capsys, option, value):
    from eventcnn.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--tiny", "--quiet", "--out", str(out), option, value]) == 1
    err = capsys.readouterr().err
    assert f"({option}) must be a whole number of at least" in err and err.count("\n") == 1
    assert not out.exists()  # nothing generated or written


def _tiny_cms_run(tmp_path):
    """A run folder (best.keras, config.json, split.json) of a 16x16 two-class model, and its images."""
    import keras
    from keras import layers
    from PIL import Image

    images, run = tmp_path / "images", tmp_path / "run"
    run.mkdir()
    rng = np.random.default_rng(0)
    test = []
    for cls in ("dy", "wjets"):
        (images / cls).mkdir(parents=True)
        for i in range(2):
            rel = f"{cls}/{cls}_event_{i}.png"
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(images / rel)
            test.append({"file": rel, "class": cls, "source": "t", "event": i})
    (run / "split.json").write_text(json.dumps({"class_names": ["dy", "wjets"], "train": [], "val": [],
                                                "test": test}))
    (run / "config.json").write_text(json.dumps({"class_names": ["dy", "wjets"], "image_size": 16}))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), layers.Rescaling(1 / 255), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    model.save(run / "best.keras")
    return run, images


def test_occlusion_figure_is_written_and_shown_in_the_report(tmp_path):
    from eventcnn import demo

    run, images = _tiny_cms_run(tmp_path)
    png = demo.occlusion_figure(run, images, tmp_path / demo.OCCLUSION_PNG)
    assert png == tmp_path / "occlusion.png" and png.stat().st_size > 1000
    result = {"config": {"real": False, "selection": "lepton", "size": 16, "seed": 0},
              "epochs_run": 1, "best_epoch": 1, "results": {}, "per_class_recall": {}, "classes": ["dy", "wjets"],
              "test_events": 4, "stage_seconds": {}, "total_seconds": 1.0,
              "plots": {demo.OCCLUSION_TITLE: demo.OCCLUSION_PNG}}
    md = demo._markdown(result, tmp_path)
    assert f"### {demo.OCCLUSION_TITLE}" in md and "![" in md and "(occlusion.png)" in md
    assert "src='occlusion.png'" in demo._html(result, tmp_path)
