"""The OPAL-like detector (events.opal_detector): what it sees of a few particles."""

from __future__ import annotations

import numpy as np

from eventcnn.events.opal_detector import DETECTOR, LOOSE_DETECTOR, detector_response


def _particles(*rows):
    return np.array(rows, dtype=np.float64)  # id, charge, px, py, pz, E


def test_a_muon_leaves_a_track_and_muon_hits():
    hits = [len(detector_response(_particles([13, -1, 0.0, 40.0, 10.0, 41.3]), np.random.default_rng(s)).muon_hits)
            for s in range(40)]
    rec = detector_response(_particles([13, -1, 0.0, 40.0, 10.0, 41.3]), np.random.default_rng(1))
    assert rec.n_tracks == 1 and abs(rec.tracks[0, 0] - 40.0) < 4.0
    assert 0.8 < np.mean(hits) <= 1.0  # 95 % efficient muon chambers
    assert rec.ecal[:, 1].sum() < 2.0  # minimum ionising


def test_an_electron_showers_in_the_electromagnetic_calorimeter():
    rec = detector_response(_particles([11, 1, 30.0, 0.0, 5.0, 30.4]), np.random.default_rng(2))
    assert rec.n_tracks == 1 and len(rec.muon_hits) == 0
    assert abs(rec.ecal[:, 1].sum() - 30.4) < 3.0


def test_neutrinos_are_invisible_and_soft_tracks_depend_on_the_threshold():
    rec = detector_response(_particles([12, 0, 30.0, 0.0, 0.0, 30.0]), np.random.default_rng(3))
    assert rec.n_tracks == 0 and len(rec.ecal) == 0 and len(rec.hcal) == 0
    soft = _particles([211, 1, 0.5, 0.0, 0.0, 0.52])
    assert detector_response(soft, np.random.default_rng(4), DETECTOR).n_tracks == 0  # below 0.7 GeV
    assert detector_response(soft, np.random.default_rng(4), LOOSE_DETECTOR).n_tracks == 1  # above 0.4 GeV
