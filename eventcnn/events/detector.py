"""A simple, documented CMS-like detector response on columnar numpy arrays.

Everything here works on *flat* arrays of objects plus an ``event`` array (the
event index of each object) or ``offsets`` (``n_events + 1`` boundaries), the
layout of :class:`eventcnn.events.Objects`. No per-event Python loops.

The model (see ``docs/generation.md`` for the numbers and their sources):

- muons: ``sigma(pT)/pT = 1 % (+) 0.01 %/GeV * pT`` in the barrel (``|eta| < 1.2``),
  twice that in the endcaps; acceptance ``|eta| < 2.4``;
- electrons: ECAL energy resolution ``3 %/sqrt(E) (+) 0.12 GeV/E (+) 0.5 %``
  (barrel ``|eta| < 1.48``; doubled in the endcaps), acceptance ``|eta| < 2.5``;
- jets: anti-kt R = 0.5 on all visible particles, isolated leptons included
  (particle-flow jets without lepton cleaning, as in the real CMS files); the
  hadronic part is smeared with ``100 %/sqrt(E) (+) 5 %`` (``|eta| < 3``),
  ``150 %/sqrt(E) (+) 10 %`` in the forward calorimeter; pT > 30 GeV,
  ``|eta| < 4.7``;
- isolation: scalar sum of the pT of all visible particles (charged and
  neutral) within ``dR < 0.3`` of the lepton, lepton excluded;
- b tagging: a CSV-like discriminant in ``[0, 1]`` drawn from the true jet
  flavour so that the efficiency at the 0.679 working point is 70 % (b),
  20 % (c) and 1.5 % (light);
- missing transverse energy: the negative vector sum of the reconstructed
  objects plus the (smeared) unclustered energy.

Example::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pt = smear_pt(np.array([50.0]), np.array([0.3]), "muon", rng)
    >>> bool(abs(pt[0] - 50.0) < 5.0)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventcnn.errors import UserError

__all__ = [
    "BTAG_WP",
    "DetectorConfig",
    "btag_discriminant",
    "delta_phi",
    "delta_r_pairs",
    "energy_resolution",
    "flavour_from_hadrons",
    "isolation_sum",
    "missing_et",
    "pairs_within_events",
    "smear_pt",
]

#: The CSV medium working point of CMS in 2011.
BTAG_WP = 0.679


@dataclass(frozen=True)
class DetectorConfig:
    """Acceptance, thresholds and efficiencies of the detector model.

    Resolutions are fixed functions (:func:`energy_resolution`); everything a
    user may want to vary lives here.

    Example::

        >>> DetectorConfig().jet_pt_min
        30.0
    """

    lepton_pt_min: float = 5.0  #: GeV, reconstructed electrons and muons kept
    muon_eta_max: float = 2.4
    electron_eta_max: float = 2.5
    jet_pt_min: float = 30.0  #: GeV after smearing, as in the real CMS JSON files
    jet_eta_max: float = 4.7
    jet_input_eta_max: float = 5.0  #: calorimeter coverage for clustering and MET
    jet_r: float = 0.5  #: anti-kt radius
    #: cluster the isolated leptons into jets too (particle-flow jets without lepton
    #: cleaning, as in the real CMS JSON files); False: jets from everything else
    jets_include_leptons: bool = True
    btag_eta_max: float = 2.4  #: tracker coverage; CSV = -100 ("no value") beyond
    iso_cone: float = 0.3
    iso_max: float = 0.15  #: relative isolation cut of ``tightIso``
    muon_reco_eff: float = 0.97
    electron_reco_eff: float = 0.93
    muon_tight_id_eff: tuple[float, float] = (0.95, 0.80)  #: (isolated, non-isolated)
    electron_tight_id_eff: tuple[float, float] = (0.75, 0.30)
    jet_tight_id_eff: float = 0.99
    btag_eff: tuple[float, float, float] = (0.70, 0.20, 0.015)  #: b, c, light at 0.679
    flavour_dr: float = 0.5  #: jet - heavy-hadron matching cone
    heavy_hadron_pt_min: float = 5.0
    met_unclustered_scale: float = 0.6  #: sigma of unclustered MET = scale * sqrt(sum pT)


def delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``a - b`` wrapped into ``[-pi, pi)``.

    Example::

        >>> float(delta_phi(np.array([3.0]), np.array([-3.0]))[0]) < 0
        True
    """
    return (np.asarray(a) - np.asarray(b) + np.pi) % (2 * np.pi) - np.pi


