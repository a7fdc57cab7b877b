"""Tests of eventcnn.errors: the one output rule of every writer (check_output), MemoryError, /proc.

Every bad case: one line on stderr, exit code 1, nothing lost (inputs byte-identical),
refused before any work (the model is never loaded).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from eventcnn.cli import main
from eventcnn.errors import OutputError, OutputExistsError, check_output, describe, is_user_error


def _run_folder(path: Path, data_dir: Path) -> Path:
    """A run folder that passes read_run_config (no model needed: outputs are checked first)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"train": {"data_dir": str(data_dir), "out_dir": str(path)},
                                                  "class_names": ["a", "b"], "image_size": 8}))
    (path / "best.keras").write_bytes(b"PK\x03\x04 the trained model")
    return path


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    """An image folder, a run folder, an event file; loading a model fails the test."""
    import eventcnn.learn.explain  # noqa: F401 - imported before the patch: they bind load_keras_file
    import eventcnn.learn.predict  # noqa: F401
    import eventcnn.learn.runs

    data = tmp_path / "CreatedImages"
    (data / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(data / "a" / "a_event_1.png")
    (data / "manifest.csv").write_text("file,class,source,event\na/a_event_1.png,a,x.json,1\n")
    run = _run_folder(tmp_path / "runs" / "small", data)
    events = tmp_path / "events.json"
    events.write_text('{"Event": {}}')
    monkeypatch.setattr(eventcnn.learn.runs, "load_keras_file", lambda *a, **k: pytest.fail("model loaded"))
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    return tmp_path, data, run, events, snapshot


def _one_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and " error: " in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _unchanged(tmp_path: Path, snapshot: dict[Path, bytes]) -> None:
    now = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert now == snapshot


@pytest.mark.parametrize("out, words", [
    ("runs/small/best.keras", "is the run folder"),           # replaced the trained model with a CSV
    ("runs/small/predictions.csv", "is the run folder"),
    ("runs/small", "is the run folder"),
    ("CreatedImages/a/p.csv", "is the input folder"),
    ("CreatedImages/p.csv", "is the image folder"),
    ("events.json", "is the input"),
])
def test_predict_never_writes_onto_its_inputs(setup, capsys, out, words):
    tmp_path, data, run, events, snapshot = setup
    assert main(["predict", str(run), str(events), str(data / "a"), "--out", str(tmp_path / out)]) == 1
    _one_error(capsys, words, "choose another --out")
    _unchanged(tmp_path, snapshot)


def test_an_existing_output_file_needs_overwrite(setup, capsys):
    tmp_path, _, run, events, snapshot = setup
    old = tmp_path / "predictions.csv"
    old.write_text("yesterday's predictions")
    assert main(["predict", str(run), str(events), "--out", str(old)]) == 1
    _one_error(capsys, "already exists; pass --overwrite")
    assert old.read_text() == "yesterday's predictions"
    # with --overwrite the output check passes and the command goes on (here: to load the model)
    with pytest.raises(pytest.fail.Exception, match="model loaded"):
        main(["predict", str(run), str(events), "--out", str(old), "--overwrite", "--debug"])


def test_links_to_an_input_are_the_input(setup, capsys):
    tmp_path, _, run, events, snapshot = setup
    os.link(events, tmp_path / "hard.json")
    (tmp_path / "soft.json").symlink_to(events)
    for name in ("hard.json", "soft.json"):
        with pytest.raises(OutputError, match="is the input"):
            check_output(tmp_path / name, inputs=[events], overwrite=True)
    assert events.read_text() == '{"Event": {}}'


def test_explain_and_opal_outputs_stay_out_of_run_and_image_folders(setup, capsys):
    tmp_path, data, run, _, snapshot = setup
    image = data / "a" / "a_event_1.png"
    assert main(["explain", str(run), str(image), "--out", str(run / "maps")]) == 1
    _one_error(capsys, "is the run folder")
    assert main(["explain", str(run), str(image), "--out", str(data / "a")]) == 1
    _one_error(capsys, "is the image folder")  # training would read the maps as images of class a
    labels = tmp_path / "labels.csv"
    labels.write_text("a_event_1.png;q\n")
    snapshot[labels] = labels.read_bytes()
    assert main(["opal", "predict", str(run), "--data", str(data), "--out",
                 str(run / "best.keras")]) == 1
    _one_error(capsys, "is the run folder")
    assert main(["opal", "predict", str(run), "--data", str(data), "--labels", str(labels),
                 "--out", str(labels), "--overwrite"]) == 1
    _one_error(capsys, "is the input")
    assert main(["opal", "train", "--data", str(data), "--labels", str(labels), "--out", str(data)]) == 1
    _one_error(capsys, "is the input folder")
    assert main(["opal", "label", "--data", str(data), "--labels", str(labels), "--show", str(labels)]) == 1
    _one_error(capsys, "--show", "is the input")
    _unchanged(tmp_path, snapshot)


def test_render_augment_and_train_refuse_outputs_on_their_inputs(setup, capsys):
    tmp_path, data, _, events, snapshot = setup
    assert main(["render", str(events), "--out", str(events), "-q"]) == 1
    _one_error(capsys, "is the input")
    assert main(["train", "--data", str(data), "--out", str(data / "run"), "-q"]) == 1
    _one_error(capsys, "is the image folder")
    pytest.importorskip("Augmentor")
    assert main(["augment", str(data), "--out", str(data / "aug"), "-q"]) == 1
    _one_error(capsys, "is the image folder")
    _unchanged(tmp_path, snapshot)


def test_check_output_rules(tmp_path):
    src = tmp_path / "in.json"
    src.write_text("{}")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert check_output(tmp_path / "new.csv", inputs=[src]) == tmp_path / "new.csv"
    assert not (tmp_path / "new.csv").exists()  # checked, not created
    with pytest.raises(OutputError, match="is a folder, not a file"):
        check_output(folder)
    with pytest.raises(OutputExistsError, match="already exists"):
        check_output(src)
    assert check_output(src, overwrite=True) == src
    with pytest.raises(OutputError, match="is the input folder .* or inside it"):
        check_output(folder / "sub" / "x.csv", inputs=[folder], overwrite=True)
    with pytest.raises(OutputError, match="is the run folder"):
        check_output(folder / "x.csv", protected=[("the run folder", folder)])
    assert check_output(tmp_path / "out", inputs=[src, "root://host//x.root"], folder=True) == tmp_path / "out"
    assert is_user_error(OutputError("x"))


def test_memory_error_is_one_user_line_not_an_internal_error(monkeypatch, capsys, tmp_path):
    import eventcnn.learn.comparison

    (tmp_path / "r").mkdir()
    monkeypatch.chdir(tmp_path)

    def boom(*_a, **_k):
        raise MemoryError("Unable to allocate 22.4 GiB for an array with shape (100000, 100000, 3)")

    monkeypatch.setattr(eventcnn.learn.comparison, "compare_runs", boom)
    assert is_user_error(MemoryError())
    assert describe(MemoryError()).startswith("out of memory: use a smaller --size")
    assert main(["compare", "r"]) == 1
    _one_error(capsys, "out of memory (Unable to allocate 22.4 GiB", "--batch-size")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_unwritable_system_folder_says_so(setup, capsys):
    tmp_path, _, run, events, snapshot = setup
    for out in ("/proc/predictions.csv", "/proc/x/predictions.csv"):
        assert main(["predict", str(run), str(events), "--out", out]) == 1
        _one_error(capsys, "cannot write into folder /proc", "a system folder such as /proc")
    _unchanged(tmp_path, snapshot)


def test_explain_names_folders_and_files_given_in_the_wrong_place(setup, capsys):
    tmp_path, data, run, _, snapshot = setup
    assert main(["explain", str(run), str(data / "a"), "--out", str(tmp_path / "maps")]) == 1
    _one_error(capsys, "is a folder: give image files")
    assert main(["explain", str(run), str(data / "a" / "a_event_1.png"), "--out", str(tmp_path / "events.json")]) == 1
    _one_error(capsys, "is a file, not a folder")
    _unchanged(tmp_path, snapshot)


def test_compare_never_writes_into_a_run_folder_and_keeps_existing_tables(setup, capsys):
    tmp_path, _, run, _, snapshot = setup
    (run / "report.md").write_text("the run's own report")
    snapshot[run / "report.md"] = b"the run's own report"
    assert main(["compare", str(run), "--out", str(run / "report.md")]) == 1
    _one_error(capsys, "is the run folder")
    table = tmp_path / "compare.md"
    table.write_text("last week's table")
    snapshot[table] = b"last week's table"
    assert main(["compare", str(run), "--out", str(table)]) == 1
    _one_error(capsys, "already exists; pass --overwrite")
    _unchanged(tmp_path, snapshot)
