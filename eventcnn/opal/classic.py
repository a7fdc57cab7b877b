"""The classic method: classify Z decays from the numbers in the display header, as students do.

In the Manchester/QuarkNet masterclass students classify each display by eye,
helped by the header numbers (:mod:`eventcnn.images.display_header`). The
masterclass pages state the rules in words; this module turns them into cuts
on the header numbers (:func:`classic_rules`) and, as the boosted trees stand
beside the CMS CNN, fits gradient-boosted trees on the same numbers
(:func:`train_header_trees`, the project's one baseline implementation
:func:`eventcnn.learn.baseline.train_baseline`). ``bench/opal_classic.py`` puts
both beside the masterclass CNN on the labelled displays.

Where the rules come from (:data:`RULES_SOURCES`): QuarkNet-HEP/opal-masterclass
at commit ca665e18 (the Manchester masterclass of T. Wyatt et al., 1997, as
QuarkNet serves it), ``templates/ee.html``, ``mumu.html``, ``tautau.html``,
``qq.html``, ``detector.html``, and NTW Münster's outline of the same lesson
(NTW-Muenster/opal-mc-ml, ``howto_masterclass_de.md``). They give the signatures
in words and one number (a muon from a tau decay carries less than 16 GeV);
the thresholds below (:class:`CutRules`) are ours, fixed from the physics before
looking at any labelled display, and said as such.

Example::

    from eventcnn.images.display_header import read_headers
    from eventcnn.opal.classic import classic_rules, header_matrix
    reads = read_headers("z_displays.zip")
    X, names = header_matrix(reads)
    predicted = classic_rules(X)          # 'q', 'e', 'm', 't' or '' (a number not read)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.learn.baseline import train_baseline
from eventcnn.names import OPAL_CLASSES as CLASS_NAMES

__all__ = [
    "HEADER_FEATURES",
    "RULES_SOURCES",
    "CutRules",
    "classic_rules",
    "header_matrix",
    "predict_header_trees",
    "train_header_trees",
]

#: the header numbers the classic methods read, in column order
HEADER_FEATURES: tuple[str, ...] = ("ctrk_n", "ctrk_sump", "ecal_n", "ecal_sume", "hcal_n", "hcal_sume",
                                    "muon_n", "ebeam")

#: what the masterclass says, word for word, and where
RULES_SOURCES: dict[str, str] = {
    "e": "\"We see a back-to-back pair of high momentum tracks pointing at high energy clusters of energy in "
         "the electromagnetic calorimeter.\" (QuarkNet-HEP/opal-masterclass @ ca665e18, templates/ee.html); "
         "\"Elektronen: Nur zwei Teilchenspuren, Nur Beiträge in e.m.-Kalorimeter\" "
         "(NTW-Muenster/opal-mc-ml, howto_masterclass_de.md)",
    "m": "\"We see a back-to-back pair of high momentum tracks pointing at signals in the muon chambers.\" "
         "(templates/mumu.html); \"Myonen: Nur zwei Teilchenspuren, kleine Einträge in hadronischem "
         "Kalorimeter, Hits im Myonendetektor\" (howto_masterclass_de.md)",
    "t": "\"the momentum of a muon from the decay of a tau is smaller than the momentum of a muon produced "
         "when a Z decays directly to a muon-antimuon pair ... both the muons have momentum of less than "
         "16 GeV\"; \"In 50% a single charged hadron is produced and in 16% three charged hadrons\" "
         "(templates/tautau.html); \"Energiebetrachtung kann das Problem lösen, da bei Zerfall der Tau "
         "Neutrinos Energie davontragen\" (howto_masterclass_de.md)",
    "q": "\"we expect to see a back-to-back pair of jets ... a number of charged particle tracks and energy "
         "deposits in both the electromagnetic and hadronic calorimeters\" (templates/qq.html); "
         "\"Quarks: mindestens zwei Jets mit vielen Teilchenspuren, diverse Einträge in beiden "
         "Kalorimetern\" (howto_masterclass_de.md)",
}


@dataclass(frozen=True)
class CutRules:
    """The masterclass's rules as cuts on the header numbers (thresholds ours, fixed from the physics).

    In order:

    1. more than ``max_lepton_tracks`` charged tracks: hadrons (``q``). A tau pair
       gives at most 3 + 3 charged tracks (one- and three-prong decays), a lepton
       pair 2: "many tracks" is more than 6.
    2. at most ``pair_tracks`` tracks and an electromagnetic-calorimeter sum of at
       least ``energy_fraction`` of the collision energy (2 x Ebeam): electrons
       (``e``; "high energy clusters ... in the electromagnetic calorimeter").
    3. at most ``pair_tracks`` tracks, at least ``min_muon_hits`` muon-chamber
       hits and a track momentum sum of at least ``energy_fraction`` of the
       collision energy: muons (``m``; "high momentum tracks pointing at signals
       in the muon chambers"; a tau's muon carries less, its neutrinos the rest).
    4. anything else: taus (``t``; few tracks, energy missing to neutrinos).
    """

    max_lepton_tracks: int = 6
    pair_tracks: int = 2
    energy_fraction: float = 0.7
    min_muon_hits: int = 1


def _column(X: np.ndarray, name: str) -> np.ndarray:
    return X[:, HEADER_FEATURES.index(name)]


def classic_rules(X: np.ndarray, rules: CutRules = CutRules()) -> np.ndarray:
    """Class codes from the header numbers ``X`` (:func:`header_matrix`); ``""`` where a number the
    rules need was not read (never guessed).

    Example::

        >>> X = np.array([[2, 90.1, 4, 91.0, 1, 0.3, 0, 45.6], [25, 60, 30, 45, 10, 20, 0, 45.6]])
        >>> classic_rules(X).tolist()
        ['e', 'q']
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(HEADER_FEATURES):
        raise UserError(f"header numbers must be (n, {len(HEADER_FEATURES)}) in the order {HEADER_FEATURES}, "
                        f"got {X.shape}")
    n_trk, sump, sume = _column(X, "ctrk_n"), _column(X, "ctrk_sump"), _column(X, "ecal_sume")
    muons, ebeam = _column(X, "muon_n"), _column(X, "ebeam")
    energy = 2.0 * ebeam
    pair = n_trk <= rules.pair_tracks
    out = np.full(len(X), "t", dtype="<U1")
    out[pair & (muons >= rules.min_muon_hits) & (sump >= rules.energy_fraction * energy)] = "m"
    out[pair & (sume >= rules.energy_fraction * energy)] = "e"
    out[n_trk > rules.max_lepton_tracks] = "q"
    need = np.isnan(n_trk) | ((n_trk <= rules.max_lepton_tracks)
                              & np.isnan(np.column_stack([sump, sume, muons, ebeam])).any(axis=1))
    out[need] = ""
    return out


def header_matrix(reads: Sequence[Any] | Mapping[str, Sequence[Any]]) -> tuple[np.ndarray, list[str]]:
    """The header numbers as a float matrix ``(n, 8)`` in :data:`HEADER_FEATURES` order, NaN where not read.

    ``reads``: :class:`~eventcnn.images.display_header.HeaderRead` objects, rows of
    ``eventcnn opal header``'s CSV (dicts), or a mapping of column -> values.

    Example::

        X, names = header_matrix(read_headers("z_displays.zip"))
    """
    if isinstance(reads, Mapping):
        cols = [np.asarray([_num(v) for v in reads[k]], dtype=np.float64) for k in HEADER_FEATURES]
        return np.column_stack(cols), list(HEADER_FEATURES)
    rows = []
    for r in reads:
        get = r.get if isinstance(r, Mapping) else (lambda k, r=r: getattr(r, k))
        rows.append([_num(get(k)) for k in HEADER_FEATURES])
    X = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(HEADER_FEATURES))
    return X, list(HEADER_FEATURES)


