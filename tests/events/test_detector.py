"""Tests of the CMS-like detector model (pure numpy, synthetic inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn.events import detector as det


def test_jet_smearing_width_matches_resolution():
    rng = np.random.default_rng(11)
    pt = np.full(40_000, 50.0)
    out = det.smear_pt(pt, np.zeros_like(pt), "jet", rng)
    expected = np.hypot(1.0 / np.sqrt(50.0), 0.05)  # 100 %/sqrt(E) (+) 5 % at E = 50 GeV
    assert out.mean() == pytest.approx(50.0, rel=0.01)
    assert out.std() / 50.0 == pytest.approx(expected, rel=0.03)


def test_jet_forward_resolution_is_worse_and_uses_energy():
    pt, eta = np.array([50.0, 50.0, 50.0]), np.array([0.0, 2.0, 3.5])
    res = det.energy_resolution("jet", pt * np.cosh(eta), eta)
    assert res[0] > res[1]  # larger energy at eta = 2 -> better relative resolution
    assert res[2] > res[1]  # forward calorimeter


def test_muon_and_electron_smearing_widths():
    rng = np.random.default_rng(5)
    pt = np.full(40_000, 100.0)
    mu = det.smear_pt(pt, np.zeros_like(pt), "muon", rng)
    assert mu.std() / 100.0 == pytest.approx(np.hypot(0.01, 0.01), rel=0.03)
    mu_end = det.smear_pt(pt, np.full_like(pt, 2.0), "muon", rng)
    assert mu_end.std() / 100.0 == pytest.approx(2 * np.hypot(0.01, 0.01), rel=0.03)
    el = det.smear_pt(pt, np.zeros_like(pt), "electron", rng)
    expected = np.sqrt((0.03 / 10.0) ** 2 + (0.12 / 100.0) ** 2 + 0.005**2)
    assert el.std() / 100.0 == pytest.approx(expected, rel=0.03)
    with pytest.raises(ValueError, match="unknown object kind"):
        det.energy_resolution("photon", pt, pt)


def test_smearing_is_reproducible_and_nonnegative():
    pt = np.array([1.0, 5.0, 500.0])
    a = det.smear_pt(pt, np.zeros(3), "jet", np.random.default_rng(3))
    b = det.smear_pt(pt, np.zeros(3), "jet", np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    low = det.smear_pt(np.full(10_000, 0.5), np.zeros(10_000), "jet", np.random.default_rng(0))
    assert (low >= 0).all()


def test_pairs_within_events():
    i, j = det.pairs_within_events(np.array([0, 2, 2]), np.array([0, 2, 2, 5]))
    assert i.tolist() == [0, 0, 1, 1, 1, 2, 2, 2]
    assert j.tolist() == [0, 1, 2, 3, 4, 2, 3, 4]
    i, j = det.pairs_within_events(np.array([1]), np.array([0, 2, 2, 5]))
    assert len(i) == len(j) == 0


def test_isolation_sum_hand_built_example():
    # event 0: lepton (index 0) at (0, 0) with 40 GeV; particles at dR 0.14 (3 GeV),
    # dR 0.29 (2 GeV, inside), dR 0.31 (7 GeV, outside), across phi = +-pi (far).
    # event 1: lepton (index 5) at phi = pi - 0.05 and a particle at -pi + 0.05 (dR 0.1).
    p_pt = np.array([40.0, 3.0, 2.0, 7.0, 9.0, 30.0, 4.0])
    p_eta = np.array([0.0, 0.1, 0.29, 0.0, 0.0, 1.0, 1.0])
    p_phi = np.array([0.0, 0.1, 0.0, 0.31, np.pi, np.pi - 0.05, -np.pi + 0.05])
    offsets = np.array([0, 5, 7])
    iso = det.isolation_sum(
        lep_eta=np.array([0.0, 1.0]), lep_phi=np.array([0.0, np.pi - 0.05]),
        lep_event=np.array([0, 1]), lep_self=np.array([0, 5]),
        part_pt=p_pt, part_eta=p_eta, part_phi=p_phi, part_offsets=offsets, cone=0.3,
    )  # fmt: skip
    np.testing.assert_allclose(iso, [5.0, 4.0])
    assert (iso / np.array([40.0, 30.0]) < 0.15).tolist() == [True, True]


def test_btag_efficiency_at_working_point():
    rng = np.random.default_rng(2024)
    flav = np.repeat([5, 4, 0], 30_000)
    csv = det.btag_discriminant(flav, rng)
    assert ((csv >= 0) & (csv <= 1)).all()
    tagged = csv > det.BTAG_WP
    assert tagged[flav == 5].mean() == pytest.approx(0.70, abs=0.01)
    assert tagged[flav == 4].mean() == pytest.approx(0.20, abs=0.01)
    assert tagged[flav == 0].mean() == pytest.approx(0.015, abs=0.003)
    assert np.median(csv[flav == 5]) > np.median(csv[flav == 0])


def test_flavour_matching_prefers_b_over_c():
    flav = det.flavour_from_hadrons(
        jet_eta=np.array([0.0, 1.0, -2.0, 0.0]), jet_phi=np.array([0.0, 1.0, 2.0, 0.0]),
        jet_event=np.array([0, 0, 0, 1]),
        had_eta=np.array([0.1, 0.05, 1.2, 0.0]), had_phi=np.array([0.1, 0.0, 1.1, 3.0]),
        had_flavour=np.array([4, 5, 4, 5]), had_offsets=np.array([0, 3, 4]),
    )  # fmt: skip
    assert flav.tolist() == [5, 4, 0, 0]


def test_missing_et_balances_visible_vector_sum():
    rng = np.random.default_rng(7)
    n_ev = 50
    event = np.sort(rng.integers(0, n_ev, 400))
    pt, phi = rng.exponential(30.0, 400), rng.uniform(-np.pi, np.pi, 400)
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    met, met_phi = det.missing_et(px, py, event, n_ev)
    sum_x = np.bincount(event, px, n_ev) + met * np.cos(met_phi)
    sum_y = np.bincount(event, py, n_ev) + met * np.sin(met_phi)
    np.testing.assert_allclose(sum_x, 0.0, atol=1e-9)
    np.testing.assert_allclose(sum_y, 0.0, atol=1e-9)
    assert (met >= 0).all()


def test_delta_phi_wraps():
    np.testing.assert_allclose(det.delta_phi(np.array([3.1]), np.array([-3.1])), [6.2 - 2 * np.pi])
