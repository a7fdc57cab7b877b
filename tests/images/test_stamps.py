"""eventcnn.images.stamps: the vectorised paper-style drawing equals PIL's, event by event, pixel for pixel."""

import numpy as np
import pytest

from eventcnn.events import Events, Objects, read_events
from eventcnn.images.etaphi import (
    RenderConfig,
    diameters,
    draw_image,
    event_shapes,
    render_blocks,
    render_events,
)


def _per_event(events, config):
    """Each event drawn by PIL on its own (``draw_image``, the reference of the vectorised drawing)."""
    shapes = event_shapes(events, config)
    diam = diameters(shapes.pt, config)
    return np.stack([draw_image(shapes, i, config, diam) for i in range(len(events))])


@pytest.mark.shared_data
@pytest.mark.parametrize("size", [32, 64, 224])
def test_identical_to_pil_on_real_events(cms_ttjets, cms_wjets, size):
    config = RenderConfig(size=size)
    for path in (cms_ttjets, cms_wjets):
        ev = read_events(path)[:600]
        assert np.array_equal(render_events(ev, config), _per_event(ev, config))


def _objects(rng, counts, pt_max):
    return Objects.from_lists([list(rng.uniform(0.2, pt_max, c)) for c in counts],
                              eta=[list(rng.uniform(-3.4, 3.4, c)) for c in counts],
                              phi=[list(rng.uniform(-3.3, 3.3, c)) for c in counts],
                              csv=[list(rng.uniform(0, 1, c)) for c in counts])


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("size,thickness", [(48, 9.0), (17, 4.0)])
def test_identical_on_edges_wraps_and_tiny_rings(wrap, size, thickness):
    rng = np.random.default_rng(3)
    n = 300
    z = np.zeros(n)
    ev = Events(event=np.arange(n), met=rng.uniform(0, 300, n), met_phi=rng.uniform(-3.2, 3.2, n), sumet=z,
                xsec=z, is_mc=z, lumi=z, run=z, jet=_objects(rng, rng.integers(0, 9, n), 600),
                electron=_objects(rng, rng.integers(0, 2, n), 80), muon=_objects(rng, rng.integers(0, 2, n), 2))
    config = RenderConfig(size=size, wrap_phi=wrap, thickness=thickness)
    assert np.array_equal(render_events(ev, config), _per_event(ev, config))
    assert render_events(ev[:0], config).shape == (0, size, size, 3)
    # drawn a block at a time (what render writes PNGs and shards with): the same images
    blocks = list(render_blocks(ev, config, max_bytes=37 * size * size * 3))
    assert [len(b) for b in blocks][:2] == [37, 37] and np.array_equal(np.concatenate(blocks), _per_event(ev, config))
