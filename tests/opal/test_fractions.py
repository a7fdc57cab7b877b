"""eventcnn.opal.fractions: misidentification-corrected Z decay fractions with uncertainties."""

import json

import numpy as np
import pytest

from eventcnn.errors import UserError
from eventcnn.opal.fractions import combine_measurements, confusion_counts, measure_fractions

CONF = np.array([[95, 1, 1, 3], [1, 18, 0, 1], [0, 0, 20, 1], [2, 1, 1, 16]])  # true x predicted


def _folded(n_true, conf=CONF):
    m = (conf / conf.sum(axis=1, keepdims=True)).T
    return dict(zip("qemt", np.rint(m @ np.asarray(n_true, float)).astype(int)))


def test_unfolding_recovers_the_true_counts():
    n_true = np.array([8700, 420, 420, 420])
    m = measure_fractions(_folded(n_true), CONF, toys=200)
    assert np.allclose(list(m.corrected_counts.values()), n_true, atol=2.0)
    assert m.fractions["t"]["value"] == pytest.approx(420 / n_true.sum(), abs=3e-4)
    # uncorrected shares are off: the tau share is inflated by hadrons called taus
    assert m.raw["t"]["value"] > m.fractions["t"]["value"] + 0.01


def test_perfect_classifier_means_no_correction_and_no_confusion_uncertainty():
    diag = np.diag([500, 50, 50, 50])
    m = measure_fractions({"q": 800, "e": 50, "m": 60, "t": 40}, diag, toys=500)
    assert m.fractions["m"]["value"] == pytest.approx(60 / 950)
    # 50 labelled muons, all right: the misidentification is small but not known to be zero
    assert m.fractions["m"]["confusion"] < 0.5 * m.fractions["m"]["stat"]
    # counting statistics of a multinomial share
    p = 60 / 950
    assert m.fractions["m"]["stat"] == pytest.approx(np.sqrt(p * (1 - p) / 950), rel=0.15)


def test_uncertainties_shrink_with_more_displays_and_more_labels():
    small = measure_fractions(_folded([870, 42, 42, 42]), CONF, toys=800)
    big = measure_fractions(_folded([8700, 420, 420, 420]), CONF, toys=800)
    assert big.fractions["e"]["stat"] < 0.5 * small.fractions["e"]["stat"]
    more_labels = measure_fractions(_folded([8700, 420, 420, 420]), CONF * 25, toys=800)
    assert more_labels.fractions["e"]["confusion"] < 0.4 * big.fractions["e"]["confusion"]
    assert big.fractions["e"]["total"] >= big.fractions["e"]["confusion"]


def test_total_uncertainty_covers_the_truth_in_pseudo_classes():
    rng = np.random.default_rng(0)
    truth = np.array([0.874, 0.042, 0.042, 0.042])
    m_true = np.array([[0.95, 0.01, 0.01, 0.03], [0.05, 0.9, 0.0, 0.05],
                       [0.0, 0.0, 0.95, 0.05], [0.1, 0.05, 0.05, 0.8]])  # true x predicted
    pulls = []
    for k in range(80):
        true_lab = rng.choice(4, size=1000, p=truth)
        pred = np.array([rng.choice(4, p=m_true[t]) for t in true_lab])
        lab_true = rng.choice(4, size=300, p=[0.4, 0.2, 0.2, 0.2])
        lab_pred = np.array([rng.choice(4, p=m_true[t]) for t in lab_true])
        names = np.array(list("qemt"))
        m = measure_fractions(names[pred], confusion_counts(names[lab_true], names[lab_pred]), toys=400, seed=k)
        f = m.fractions["m"]
        pulls.append((f["value"] - truth[2]) / f["total"])
    pulls = np.asarray(pulls)
    assert abs(pulls.mean()) < 0.35 and 0.7 < pulls.std() < 1.3


def test_derived_figures_and_json():
    m = measure_fractions(_folded([8700, 420, 420, 420]), CONF, toys=300, seed=3)
    j = json.loads(json.dumps(m.to_json()))
    assert set(j["fractions"]) == set("qemt")
    assert j["R"]["value"] == pytest.approx(8700 / 1260, rel=0.01) and j["R"]["pdg"] == pytest.approx(6.92, abs=0.01)
    assert j["R_l"]["value"] == pytest.approx(3 * j["R"]["value"]) and j["R_l"]["pdg"] == 20.767
    assert j["universality"]["mu/e"]["value"] == pytest.approx(1.0, abs=0.02)
    assert j["n_displays"] == sum(j["counts"].values())
    assert m.to_json() == measure_fractions(_folded([8700, 420, 420, 420]), CONF, toys=300, seed=3).to_json()


def test_confusion_counts_and_bad_input():
    c = confusion_counts(["q", "q", "e", "", "t"], ["q", "t", "e", "m", "t"])
    assert c.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    with pytest.raises(UserError, match="not among the classes"):
        confusion_counts(["x"], ["q"])
    with pytest.raises(UserError, match="no labelled display of class m"):
        measure_fractions({"q": 10, "e": 1, "m": 1, "t": 1}, c)
    with pytest.raises(UserError, match="every predicted count is zero"):
        measure_fractions({"q": 0}, CONF)
    with pytest.raises(UserError, match="4x4"):
        measure_fractions({"q": 10}, np.eye(3))


def test_combine_is_the_weighted_mean_and_says_whether_inputs_agree():
    a = measure_fractions(_folded([8700, 420, 420, 420]), CONF, toys=300).to_json()
    b = measure_fractions(_folded([4350, 210, 210, 210]), CONF, toys=300).to_json()
    pooled = combine_measurements([a, b])
    fa, fb, fp = a["fractions"]["e"], b["fractions"]["e"], pooled["fractions"]["e"]
    assert min(fa["value"], fb["value"]) - 1e-9 <= fp["value"] <= max(fa["value"], fb["value"]) + 1e-9
    assert fp["total"] < min(fa["total"], fb["total"])
    assert pooled["n_displays"] == a["n_displays"] + b["n_displays"] and fp["ndof"] == 1
    with pytest.raises(UserError, match="nothing to combine"):
        combine_measurements([])
