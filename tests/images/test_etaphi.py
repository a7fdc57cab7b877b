"""Pixel-level tests of eventcnn.images.etaphi: eta-phi images of events (geometry, colours, styles, config)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import WHITE, centroid, colored, jet, lep, one

from eventcnn.images.etaphi import RenderConfig, diameters, render_event, render_events


def test_object_at_origin_lands_at_centre_as_a_ring():
    img = render_event(one({"muon": {"0": lep(100.0, 0.0, 0.0)}}), 0)
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8
    green = colored(img, (0, 255, 0))
    r, c = centroid(green)
    assert abs(r - 112) < 1.5 and abs(c - 112) < 1.5
    assert tuple(img[112, 112]) == WHITE  # unfilled: the centre stays white
    d = math.log(100) / math.log(1.1)  # ~48 px
    rows = np.nonzero(green[:, 112])[0]
    assert abs((rows.max() - rows.min() + 1) - d) <= 2
    thickness = np.diff(np.nonzero(green[112])[0]) > 1
    assert thickness.sum() == 1  # two separate ring walls along the middle row
    wall = np.nonzero(green[112])[0]
    left_wall = wall[wall < 112]
    assert 3 <= len(left_wall) <= 5  # about 4 px thick


def test_axes_orientation_eta_right_phi_up():
    ev = one({"electron": {"0": lep(50.0, 2.0, 2.0)}})
    r, c = centroid(colored(render_event(ev, 0), (0, 0, 255)))
    assert c == pytest.approx((2.0 + 3) / 6 * 224, abs=1.5)
    assert r == pytest.approx((math.pi - 2.0) / (2 * math.pi) * 224, abs=1.5)


@pytest.mark.parametrize(
    "obj, color",
    [
        ({"electron": {"0": lep(60, 0, 0)}}, (0, 0, 255)),
        ({"muon": {"0": lep(60, 0, 0)}}, (0, 255, 0)),
        ({"jet": {"0": jet(60, 0, 0, csv=0.95)}}, (255, 0, 0)),
        ({"jet": {"0": jet(60, 0, 0, csv=0.2)}}, (255, 125, 125)),
        ({"jet": {"0": jet(60, 0, 0, csv=-100.0)}}, (255, 125, 125)),
    ],
)
def test_colours(obj, color):
    img = render_event(one(obj), 0)
    assert colored(img, color).sum() > 100
    others = ~colored(img, color) & ~colored(img, WHITE) & ~colored(img, (0, 0, 0))
    assert others.sum() == 0


def test_met_is_black_at_eta_zero():
    img = render_event(one(met=(80.0, -1.0)), 0)
    r, c = centroid(colored(img, (0, 0, 0)))
    assert c == pytest.approx(112, abs=1.5)
    assert r == pytest.approx((math.pi + 1.0) / (2 * math.pi) * 224, abs=1.5)


def test_size_grows_with_pt_and_never_negative():
    widths = []
    for pt in (5.0, 20.0, 80.0, 300.0):
        img = render_event(one({"muon": {"0": lep(pt, 0, 0)}}), 0)
        cols = np.nonzero(colored(img, (0, 255, 0)).any(axis=0))[0]
        widths.append(cols.max() - cols.min())
    assert widths == sorted(widths) and widths[0] < widths[-1]
    d = diameters(np.array([0.0, 0.5, 1.0, 1.1, 1e6]), RenderConfig())
    assert np.all(d >= 1.0) and d[3] == pytest.approx(1.0) and d[4] > 100
    # MET 0.3 GeV and pT 0.5 GeV draw (1 px), no crash
    img = render_event(one({"muon": {"0": lep(0.5, 1, 1)}}, met=(0.3, 0.0)), 0)
    assert colored(img, (0, 0, 0)).sum() >= 1


def test_phi_wraps_around():
    near_top = math.pi - 0.05
    img = render_event(one({"muon": {"0": lep(200.0, 0.0, near_top)}}), 0)
    green = colored(img, (0, 255, 0))
    top = green[:5].sum()
    bottom = green[-30:].sum()
    assert top > 0 and bottom > 0  # the ring continues at the bottom edge
    no_wrap = render_events(one({"muon": {"0": lep(200.0, 0.0, near_top)}}), RenderConfig(wrap_phi=False))[0]
    assert colored(no_wrap, (0, 255, 0))[-30:].sum() == 0
    # phi = +pi and phi = -pi are the same place
    a = render_event(one({"muon": {"0": lep(50.0, 0.0, math.pi)}}), 0)
    b = render_event(one({"muon": {"0": lep(50.0, 0.0, -math.pi)}}), 0)
    np.testing.assert_array_equal(a, b)


def test_size_option_scales_geometry():
    ev = one({"muon": {"0": lep(100.0, 1.5, 0.0)}})
    small = render_events(ev, RenderConfig(size=64))[0]
    assert small.shape == (64, 64, 3)
    r, c = centroid(colored(small, (0, 255, 0)))
    assert c == pytest.approx((1.5 + 3) / 6 * 64, abs=1.0) and r == pytest.approx(32, abs=1.0)


def test_channels_style_encodes_pt_in_intensity():
    cfg = RenderConfig(style="channels", size=64)
    soft = render_events(one({"jet": {"0": jet(40, 0, 0)}}), cfg)[0]
    hard = render_events(one({"jet": {"0": jet(160, 0, 0)}}), cfg)[0]
    assert soft[32, 32, 0] < hard[32, 32, 0]  # filled discs, brighter for higher pT
    assert hard[32, 32, 1] == 0  # light jet: not in the b channel
    bjet = render_events(one({"jet": {"0": jet(100, 0, 0, csv=0.9)}}), cfg)[0]
    assert bjet[32, 32, 1] > 0 and bjet[32, 32, 0] == 0
    both = render_events(one({"jet": {"0": jet(100, 0, 0), "1": jet(100, 0, 0)}}), cfg)[0]
    single = int(render_events(one({"jet": {"0": jet(100, 0, 0)}}), cfg)[0][32, 32, 0])
    assert abs(int(both[32, 32, 0]) - 2 * single) <= 1  # overlapping objects add up


def test_config_roundtrip_and_validation(tmp_path):
    cfg = RenderConfig(size=64, style="channels")
    assert RenderConfig.from_json(cfg.to_json()) == cfg
    (tmp_path / "c.json").write_text(cfg.to_json())
    assert RenderConfig.from_json(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError, match="unknown style"):
        RenderConfig(style="fancy")
    with pytest.raises(ValueError, match="size"):
        RenderConfig(size=2)
    with pytest.raises(ValueError, match="unknown render settings"):
        RenderConfig.from_dict({"sise": 3})
