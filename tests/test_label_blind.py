"""Blind hand labelling: nothing on screen or in the label file names an event (opaque ids)."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.errors import UserError
from eventcnn.opal import ids, labeller

# names like e5293_10479, qq5305_..., z5299_24147: a class-revealing prefix + run_event
EVENT_LIKE = re.compile(r"[a-z]+\d{3,}_\d+")


def _run_label(argv: list[str], answers: str, monkeypatch, capsys) -> str:
    from eventcnn.cli import main

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr("sys.stdin", io.StringIO(answers))
    assert main(["opal", "label", *argv]) == 0
    out = capsys.readouterr()
    return out.out + out.err


def test_console_label_is_blind_and_records_opaque_ids(opal_zip: Path, opal_labels: Path,
                                                       tmp_path: Path, monkeypatch, capsys) -> None:
    labels = tmp_path / "my_labels.csv"
    text = _run_label(["--data", str(opal_zip), "--labels", str(labels), "--n", "8", "--size", "100"],
                      "q\ne\nm\nt\nbogus\ns\nq\nx\n", monkeypatch, capsys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = opal.load_displays(opal_zip, opal_labels, size=100, quiet=True)
    for name in data.names:  # no event name, with or without extension or zip prefix
        assert name not in text
    assert not EVENT_LIKE.search(text), EVENT_LIKE.search(text)
    assert "final" not in text and "opencv" not in text  # no zip member names
    assert "event 1 of 8" in text and "event 6 of 8" in text
    assert "hadronic" in text and "muon chambers" in text  # the hint card
    # the file holds the opaque ids of the events shown, in the order shown (seeded, suggested):
    # names give the class away; load_displays (opal train) maps the ids back
    idx = labeller.choose_events(data.images, None, 8, order="suggest", seed=0)
    got = [line.split(";") for line in labels.read_text().splitlines()]
    shown = [f"{i}.png" for i in ids.display_ids(data.names[idx])]
    assert [g[0] for g in got] == [shown[i] for i in (0, 1, 2, 3, 5)]  # the 5th was skipped
    assert [g[1] for g in got] == ["q", "e", "m", "t", "q"]
    assert not any(n.lower() in labels.read_text().lower() for n in data.names)
    back = opal.load_displays(opal_zip, labels, size=16, quiet=True)
    assert dict(zip(back.names[back.labelled], back.labels[back.labelled])) == dict(
        zip(data.names[idx[[0, 1, 2, 3, 5]]], ["q", "e", "m", "t", "q"]))
    assert (tmp_path / "label_current.png").is_file()
    # labelled with the reference, the suggested batch holds more than hadrons
    ref = dict(zip(data.names, data.labels))
    assert len({ref[n] for n in data.names[idx]}) >= 2


def test_relabelling_continues_with_a_fresh_batch(opal_zip: Path, tmp_path: Path, monkeypatch,
                                                  capsys) -> None:
    labels = tmp_path / "l.csv"
    args = ["--data", str(opal_zip), "--labels", str(labels), "--n", "3", "--size", "100",
            "--order", "shuffle", "--seed", "4"]
    _run_label(args, "q\nq\nq\n", monkeypatch, capsys)
    first = labels.read_text().splitlines()
    text = _run_label(args, "e\nx\n", monkeypatch, capsys)
    rows = labels.read_text().splitlines()
    assert rows[:3] == first and len(rows) == 4 and rows[3].endswith(";e")
    assert rows[3].split(";")[0] not in {r.split(";")[0] for r in first}
    assert "3 of them labelled so far" in text
    assert not EVENT_LIKE.search(text)


def test_choose_events_orders() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(30, 24, 24, 3), dtype=np.uint8)
    labels = np.array(["q", ""] * 15)
    for order in labeller.ORDERS:
        a = labeller.choose_events(images, labels, 5, order=order, seed=1)
        assert len(a) == 5 and len(set(a.tolist())) == 5
        assert np.all(labels[a] == "")  # never an event labelled already
        assert np.array_equal(a, labeller.choose_events(images, labels, 5, order=order, seed=1))
    name = labeller.choose_events(images, labels, 5, order="name", seed=1)
    assert sorted(name.tolist()) == [1, 3, 5, 7, 9]
    assert name.tolist() != [1, 3, 5, 7, 9] or labeller.choose_events(
        images, labels, 5, order="name", seed=2).tolist() != [1, 3, 5, 7, 9]  # shown shuffled
    with pytest.raises(ValueError, match="order must be one of"):
        labeller.choose_events(images, labels, 5, order="alphabet")


def test_widget_title_is_blind(tmp_path: Path) -> None:
    pytest.importorskip("ipywidgets")
    names = ["e5293_10479", "qq5305_1", "m5301_2"]
    s = labeller.LabelSession(names, tmp_path / "l.csv")
    w = labeller.labeller_widget(s, np.zeros((3, 16, 16, 3), dtype=np.uint8))
    title = w.children[0].value
    assert "1</b> of 3" in title and not any(n in title for n in names)


def test_student_labels_never_invents_labels(tmp_path: Path) -> None:
    import helpers

    names = np.array(["a1", "b2", "c3", "d4", "e5"])
    data = opal.OpalData(np.zeros((5, 8, 8, 3), dtype=np.uint8), names,
                         np.array(["q", "e", "m", "t", "q"]))
    path = tmp_path / "my_labels.csv"
    s = labeller.LabelSession(names, path)
    s.answer("q")
    s.answer("m")  # wrong on purpose: the reference says e
    with pytest.raises(UserError, match="You labelled 2 of the 4 events.*DEMO_LABELS"):
        labeller.student_labels(s, data.names, data.labels, 4, demo=False)
    mine, demo = helpers.student_labels(s, data, 4, demo=True)  # the notebooks' thin wrapper
    assert mine.tolist() == ["q", "m", "", "", ""]
    assert demo.tolist() == ["", "", "m", "t", ""]  # reference labels, only up to n_label
    assert len(path.read_text().splitlines()) == 2  # never written to the student's file
    cmp = labeller.compare_labels(names, mine, data.labels)
    assert cmp["n"] == 2 and cmp["agreement"] == 0.5  # demo labels are not scored


def test_label_with_no_input_says_nothing_was_labelled_and_writes_nothing(tmp_path: Path, monkeypatch,
                                                                          capsys) -> None:
    d = _displays(tmp_path, 5)
    labels = tmp_path / "eof.csv"
    text = _run_label(["--data", str(d), "--labels", str(labels), "--order", "name"], "", monkeypatch, capsys)
    assert "nothing labelled in this sitting (end of input)" in text and "not written" in text
    assert "saved" not in text and not labels.exists()
    text = _run_label(["--data", str(d), "--labels", str(labels), "--order", "name"], "q\ne\n",
                      monkeypatch, capsys)
    assert "saved 2 label(s) to" in text and len(labels.read_text().splitlines()) == 2
    text = _run_label(["--data", str(d), "--labels", str(labels), "--order", "name"], "x\n", monkeypatch, capsys)
    assert f"nothing labelled in this sitting: {labels} unchanged" in text


def test_label_more_than_there_are_and_a_broken_display(tmp_path: Path, monkeypatch, capsys) -> None:
    d = _displays(tmp_path, 4)
    (d / "broken.png").write_bytes((d / "ev0.png").read_bytes()[:60])  # truncated
    labels = tmp_path / "l.csv"
    text = _run_label(["--data", str(d), "--labels", str(labels), "--n", "100000", "--order", "shuffle"],
                      "x\n", monkeypatch, capsys)
    assert "only 4 unlabelled displays left: this sitting has 4 (not 100000)" in text
    assert "1 display file(s) could not be read and are left out: broken.png" in text


def _displays(tmp_path: Path, n: int) -> Path:
    from PIL import Image

    d = tmp_path / "displays"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(d / f"ev{i}.png")
    return d


def test_a_new_sitting_after_two_labels_is_class_balanced(opal_zip: Path, opal_labels: Path, tmp_path: Path,
                                                           monkeypatch, capsys) -> None:
    """The report: label 2 events, stop, start a new batch: it gave 44 q, 3 m, 1 e, 0 t."""
    labels = tmp_path / "my_labels.csv"
    args = ["--data", str(opal_zip), "--labels", str(labels), "--size", "100"]
    _run_label([*args, "--n", "50"], "q\nq\nx\n", monkeypatch, capsys)  # whatever was answered
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = opal.load_displays(opal_zip, labels, size=100, quiet=True)
        ref = opal.load_displays(opal_zip, opal_labels, size=8, quiet=True).labels
    assert data.labelled.sum() == 2
    idx = labeller.choose_events(data.images, data.labels, 48, seed=0)  # what the next sitting shows
    mix = {c: int(np.sum(ref[idx] == c)) for c in opal.CLASS_NAMES}
    assert min(mix[c] for c in "emt") >= 5 and mix["q"] <= 30, mix


def test_notebook_helper_reads_a_session_of_opaque_ids(tmp_path: Path) -> None:
    import helpers

    names = np.array(["a1", "b2", "c3", "d4"])
    data = opal.OpalData(np.zeros((4, 8, 8, 3), dtype=np.uint8), names, np.array(["q", "e", "m", "t"]))
    s = labeller.LabelSession(ids.display_ids(names), tmp_path / "my_labels.csv")
    s.answer("q")
    assert "a1" not in (tmp_path / "my_labels.csv").read_text()  # the student's file: ids only
    mine, demo = helpers.student_labels(s, data, 3, demo=True)
    assert mine.tolist() == ["q", "", "", ""] and demo.tolist() == ["", "e", "m", ""]
