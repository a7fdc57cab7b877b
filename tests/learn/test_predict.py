"""Tests of eventcnn.learn.predict: batches of one shape, TTA, the prediction CSVs, runs of every kind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.cli import main
from eventcnn.images import display_ids as ids
from eventcnn.learn import predict as prediction
from eventcnn.learn.predict import predict

keras = pytest.importorskip("keras")


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255),
                             keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])


def test_predict_tta_is_the_mean_over_the_copies() -> None:
    model = _model()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(5, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_allclose(prediction.predict_tta(model, x, copies=1), opal.predict(model, x), atol=1e-6)
    want = np.mean([opal.predict(model, opal.rotate_images(x, np.full(5, k * 90.0), np.full(5, k % 2 == 1)))
                    for k in range(4)], axis=0)
    got = prediction.predict_tta(model, x, copies=4)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert not np.allclose(got, opal.predict(model, x), atol=1e-4)  # the copies do change it
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="copies"):
        prediction.predict_tta(model, x, copies=0)


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
    want = prediction.predict_tta(model, data.images)
    shown = ids.display_ids(data.names)  # predictions.csv names displays by opaque id
    np.testing.assert_allclose(got, want[[shown.index(r["event"]) for r in rows]], atol=1e-5)


def test_cli_predicts_with_tta_by_default_and_plain_with_no_tta(tmp_path) -> None:
    """TTA is the default of `opal train` (predictions.csv) and `opal predict`; --no-tta is one pass."""
    import csv
    import json

    from eventcnn.cli import main

    d, labels, run = _trained_run(tmp_path, seed=2)
    assert json.loads((run / "config.json").read_text())["opal"]["tta_copies"] == prediction.TTA_COPIES

    def probs(path):
        with open(path, newline="") as fh:
            rows = sorted(csv.DictReader(fh), key=lambda r: r["event"])
        return np.array([[float(r[f"p_{c}"]) for c in opal.CLASS_NAMES] for r in rows])

    data = opal.load_displays(d, labels, size=64, quiet=True)
    rest = data.images[~data.labelled]  # ev4, ev5 in name order
    model = opal.load_model(run)
    np.testing.assert_allclose(probs(run / "predictions.csv"), prediction.predict_tta(model, rest), atol=1e-5)
    for opts, want in (([], prediction.predict_tta(model, rest)), (["--no-tta"], opal.predict(model, rest))):
        out = tmp_path / "p.csv"
        assert main(["opal", "predict", str(run), "--data", str(d), "--labels", str(labels),
                     "--out", str(out), "--overwrite", *opts]) == 0
        np.testing.assert_allclose(probs(out), want, atol=1e-5)


def test_default_follows_the_starting_weights(tmp_path, capsys) -> None:
    """TTA by default from random weights; one pass for a run fine-tuned from pretrained weights."""
    import json

    from eventcnn.cli import main

    assert prediction.default_tta(None) and prediction.default_tta("none") and prediction.default_tta("None")
    assert not prediction.default_tta("sim") and not prediction.default_tta("my.weights.h5")
    d, labels, run = _trained_run(tmp_path, seed=3)
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["weights"] is None and config["opal"]["tta_copies"] == prediction.TTA_COPIES
    data = opal.load_displays(d, labels, size=64, quiet=True)
    rest = data.images[~data.labelled]
    model = opal.load_model(run)

    def predicted(run_path, *opts):
        out = tmp_path / "p.csv"
        assert main(["opal", "predict", str(run_path), "--data", str(d), "--labels", str(labels),
                     "--out", str(out), "--overwrite", *opts]) == 0
        rows = sorted(out.read_text().splitlines()[1:])
        return np.array([[float(v) for v in r.split(",")[2:]] for r in rows])

    np.testing.assert_allclose(predicted(run), prediction.predict_tta(model, rest), atol=1e-5)
    config["train"]["weights"] = "sim"  # as if it had started from the shipped weights
    (run / "config.json").write_text(json.dumps(config))
    np.testing.assert_allclose(predicted(run), opal.predict(model, rest), atol=1e-5)
    np.testing.assert_allclose(predicted(run / "best.keras"), opal.predict(model, rest), atol=1e-5)
    np.testing.assert_allclose(predicted(run, "--tta"), prediction.predict_tta(model, rest), atol=1e-5)
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


# ---------------------------------------------------------------- CMS runs: images, folders, event files


def test_predict_images_and_json(cms_run, tmp_path):
    out = tmp_path / "pred.csv"
    rows = predict(cms_run / "run", [cms_run / "images" / "tt", cms_run / "w.json"], out, quiet=True)
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
    png = predict(cms_run / "run", [cms_run / "images" / "w" / "w_event_1003.png"], quiet=True)[0]
    js = next(r for r in rows if r["event"] == 1003)
    assert png["p_w"] == pytest.approx(js["p_w"], abs=1e-5)


def test_run_keeps_its_selection_when_the_image_folder_moves(cms_run, tmp_path, monkeypatch):
    cfg = json.loads((cms_run / "run" / "config.json").read_text())
    assert "selection" in cfg and cfg["selection"] is None  # the images were drawn with --selection none
    # events without any lepton: the paper selection would drop every one of them
    no_lepton = json.loads((cms_run / "w.json").read_text())
    for event in no_lepton["Event"].values():
        del event["muon"]
    path = tmp_path / "nolep.json"
    path.write_text(json.dumps(no_lepton))
    # predict from another folder, where the run's relative data_dir does not exist
    monkeypatch.chdir(tmp_path)
    rows = predict(cms_run / "run", [path], quiet=True)
    assert len(rows) == 20  # the run's own selection (none) was applied, not "paper"


def test_predict_skips_hidden_folders_and_reads_gif(cms_run, tmp_path):
    import shutil

    from PIL import Image

    folder = tmp_path / "imgs"
    shutil.copytree(cms_run / "images" / "tt", folder)
    shutil.copytree(cms_run / "images" / "tt", folder / ".ipynb_checkpoints")  # Jupyter's copies
    shutil.copytree(cms_run / "images" / "tt", folder / ".eventcnn-cache")  # our own cache: silently not an input
    Image.open(folder / "tt_event_1000.png").save(folder / "as_gif.gif")
    with pytest.warns(UserWarning, match=r"skipped 1 hidden folder\(s\)/file\(s\): .ipynb_checkpoints/"):
        rows = predict(cms_run / "run", [folder], quiet=True)
    assert len(rows) == 21 and not any(".ipynb_checkpoints" in r["input"] for r in rows)
    gif = next(r for r in rows if r["input"].endswith("as_gif.gif"))
    png = next(r for r in rows if r["input"].endswith("tt_event_1000.png"))
    assert gif["p_tt"] == pytest.approx(png["p_tt"], abs=1e-5)


def test_predict_says_how_many_events_the_selection_rejected(cms_run, tmp_path, capsys):
    data = json.loads((cms_run / "w.json").read_text())
    for number in ("1000", "1001", "1002"):
        del data["Event"][number]["muon"]  # no lepton: the paper selection rejects these
    path = tmp_path / "w3.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "p.csv"
    assert main(["predict", str(cms_run / "run"), str(path), "--selection", "paper", "--out", str(out),
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


def test_predict_nanoaod_like_json(cms_run, tmp_path):
    pytest.importorskip("uproot")
    from eventcnn.events.convert import convert

    root = convert(cms_run / "w.json", tmp_path / "w.root")
    js = predict(cms_run / "run", [cms_run / "w.json"], quiet=True)
    nano = predict(cms_run / "run", [root], quiet=True)
    assert [r["event"] for r in nano] == [r["event"] for r in js] and len(js) == 20
    assert [r["p_w"] for r in nano] == pytest.approx([r["p_w"] for r in js], abs=1e-6)


def test_predict_passes_absent_to_the_renderer(cms_run, tmp_path, capsys):
    """`eventcnn predict --absent`: a NanoAOD file without electrons, as render reads it (issue 32 leftover)."""
    uproot = pytest.importorskip("uproot")
    from eventcnn.events.convert import convert

    full = uproot.open(convert(cms_run / "w.json", tmp_path / "w.root"))["Events"]
    names = full.keys()  # the branch names (iterating a TTree gives branches)
    keep = [k for k in names if not k.startswith(("Electron", "nElectron"))]
    arrays = full.arrays(keep, library="ak")
    groups: dict[str, dict[str, object]] = {}
    flat = {}
    for key in keep:
        prefix, _, rest = key.partition("_")
        if prefix in ("Jet", "Muon") and rest:
            groups.setdefault(prefix, {})[rest] = arrays[key]
        elif not key.startswith("n"):
            flat[key] = arrays[key]
    import awkward as ak

    branches = {**flat, **{k: ak.zip(v) for k, v in groups.items()}}
    path = tmp_path / "noel.root"
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {k: (v.type if hasattr(v, "layout") else v.dtype) for k, v in branches.items()})
        tree.extend(branches)
    out = tmp_path / "p.csv"
    assert main(["predict", str(cms_run / "run"), str(path), "--out", str(out), "--selection", "none", "-q"]) == 1
    err = capsys.readouterr().err
    assert "Electron" in err and "--absent" in err and str(path) in err and not out.exists()
    assert main(["predict", str(cms_run / "run"), str(path), "--out", str(out), "--selection", "none", "-q",
                 "--absent", "Electron"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20 and all(r["predicted"] in ("tt", "w") for r in rows)
def test_predict_streams_any_registered_format_in_chunks_and_passes_absent(cms_run, tmp_path, monkeypatch, capsys):
    """Event files are read through the format registry a chunk at a time (in process), --absent reaches the
    reader, and the rows are those of the whole file read at once."""
    import shutil

    import eventcnn.learn.scoring as scoring
    from eventcnn.events.cms_json import read_json_events
    from eventcnn.events.formats import EventFormat, register_format, unregister_format

    calls = []

    def read_range(path, start, stop, options):
        calls.append((start, stop, options.absent))
        return read_json_events(path)[start:stop]

    fmt = EventFormat(name="ranged-json", description="CMS JSON read in entry ranges", suffixes=(".rjson",),
                      read=lambda path, options: read_json_events(path),
                      count=lambda path: len(read_json_events(path)), read_range=read_range)
    path = tmp_path / "w.rjson"
    shutil.copy(cms_run / "w.json", path)
    register_format(fmt)
    try:
        whole = predict(cms_run / "run", [cms_run / "w.json"], quiet=True)
        monkeypatch.setattr(scoring, "CHUNK_EVENTS", 7)
        out = tmp_path / "p.csv"
        assert main(["predict", str(cms_run / "run"), str(path), "--absent", "electron", "--out", str(out),
                     "-q"]) == 0
    finally:
        unregister_format("ranged-json")
    assert [(a, b) for a, b, _ in calls] == [(0, 7), (7, 14), (14, 20)]
    assert all(absent == {"Electron"} for *_, absent in calls)
    with open(out) as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["event"]) for r in table] == [r["event"] for r in whole] == list(range(1000, 1020))
    assert [float(r["p_w"]) for r in table] == pytest.approx([r["p_w"] for r in whole], abs=1e-6)


def test_train_and_predict_on_a_shard_folder(cms_run, tmp_path):
    from eventcnn.images.render import RenderConfig, render_to_dir

    sh = tmp_path / "shards"
    render_to_dir([(cms_run / "tt.json", "tt"), (cms_run / "w.json", "w")], sh, RenderConfig(size=32),
                  selection="none", quiet=True, format="shards", shard_size=16)
    # predict reads the shard rows: the same probabilities as for the PNGs of the same events
    rows = predict(cms_run / "run", [sh], quiet=True)
    assert len(rows) == 40 and rows[0]["input"].endswith("shard-00000.npy#0")
    png_rows = predict(cms_run / "run", [cms_run / "images" / "tt", cms_run / "images" / "w"], quiet=True)
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


# ---------------------------------------------------------------- OPAL runs: one predict for both kinds


def test_eventcnn_predict_classifies_displays_with_an_opal_run_as_opal_predict_does(opal_folder, cms_run, tmp_path):
    from eventcnn.errors import UserError

    d, labels = opal_folder
    run = tmp_path / "run"
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64", "--epochs", "1",
                 "--out", str(run), "--quiet"]) == 0
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["opal", "predict", str(run), "--data", str(d), "--all", "--out", str(a)]) == 0
    assert main(["predict", str(run), str(d), "--out", str(b), "--quiet"]) == 0
    assert a.read_text() == b.read_text()  # one implementation: the same rows, displays named by id
    rows = predict(run, [d])  # no out: the rows only
    assert len(rows) == 6 and all(ids.is_display_id(r["event"]) for r in rows)
    assert {r["predicted"] for r in rows} <= set(opal.CLASS_NAMES)
    with pytest.raises(UserError, match="selection is for CMS image runs only"):
        predict(run, [d], selection="paper")
    with pytest.raises(UserError, match="absent is for CMS image runs only"):
        predict(run, [d], absent="Electron")
    with pytest.raises(UserError, match="tta is for OPAL display runs only"):
        predict(cms_run / "run", [cms_run / "images"], tta=True)
