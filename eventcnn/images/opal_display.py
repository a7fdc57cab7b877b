"""OPAL end-view event displays, drawn like the masterclass's: from detector records to pictures.

An :class:`~eventcnn.events.opal_detector.EventRecord` becomes the picture the
masterclass displays show after their preprocessing (200x200 RGB, black
background, centred, masked, rotated so that the thrust axis is vertical), at 16
px per metre (the real displays' scale), each layer where the real displays draw
it (:func:`draw_event`). :func:`simulate_chunk` is the unit of simulation work,
pure in its arguments: Pythia 8 Z decays (:mod:`eventcnn.events.zpole`), the
OPAL-like detector (:mod:`eventcnn.events.opal_detector`), the picture.
:func:`eventcnn.opal.simulate.simulate` writes them in the masterclass format.

Example::

    from eventcnn.images.opal_display import simulate_chunk
    imgs = simulate_chunk(1, "t", 0, 5)       # five tau-pair displays, (200, 200, 3) uint8
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from eventcnn.events.opal_detector import DETECTOR, Detector, EventRecord, detector_response
from eventcnn.events.zpole import zpole_event

__all__ = ["CHUNK", "DISPLAY_SIZE", "chunk_pngs", "draw_event", "png_bytes", "simulate_chunk"]

#: the side of a masterclass display (pixels)
DISPLAY_SIZE = 200

#: simulated displays per task (the progress bar's step)
CHUNK = 50

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
               size: int = DISPLAY_SIZE, oversample: int = 3) -> np.ndarray:
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
    scale = det.px_per_m * oversample * size / DISPLAY_SIZE
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
    out = out.filter(_blur_kernel(det.blur_px * size / DISPLAY_SIZE))
    arr = np.asarray(out, dtype=np.uint8).copy()
    arr[_mask(size, det.mask_px * size / DISPLAY_SIZE)] = 0
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
    out: list[Any] = []
    for i in range(start, start + n):
        particles, s, prongs = zpole_event(seed, cls, i, prongs=records)
        rng = np.random.default_rng(s)
        rec = detector_response(particles, rng, det)
        if records:
            rec.n_tracks_tau = prongs
        img = draw_event(rec, rng, det)
        out.append((img, rec) if records else img)
    return out


def png_bytes(img: np.ndarray) -> bytes:
    """One display as PNG (fast compression, about 5 kB)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def chunk_pngs(args: tuple[int, str, int, int]) -> list[bytes]:
    """The processor of a simulation task ``(seed, class, start, n)``: the displays as PNG bytes."""
    seed, cls, start, n = args
    return [png_bytes(im) for im in simulate_chunk(seed, cls, start, n)]