def _num(v: Any) -> float:
    if v is None or (isinstance(v, str) and not v.strip()):
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise UserError(f"header number {v!r} is not a number") from None


def train_header_trees(X: np.ndarray, y: Sequence[str] | np.ndarray, seed: int = 0, **params: Any):
    """Gradient-boosted trees on the header numbers (the project's baseline,
    :func:`eventcnn.learn.baseline.train_baseline`), classes weighted equally
    (``class_weight="balanced"``: 20 taus count as much as 430 hadronic decays);
    numbers not read (NaN) are handled by the trees. Extra ``params`` go to the model.

    Example::

        model = train_header_trees(X[train], labels[train], seed=1)
        p = predict_header_trees(model, X[test])
    """
    X = np.array(X, dtype=np.float64)
    X[:, np.isnan(X).all(axis=0)] = 0.0  # a number read on no training display: constant, never split on
    return train_baseline(X, np.asarray(y), seed=seed, **{"class_weight": "balanced", **params})


def predict_header_trees(model: Any, X: np.ndarray) -> np.ndarray:
    """Probabilities ``(n, 4)`` in :data:`~eventcnn.names.OPAL_CLASSES` order (0 for a class the
    training labels lacked)."""
    proba = model.predict_proba(np.asarray(X, dtype=np.float32))
    out = np.zeros((len(proba), len(CLASS_NAMES)))
    for j, c in enumerate(model.classes_):
        out[:, CLASS_NAMES.index(str(c))] = proba[:, j]
    return out
