"""Tests of eventcnn.opal.labeller: the label session, console fallback, widget, comparison."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from eventcnn import DEFAULT_SEED, opal
from eventcnn.errors import UserError
from eventcnn.opal import ids, labeller

NAMES = ["ev1", "ev2", "ev3", "ev4", "ev5"]


def _file(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_label_back_skip_counts(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    s = labeller.LabelSession(NAMES, path)
    assert s.current == "ev1" and not path.exists()
    s.answer("q")
    assert _file(path) == ["ev1.png;q"]  # saved immediately
    assert s.current == "ev2"
    s.skip()
    assert s.current == "ev3"
    s.answer("E")
    assert s.current == "ev4"
    s.back()
    assert s.current == "ev3"
    s.answer("m")  # relabel ev3
    s.back()
    s.back()
    assert s.current == "ev2"  # the skipped one
    s.answer("t")
    assert _file(path) == ["ev1.png;q", "ev2.png;t", "ev3.png;m"]
    assert s.counts() == {"q": 1, "e": 0, "m": 1, "t": 1}
    assert "3 of 5 labelled" in s.status()
    np.testing.assert_array_equal(s.as_array(), ["q", "t", "m", "", ""])
    with pytest.raises(ValueError, match="class must be one of"):
        s.answer("x")
    with pytest.raises(KeyError, match="not part"):
        s.label("ev9", "q")
    # the file is a valid masterclass label file
    assert opal.read_labels(path) == {"ev1.png": "q", "ev2.png": "t", "ev3.png": "m"}


def test_crash_and_reopen_resumes(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    s = labeller.LabelSession(NAMES, path)
    s.answer("q")
    s.answer("e")
    s.skip()
    s.answer("m")
    del s  # "crash": no explicit close or save
    s2 = labeller.LabelSession(NAMES, path)
    assert s2.labels == {"ev1": "q", "ev2": "e", "ev4": "m"}
    assert s2.current == "ev3"  # first unlabelled event
    s2.answer("t")
    assert s2.current == "ev5"
    s2.answer("q")
    assert s2.done and s2.current is None
    assert _file(path) == ["ev1.png;q", "ev2.png;e", "ev3.png;t", "ev4.png;m", "ev5.png;q"]
    with pytest.raises(UserError, match="every event"):
        s2.answer("q")


def test_foreign_labels_in_file_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("other.png;e\nev2.png;q\n")
    s = labeller.LabelSession(NAMES, path)
    assert s.current == "ev1" and s.labels == {"ev2": "q"}
    s.answer("m")
    assert sorted(_file(path)) == ["ev1.png;m", "ev2.png;q", "other.png;e"]


def test_console_fallback_injected_input(tmp_path: Path, capsys) -> None:
    path = tmp_path / "labels.csv"
    answers = iter(["q", "??", "s", "e", "b", "m", "x", "t"])
    shown: list[int] = []
    s = labeller.run_console(labeller.LabelSession(NAMES, path),
                             input_fn=lambda prompt: next(answers), show_fn=shown.append)
    out = capsys.readouterr().out.splitlines()
    # q -> ev1, ?? rejected, s skips ev2, e -> ev3, b back to ev3, m relabels ev3, x stops
    assert _file(path) == ["ev1.png;q", "ev3.png;m"]
    assert any("unknown answer" in line for line in out)
    assert shown[:3] == [0, 1, 1]
    assert s.current == "ev4"


def test_console_stops_at_eof(tmp_path: Path) -> None:
    def eof(prompt: str) -> str:
        raise EOFError

    s = labeller.run_console(labeller.LabelSession(NAMES, tmp_path / "l.csv"), input_fn=eof)
    assert s.labels == {}


def test_widget_clicks_save(tmp_path: Path) -> None:
    pytest.importorskip("ipywidgets")
    path = tmp_path / "labels.csv"
    s = labeller.LabelSession(NAMES[:3], path)
    images = np.zeros((3, 20, 20, 3), dtype=np.uint8)
    box = labeller.labeller_widget(s, images)
    buttons = {b.description.split(":")[0]: b for row in box.children[2:4] for b in row.children}
    buttons["q"].click()
    buttons["skip"].click()
    buttons["t"].click()
    buttons["back"].click()
    assert _file(path) == ["ev1.png;q", "ev3.png;t"]
    assert s.current == "ev3"
    assert "2 of 3 labelled" in box.children[-1].value
    with pytest.raises(ValueError, match="images for"):
        labeller.labeller_widget(s, images[:2])


def test_compare_labels() -> None:
    names = np.array(["a", "b", "c", "d"])
    cmp = labeller.compare_labels(names, np.array(["q", "e", "", "t"]), np.array(["q", "m", "q", "t"]))
    assert cmp["n"] == 3 and cmp["agreement"] == pytest.approx(2 / 3)
    assert cmp["disagreements"] == [("b", "m", "e")]
    assert cmp["confusion"][2, 1] == 1 and cmp["confusion"].sum() == 3


def test_names_match_case_insensitively_and_file_stays_readable(tmp_path):
    from eventcnn.opal import read_labels

    path = tmp_path / "labels.csv"
    path.write_text("E5293_10479.png;q\n")
    s = labeller.LabelSession(["e5293_10479", "e5293_10480"], path)
    assert s.labels == {"e5293_10479": "q"}  # the file's label is recognised
    assert s.current == "e5293_10480"  # so it is not offered again
    s.answer("m")
    again = read_labels(path)  # no duplicate line: the file still reads
    assert len(again) == 2
    assert labeller.LabelSession(["e5293_10479", "e5293_10480"], path).done


def test_simulated_student_fills_the_first_events_from_the_reference(tmp_path: Path) -> None:
    names = np.array(["a", "b", "c", "d"])
    reference = np.array(["q", "e", "m", "t"])
    s = labeller.LabelSession(names, tmp_path / "labels.csv")
    s.label("a", "t")  # the student's own answer is kept
    labels, n = labeller.simulate_student(s, names, reference, n_label=3, simulate=True)
    assert n == 2 and labels.tolist() == ["t", "e", "m", ""]
    again, n2 = labeller.simulate_student(labeller.LabelSession(names, tmp_path / "labels.csv"), names,
                                          reference, n_label=3, simulate=True)
    assert n2 == 0 and again.tolist() == labels.tolist()  # written to the session file
    fresh = labeller.LabelSession(names, tmp_path / "other.csv")
    none, n3 = labeller.simulate_student(fresh, names, reference, n_label=0, simulate=False)
    assert n3 == 0 and none.tolist() == ["", "", "", ""]


# ---- (was test_label_blind.py)

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
    idx = labeller.choose_events(data.images, None, 8, order="suggest", seed=DEFAULT_SEED)  # the CLI default
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
