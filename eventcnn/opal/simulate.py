"""Simulated OPAL displays: Pythia 8 Z decays, an OPAL-like detector, masterclass-style pictures.

e+e- -> gamma*/Z -> f fbar at sqrt(s) = 91.2 GeV (initial-state radiation on) is
generated with Pythia 8 per class (``q`` hadrons, ``e``, ``m``, ``t`` lepton
pairs). A parametrised detector after the published OPAL description (NIM A305
(1991) 275; :class:`Detector`) turns the final-state particles into what the
end-view display shows: charged tracks curved in the 0.435 T field inside the
jet chamber, energy boxes in the lead-glass and hadron calorimeters, muon-chamber
hits. The picture is drawn like the masterclass displays after their
preprocessing (200x200 RGB, black background, centred, masked, rotated so that
the thrust axis is vertical), at 16 px per metre (the real displays' scale).

The unit of work is pure: :func:`simulate_chunk` ``(seed, class, start, n) ->
images``; every event has its own seed derived from ``(seed, class, index)``,
so the output does not depend on how the events are split among workers.
:func:`simulate` writes the masterclass format (``<name>.zip`` of PNGs plus
``events_list.csv`` with ``<event>.png;<label>`` rows) that every ``opal``
command reads unchanged; the event names (``sim_000123``) carry no class.

Example::

    from eventcnn.opal.simulate import simulate
    out = simulate(400, "sim", seed=1, jobs=2)
    out.zip_path, out.labels_path   # sim/sim.zip, sim/events_list.csv
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from eventcnn._env import quiet_from_env
from eventcnn._io import atomic_path, quiet_stdout, write_text_atomic
from eventcnn.errors import UserError
from eventcnn.executor import Executor, check_jobs, use_executor
from eventcnn.opal.displays import CLASS_NAMES, IMAGE_SIZE
from eventcnn.seeds import DEFAULT_SEED, pythia_seed

__all__ = [
    "CHUNK",
    "Detector",
    "DETECTOR",
    "LOOSE_DETECTOR",
    "png_bytes",
    "draw_event",
    "EventRecord",
    "event_seed",
    "pythia_settings",
    "reconstruct",
    "SimulationResult",
    "simulate",
    "simulate_chunk",
    "SQRT_S",
]

#: centre-of-mass energy (GeV), the Z pole as at LEP 1
SQRT_S = 91.2

#: events per unit of work (the progress bar's step, the process pool's task)
CHUNK = 50

#: Z decay channels per class (PDG codes of the fermion), for ``23:onIfAny``
_Z_MODES = {"q": "1 2 3 4 5", "e": "11", "m": "13", "t": "15"}

#: display colours, from low to high momentum / energy (the real displays' palette)
_PALETTE = np.array([
    (255, 255, 0),    # yellow
    (0, 255, 0),      # green
    (0, 80, 255),     # blue
    (255, 0, 255),    # magenta
    (0, 255, 255),    # cyan
    (255, 255, 255),  # white
], dtype=np.uint8)

_RED = (255, 0, 0)
_YELLOW = (255, 255, 0)


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
#: both (:func:`eventcnn.opal.model.simulated_batch_pool`), so the network does
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


def pythia_settings(cls: str) -> list[str]:
    """Pythia ``readString`` settings of one class: e+e- -> gamma*/Z -> f fbar, ISR on.

    Tau decays are isotropic (``TauDecays:mode = 0``: the standard tau branching
    fractions without spin correlations, 250 times faster).

    Example::

        >>> "23:onIfAny = 13" in pythia_settings("m")
        True
    """
    if cls not in _Z_MODES:
        raise UserError(f"unknown class {cls!r}: use some of {', '.join(CLASS_NAMES)}")
    return [
        "Beams:idA = 11", "Beams:idB = -11", f"Beams:eCM = {SQRT_S}",
        "PDF:lepton = on",  # initial-state radiation of the beam electrons
        "PartonLevel:ISR = on",
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off", f"23:onIfAny = {_Z_MODES[cls]}",
        "TauDecays:mode = 0",
        "Print:quiet = on", "Next:numberCount = 0",
        "Init:showProcesses = off", "Init:showChangedSettings = off",
        "Init:showChangedParticleData = off",
    ]


def event_seed(seed: int, cls: str, index: int) -> int:
    """The seed of event ``index`` of class ``cls`` (Pythia accepts 1 ... 900,000,000).

    Example::

        >>> event_seed(1, "q", 0) == event_seed(1, "q", 0) != event_seed(1, "e", 0)
        True
    """
    return pythia_seed(seed, CLASS_NAMES.index(cls), index)


_PYTHIA: dict[str, Any] = {}


def _pythia(cls: str) -> Any:
    """One initialised Pythia per class and process (events are re-seeded one by one)."""
    if cls not in _PYTHIA:
        import pythia8mc

        p = pythia8mc.Pythia("", False)
        for s in pythia_settings(cls):
            if not p.readString(s):
                raise RuntimeError(f"Pythia rejected the setting {s!r}")
        with quiet_stdout():
            ok = p.init()
        if not ok:
            raise RuntimeError(f"Pythia failed to initialise class {cls!r}")
        _PYTHIA[cls] = p
    return _PYTHIA[cls]


def _final_state(p: Any) -> np.ndarray:
    """Final-state particles of Pythia's current event: (id, charge, px, py, pz, e, tau_parent)."""
    ev = p.event
    rows = []
    for j in range(ev.size()):
        prt = ev[j]
        if prt.isFinal():
            rows.append((prt.id(), prt.charge(), prt.px(), prt.py(), prt.pz(), prt.e()))
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


