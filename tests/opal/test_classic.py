"""Tests of eventcnn.opal.classic (the masterclass's rules and boosted trees on the header numbers)
and eventcnn.opal.header_cnn (the CNN that also reads them)."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn.errors import UserError
from eventcnn.opal.classic import (
    HEADER_FEATURES,
    RULES_SOURCES,
    CutRules,
    classic_rules,
    header_matrix,
    predict_header_trees,
    train_header_trees,
)

# ctrk_n, ctrk_sump, ecal_n, ecal_sume, hcal_n, hcal_sume, muon_n, ebeam
EE = [2, 88.0, 4, 90.5, 0, 0.2, 0, 45.6]
MUMU = [2, 89.0, 3, 2.1, 2, 3.0, 2, 45.6]
TAUTAU = [4, 30.0, 8, 25.0, 3, 6.0, 1, 45.6]
QQ = [28, 55.0, 40, 45.0, 15, 20.0, 0, 45.6]


def test_rules_follow_the_masterclass_signatures() -> None:
    X = np.array([EE, MUMU, TAUTAU, QQ], dtype=float)
    assert classic_rules(X).tolist() == ["e", "m", "t", "q"]


def test_rules_thresholds_are_the_stated_ones() -> None:
    low_muon = [2, 0.65 * 91.2, 3, 2.0, 1, 1.0, 2, 45.6]  # a tau's muons: momentum missing to neutrinos
    assert classic_rules(np.array([low_muon]))[0] == "t"
    seven = [7, 40.0, 9, 30.0, 2, 3.0, 0, 45.6]
    assert classic_rules(np.array([seven]))[0] == "q"
    assert classic_rules(np.array([seven]), CutRules(max_lepton_tracks=8))[0] == "t"
    assert set(RULES_SOURCES) == {"q", "e", "m", "t"}


def test_a_number_not_read_gives_no_class_unless_not_needed() -> None:
    X = np.array([[np.nan] + EE[1:], [2, 88.0, 4, np.nan, 0, 0.2, 0, 45.6], [30] + [np.nan] * 7], dtype=float)
    assert classic_rules(X).tolist() == ["", "", "q"]


def test_wrong_shape_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="header numbers must be"):
        classic_rules(np.zeros((3, 5)))


def test_header_matrix_from_rows_reads_and_objects() -> None:
    rows = [dict(zip(HEADER_FEATURES, map(str, EE))), {**dict(zip(HEADER_FEATURES, map(str, QQ))), "muon_n": ""}]
    X, names = header_matrix(rows)
    assert names == list(HEADER_FEATURES) and X.shape == (2, 8)
    assert X[0, 0] == 2 and np.isnan(X[1, 6])
    with pytest.raises(UserError, match="not a number"):
        header_matrix([{**rows[0], "ctrk_n": "two"}])


def _toy(n_per: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = np.concatenate([np.array(base) + rng.normal(0, 1.0, (n_per, 8)) for base in (EE, MUMU, TAUTAU, QQ)])
    return X, np.repeat(np.array(list("emtq")), n_per)


def test_trees_learn_the_classes_and_keep_the_class_order() -> None:
    rng = np.random.default_rng(0)
    X, y = _toy(30, rng)
    model = train_header_trees(X, y, seed=1)
    Xt, yt = _toy(10, rng)
    p = predict_header_trees(model, Xt)
    assert p.shape == (40, 4)
    assert (np.array(list("qemt"))[p.argmax(1)] == yt).mean() > 0.9
    X[0, 3] = np.nan  # a number not read: the trees cope
    assert predict_header_trees(train_header_trees(X, y, seed=1), X[:2]).shape == (2, 4)


@pytest.mark.slow
def test_header_cnn_trains_and_predicts_on_small_displays() -> None:
    from eventcnn.learn.models import masterclass_network
    from eventcnn.opal.header_cnn import build_header_cnn, predict_header_cnn, train_header_cnn

    rng = np.random.default_rng(0)
    X, y = _toy(6, rng)
    images = rng.integers(0, 255, (len(y), 60, 60, 3), dtype=np.uint8)
    base = masterclass_network((60, 60, 3))
    model = build_header_cnn(8, base=base, image_size=60)
    conv_base = [la for la in base.layers if la.weights][0].get_weights()[0]
    conv_new = [la for la in model.layers if la.weights][0].get_weights()[0]
    np.testing.assert_array_equal(conv_base, conv_new)  # the image branch starts from the CNN
    hc = train_header_cnn(images, X, y, base=base, seed=3, epochs=2, steps_per_epoch=2, batch_size=4)
    p = predict_header_cnn(hc, images[:5], X[:5])
    assert p.shape == (5, 4) and np.allclose(p.sum(1), 1.0, atol=1e-4)
    assert len(hc.history) == 2 and np.isfinite(hc.features(np.full((1, 8), np.nan))).all()


@pytest.mark.slow
def test_header_cnn_trains_when_a_class_is_too_rare_to_stratify() -> None:
    from eventcnn.learn.models import masterclass_network
    from eventcnn.opal.header_cnn import train_header_cnn

    rng = np.random.default_rng(1)
    X, y = _toy(4, rng)
    keep = np.concatenate([np.flatnonzero(y != y[0]), np.flatnonzero(y == y[0])[:1]])  # one display of a class
    images = rng.integers(0, 255, (len(keep), 60, 60, 3), dtype=np.uint8)
    hc = train_header_cnn(images, X[keep], y[keep], base=masterclass_network((60, 60, 3)), seed=2, epochs=1,
                          steps_per_epoch=1, batch_size=4)
    assert len(hc.history) == 1 and np.isfinite(hc.history[0]["val_loss"])
