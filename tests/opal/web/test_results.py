"""eventcnn.opal.web.results: the class's measurement from a training's lesson.json, public view, combination."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eventcnn.errors import UserError
from eventcnn.opal.fractions import confusion_counts, measure_fractions
from eventcnn.opal.web.results import (
    class_results,
    combine_results,
    lesson_curves,
    lesson_results,
    public_view,
    read_results,
)


def _lesson(seed: int = 0, n: int = 500, held: tuple[int, ...] = (20, 8, 8, 8), right: float = 0.9) -> dict:
    rng = np.random.default_rng(seed)
    truth = rng.choice(list("qemt"), size=n, p=[0.874, 0.042, 0.042, 0.042])
    pred = np.where(rng.random(n) < right, truth, rng.choice(list("qemt"), size=n))
    held_true = np.repeat(list("qemt"), held)
    held_pred = np.where(rng.random(len(held_true)) < right, held_true, rng.choice(list("qemt"), size=len(held_true)))
    return {"labels": 125, "per_class": {"q": 60, "e": 20, "m": 22, "t": 23}, "trained_on": 81, "validation": 16,
            "heldout": [[f"h{i}", t, p] for i, (t, p) in enumerate(zip(held_true, held_pred))],
            "measured": [[f"m{i}", p] for i, p in enumerate(pred)],
            "history": [{"loss": 1.0, "val_loss": 0.9, "accuracy": 0.6, "val_accuracy": 0.75},
                        {"loss": 0.5, "val_loss": 0.7, "accuracy": 0.8, "val_accuracy": 1.0},
                        {"loss": 0.3, "val_loss": 0.8, "accuracy": 0.9, "val_accuracy": 1.0}],
            "best_epoch": 2, "epochs_max": 12, "pretrained": {"weights": "sim"}, "settings": {"epochs": 12},
            "tta_copies": 1, "heldout_share": 0.3, "seconds": 55.0, "unsure": [{"figure": "unsure0", "id": "m1"}],
            "occlusion": []}


def test_the_result_is_the_one_measurement_on_the_heldout_confusion() -> None:
    lesson = _lesson()
    res = lesson_results(lesson)
    held = lesson["heldout"]
    direct = measure_fractions([p for _, p in lesson["measured"]],
                               confusion_counts([t for _, t, _ in held], [p for _, _, p in held]),
                               known=lesson["per_class"])
    assert res["measurement"] == direct.to_json()  # the same function as `opal measure`, nothing re-implemented
    assert res["measured_displays"] == 500 and res["heldout"]["displays"] == 44
    assert res["labelled_displays"] == 125 and res["measurement"]["n_displays"] == 625  # the whole sample
    assert res["heldout"]["agreement"]["n"] == 44 and 0 < res["heldout"]["agreement"]["ci95"][0] < 1
    assert res["problem"] is None


def test_the_hand_labelled_displays_make_the_sample_whole() -> None:
    """The class labels a diverse set (most rare leptons); the rest alone is lepton-poor, the whole set is not."""
    rng = np.random.default_rng(5)
    truth = rng.choice(list("qemt"), size=2000, p=[0.874, 0.042, 0.042, 0.042])
    pool = np.zeros(2000, dtype=bool)
    for c, k in zip("qemt", (60, 40, 40, 40)):  # a suggest-like pool: leptons enriched
        pool[rng.choice(np.flatnonzero(truth == c), k, replace=False)] = True
    lesson = _lesson()
    lesson["per_class"] = {c: int(((truth == c) & pool).sum()) for c in "qemt"}
    lesson["measured"] = [[f"m{i}", t] for i, t in enumerate(truth[~pool])]  # a perfect CNN
    lesson["heldout"] = [[f"h{i}", c, c] for i, c in enumerate("qqqqeeemmmttt")]
    f = lesson_results(lesson)["measurement"]["fractions"]
    for c in "qemt":  # the whole sample's true shares, within the uncertainty
        assert abs(f[c]["value"] - np.mean(truth == c)) < 2 * f[c]["total"] + 1e-9
    rest_only = measure_fractions([t for _, t in lesson["measured"]], np.diag([4, 3, 3, 3]))
    assert rest_only.fractions["e"]["value"] < 0.7 * f["e"]["value"]  # what measuring the rest alone would say


def test_missing_heldout_classes_are_named_not_measured() -> None:
    res = lesson_results(_lesson(held=(20, 8, 0, 8)))
    assert res["measurement"] is None and res["problem"] == {"code": "heldout_missing", "classes": ["m"]}
    lesson = _lesson()
    lesson["measured"] = []
    assert lesson_results(lesson)["problem"]["code"] == "nothing_measured"


def test_answer_key_scores() -> None:
    lesson = _lesson(right=1.0)
    rng = np.random.default_rng(1)
    key = {i: p for i, p in lesson["measured"]}  # the CNN is always right here
    key |= {i: t for i, t, _ in lesson["heldout"]}
    class_labels = {i: (t if rng.random() < 0.8 else "q") for i, t, _ in lesson["heldout"]}
    res = lesson_results(lesson, key, class_labels)
    ref = res["reference"]
    assert ref["cnn_vs_key"]["k"] == ref["cnn_vs_key"]["n"] == 500
    assert ref["class_vs_key"]["n"] == 44 and ref["class_vs_key"]["k"] < 44
    assert sum(ref["true_fractions"].values()) == pytest.approx(1.0)
    assert ref["cnn_balanced_accuracy"]["value"] == 1.0


def test_learning_curves_carry_the_validation_interval() -> None:
    c = lesson_curves(_lesson())
    assert c["epochs"] == [1, 2, 3] and c["kept"] == 2 and c["validation"] == 16
    lo, hi = c["val_accuracy_ci95"][1]
    assert hi == 1.0 and 0.75 < lo < 0.83  # 16 of 16 right: at least 79 % (95 %), not "1.00"
    assert c["val_loss"] == [0.9, 0.7, 0.8]


def test_public_view_has_no_ids_and_no_answer_key() -> None:
    lesson = _lesson()
    res = lesson_results(lesson, {i: p for i, p in lesson["measured"]}, {})
    pub = public_view(res, lesson)
    text = json.dumps(pub)
    assert "reference" not in text and '"h1"' not in text and '"m1"' not in text and "unsure" not in text
    assert pub["measurement"]["fractions"] == res["measurement"]["fractions"]
    assert public_view(None, lesson) is None


def test_results_files_combine(tmp_path: Path) -> None:
    progress = {"students": [{}] * 20, "votes": 250, "displays": 125, "class_labels": {}, "ties": 3,
                "agreement": {"pairs": 120, "agree": 100}}
    paths = []
    for k in range(3):
        res = class_results(progress, _lesson(seed=k), f"class {k}")
        assert res["class"]["agreement"]["n"] == 120 and res["training"]["kept_epoch"] == 2
        p = tmp_path / f"r{k}.json"
        p.write_text(json.dumps(res))
        paths.append(p)
    out = combine_results(paths, tmp_path / "all")
    assert out["n_inputs"] == 3 and out["n_displays"] == 3 * 625
    singles = [read_results(p)["measurement"]["fractions"]["q"]["total"] for p in paths]
    assert out["fractions"]["q"]["total"] < min(singles) and out["fractions"]["q"]["ndof"] == 2
    raw = tmp_path / "raw.json"  # a bare measurement (`opal measure`'s JSON) combines too
    raw.write_text(json.dumps(lesson_results(_lesson(seed=9))["measurement"]))
    assert combine_results([paths[0], raw], tmp_path / "two")["n_inputs"] == 2
    for bad, words in (("[1, 2]", "JSON object"), ("not json", "not JSON"), ('{"format": "x"}', "no measurement")):
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(UserError, match=words):
            read_results(tmp_path / "bad.json")
    with pytest.raises(UserError, match="at least one"):
        combine_results([], tmp_path / "none")
