"""The concrete cases of issue 33 items 4 and 6, through the command line (``main``) only.

Each went wrong before: a class database replaced by a label file, a name that wrote
outside ``--out``, a class lost from a shard folder, a truncated shard reported as our
bug, empty or image-less zips, "0 ... classified" with exit code 0, names of
unlabelled displays in a warning, suggestions of the wrong command. The rules that fix
them are tested over every command in ``tests/test_cli_rules.py``.
"""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventcnn.cli import main


def _one_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " error: " in line or "internal error" in line]
    assert len(lines) == 1 and "internal error" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _displays(folder: Path, n: int = 8, size: int = 24) -> tuple[Path, Path]:
    """A zip of ``n`` small displays named like the masterclass (class first) and a label file of half."""
    folder.mkdir(parents=True, exist_ok=True)
    zpath = folder / "displays.zip"
    names = [f"{'qemt'[i % 4]}5293_{1000 + i}" for i in range(n)]
    with zipfile.ZipFile(zpath, "w") as zf:
        for i, name in enumerate(names):
            im = Image.fromarray(np.full((size, size, 3), 20 * i, np.uint8))
            path = folder / f"{name}.png"
            im.save(path)
            zf.write(path, f"final/{name}.png")
            path.unlink()
    labels = folder / "labels.csv"
    labels.write_text("".join(f"{n}.png;{n[0]}\n" for n in names[: n // 2]))
    return zpath, labels


# ---------------------------------------------------------------------------- outputs that destroy inputs


def test_class_export_never_replaces_the_class_database(tmp_path, capsys):
    from eventcnn.opal.web.store import ClassStore

    db = tmp_path / "class.sqlite"
    ClassStore(db).close()  # a class database as `class serve` makes it
    before = db.read_bytes()
    assert main(["class", "export", "--db", str(db), "--out", str(db)]) == 1
    _one_error(capsys, "--out", str(db))
    assert db.read_bytes() == before
    assert main(["class", "export", "--db", str(db), "--out", str(tmp_path / "l.csv"), "--votes", str(db)]) == 1
    _one_error(capsys, "--votes")
    assert db.read_bytes() == before
    other = tmp_path / "notes.sqlite"  # another program's database: never changed, never taken for a class
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE notes (x)")
    con.close()
    kept = other.read_bytes()
    assert main(["class", "export", "--db", str(other), "--out", str(tmp_path / "l2.csv")]) == 1
    _one_error(capsys, "not a class database")
    assert other.read_bytes() == kept and not (tmp_path / "l2.csv").exists()


def test_opal_ids_does_not_replace_an_existing_file_without_overwrite(tmp_path, capsys):
    zpath, labels = _displays(tmp_path)
    table = tmp_path / "ids.csv"
    table.write_text("the teacher's table of last year")
    assert main(["opal", "ids", "--data", str(zpath), "--out", str(table)]) == 1
    _one_error(capsys, "already exists", "--overwrite")
    assert table.read_text() == "the teacher's table of last year"
    assert main(["opal", "ids", "--data", str(zpath), "--reference", str(labels), "--out", str(labels),
                 "--overwrite"]) == 1  # never onto the answer key, even with --overwrite
    _one_error(capsys, "is the input")
    assert main(["opal", "ids", "--data", str(zpath), "--out", str(table), "--overwrite"]) == 0
    assert table.read_text().count("\n") == 1 + 8


# ---------------------------------------------------------------------------- names that leave the output folder


def test_names_never_write_outside_the_output_folder(tmp_path, capsys, monkeypatch):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert main(["opal", "pretrain", "--out", "pt0", "--name", "../../x", "--events", "8", "--epochs", "1"]) == 1
    _one_error(capsys, "--name", "../../x")
    assert main(["opal", "simulate", "--out", "sim", "--name", "../../y", "--events", "4", "-q"]) == 1
    _one_error(capsys, "--name", "../../y")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]  # nothing written anywhere


# ---------------------------------------------------------------------------- a class silently lost


def _events(path: Path, n: int, seed: int) -> Path:
    import json

    rng = np.random.default_rng(seed)
    events = {}
    for i in range(n):
        phi, pt = float(rng.uniform(-3, 3)), float(rng.uniform(25, 80))
        muon = {"pt": pt, "eta": 0.5, "phi": phi, "px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": 10.0,
                "tightID": True, "tightIso": True}
        events[str(100 + i)] = {"muon": {"0": muon}, "met": 30.0, "met_phi": 0.1, "sumet": 300.0, "njet": 0,
                                "numel": 0, "nummu": 1, "xsec": 1.0, "isMC": True, "lumi": 1, "run": 1}
    path.write_text(json.dumps({"Event": events}))
    return path


def test_render_shards_of_a_second_class_keeps_the_first(tmp_path, capsys):
    from eventcnn.images.shards import read_index

    a, b = _events(tmp_path / "a.json", 23, 0), _events(tmp_path / "b.json", 17, 1)
    out = tmp_path / "sh"
    common = ["--out", str(out), "--format", "shards", "--shard-size", "10", "--size", "16", "--selection", "none",
              "-q"]
    assert main(["render", str(a), "--label", "alpha", *common]) == 0
    first = {(r["class"], r["event"]) for r in read_index(out)}
    assert main(["render", str(b), "--label", "beta", *common]) == 0
    rows = read_index(out)
    classes = [r["class"] for r in rows]
    assert classes.count("alpha") == 23 and classes.count("beta") == 17
    assert first <= {(r["class"], r["event"]) for r in rows}
    # every row is readable, in the shard it names; no shard file is left without a row
    from eventcnn.images.shards import ShardRows, shard_ref

    images = ShardRows([str(out / shard_ref(int(r["shard"]), int(r["row"]))) for r in rows])
    assert images[np.arange(len(rows))].shape == (40, 16, 16, 3)
    assert {f"shard-{int(r['shard']):05d}.npy" for r in rows} == {p.name for p in out.glob("shard-*.npy")}
    # a redraw of the first class replaces its rows, the second stays
    assert main(["render", str(a), "--label", "alpha", "--limit", "5", *common]) == 0
    classes = [r["class"] for r in read_index(out)]
    assert classes.count("beta") == 17 and classes.count("alpha") == 23  # 5 redrawn, 18 kept (as with PNGs)


# ---------------------------------------------------------------------------- damaged and empty inputs


def test_a_truncated_shard_is_named_not_an_internal_error(tmp_path, capsys):
    a, b = _events(tmp_path / "a.json", 23, 0), _events(tmp_path / "b.json", 17, 1)
    out = tmp_path / "sh"
    assert main(["render", str(a), str(b), "--label", "alpha", "--label", "beta", "--out", str(out), "--format",
                 "shards", "--shard-size", "10", "--size", "16", "--selection", "none", "-q"]) == 0
    shard = out / "shard-00001.npy"
    with open(shard, "r+b") as fh:
        fh.truncate(shard.stat().st_size // 2)
    assert main(["train", "--data", str(out), "--out", str(tmp_path / "run"), "--epochs", "1", "-q",
                 "--no-evaluate", "--no-baseline"]) == 1
    _one_error(capsys, str(shard), "damaged")


@pytest.mark.parametrize("command", [["opal", "suggest"], ["opal", "ids", "--out", "ids.csv"],
                                     ["opal", "label", "--labels", "mine.csv", "--window", "no"],
                                     ["opal", "train", "--labels", "labels.csv", "--out", "run"]])
@pytest.mark.parametrize("content", ["empty", "no-images", "broken-images"])
def test_empty_or_imageless_zips_are_one_line_naming_the_zip(tmp_path, capsys, monkeypatch, command, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.csv").write_text("a.png;q\nb.png;e\n")
    zpath = tmp_path / "displays.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        if content == "no-images":
            zf.writestr("readme.txt", "the displays are elsewhere")
        if content == "broken-images":
            zf.writestr("a.png", b"\x89PNG\r\n\x1a\n broken")
    assert main([*command, "--data", str(zpath)]) == 1
    _one_error(capsys, "displays.zip")
    assert not (tmp_path / "ids.csv").exists() and not (tmp_path / "run").exists()


def test_predicting_nothing_is_an_error_not_an_empty_success(tmp_path, capsys, monkeypatch):
    """An OPAL model on a zip whose displays are all labelled: nothing to classify (before: "0 events classified")."""
    from eventcnn.learn.models import build_model

    zpath, labels = _displays(tmp_path, n=4, size=64)
    labels.write_text("".join(f"{'qemt'[i]}5293_{1000 + i}.png;{'qemt'[i]}\n" for i in range(4)))
    model = build_model("masterclass", input_shape=(64, 64, 3), augmentation=False, weights=None)
    model.save(tmp_path / "m.keras")
    out = tmp_path / "p.csv"
    assert main(["opal", "predict", str(tmp_path / "m.keras"), "--data", str(zpath), "--labels", str(labels),
                 "--out", str(out), "--no-tta", "-q"]) == 1
    _one_error(capsys, "nothing to classify", "--all")
    assert not out.exists()
    assert main(["opal", "predict", str(tmp_path / "m.keras"), "--data", str(zpath), "--labels", str(labels),
                 "--out", str(out), "--no-tta", "--all", "-q"]) == 0


def test_an_input_that_is_missing_is_refused_before_any_work(tmp_path, capsys):
    """`train --split` with a missing file trained on a new split and exited 0."""
    from eventcnn.learn.dataset import make_toy_images

    data = make_toy_images(tmp_path / "toy", n_per_class=3, size=16)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--split", str(tmp_path / "s.json"),
                 "--epochs", "1", "-q"]) == 1
    _one_error(capsys, "--split", "s.json", "not found")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- names that give the class away


def test_the_warning_about_labels_without_a_display_never_names_unlabelled_displays(tmp_path, capsys):
    from eventcnn import opal

    zpath, labels = _displays(tmp_path)
    with labels.open("a") as fh:
        fh.write("z9999_1.png;q\n")  # a label for a display that is not in the zip
    with pytest.warns(UserWarning) as rec:
        data = opal.load_displays(zpath, labels, size=16, quiet=True)
    text = " ".join(str(w.message) for w in rec)
    unlabelled = [str(n) for n in data.names[~data.labelled]]
    assert unlabelled and not any(n in text for n in unlabelled), text
    assert "4 image(s) without a label" in text and "z9999_1.png" in text


# ---------------------------------------------------------------------------- words that agree with the program


def test_train_on_a_display_zip_suggests_opal_train(tmp_path, capsys):
    zpath, _ = _displays(tmp_path)
    assert main(["train", "--data", str(zpath), "--out", str(tmp_path / "run"), "-q"]) == 1
    err = _one_error(capsys, "eventcnn opal train")
    assert f"eventcnn render {zpath}" not in err
