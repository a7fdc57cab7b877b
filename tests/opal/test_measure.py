"""Tests of eventcnn.opal.measure, eventcnn.opal.measure_report and ``eventcnn opal measure``.

The whole command runs once, on a quick sample of the real Manchester displays
(../shared/data, skipped with a reason when absent): 2 folds, 1 epoch of 2 batches.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eventcnn.cli import main
from eventcnn.opal.fractions import measure_fractions
from eventcnn.opal.measure import agreement, challenge_files, low_multiplicity
from eventcnn.opal.measure_report import measurement_markdown, write_measurement

CLASSES = ("q", "e", "m", "t")


def _measurement(counts: dict[str, int], seed: int = 1) -> dict:
    conf = np.array([[95, 1, 1, 3], [1, 18, 0, 1], [0, 0, 20, 1], [2, 1, 1, 16]])
    predicted = [c for c, n in counts.items() for _ in range(n)]
    m = measure_fractions(predicted, conf, toys=200, seed=seed).to_json()
    m["classifier"] = "test"
    return m


def test_agreement_flags_a_difference_beyond_two_sigma() -> None:
    a = _measurement({"q": 870, "e": 45, "m": 40, "t": 45})
    b = _measurement({"q": 600, "e": 45, "m": 300, "t": 55})
    same = agreement(a, a)
    assert all(x["within_2_sigma"] and x["difference"] == 0 for x in same.values())
    far = agreement(a, b)
    assert not far["m"]["within_2_sigma"] and far["m"]["pull"] < -2
    sig = np.hypot(a["fractions"]["m"]["total"], b["fractions"]["m"]["total"])
    assert far["m"]["sigma"] == pytest.approx(sig)
    pdg = agreement(a)
    assert pdg["q"]["difference"] == pytest.approx(a["fractions"]["q"]["value"] - a["pdg"]["fractions"]["q"])


def test_low_multiplicity_counts_displays_with_few_tracks_per_view() -> None:
    X = np.full((6, 8), np.nan)
    X[:, 0] = [2, 4, 20, 30, 6, np.nan]  # Ctrk N; the last not read
    views = np.array(["end", "end", "end", "side", "side", "side"])
    low = low_multiplicity(X, views)
    assert (low["end"]["k"], low["end"]["n"]) == (2, 3) and (low["side"]["k"], low["side"]["n"]) == (1, 2)
    assert (low["all"]["k"], low["all"]["n"]) == (3, 5) and low["end"]["ci95"][0] < 2 / 3 < low["end"]["ci95"][1]


def test_report_writes_json_text_and_figures(tmp_path: Path) -> None:
    end, side = _measurement({"q": 870, "e": 45, "m": 40, "t": 45}), _measurement({"q": 300, "e": 20, "m": 15, "t": 17})
    cv = {"true_x_predicted": [[9, 1, 0, 0], [0, 5, 0, 0], [0, 0, 5, 0], [1, 0, 0, 4]], "classes": list(CLASSES)}
    score = {"balanced_accuracy": {"value": 0.9, "ci95": [0.8, 0.95]}, "recall": {}, "confusion": cv}
    result = {"end": end, "side": side, "all": {"error": "all displays: singular", "classifier": "trees"},
              "agreement": {"side_vs_end": agreement(side, end), "side_vs_pdg": agreement(side)},
              "cross_validation": {"folds": 2, "displays": 25, "cnn": score, "trees": score,
                                   "balanced_accuracy_cnn_minus_trees": {"value": 0.05, "ci95": [0.01, 0.09]}},
              "displays": {"challenge": 1000, "labelled_end": 25, "other_end": 0, "side": 352,
                           "low_multiplicity": {"end": {"value": 0.1, "ci95": [0.05, 0.2], "k": 3, "n": 30},
                                                "side": None}},
              "config": {"seed": 1, "folds": 2, "epochs": 1, "limit": None, "licence": "none stated"}, "errors": []}
    path = write_measurement(result, tmp_path / "m")
    assert path.name == "measurement.json" and json.loads(path.read_text())["end"]["fractions"]["q"]["stat"] > 0
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"measurement.json", "report.md", "fractions.png",
                                                            "confusion.png"}
    text = measurement_markdown(result)
    assert "| hadronic | 0.8" in text and "Not measured: all displays: singular" in text
    assert "side vs end:" in text and "was not built" in text and "end 3/30 = 10.0 %" in text
    assert "| masterclass CNN (end-view crops) | 0.900 [0.800, 0.950] |" in text
    assert "- CNN - trees: +0.050 [+0.010, +0.090]" in text and "cut rules (displays" not in text


def test_the_cnn_and_the_numbers_together_are_scored_out_of_fold() -> None:
    from eventcnn.opal.measure import _folds, _stacked_cross_validation

    rng = np.random.default_rng(0)
    y = np.repeat(np.array(list(CLASSES)), [40, 12, 12, 12])
    X = np.full((len(y), 8), np.nan)
    X[:, 0] = np.where(y == "q", rng.integers(10, 40, len(y)), rng.integers(1, 7, len(y)))  # Ctrk N tells q apart
    oof_cnn = np.full((len(y), 4), 0.02)
    oof_cnn[np.arange(len(y)), [list(CLASSES).index(c) for c in y]] = 0.94  # a CNN that knows the leptons
    proba = _stacked_cross_validation(X, oof_cnn, y, _folds(y, 3, 1), seed=1)
    assert proba.shape == (len(y), 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert (np.array(CLASSES)[proba.argmax(axis=1)] == y).mean() > 0.9
    noise = rng.dirichlet(np.ones(4), len(y))  # a CNN that knows nothing: the leptons cannot be told apart
    guessed = np.array(CLASSES)[_stacked_cross_validation(X, noise, y, _folds(y, 3, 1), seed=1).argmax(axis=1)]
    assert (guessed[y != "q"] == y[y != "q"]).mean() < 0.8


def test_challenge_files_are_found_where_fetch_puts_them_and_in_a_mirror(tmp_path: Path) -> None:
    fetched, mirror = tmp_path / "cache", tmp_path / "mirror"
    for root, labels in ((fetched, "opal/answer_key/events_list.csv"), (mirror, "opal/events_list.csv")):
        for rel in ("opal_manchester/z_displays.zip", "opal/centered-masked-rotated1.zip", labels):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"x")
        assert challenge_files(root)[2] == root / labels


@pytest.mark.shared_data
def test_challenge_files_default_to_the_data_sources(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    if not (shared_data / "opal_manchester" / "z_displays.zip").is_file():
        pytest.skip(f"{shared_data / 'opal_manchester'} lacks the Manchester displays (z_displays.zip)")
    monkeypatch.setenv("EVENTCNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EVENTCNN_DATA_MIRROR", str(shared_data))
    displays, crops, labels = challenge_files(None)
    assert displays == tmp_path / "cache" / "opal_manchester" / "z_displays.zip" and displays.is_file()
    assert crops.is_file() and labels.is_file() and labels.is_relative_to(tmp_path / "cache")


def test_measure_names_what_is_missing(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    assert main(["opal", "measure", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "z_displays.zip" in err and "eventcnn data fetch" in err
    assert not (tmp_path / "out" / "measurement.json").exists()


@pytest.fixture(scope="module")
def quick_run(shared_data: Path, tmp_path_factory) -> tuple[Path, int]:
    if not (shared_data / "opal_manchester" / "z_displays.zip").is_file():
        pytest.skip(f"{shared_data / 'opal_manchester'} lacks the Manchester displays (z_displays.zip)")
    out = tmp_path_factory.mktemp("measure") / "out"
    rc = main(["opal", "measure", "--data", str(shared_data), "--out", str(out), "--limit", "30", "--folds", "2",
               "--epochs", "1", "--steps", "2", "--toys", "200", "--seed", "3", "-q"])
    return out, rc


@pytest.mark.shared_data
@pytest.mark.slow
def test_measure_writes_the_interface_json(quick_run: tuple[Path, int]) -> None:
    out, rc = quick_run
    result = json.loads((out / "measurement.json").read_text())
    assert rc == (1 if result["errors"] else 0)
    assert "error" not in result["end"]  # the CNN reads the end views
    for key in ("end", "side", "all"):
        m = result[key]
        if "error" in m:  # only a singular confusion of the quick sample may stop a view, and it says so
            assert "cannot be inverted" in m["error"]
            continue
        assert set(m["fractions"]) == set(CLASSES)
        for c in CLASSES:
            f = m["fractions"][c]
            assert f["stat"] > 0 and f["pdg"] == pytest.approx(m["pdg"]["fractions"][c])
        assert sum(m["fractions"][c]["value"] for c in CLASSES) == pytest.approx(1.0)
        assert m["R"]["stat"] > 0 and m["R"]["pdg"] == pytest.approx(m["pdg"]["R"])
        assert {"mu/e", "tau/e"} <= set(m["universality"]) and m["universality"]["mu/e"]["stat"] > 0
    d = result["displays"]
    assert d["side"] == 30 and d["other_end"] + len(d["left_out"]) >= 30
    assert result["cross_validation"]["displays"] == d["labelled_end"] >= 4 * 4  # every class at least 2 x folds
    assert sum(map(sum, result["cross_validation"]["cnn"]["confusion"]["true_x_predicted"])) == d["labelled_end"]
    assert result["end"]["n_displays"] == d["labelled_end"] + d["other_end"]
    both = result["cross_validation"]["cnn_and_numbers"]  # the CNN with the header numbers, out-of-fold
    assert sum(map(sum, both["confusion"]["true_x_predicted"])) == d["labelled_end"]
    diff = result["cross_validation"]["balanced_accuracy_cnn_and_numbers_minus_cnn"]
    assert diff["ci95"][0] <= diff["value"] <= diff["ci95"][1]
    reading = result["cross_validation"]["cnn_with_header"]  # the two-input CNN, out-of-fold on the same folds
    assert sum(map(sum, reading["confusion"]["true_x_predicted"])) == d["labelled_end"]
    diff = result["cross_validation"]["balanced_accuracy_cnn_with_header_minus_cnn"]
    assert diff["ci95"][0] <= diff["value"] <= diff["ci95"][1]
    assert result["config"]["header_cnn"] == {"epochs_at_most": 1, "patience": 3}
    assert "CNN reading the numbers too - CNN" in (out / "report.md").read_text()
    rules = result["cross_validation"].get("rules")  # scored where the header gave the numbers they need
    assert rules is None or rules["displays"] + rules["undecided"] == d["labelled_end"]
    assert (out / "report.md").read_text().startswith("# Z decay fractions")
    assert (out / "confusion.png").stat().st_size > 10_000


@pytest.mark.shared_data
@pytest.mark.slow
def test_measure_refuses_to_overwrite(quick_run: tuple[Path, int], capsys) -> None:
    out, _ = quick_run
    before = (out / "measurement.json").read_bytes()
    assert main(["opal", "measure", "--out", str(out), "-q"]) == 1
    assert "--overwrite" in capsys.readouterr().err and (out / "measurement.json").read_bytes() == before


def test_a_class_without_displays_has_no_recall_not_an_error() -> None:
    import numpy as np

    from eventcnn.opal.measure import _scores

    true = np.array(list("qqqqeeemmq"))
    pred = np.array(list("qqqeeeemmq"))
    s = _scores(true, pred)
    assert s["recall"]["t"] is None  # no tau among them: nothing to measure
    assert s["recall"]["e"]["value"] == 1.0 and abs(s["recall"]["q"]["value"] - 4 / 5) < 1e-12