def energy_resolution(kind: str, energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Relative resolution ``sigma/E`` (``sigma(pT)/pT`` for muons) per object.

    ``kind`` is ``"muon"``, ``"electron"`` or ``"jet"``; for muons ``energy``
    is the transverse momentum.

    Example::

        >>> r = energy_resolution("jet", np.array([100.0]), np.array([0.0]))
        >>> round(float(r[0]), 3)
        0.112
    """
    e = np.maximum(np.asarray(energy, dtype=np.float64), 1e-3)
    aeta = np.abs(np.asarray(eta, dtype=np.float64))
    if kind == "muon":
        res = np.hypot(0.01, 1e-4 * e)
        return np.where(aeta < 1.2, res, 2.0 * res)
    if kind == "electron":
        res = np.sqrt((0.03 / np.sqrt(e)) ** 2 + (0.12 / e) ** 2 + 0.005**2)
        return np.where(aeta < 1.48, res, 2.0 * res)
    if kind == "jet":
        central = np.hypot(1.0 / np.sqrt(e), 0.05)
        forward = np.hypot(1.5 / np.sqrt(e), 0.10)
        return np.where(aeta < 3.0, central, forward)
    raise UserError(f"unknown object kind {kind!r}: use 'muon', 'electron' or 'jet'")


def smear_pt(
    pt: np.ndarray, eta: np.ndarray, kind: str, rng: np.random.Generator
) -> np.ndarray:
    """Smear transverse momenta with the resolution of ``kind`` (Gaussian, >= 0).

    The energy-based resolutions (electrons, jets) use ``E = pT cosh(eta)``;
    the relative smearing is applied to pT (the direction is kept).

    Example::

        >>> rng = np.random.default_rng(1)
        >>> out = smear_pt(np.full(10000, 100.0), np.zeros(10000), "jet", rng)
        >>> bool(0.10 < out.std() / 100 < 0.125)
        True
    """
    pt = np.asarray(pt, dtype=np.float64)
    eta = np.asarray(eta, dtype=np.float64)
    scale = pt if kind == "muon" else pt * np.cosh(eta)
    sigma = energy_resolution(kind, scale, eta)
    return np.maximum(pt * (1.0 + sigma * rng.standard_normal(pt.shape)), 0.0)


def pairs_within_events(
    a_event: np.ndarray, b_offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(i, j)`` of objects ``i`` of ``a`` and ``j`` of ``b`` in the same event.

    ``a_event`` is the event index of each ``a`` object, ``b_offsets`` the
    ``n_events + 1`` boundaries of the flat ``b`` collection.

    Example::

        >>> i, j = pairs_within_events(np.array([0, 1]), np.array([0, 2, 3]))
        >>> i.tolist(), j.tolist()
        ([0, 0, 1], [0, 1, 2])
    """
    a_event = np.asarray(a_event, dtype=np.int64)
    b_offsets = np.asarray(b_offsets, dtype=np.int64)
    start = b_offsets[a_event]
    count = b_offsets[a_event + 1] - start
    i = np.repeat(np.arange(len(a_event), dtype=np.int64), count)
    first = np.repeat(np.cumsum(count) - count, count)
    j = np.arange(len(i), dtype=np.int64) - first + np.repeat(start, count)
    return i, j


def delta_r_pairs(
    eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray
) -> np.ndarray:
    """Element-wise ``dR = sqrt(d_eta^2 + d_phi^2)``."""
    return np.hypot(np.asarray(eta1) - np.asarray(eta2), delta_phi(phi1, phi2))


def isolation_sum(
    lep_eta: np.ndarray,
    lep_phi: np.ndarray,
    lep_event: np.ndarray,
    lep_self: np.ndarray,
    part_pt: np.ndarray,
    part_eta: np.ndarray,
    part_phi: np.ndarray,
    part_offsets: np.ndarray,
    cone: float = 0.3,
) -> np.ndarray:
    """Scalar pT sum of the particles within ``dR < cone`` of each lepton.

    ``lep_self`` is the index of the lepton itself in the flat particle arrays
    (excluded from its own sum; ``-1`` if it is not among them). Divide by the
    lepton pT for the relative isolation.

    Example::

        >>> iso = isolation_sum(
        ...     np.array([0.0]), np.array([0.0]), np.array([0]), np.array([0]),
        ...     np.array([40.0, 3.0, 5.0]), np.array([0.0, 0.1, 1.0]),
        ...     np.array([0.0, 0.1, 0.0]), np.array([0, 3]))
        >>> float(iso[0])
        3.0
    """
    i, j = pairs_within_events(lep_event, part_offsets)
    dr = delta_r_pairs(np.asarray(lep_eta)[i], np.asarray(lep_phi)[i], part_eta[j], part_phi[j])
    inside = (dr < cone) & (j != np.asarray(lep_self)[i])
    return np.bincount(i[inside], weights=np.asarray(part_pt)[j[inside]], minlength=len(lep_eta))


def flavour_from_hadrons(
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    jet_event: np.ndarray,
    had_eta: np.ndarray,
    had_phi: np.ndarray,
    had_flavour: np.ndarray,
    had_offsets: np.ndarray,
    dr_max: float = 0.5,
) -> np.ndarray:
    """True jet flavour (5 = b, 4 = c, 0 = light) by dR matching to heavy hadrons.

    A jet is b if a b hadron (``had_flavour == 5``) lies within ``dr_max``,
    else c if a c hadron does, else light.

    Example::

        >>> flavour_from_hadrons(np.array([0.0, 2.0]), np.array([0.0, 0.0]),
        ...     np.array([0, 0]), np.array([0.1]), np.array([0.0]), np.array([5]),
        ...     np.array([0, 1])).tolist()
        [5, 0]
    """
    i, j = pairs_within_events(jet_event, had_offsets)
    dr = delta_r_pairs(np.asarray(jet_eta)[i], np.asarray(jet_phi)[i], had_eta[j], had_phi[j])
    flav = np.zeros(len(jet_eta), dtype=np.int64)
    close = dr < dr_max
    np.maximum.at(flav, i[close], np.asarray(had_flavour, dtype=np.int64)[j[close]])
    return flav


def btag_discriminant(
    flavour: np.ndarray,
    rng: np.random.Generator,
    eff: tuple[float, float, float] = (0.70, 0.20, 0.015),
    wp: float = BTAG_WP,
) -> np.ndarray:
    """Draw a CSV-like discriminant in ``[0, 1]`` per jet from its true flavour.

    With probability ``eff[flavour]`` the value lies above ``wp`` (a Beta(3, 1)
    shape, peaking at 1), otherwise below it (a Beta(1.2, 3) shape, peaking at
    low values), so ``P(CSV > wp)`` is exactly the b/c/light efficiency.

    Example::

        >>> rng = np.random.default_rng(0)
        >>> csv = btag_discriminant(np.full(20000, 5), rng)
        >>> bool(abs((csv > BTAG_WP).mean() - 0.70) < 0.02)
        True
    """
    flavour = np.asarray(flavour)
    p = np.where(flavour == 5, eff[0], np.where(flavour == 4, eff[1], eff[2]))
    tagged = rng.random(flavour.shape) < p
    high = wp + (1.0 - wp) * rng.beta(3.0, 1.0, flavour.shape)
    low = wp * rng.beta(1.2, 3.0, flavour.shape)
    return np.where(tagged, high, low)


def missing_et(
    px: np.ndarray, py: np.ndarray, event: np.ndarray, n_events: int
) -> tuple[np.ndarray, np.ndarray]:
    """MET and its phi per event: the negative vector sum of the given objects.

    ``px``, ``py`` are the reconstructed objects (leptons, jets and an
    unclustered-energy pseudo-object per event), ``event`` their event index.

    Example::

        >>> met, phi = missing_et(np.array([10.0, -4.0]), np.array([0.0, 1.0]),
        ...                       np.array([0, 0]), 1)
        >>> round(float(met[0]), 3), round(float(phi[0]), 3)
        (6.083, -2.976)
    """
    mx = -np.bincount(event, weights=px, minlength=n_events)
    my = -np.bincount(event, weights=py, minlength=n_events)
    return np.hypot(mx, my), np.arctan2(my, mx)
