"""Tests of eventcnn.learn.evaluate: metrics.json/report.md with the baseline, predict on images and JSON."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from eventcnn.cli import main
from eventcnn.learn.evaluate import evaluate_run, predict
from eventcnn.learn.train import TrainConfig, train


def _event_json(path, n, njet, seed):
    """A small CMS-schema event file: one muon, ``njet`` jets, MET."""
    rng = np.random.default_rng(seed)
    events = {}
    for i in range(n):
        jets = {str(j): {"pt": float(rng.uniform(30, 200)), "eta": float(rng.uniform(-2.3, 2.3)),
                         "phi": float(rng.uniform(-3.1, 3.1)), "CSV": float(rng.uniform(0, 1)), "tightID": True}
                for j in range(njet)}
        phi, pt = float(rng.uniform(-3, 3)), float(rng.uniform(25, 80))
        muon = {"pt": pt, "eta": 0.5, "phi": phi, "px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": 10.0,
                "tightID": True, "tightIso": True}
        events[str(1000 + i)] = {"jet": jets, "muon": {"0": muon}, "met": float(rng.uniform(20, 100)),
                                 "met_phi": 0.3, "sumet": 300.0, "njet": njet, "numel": 0, "nummu": 1,
                                 "xsec": 1.0, "isMC": True, "lumi": 1, "run": 1}
    path.write_text(json.dumps({"Event": events}))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from eventcnn.images.render import RenderConfig, render_to_dir

    root = tmp_path_factory.mktemp("ev")
    tt = _event_json(root / "tt.json", 20, 5, 0)
    w = _event_json(root / "w.json", 20, 1, 1)
    render_to_dir([(tt, "tt"), (w, "w")], root / "images", RenderConfig(size=32), selection="none", quiet=True)
    cfg = TrainConfig(root / "images", root / "run", model="small", epochs=1, batch_size=16, quiet=True,
                      evaluate=False, augment=False)
    train(cfg)
    return root


def test_evaluate_writes_metrics_report_and_baseline(run_dir):
    m = evaluate_run(run_dir / "run", quiet=True)
    saved = json.loads((run_dir / "run" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(m))
    for key in ("accuracy", "balanced_accuracy", "per_class", "confusion_matrix", "roc_auc", "auc",
                "signal_efficiency", "baseline", "plots", "model"):
        assert key in saved, key
    assert saved["n"] == 6 and set(saved["per_class"]) == {"tt", "w"}
    assert np.asarray(saved["confusion_matrix"]["counts"]).sum() == 6
    # the baseline ran on the same 6 test events (the jet multiplicity separates these toys)
    assert saved["baseline"]["n"] == 6 and saved["baseline"]["accuracy"]["value"] >= 0.5
    # every figure carries its interval; the CNN and the trees are compared on the same events
    assert saved["accuracy"]["ci95"][0] <= saved["accuracy"]["value"] <= saved["accuracy"]["ci95"][1]
    assert set(saved["cnn_minus_baseline"]["auc"]) == {"value", "ci95"}
    assert (run_dir / "run" / "test_scores.csv").is_file()
    report = (run_dir / "run" / "report.md").read_text()
    assert "gradient-boosted trees" in report and "CNN" in report
    for plot in ("roc.png", "efficiency_rejection.png", "confusion_matrix_normalized.png"):
        assert (run_dir / "run" / plot).exists()


def test_predict_images_and_json(run_dir, tmp_path):
    out = tmp_path / "pred.csv"
    rows = predict(run_dir / "run", [run_dir / "images" / "tt", run_dir / "w.json"], out, quiet=True)
    assert len(rows) == 40
    with open(out) as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["input", "event", "predicted", "p_tt", "p_w", "rejected_by"]
    assert all(r["rejected_by"] == "" for r in table)
    assert sum(r["input"].endswith(".png") for r in table) == 20
    json_rows = [r for r in table if r["input"].endswith("w.json")]
    assert [int(r["event"]) for r in json_rows] == list(range(1000, 1020))
    for r in table:
        assert r["predicted"] in ("tt", "w")
        assert float(r["p_tt"]) + float(r["p_w"]) == pytest.approx(1.0, abs=1e-4)
    # a rendered JSON event is classified exactly like its PNG from the data folder
    png = predict(run_dir / "run", [run_dir / "images" / "w" / "w_event_1003.png"], quiet=True)[0]
    js = next(r for r in rows if r["event"] == 1003)
    assert png["p_w"] == pytest.approx(js["p_w"], abs=1e-5)


def test_cli_evaluate_and_predict(run_dir, tmp_path):
    assert main(["evaluate", str(run_dir / "run"), "--no-baseline", "--quiet"]) == 0
    assert json.loads((run_dir / "run" / "metrics.json").read_text())["baseline"] == {"skipped": "disabled"}
    out = tmp_path / "p.csv"
    assert main(["predict", str(run_dir / "run"), str(run_dir / "tt.json"), "--out", str(out), "--quiet"]) == 0
    assert out.read_text().count("\n") == 21
    assert main(["predict", str(run_dir / "run"), str(tmp_path / "missing.png"), "--quiet"]) == 1
    assert main(["evaluate", str(tmp_path), "--quiet"]) == 1


def test_run_keeps_its_selection_when_the_image_folder_moves(run_dir, tmp_path, monkeypatch):
    cfg = json.loads((run_dir / "run" / "config.json").read_text())
    assert "selection" in cfg and cfg["selection"] is None  # the images were drawn with --selection none
    # events without any lepton: the paper selection would drop every one of them
    no_lepton = json.loads((run_dir / "w.json").read_text())
    for event in no_lepton["Event"].values():
        del event["muon"]
    path = tmp_path / "nolep.json"
    path.write_text(json.dumps(no_lepton))
    # predict from another folder, where the run's relative data_dir does not exist
    monkeypatch.chdir(tmp_path)
    rows = predict(run_dir / "run", [path], quiet=True)
    assert len(rows) == 20  # the run's own selection (none) was applied, not "paper"


def test_predict_skips_hidden_folders_and_reads_gif(run_dir, tmp_path):
    import shutil

    from PIL import Image

    folder = tmp_path / "imgs"
    shutil.copytree(run_dir / "images" / "tt", folder)
    shutil.copytree(run_dir / "images" / "tt", folder / ".ipynb_checkpoints")  # Jupyter's copies
    shutil.copytree(run_dir / "images" / "tt", folder / ".eventcnn-cache")  # our own cache: silently not an input
    Image.open(folder / "tt_event_1000.png").save(folder / "as_gif.gif")
    with pytest.warns(UserWarning, match=r"skipped 1 hidden folder\(s\)/file\(s\): .ipynb_checkpoints/"):
        rows = predict(run_dir / "run", [folder], quiet=True)
    assert len(rows) == 21 and not any(".ipynb_checkpoints" in r["input"] for r in rows)
    gif = next(r for r in rows if r["input"].endswith("as_gif.gif"))
    png = next(r for r in rows if r["input"].endswith("tt_event_1000.png"))
    assert gif["p_tt"] == pytest.approx(png["p_tt"], abs=1e-5)


def test_predict_says_how_many_events_the_selection_rejected(run_dir, tmp_path, capsys):
    data = json.loads((run_dir / "w.json").read_text())
    for number in ("1000", "1001", "1002"):
        del data["Event"][number]["muon"]  # no lepton: the paper selection rejects these
    path = tmp_path / "w3.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "p.csv"
    assert main(["predict", str(run_dir / "run"), str(path), "--selection", "paper", "--out", str(out),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"eventcnn predict: warning: {path}: the selection rejected 3 of 20 events" in err
    assert "cut flow: all events: 20" in err and err.count("\n") == 1
    with open(out) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 20  # one row per event: 17 classified, 3 named with the cut that rejected them
    rejected = [r for r in table if r["rejected_by"]]
    assert sorted(int(r["event"]) for r in rejected) == [1000, 1001, 1002]
    assert all(r["predicted"] == "" and r["p_tt"] == "" and "lepton" in r["rejected_by"] for r in rejected)
    assert all(r["predicted"] in ("tt", "w") for r in table if not r["rejected_by"])


def test_baseline_fallback_is_recorded_and_bugs_propagate(run_dir, tmp_path, monkeypatch):
    import shutil

    import eventcnn.learn.baseline

    run = tmp_path / "run"
    shutil.copytree(run_dir / "run", run)
    split = json.loads((run / "split.json").read_text())
    for part in ("train", "val", "test"):
        for row in split[part]:
            row["source"] = str(tmp_path / "gone" / row["source"].rsplit("/", 1)[-1])  # event files deleted
    (run / "split.json").write_text(json.dumps(split))
    with pytest.warns(UserWarning, match="baseline skipped: cannot read the events behind the images"):
        m = evaluate_run(run, data_dir=run_dir / "images", quiet=True)
    assert "not found" in m["baseline"]["skipped"]
    assert json.loads((run / "metrics.json").read_text())["baseline"] == m["baseline"]

    def bug(*_a, **_k):
        raise KeyError("class")

    monkeypatch.setattr(eventcnn.learn.baseline, "features_for_manifest", bug)
    with pytest.raises(KeyError):
        evaluate_run(run, data_dir=run_dir / "images", quiet=True)


def test_predict_nanoaod_like_json(run_dir, tmp_path):
    pytest.importorskip("uproot")
    from eventcnn.events.nanoaod import convert

    root = convert(run_dir / "w.json", tmp_path / "w.root")
    js = predict(run_dir / "run", [run_dir / "w.json"], quiet=True)
    nano = predict(run_dir / "run", [root], quiet=True)
    assert [r["event"] for r in nano] == [r["event"] for r in js] and len(js) == 20
    assert [r["p_w"] for r in nano] == pytest.approx([r["p_w"] for r in js], abs=1e-6)


def test_train_and_predict_on_a_shard_folder(run_dir, tmp_path):
    from eventcnn.images.render import RenderConfig, render_to_dir

    sh = tmp_path / "shards"
    render_to_dir([(run_dir / "tt.json", "tt"), (run_dir / "w.json", "w")], sh, RenderConfig(size=32),
                  selection="none", quiet=True, format="shards", shard_size=16)
    # predict reads the shard rows: the same probabilities as for the PNGs of the same events
    rows = predict(run_dir / "run", [sh], quiet=True)
    assert len(rows) == 40 and rows[0]["input"].endswith("shard-00000.npy#0")
    png_rows = predict(run_dir / "run", [run_dir / "images" / "tt", run_dir / "images" / "w"], quiet=True)
    by_png = {r["input"].rsplit("/", 1)[1]: r for r in png_rows}
    from eventcnn.images.shards import read_index

    for r, ix in zip(rows, read_index(sh)):
        twin = by_png[f"{ix['class']}_event_{ix['event']}.png"]
        assert r["p_tt"] == pytest.approx(twin["p_tt"], abs=1e-5)
    # train --data SHARDS: one epoch, the split lists shard rows
    assert main(["train", "--data", str(sh), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8",
                 "--no-augment", "--size", "32", "-q"]) == 0
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["train"][0]["file"].startswith("shard-0000") and "#" in split["train"][0]["file"]
    assert (tmp_path / "run" / "best.keras").exists()
