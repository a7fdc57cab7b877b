"""OPAL displays drawn from detector records, and the unit of simulation work (images.opal_display)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pythia8mc")

from eventcnn.events.opal_detector import DETECTOR, EventRecord  # noqa: E402
from eventcnn.images import opal_display as sim  # noqa: E402


def test_chunk_is_pure_in_its_arguments():
    a = sim.simulate_chunk(5, "t", 3, 2)
    b = sim.simulate_chunk(5, "t", 0, 5)[3:]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_physics_hadrons_have_many_more_tracks():
    rec = {c: [r for _, r in sim.simulate_chunk(2, c, 0, 12, records=True)] for c in "qemt"}
    n = {c: np.mean([r.n_tracks for r in rs]) for c, rs in rec.items()}
    assert n["q"] > 8 and n["q"] > 2.5 * max(n["e"], n["m"], n["t"])
    assert np.mean([r.n_charged_true for r in rec["q"]]) > 14  # before the track cuts
    # muons reach the muon chambers, electrons do not
    assert np.mean([len(r.muon_hits) for r in rec["m"]]) > 1.2
    assert np.mean([len(r.muon_hits) for r in rec["e"]]) == 0
    # electrons leave most of their energy in the electromagnetic calorimeter
    assert np.median([r.ecal[:, 1].sum() for r in rec["e"]]) > 60
    # every tau decays to an odd number of charged particles
    assert all(k % 2 == 1 for r in rec["t"] for k in r.n_tracks_tau)


def _radii(mask: np.ndarray) -> np.ndarray:
    yy, xx = np.nonzero(mask)
    return np.hypot(xx - 99.5, yy - 99.5)


def test_display_layers_sit_where_the_real_displays_draw_them():
    """One muon pair drawn by hand: each mark at its layer's radius, in its colour."""
    det = DETECTOR
    rec = EventRecord(
        tracks=np.array([[44.0, 0.3, 1.0, 0.1, 44.2], [44.0, 0.3 + np.pi, -1.0, -0.1, 44.2]]),
        ecal=np.array([[0.3, 0.5]]),              # a minimum-ionising e.m. cluster (yellow)
        hcal=np.array([[0.3 + np.pi, 2.0]]),      # a hadron-calorimeter tower (green)
        muon_hits=np.array([0.3, 0.3 + np.pi]), noise=np.zeros(0))
    img = sim.draw_event(rec, np.random.default_rng(0), det).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    red = (r > 120) & (g < 60) & (b < 60)
    yellow = (r > 60) & (g > 60) & (b < 30) & (abs(r - g) < 40)
    green = (g > 60) & (r < 30) & (b < 30)
    grey = (r > 40) & (abs(r - g) < 15) & (abs(g - b) < 15)
    # muon-chamber crosses: a compact column between the chamber radii
    assert red.sum() > 20
    assert _radii(red).min() > det.muon_px_in - 3 and _radii(red).max() < det.muon_px_out + 3
    # calorimeter towers: the e.m. one starts at ecal_px, the hadronic one at hcal_px
    ry = _radii(yellow)
    ry = ry[ry < det.muon_px_in - 3]  # a few muon-chamber crosses are yellow too
    assert len(ry) > 5 and abs(ry.min() - det.ecal_px) < 2.5 and ry.max() < det.hcal_px
    assert abs(_radii(green).min() - det.hcal_px) < 2.5 and _radii(green).max() < det.muon_px_in
    # tracks stay inside the jet chamber and are dimmer than white
    assert _radii(grey).max() < det.jet_r_out * det.px_per_m + 2
    assert img[grey].max() < 255 * det.track_shade + 1


def test_png_bytes_decode_to_the_same_pixels():
    from io import BytesIO

    from PIL import Image

    img = sim.simulate_chunk(1, "m", 0, 1)[0]
    assert img.shape == (sim.DISPLAY_SIZE, sim.DISPLAY_SIZE, 3) and img.dtype == np.uint8
    assert np.array_equal(np.asarray(Image.open(BytesIO(sim.png_bytes(img))).convert("RGB")), img)
    assert sim.chunk_pngs((1, "m", 0, 1)) == [sim.png_bytes(img)]
