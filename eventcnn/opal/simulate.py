"""``eventcnn opal simulate`` in the masterclass's words: the simulation's names in one place.

Nothing is defined here. Pythia 8 Z decays live in :mod:`eventcnn.events.zpole`,
the OPAL-like detector in :mod:`eventcnn.events.opal_detector`, the displays in
:mod:`eventcnn.images.opal_display` and the writer of a simulated masterclass
data set (:func:`simulate`) in :mod:`eventcnn.images.opal_simulation`: the floors
where CMS's generation and drawing live.

Example::

    from eventcnn.opal.simulate import simulate
    out = simulate(400, "sim", seed=1, jobs=2)
    out.zip_path, out.labels_path   # sim/sim.zip, sim/events_list.csv
"""

from __future__ import annotations

from eventcnn.events.opal_detector import DETECTOR, LOOSE_DETECTOR, Detector, EventRecord
from eventcnn.images.opal_display import CHUNK, draw_event, png_bytes, simulate_chunk
from eventcnn.images.opal_simulation import SimulationResult, simulate

__all__ = ["CHUNK", "DETECTOR", "LOOSE_DETECTOR", "Detector", "EventRecord", "SimulationResult", "draw_event",
           "png_bytes", "simulate", "simulate_chunk"]
