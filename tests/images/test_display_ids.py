"""Tests of eventcnn.images.display_ids: opaque display ids for students, mapped back by the teacher."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventcnn import opal
from eventcnn.cli import main
from eventcnn.errors import UserError
from eventcnn.images import display_ids as ids


def test_ids_are_opaque_stable_and_case_blind(monkeypatch) -> None:
    monkeypatch.delenv("EVENTCNN_OPAL_ID_KEY", raising=False)
    a = ids.display_id("e5293_10479")
    assert ids.ID_PATTERN.match(a) and not any(c in a for c in "qemt")
    assert ids.display_id("E5293_10479.PNG") == ids.display_id("final/e5293_10479.png") == a
    assert ids.display_id(a) == a and ids.display_id(a + ".png") == a  # an id stays itself
    assert ids.display_id("qq5305_1") != a
    monkeypatch.setenv("EVENTCNN_OPAL_ID_KEY", "the teacher's secret")
    assert ids.display_id("e5293_10479") != a  # another key, other ids


def test_resolve_maps_ids_back_and_keeps_names() -> None:
    names = ["e1", "q2", "m3"]
    table = {f"{ids.display_id('e1')}.png": "e", "q2.png": "q", "unknown.png": "t"}
    assert ids.resolve(table, names) == {"e1.png": "e", "q2.png": "q", "unknown.png": "t"}
    with pytest.raises(UserError, match="keep one of the two lines"):
        ids.resolve({"e1.png": "e", f"{ids.display_id('e1')}.png": "q"}, names)


def test_colliding_ids_are_an_error(monkeypatch) -> None:
    monkeypatch.setattr(ids, "display_id", lambda name, key=None: "d00000000")
    with pytest.raises(UserError, match="get the same id"):
        ids.display_ids(["a", "b"])


def test_mapping_and_renamed_files(tmp_path: Path) -> None:
    names = ["e1", "q2"]
    path = ids.write_mapping(tmp_path / "teacher" / "ids.csv", names, ["e", "q"])
    rows = list(csv.DictReader(path.open()))
    assert rows == [{"id": ids.display_id("e1"), "event": "e1", "label": "e"},
                    {"id": ids.display_id("q2"), "event": "q2", "label": "q"}]
    assert ids.read_mapping(path) == ids.id_table(names)
    table = ids.id_table(names)
    labels = tmp_path / "student.csv"
    labels.write_text(f"{ids.display_id('q2')}.png;q\nother.png;e\n")
    assert ids.rename_file(labels, tmp_path / "named.csv", table) == 1
    assert (tmp_path / "named.csv").read_text() == "q2.png;q\nother.png;e\n"
    pred = tmp_path / "predictions.csv"
    pred.write_text(f"event,predicted,p_q,p_e,p_m,p_t\n{ids.display_id('e1')},e,0.1,0.9,0,0\n")
    assert ids.rename_file(pred, tmp_path / "pred_named.csv", table) == 1
    assert (tmp_path / "pred_named.csv").read_text().splitlines()[1].startswith("e1,e,")
    with pytest.raises(UserError, match="is the input file"):
        ids.rename_file(pred, pred, table)


def test_label_files_with_ids_train_like_names(tmp_path: Path) -> None:
    d = tmp_path / "displays"
    d.mkdir()
    for i in range(4):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(d / f"ev{i}.png")
    by_id = tmp_path / "ids.csv"
    by_id.write_text(f"{ids.display_id('ev0')}.png;q\n{ids.display_id('ev1')}.png;e\nev2.png;m\n")
    data = opal.load_displays(d, by_id, size=16, quiet=True)
    assert dict(zip(data.names, data.labels)) == {"ev0": "q", "ev1": "e", "ev2": "m", "ev3": ""}


def test_cli_ids_writes_the_teachers_table(tmp_path: Path, capsys) -> None:
    d = tmp_path / "displays"
    d.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(d / f"ev{i}.png")
    key = tmp_path / "answer_key" / "events_list.csv"
    key.parent.mkdir()
    key.write_text("ev0.png;q\nev1.png;t\n")
    out = tmp_path / "teacher" / "ids.csv"
    assert main(["opal", "ids", "--data", str(d), "--reference", str(key), "--out", str(out)]) == 0
    assert "3 display ids" in capsys.readouterr().out
    rows = {r["event"]: r for r in csv.DictReader(out.open())}
    assert rows["ev1"]["label"] == "t" and rows["ev2"]["label"] == ""
    assert rows["ev0"]["id"] == ids.display_id("ev0")
