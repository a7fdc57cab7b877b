"""Z decays at LEP with Pythia 8: e+e- -> gamma*/Z -> f fbar at the Z pole, per OPAL class.

e+e- -> gamma*/Z -> f fbar at sqrt(s) = 91.2 GeV (initial-state radiation on) is
generated per class of the OPAL masterclass (``q`` hadrons, ``e``, ``m``, ``t``
lepton pairs; :data:`eventcnn.names.OPAL_CLASSES`). Every event has its own Pythia
seed derived from ``(seed, class, index)`` (:func:`event_seed`), so an event does
not depend on which worker made it. The detector that sees these events is
:mod:`eventcnn.events.opal_detector`; the displays are drawn by
:mod:`eventcnn.images.opal_display`.

Example::

    from eventcnn.events.zpole import zpole_event
    particles, _ = zpole_event(1, "m", 0)     # rows: id, charge, px, py, pz, E
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eventcnn._io import quiet_stdout
from eventcnn.errors import UserError
from eventcnn.names import OPAL_CLASSES
from eventcnn.seeds import pythia_seed

__all__ = ["SQRT_S", "Z_MODES", "event_seed", "final_state", "tau_prongs", "zpole_event", "zpole_settings"]

#: centre-of-mass energy (GeV), the Z pole as at LEP 1
SQRT_S = 91.2

#: Z decay channels per class (PDG codes of the fermion), for ``23:onIfAny``
Z_MODES = {"q": "1 2 3 4 5", "e": "11", "m": "13", "t": "15"}


def zpole_settings(cls: str) -> list[str]:
    """Pythia ``readString`` settings of one class: e+e- -> gamma*/Z -> f fbar, ISR on.

    Tau decays are isotropic (``TauDecays:mode = 0``: the standard tau branching
    fractions without spin correlations, 250 times faster).

    Example::

        >>> "23:onIfAny = 13" in zpole_settings("m")
        True
    """
    if cls not in Z_MODES:
        raise UserError(f"unknown class {cls!r}: use some of {', '.join(OPAL_CLASSES)}")
    return [
        "Beams:idA = 11", "Beams:idB = -11", f"Beams:eCM = {SQRT_S}",
        "PDF:lepton = on",  # initial-state radiation of the beam electrons
        "PartonLevel:ISR = on",
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off", f"23:onIfAny = {Z_MODES[cls]}",
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
    return pythia_seed(seed, OPAL_CLASSES.index(cls), index)


_PYTHIA: dict[str, Any] = {}


def _pythia(cls: str) -> Any:
    """One initialised Pythia per class and process (events are re-seeded one by one)."""
    if cls not in _PYTHIA:
        import pythia8mc

        p = pythia8mc.Pythia("", False)
        for s in zpole_settings(cls):
            if not p.readString(s):
                raise RuntimeError(f"Pythia rejected the setting {s!r}")
        with quiet_stdout():
            ok = p.init()
        if not ok:
            raise RuntimeError(f"Pythia failed to initialise class {cls!r}")
        _PYTHIA[cls] = p
    return _PYTHIA[cls]


def final_state(p: Any) -> np.ndarray:
    """Final-state particles of Pythia's current event: (id, charge, px, py, pz, e, tau_parent)."""
    ev = p.event
    rows = []
    for j in range(ev.size()):
        prt = ev[j]
        if prt.isFinal():
            rows.append((prt.id(), prt.charge(), prt.px(), prt.py(), prt.pz(), prt.e()))
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


def tau_prongs(p: Any) -> list[int]:
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


def zpole_event(seed: int, cls: str, index: int, *, prongs: bool = False) -> tuple[np.ndarray, int, list[int]]:
    """Event ``index`` of class ``cls`` of a run with master ``seed``: ``(particles, its seed, tau prongs)``.

    ``particles``: the final state as rows (id, charge, px, py, pz, E); the event's
    seed also seeds the detector response and the drawing; with ``prongs`` (class
    ``t``) the charged multiplicity of each tau decay, else ``[]``.

    Example::

        particles, s, _ = zpole_event(5, "q", 3)       # doctest: +SKIP
    """
    p = _pythia(cls)
    s = event_seed(seed, cls, index)
    p.rndm.init(s)
    for _ in range(10):
        if p.next():
            break
    else:
        raise RuntimeError(f"Pythia failed to generate event {index} of class {cls!r}")
    return final_state(p), s, (tau_prongs(p) if prongs and cls == "t" else [])
