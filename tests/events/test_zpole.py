"""Z decays at the Z pole with Pythia 8 (events.zpole): settings, seeds, the final state."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn.errors import UserError
from eventcnn.events.zpole import SQRT_S, event_seed, zpole_event, zpole_settings
from eventcnn.names import OPAL_CLASSES


def test_settings_per_class():
    assert "23:onIfAny = 13" in zpole_settings("m")
    assert "23:onIfAny = 1 2 3 4 5" in zpole_settings("q")
    assert f"Beams:eCM = {SQRT_S}" in zpole_settings("e")
    with pytest.raises(UserError, match="unknown class 'x'.*q, e, m, t"):
        zpole_settings("x")


def test_event_seeds_are_per_class_and_index():
    seeds = {event_seed(1, c, i) for c in OPAL_CLASSES for i in range(10)}
    assert len(seeds) == 40 and all(1 <= s <= 900_000_000 for s in seeds)
    assert event_seed(1, "q", 0) == event_seed(1, "q", 0) != event_seed(2, "q", 0)


def test_a_muon_pair_at_the_z_pole():
    pytest.importorskip("pythia8mc")
    particles, seed, prongs = zpole_event(3, "m", 0)
    assert seed == event_seed(3, "m", 0) and prongs == []
    muons = particles[np.abs(particles[:, 0]) == 13]
    assert len(muons) == 2 and muons[:, 1].sum() == 0  # opposite charges
    assert 0.8 * SQRT_S < particles[:, 5].sum() <= SQRT_S + 1e-6  # the energy of the event (ISR escapes)
    again, _, _ = zpole_event(3, "m", 0)
    assert np.array_equal(particles, again)  # the same event for the same (seed, class, index)
    _, _, prongs = zpole_event(3, "t", 1, prongs=True)
    assert len(prongs) == 2 and all(k % 2 == 1 for k in prongs)
