"""An OPAL-like detector: what the end-view display shows of a Z decay's final state.

A parametrised detector after the published OPAL description (NIM A305 (1991)
275; :class:`Detector`) turns final-state particles (from
:mod:`eventcnn.events.zpole`) into an :class:`EventRecord`: charged tracks curved in
the 0.435 T field inside the jet chamber, energy clusters in the lead-glass and
hadron calorimeters, muon-chamber hits (:func:`detector_response`). The
:class:`Detector` also holds where the masterclass displays draw each layer
(``*_px``, ``px_per_m``, ``blur_px``, ``mask_px``: read by
:mod:`eventcnn.images.opal_display`), so one object describes a detector variation.

Example::

    from eventcnn.events.opal_detector import DETECTOR, detector_response
    rec = detector_response(particles, np.random.default_rng(1), DETECTOR)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["DETECTOR", "LOOSE_DETECTOR", "Detector", "EventRecord", "detector_response"]


@dataclass(frozen=True)
class Detector:
    """OPAL-like detector: geometry (metres), acceptance, resolutions, thresholds.

    Numbers from the OPAL detector paper (K. Ahmet et al., NIM A305 (1991) 275):
    solenoid field 0.435 T; jet chamber 0.25-1.85 m radius, 4 m long, tracks
    with ``|cos theta| < 0.95``, sigma(pT)/pT = 0.02 (+) 0.0022 pT; lead-glass
    barrel at 2.455 m (``|cos theta| < 0.82``, end caps to 0.98), sigma(E)/E =
    0.063/sqrt(E) (+) 0.002; hadron calorimeter (instrumented return yoke)
    3.39-4.39 m, ``|cos theta| < 0.99``, sigma(E)/E = 1.2/sqrt(E); barrel muon
    chambers 4.7-5.5 m, 93 % of the solid angle. ``px_per_m``: the display scale
    of the tracks (the real displays: jet chamber edge at 30 px). The display is
    not to scale beyond the jet chamber: ``ecal_px``, ``hcal_px`` and
    ``muon_px_in`` / ``muon_px_out`` are where the real masterclass displays
    draw the calorimeters and the muon chambers (their radial profiles of lit
    pixels, ``bench/opal_sim_validate.py``); ``track_shade``: tracks are drawn
    dimmer than their palette colour, as in the real displays. ``mask_px``:
    nothing is drawn beyond this radius.

    Example::

        Detector().track_radius(1.0)   # 7.66 m: a 1 GeV track in 0.435 T
    """

    b_field: float = 0.435
    jet_r_in: float = 0.25
    jet_r_out: float = 1.85
    jet_half_length: float = 2.0
    track_cos_max: float = 0.95
    track_pt_min: float = 0.7
    pt_res_const: float = 0.02
    pt_res_slope: float = 0.0022
    ecal_r: float = 2.455
    ecal_cos_max: float = 0.98
    ecal_stochastic: float = 0.063
    ecal_const: float = 0.002
    ecal_mip: float = 0.5
    ecal_threshold: float = 0.4
    photon_e_min: float = 1.5
    calo_p_min: float = 2.5
    hadron_shower_in_ecal: float = 0.35
    hcal_r: float = 3.39
    hcal_cos_max: float = 0.99
    hcal_stochastic: float = 1.2
    hcal_mip: float = 3.0
    hcal_threshold: float = 0.6
    muon_r_in: float = 4.7
    muon_r_out: float = 5.5
    muon_cos_max: float = 0.93
    muon_p_min: float = 2.5
    muon_efficiency: float = 0.95
    punch_through: float = 0.005
    noise_hits: float = 1.6
    phi_bins: int = 32
    px_per_m: float = 16.0
    blur_px: float = 0.6
    ecal_px: float = 36.0
    hcal_px: float = 50.0
    muon_px_in: float = 71.0
    muon_px_out: float = 87.0
    track_shade: float = 0.7
    mask_px: float = 96.0

    def track_radius(self, pt: float | np.ndarray) -> float | np.ndarray:
        """Radius of curvature (m) of a track with transverse momentum ``pt`` (GeV)."""
        return np.asarray(pt) / (0.299792458 * self.b_field)


DETECTOR = Detector()

#: a detector variation: the display thresholds before they were tuned to the
#: real displays (docs/opal.md, "Tuned to the real displays"): every track above
#: 0.4 GeV and every calorimeter deposit drawn. Fine-tuning mixes displays of
#: both (:func:`eventcnn.learn.batches.simulated_batch_pool`), so the network does
#: not lean on the thresholds, the least certain part of the simulation.
LOOSE_DETECTOR = Detector(track_pt_min=0.4, photon_e_min=0.0, calo_p_min=0.0)


@dataclass
class EventRecord:
    """What the detector saw of one event (lengths and angles in metres / radians).

    ``tracks``: (pt, phi0, charge, cot_theta, p) of reconstructed charged tracks;
    ``ecal`` / ``hcal``: (phi, energy) per calorimeter cluster (a phi bin above
    threshold); ``muon_hits``: phi of each track seen in the muon chambers;
    ``noise``: phi of random muon-chamber noise hits.
    """

    tracks: np.ndarray
    ecal: np.ndarray
    hcal: np.ndarray
    muon_hits: np.ndarray
    noise: np.ndarray
    n_charged_true: int = 0
    n_tracks_tau: list[int] = field(default_factory=list)

    @property
    def n_tracks(self) -> int:
        """Number of reconstructed charged tracks."""
        return len(self.tracks)


def _cluster(phi: np.ndarray, energy: np.ndarray, bins: int, threshold: float) -> np.ndarray:
    """Sum deposits in ``bins`` azimuthal bins; (phi, E) of the bins above ``threshold``."""
    if len(phi) == 0:
        return np.zeros((0, 2))
    k = np.floor((phi % (2 * np.pi)) / (2 * np.pi) * bins).astype(int) % bins
    e = np.bincount(k, weights=energy, minlength=bins)
    w = np.bincount(k, weights=energy * np.cos(phi), minlength=bins)
    s = np.bincount(k, weights=energy * np.sin(phi), minlength=bins)
    keep = e > threshold
    return np.column_stack([np.arctan2(s[keep], w[keep]), e[keep]])


def _phi_at(r: float, pt: np.ndarray, phi0: np.ndarray, charge: np.ndarray, det: Detector) -> tuple:
    """Azimuth where tracks cross radius ``r`` (m), and whether they reach it."""
    big_r = det.track_radius(np.maximum(pt, 1e-6))
    x = r / (2 * big_r)
    reach = x < 1.0
    return phi0 - charge * np.arcsin(np.clip(x, 0, 1)), reach


def detector_response(particles: np.ndarray, rng: np.random.Generator, det: Detector = DETECTOR) -> EventRecord:
    """The detector response to final-state ``particles`` (rows: id, charge, px, py, pz, E).

    Example::

        rec = detector_response(np.array([[13, -1, 0, 40, 10, 41.3]]), np.random.default_rng(1))
        rec.n_tracks, len(rec.muon_hits)   # 1, 1 (or 0 in the 5 % inefficiency)
    """
    pid = np.abs(particles[:, 0]).astype(int)
    charge = particles[:, 1]
    px, py, pz, e = particles[:, 2], particles[:, 3], particles[:, 4], particles[:, 5]
    pt = np.hypot(px, py)
    p = np.sqrt(pt**2 + pz**2)
    cos_t = np.divide(pz, p, out=np.zeros_like(p), where=p > 0)
    phi = np.arctan2(py, px)
    visible = ~np.isin(pid, (12, 14, 16))
    charged = (charge != 0) & visible
    # tracks
    is_trk = charged & (np.abs(cos_t) < det.track_cos_max) & (pt > det.track_pt_min)
    res = np.hypot(det.pt_res_const, det.pt_res_slope * pt)
    pt_meas = pt * (1 + res * rng.standard_normal(len(pt)))
    pt_meas = np.maximum(pt_meas, det.track_pt_min * 0.5)
    cot = np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0)
    p_meas = pt_meas * np.sqrt(1 + cot**2)
    tracks = np.column_stack([pt_meas, phi, np.sign(charge), cot, p_meas])[is_trk]
    # electromagnetic calorimeter
    em = np.isin(pid, (11, 22))
    muon = pid == 13
    hadron = visible & ~em & ~muon
    shower = hadron & (rng.random(len(pid)) < det.hadron_shower_in_ecal)
    frac = np.where(shower, rng.uniform(0.2, 0.8, len(pid)), 0.0)
    e_em = np.where(em & ~((pid == 22) & (e < det.photon_e_min)), e, 0.0)
    e_em = np.where(charged & ~em, np.minimum(det.ecal_mip, e) + frac * np.maximum(e - det.ecal_mip, 0), e_em)
    e_em = np.where(~charged & hadron, frac * e, e_em)
    sig = np.hypot(det.ecal_stochastic * np.sqrt(np.maximum(e_em, 1e-9)), det.ecal_const * e_em)
    e_em = np.maximum(e_em + sig * rng.standard_normal(len(e)), 0.0)
    phi_em, reach_em = _phi_at(det.ecal_r, pt, phi, charge, det)
    phi_em = np.where(charged, phi_em, phi)
    soft = charged & (p < det.calo_p_min)  # soft charged particles: no calorimeter cluster drawn
    in_em = visible & ~soft & (np.abs(cos_t) < det.ecal_cos_max) & (reach_em | ~charged)
    ecal = _cluster(phi_em[in_em], e_em[in_em], det.phi_bins, det.ecal_threshold)
    # hadron calorimeter: hadrons leave the rest, muons a minimum-ionising signal
    e_had = np.where(hadron, np.maximum(e - e_em, 0) * 0.8, 0.0)
    e_had = np.where(muon, np.minimum(det.hcal_mip, e), e_had)
    sig = det.hcal_stochastic * np.sqrt(np.maximum(e_had, 1e-9))
    e_had = np.maximum(e_had + sig * rng.standard_normal(len(e)) * (e_had > 0), 0.0)
    phi_h, reach_h = _phi_at(det.hcal_r, pt, phi, charge, det)
    phi_h = np.where(charged, phi_h, phi)
    in_h = (hadron | muon) & ~soft & (np.abs(cos_t) < det.hcal_cos_max) & (reach_h | ~charged)
    hcal = _cluster(phi_h[in_h], e_had[in_h], det.phi_bins // 2, det.hcal_threshold)
    # muon chambers: muons above the range-out momentum; rare hadron punch-through
    phi_mu, reach_mu = _phi_at(det.muon_r_in, pt, phi, charge, det)
    seen = (np.abs(cos_t) < det.muon_cos_max) & reach_mu & (p > det.muon_p_min)
    hit = seen & ((muon & (rng.random(len(pid)) < det.muon_efficiency))
                  | (charged & hadron & (rng.random(len(pid)) < det.punch_through)))
    noise = rng.uniform(-np.pi, np.pi, rng.poisson(det.noise_hits))
    return EventRecord(tracks, ecal, hcal, phi_mu[hit], noise, n_charged_true=int(charged.sum()))
