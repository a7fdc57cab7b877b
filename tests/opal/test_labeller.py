"""Tests of eventcnn.opal.labeller: the label session, console fallback, widget, comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.errors import UserError
from eventcnn.opal import labeller

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
