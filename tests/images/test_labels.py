"""eventcnn.images.labels: class label rules and the default label of an event file."""

from __future__ import annotations

import pytest

from eventcnn.images.labels import check_label, label_from_path


def test_label_from_path():
    assert label_from_path("x/TTjets_json.json") == "ttjets"
    assert label_from_path("Wjets_json.json.gz") == "wjets"


def test_labels_from_file_names_are_always_safe():
    for name in ["..json", "a b.json", "x/.._json.json.gz", ".json", "é\x01.json", "con.json", "NUL_json.json.gz"]:
        assert check_label(label_from_path(name)) == label_from_path(name)
    assert check_label("w_jets-2") == "w_jets-2"
    assert label_from_path("con.json") == "con_events"


@pytest.mark.parametrize("label", ["CON", "nul", "com1", "Lpt9", "aux.txt", "ttjets.", "ttjets "])
def test_labels_that_break_folders_on_windows_are_refused(label):
    with pytest.raises(ValueError, match="Windows"):
        check_label(label)
    assert check_label("console") == "console" and check_label("com10") == "com10"