def _tau_prongs(p: Any) -> list[int]:
    """Charged final-state descendants of each tau (1-prong / 3-prong counting)."""
    ev = p.event
    out = []
    for j in range(ev.size()):
        if abs(ev[j].id()) == 15 and not ev[j].isFinal() and abs(ev[ev[j].daughter1()].id()) != 15:
            n = 0
            for d in ev[j].daughterListRecursive():
                if ev[d].isFinal() and ev[d].charge() != 0 and abs(ev[d].id()) not in (12, 14, 16):
                    n += 1
            out.append(n)
    return out


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


def reconstruct(particles: np.ndarray, rng: np.random.Generator, det: Detector = DETECTOR) -> EventRecord:
    """The detector response to final-state ``particles`` (rows: id, charge, px, py, pz, E).

    Example::

        rec = reconstruct(np.array([[13, -1, 0, 40, 10, 41.3]]), np.random.default_rng(1))
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


def _colour(x: np.ndarray | float) -> np.ndarray:
    """Palette colour for momenta / energies (GeV): <1, 1-3, 3-6, 6-12, 12-25, >25."""
    k = np.searchsorted([1.0, 3.0, 6.0, 12.0, 25.0], np.atleast_1d(x))
    return _PALETTE[k]


def _thrust_phi(rec: EventRecord) -> float:
    """Azimuth of the transverse thrust axis of tracks and calorimeter clusters."""
    vec = []
    if len(rec.tracks):
        vec.append(np.column_stack([rec.tracks[:, 0] * np.cos(rec.tracks[:, 1]),
                                    rec.tracks[:, 0] * np.sin(rec.tracks[:, 1])]))
    for cl in (rec.ecal, rec.hcal):
        if len(cl):
            vec.append(np.column_stack([cl[:, 1] * np.cos(cl[:, 0]), cl[:, 1] * np.sin(cl[:, 0])]))
    if not vec:
        return 0.0
    v = np.concatenate(vec)
    ang = np.linspace(0, np.pi, 180, endpoint=False)
    t = np.abs(v @ np.stack([np.cos(ang), np.sin(ang)])).sum(0)
    return float(ang[int(t.argmax())])


_MASKS: dict[tuple[int, float], np.ndarray] = {}


def _mask(size: int, radius: float) -> np.ndarray:
    """Pixels outside the display circle (cached per size)."""
    key = (size, radius)
    if key not in _MASKS:
        yy, xx = np.ogrid[:size, :size]
        _MASKS[key] = np.hypot(xx - (size - 1) / 2, yy - (size - 1) / 2) > radius
    return _MASKS[key]


def _blur_kernel(sigma: float) -> ImageFilter.Kernel:
    """A 3x3 Gaussian kernel of width ``sigma`` pixels (cheaper than PIL's GaussianBlur)."""
    w = np.exp(-0.5 / max(sigma, 1e-3) ** 2)
    k = np.outer([w, 1.0, w], [w, 1.0, w])
    return ImageFilter.Kernel((3, 3), (k / k.sum()).ravel().tolist(), scale=1)


def _tuples(colours: np.ndarray) -> list[tuple[int, int, int]]:
    return [tuple(c) for c in colours.tolist()]


def draw_event(rec: EventRecord, rng: np.random.Generator, det: Detector = DETECTOR,
               size: int = IMAGE_SIZE, oversample: int = 3) -> np.ndarray:
    """The end-view display of one event: ``(size, size, 3) uint8``, thrust axis vertical.

    Drawn ``oversample`` times larger with 1-2 pixel lines and reduced (box
    filter), so lines are thin and dim as in the real, downscaled displays; each
    layer where the real displays draw it (:class:`Detector` ``*_px``). The
    thrust axis points up or down and the picture is mirrored at random (``rng``).

    Example::

        img = draw_event(rec, np.random.default_rng(1))
        img.shape   # (200, 200, 3)
    """
    big = size * oversample
    scale = det.px_per_m * oversample * size / IMAGE_SIZE
    c = big / 2.0
    rot = np.pi / 2 - _thrust_phi(rec) + (np.pi if rng.random() < 0.5 else 0.0)
    sx = -scale if rng.random() < 0.5 else scale
    im = Image.new("RGB", (big, big))
    d = ImageDraw.Draw(im)

    def xy(r: np.ndarray, ph: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return c + r * np.cos(ph + rot) * sx, c - r * np.sin(ph + rot) * scale

    _draw_tracks(d, xy, rec.tracks, det)
    _draw_towers(d, xy, rec.ecal, rec.hcal, det, rng)
    _draw_muon_chambers(d, xy, rec.muon_hits, rec.noise, det, rng, width=max(oversample - 1, 1))
    out = im.reduce(oversample) if oversample > 1 else im
    out = out.filter(_blur_kernel(det.blur_px * size / IMAGE_SIZE))
    arr = np.asarray(out, dtype=np.uint8).copy()
    arr[_mask(size, det.mask_px * size / IMAGE_SIZE)] = 0
    return arr


#: maps (radius, azimuth) arrays in detector units to canvas (x, y) pixels
_XY = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _draw_tracks(d: ImageDraw.ImageDraw, xy: _XY, tracks: np.ndarray, det: Detector) -> None:
    """Helix arcs from the inner to the outer jet-chamber radius (or the end plate), dimmed."""
    if not len(tracks):
        return
    pt, phi0, q, cot, p = tracks.T
    big_r = det.track_radius(pt)
    r_end = np.minimum(det.jet_r_out, 2 * big_r * 0.999)
    s_end = det.jet_half_length / np.maximum(np.abs(cot), 1e-9)  # end-plate exit (transverse path)
    r_end = np.minimum(r_end, 2 * big_r * np.abs(np.sin(np.minimum(s_end / (2 * big_r), np.pi / 2))))
    keep = r_end > det.jet_r_in
    t = np.linspace(0.0, 1.0, 12)
    r = det.jet_r_in + (r_end[keep, None] - det.jet_r_in) * t
    ph = phi0[keep, None] - q[keep, None] * np.arcsin(np.clip(r / (2 * big_r[keep, None]), 0, 1))
    x, y = xy(r, ph)
    pts = np.stack([x, y], axis=-1).tolist()
    cols = (_colour(p[keep]) * det.track_shade).astype(np.uint8)
    for line, col in zip(pts, _tuples(cols)):
        d.line([tuple(v) for v in line], fill=col, width=2)


def _draw_towers(d: ImageDraw.ImageDraw, xy: _XY, ecal: np.ndarray, hcal: np.ndarray, det: Detector,
                 rng: np.random.Generator) -> None:
    """Calorimeter towers in the real displays' style.

    Boxes on the layer's display radius whose height grows with the energy;
    hadron-calorimeter towers often split in two; towers above 12 GeV open
    towards the centre (the real brackets).
    """
    px = 1.0 / det.px_per_m  # one display pixel in the units of xy()
    for clusters, r0, h0, h_slope, h_max, kind in (
            (ecal, det.ecal_px, 5.0, 1.7, 17.0, "ecal"), (hcal, det.hcal_px, 8.0, 1.0, 12.0, "hcal")):
        if not len(clusters):
            continue
        ph, en = clusters.T
        h = np.minimum(h0 + h_slope * np.sqrt(en), h_max) * px
        w = (np.clip(3.5 + 0.8 * np.sqrt(en), 3.5, 9.0) if kind == "ecal"
             else np.clip(6.0 + 0.6 * np.sqrt(en), 6.0, 10.0)) * px
        a0 = r0 * px + 0 * h
        a = np.stack([a0, a0 + h, a0 + h, a0, a0], axis=1)
        b = np.stack([-w / 2, -w / 2, w / 2, w / 2, -w / 2], axis=1)
        x, y = xy(np.hypot(a, b), ph[:, None] + np.arctan2(b, a))
        pts = np.stack([x, y], axis=-1).tolist()
        split = rng.random(len(en)) < (0.6 if kind == "hcal" else 0.0)
        for k, (line, col) in enumerate(zip(pts, _tuples(_colour(en)))):
            corners = [tuple(v) for v in line]
            d.line(corners if en[k] < 12.0 else corners[:4], fill=col, width=2)
            if split[k]:
                xm, ym = xy(np.array([a0[k], a0[k] + h[k]]), np.array([ph[k], ph[k]]))
                d.line([(xm[0], ym[0]), (xm[1], ym[1])], fill=col, width=2)


def _draw_muon_chambers(d: ImageDraw.ImageDraw, xy: _XY, hits: np.ndarray, noise: np.ndarray, det: Detector,
                        rng: np.random.Generator, width: int) -> None:
    """Muon hits as a compact column of small crosses (mostly red); noise as pairs of yellow crosses."""
    px = 1.0 / det.px_per_m
    arm = 1.2 * px
    for ph in hits:
        n_hit = 9
        r = np.linspace(det.muon_px_in, det.muon_px_out, n_hit) * px + rng.normal(0.0, 0.5 * px, n_hit)
        f = ph + rng.normal(0.0, 0.6 * px, n_hit) / r
        yellow = set(rng.choice(n_hit, size=rng.integers(0, 3), replace=False).tolist())
        for sgn in (-1, 1):
            x, y = xy(np.stack([r - arm, r + arm], 1), np.stack([f - sgn * arm / r, f + sgn * arm / r], 1))
            for k in range(n_hit):
                d.line([(x[k, 0], y[k, 0]), (x[k, 1], y[k, 1])], fill=_YELLOW if k in yellow else _RED,
                       width=width)
    if len(noise):
        r = rng.uniform(det.muon_px_in - 8.0, det.muon_px_out - 2.0, len(noise)) * px
        for r0, f0 in zip(r.tolist(), noise.tolist()):
            for side in (-2.0, 2.0):
                f = f0 + side * px / r0
                for sgn in (-1, 1):
                    x, y = xy(np.array([r0 - arm, r0 + arm]), np.array([f - sgn * arm / r0, f + sgn * arm / r0]))
                    d.line([(x[0], y[0]), (x[1], y[1])], fill=_YELLOW, width=width)


def simulate_chunk(seed: int, cls: str, start: int, n: int, det: Detector = DETECTOR,
                   records: bool = False) -> list[Any]:
    """Simulate events ``start .. start+n-1`` of class ``cls``: their displays (``uint8``).

    Pure in its arguments: event ``i`` depends only on ``(seed, cls, i)``.
    ``records=True`` returns ``(image, EventRecord)`` pairs (for validation).

    Example::

        imgs = simulate_chunk(1, "t", 0, 5)
        len(imgs), imgs[0].shape   # 5, (200, 200, 3)
    """
    p = _pythia(cls)
    out: list[Any] = []
    for i in range(start, start + n):
        s = event_seed(seed, cls, i)
        p.rndm.init(s)
        for _ in range(10):
            if p.next():
                break
        else:
            raise RuntimeError(f"Pythia failed to generate event {i} of class {cls!r}")
        rng = np.random.default_rng(s)
        rec = reconstruct(_final_state(p), rng, det)
        if records:
            rec.n_tracks_tau = _tau_prongs(p) if cls == "t" else []
        img = draw_event(rec, rng, det)
        out.append((img, rec) if records else img)
    return out


def png_bytes(img: np.ndarray) -> bytes:
    """One display as PNG (fast compression, about 5 kB)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _chunk_pngs(args: tuple) -> list[bytes]:
    seed, cls, start, n = args
    return [png_bytes(im) for im in simulate_chunk(seed, cls, start, n)]


@dataclass
class SimulationResult:
    """What :func:`simulate` wrote: the zip, the label list, counts and speed."""

    zip_path: Path
    labels_path: Path
    counts: dict[str, int]
    seconds: float

    @property
    def per_second(self) -> float:
        """Displays per second (wall clock, start-up included)."""
        return sum(self.counts.values()) / max(self.seconds, 1e-9)


def _split_counts(n_events: int, classes: Sequence[str]) -> dict[str, int]:
    base, extra = divmod(n_events, len(classes))
    return {c: base + (1 if k < extra else 0) for k, c in enumerate(classes)}


def simulate(n_events: int, out: str | os.PathLike[str], seed: int = DEFAULT_SEED,
             classes: Sequence[str] = CLASS_NAMES, jobs: int = 1, name: str = "sim",
             quiet: bool | None = None, *, scheduler: str | None = None,
             executor: Executor | None = None) -> SimulationResult:
    """Simulate ``n_events`` displays (equal numbers per class) into ``out`` in masterclass format.

    Writes ``out/<name>.zip`` (PNG members ``sim_000000.png`` ... in a seeded
    random order, so names carry no class) and ``out/events_list.csv``
    (``<event>.png;<label>``), both atomically. Chunks of :data:`CHUNK` events
    run as tasks on ``executor`` (:mod:`eventcnn.executor`), else on one opened
    for the call (``jobs`` local worker processes, or the Dask cluster at
    ``scheduler``); the output is the same wherever they run.

    Example::

        res = simulate(40, "sim", seed=1, classes=("e", "m"))
        res.counts   # {'e': 20, 'm': 20}
    """
    quiet = quiet_from_env() if quiet is None else bool(quiet)
    classes = tuple(classes)
    bad = [c for c in classes if c not in CLASS_NAMES]
    if bad or not classes or len(set(classes)) != len(classes):
        raise UserError(f"--classes must be distinct codes among {','.join(CLASS_NAMES)}, got {','.join(classes)}")
    if n_events < 1:
        raise UserError(f"--events must be >= 1, got {n_events}")
    check_jobs(jobs)
    start_t = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = _split_counts(n_events, classes)
    tasks = [(seed, c, s, min(CHUNK, counts[c] - s)) for c in classes for s in range(0, counts[c], CHUNK)]
    labels = [c for c in classes for _ in range(counts[c])]
    order = np.random.default_rng([int(seed), 7919]).permutation(len(labels))  # event k -> name order[k]
    pngs: list[bytes] = []
    with use_executor(executor, jobs, scheduler, quiet=quiet) as ex:
        bar = ex.bar(n_events, "simulating", unit="display", quiet=quiet)
        try:
            for chunk in ex.map(_chunk_pngs, tasks, bar=bar, weight=lambda t, _r: t[3], name="simulate"):
                pngs += chunk
        finally:
            bar.close()
    width = max(6, len(str(n_events - 1)))
    names = [f"{name}_{k:0{width}d}.png" for k in order]
    zip_path = out / f"{name}.zip"
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for k in np.argsort(order):
            zf.writestr(names[k], pngs[k])
    rows = sorted(zip(names, labels))
    labels_path = write_text_atomic(out / "events_list.csv", "".join(f"{n};{c}\n" for n, c in rows))
    return SimulationResult(zip_path, Path(labels_path), counts, time.perf_counter() - start_t)
