"""A classical reference: gradient-boosted trees on high-level event features.

The CNN sees an image of the event; the baseline sees the same events as a
handful of physics quantities (jet and b-tag multiplicities, HT, MET, the
leading lepton, the W transverse mass...). Both are evaluated on the same
manifest, so the comparison is fair.

Features are computed columnar on the flat object arrays (no per-event Python
loop). Objects count when they pass the :class:`~eventcnn.events.selection.Selection`
object cuts (paper defaults when ``selection`` is ``None``); the event-level
cuts are not applied here (the manifest already lists the chosen events).

Persistence: the model is never pickled. :func:`baseline_spec` returns the
feature names and the scikit-learn parameters as JSON; refitting with
:func:`train_baseline` on the same features and seed takes seconds and gives
the same model.

Example::

    from eventcnn.learn.baseline import features_for_manifest, train_baseline, baseline_predict_proba
    X, y, names = features_for_manifest("CreatedImages/manifest.csv")
    model = train_baseline(X, y, seed=0)
    p = baseline_predict_proba(model, X, class_names=["TTjets", "Wjets"])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.events import Events, Objects, read_events
from eventcnn.events.selection import Selection
from eventcnn.images.folder import read_manifest

__all__ = [
    "FEATURE_NAMES",
    "baseline_predict_proba",
    "baseline_spec",
    "event_features",
    "features_for_manifest",
    "train_baseline",
]

FEATURE_NAMES: tuple[str, ...] = (
    "n_jets",
    "n_bjets",
    "ht",
    "met",
    "lep_pt",
    "lep_eta",
    "n_electrons",
    "n_muons",
    "jet1_pt",
    "jet2_pt",
    "mt_lep_met",
    "min_dr_lep_jet",
)
"""Feature order of :func:`event_features`. Missing objects give 0 (pT, eta, mT) or -1 (min dR)."""


def _rank_in_event(
    pt: np.ndarray, event_index: np.ndarray, n_events: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sort objects by (event, descending pT); return the order and each sorted object's rank in its event."""
    order = np.lexsort((-pt, event_index))
    ev_sorted = event_index[order]
    starts = np.searchsorted(ev_sorted, np.arange(n_events))
    rank = np.arange(len(order)) - starts[ev_sorted]
    return order, rank


def _nth_leading(
    values: np.ndarray, pt: np.ndarray, event_index: np.ndarray, n_events: int, nth: int
) -> np.ndarray:
    """``values`` of the nth (0-based) highest-pT object per event; 0 where there is none."""
    out = np.zeros(n_events, dtype=np.float64)
    order, rank = _rank_in_event(pt, event_index, n_events)
    pick = order[rank == nth]
    out[event_index[pick]] = values[pick]
    return out


def _leptons(
    events: Events, selection: Selection
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Selected electrons and muons merged into flat arrays (pt, eta, phi, event index)."""
    el_mask = selection.leptons(events.electron)
    mu_mask = selection.leptons(events.muon)
    merged = {
        f: np.concatenate([events.electron[f][el_mask], events.muon[f][mu_mask]])
        for f in ("pt", "eta", "phi")
    }
    index = np.concatenate([events.electron.event_index[el_mask], events.muon.event_index[mu_mask]])
    return (
        merged,
        index,
        np.concatenate([np.zeros(el_mask.sum(), bool), np.ones(mu_mask.sum(), bool)]),
    )


def event_features(
    events: Events, selection: Selection | None = None
) -> tuple[np.ndarray, list[str]]:
    """High-level features per event: ``(X float32 (n_events, 12), names)`` (see :data:`FEATURE_NAMES`).

    - ``n_jets``, ``n_bjets``: selected jets and those with CSV above ``selection.btag_csv``;
    - ``ht``: scalar sum of the selected jets' pT; ``met``;
    - ``lep_pt``, ``lep_eta``: leading selected (tight, isolated) lepton, 0 if none;
    - ``n_electrons``, ``n_muons``: selected leptons of each flavour;
    - ``jet1_pt``, ``jet2_pt``: leading and second selected jet, 0 if none;
    - ``mt_lep_met``: transverse mass of the leading lepton and MET, 0 without lepton;
    - ``min_dr_lep_jet``: smallest Delta R between the leading lepton and a selected jet, -1 if undefined.

    Example::

        >>> from eventcnn.events import read_events
        >>> X, names = event_features(read_events("TTjets_json.json"))   # doctest: +SKIP
        >>> dict(zip(names, X[0]))                                        # doctest: +SKIP
    """
    sel = selection if selection is not None else Selection()
    n = len(events)
    jets: Objects = events.jet
    jmask = sel.jets(jets)
    bmask = jmask & sel.btagged(jets, events.btag)
    jidx = jets.event_index
    n_jets = np.bincount(jidx[jmask], minlength=n)
    n_bjets = np.bincount(jidx[bmask], minlength=n)
    ht = np.bincount(jidx[jmask], weights=jets["pt"][jmask], minlength=n)
    jpt, jeta, jphi, jev = jets["pt"][jmask], jets["eta"][jmask], jets["phi"][jmask], jidx[jmask]
    jet1 = _nth_leading(jpt, jpt, jev, n, 0)
    jet2 = _nth_leading(jpt, jpt, jev, n, 1)

    lep, lidx, is_mu = _leptons(events, sel)
    n_mu = np.bincount(lidx[is_mu], minlength=n)
    n_el = np.bincount(lidx[~is_mu], minlength=n)
    lep_pt = _nth_leading(lep["pt"], lep["pt"], lidx, n, 0)
    lep_eta = _nth_leading(lep["eta"], lep["pt"], lidx, n, 0)
    lep_phi = _nth_leading(lep["phi"], lep["pt"], lidx, n, 0)
    has_lep = lep_pt > 0

    met = np.asarray(events.met, dtype=np.float64)
    dphi_met = np.angle(np.exp(1j * (lep_phi - np.asarray(events.met_phi, dtype=np.float64))))
    mt = np.where(
        has_lep, np.sqrt(np.maximum(2.0 * lep_pt * met * (1.0 - np.cos(dphi_met)), 0.0)), 0.0
    )

    dr = np.full(n, np.inf)
    with_lep = has_lep[jev]
    if with_lep.any():
        ev = jev[with_lep]
        deta = jeta[with_lep] - lep_eta[ev]
        dphi = np.angle(np.exp(1j * (jphi[with_lep] - lep_phi[ev])))
        np.minimum.at(dr, ev, np.hypot(deta, dphi))
    min_dr = np.where(np.isfinite(dr), dr, -1.0)

    X = np.column_stack(
        [n_jets, n_bjets, ht, met, lep_pt, lep_eta, n_el, n_mu, jet1, jet2, mt, min_dr]
    ).astype(np.float32)
    return X, list(FEATURE_NAMES)


# --------------------------------------------------------------------------
# manifest -> features
# --------------------------------------------------------------------------


def _manifest_rows(
    manifest: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], Path | None]:
    """The rows of a manifest file or of a list of row dicts, and the folder relative sources start from."""
    if isinstance(manifest, (str, os.PathLike)):

        path = Path(manifest)
        return read_manifest(path, required=()), path.parent
    return [dict(r) for r in manifest], None


def _resolve_source(source: str, base: Path | None) -> Path:
    candidates = [Path(source)]
    if base is not None and not Path(source).is_absolute():
        candidates += [base / source, base.parent / source]
    for c in candidates:
        if c.exists():
            return c
    raise FileNotFoundError(
        f"event file {source!r} named in the manifest was not found"
        + (f" (also looked relative to {base} and {base.parent})" if base is not None else "")
    )


def features_for_manifest(
    manifest: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    selection: Selection | None = None,
    base: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features of the events listed in a manifest (``file,class,source,event``), in manifest order.

    ``manifest`` is the path of a ``manifest.csv`` or a list of row dicts.
    Each distinct ``source`` event file is read once. Returns
    ``(X, y, names)`` where ``y`` holds the class name of each row.
    Relative sources are looked up as given, then in the manifest's folder
    (or ``base`` for a list of rows) and one folder up. An event number missing from its source file is an error that
    names both.

    Example::

        X, y, names = features_for_manifest("CreatedImages/manifest.csv")
    """
    rows, manifest_dir = _manifest_rows(manifest)
    base = Path(base) if base is not None else manifest_dir
    if not rows:
        raise UserError("the manifest has no rows")
    for i, r in enumerate(rows):
        missing = [c for c in ("class", "source", "event") if not str(r.get(c, "") or "")]
        if missing:
            raise UserError(f"manifest row {i + 1}: missing value(s) for {missing} (row: {r})")
    n_features = len(FEATURE_NAMES)
    X = np.zeros((len(rows), n_features), dtype=np.float32)
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_source.setdefault(str(r["source"]), []).append(i)
    for source, idx in by_source.items():
        events = read_events(_resolve_source(source, base), skip_bad=True)
        feats, _ = event_features(events, selection)
        numbers = np.asarray(events.event, dtype=np.int64)
        order = np.argsort(numbers, kind="stable")
        try:
            wanted = np.array([int(str(rows[i]["event"]).strip()) for i in idx], dtype=np.int64)
        except ValueError:
            bad = next(
                rows[i]["event"]
                for i in idx
                if not str(rows[i]["event"]).strip().lstrip("-").isdigit()
            )
            raise UserError(
                f"manifest: event {bad!r} of source {source} is not an event number"
            ) from None
        pos = np.searchsorted(numbers, wanted, sorter=order)
        pos = np.minimum(pos, len(numbers) - 1) if len(numbers) else pos
        found = len(numbers) > 0
        hit = order[pos] if found else np.zeros(len(wanted), dtype=np.int64)
        ok = (numbers[hit] == wanted) if found else np.zeros(len(wanted), dtype=bool)
        if not ok.all():
            first = int(wanted[~ok][0])
            raise UserError(
                f"manifest: event {first} not found in source {source}"
                f" ({int((~ok).sum())} missing of {len(wanted)}; was the manifest made from another file?)"
            )
        X[idx] = feats[hit]
    y = np.array([str(r["class"]) for r in rows])
    return X, y, list(FEATURE_NAMES)


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------

DEFAULT_PARAMS: dict[str, Any] = {
    "max_iter": 300,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "early_stopping": True,
    "validation_fraction": 0.2,
    "n_iter_no_change": 15,
}


def train_baseline(X: Any, y: Sequence[Any], seed: int = 0, **params: Any):
    """Fit a ``HistGradientBoostingClassifier`` (early stopping on an internal 20 % split, seeded).

    ``y`` may hold class names or integers. Extra keyword arguments override
    :data:`DEFAULT_PARAMS`.

    Example::

        model = train_baseline(X_train, y_train, seed=1)
        p = baseline_predict_proba(model, X_test, class_names=["TTjets", "Wjets"])
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] != len(y):
        raise UserError(
            f"X must be (n_samples, n_features) matching y ({len(y)} labels), got {X.shape}"
        )
    if len(np.unique(y)) < 2:
        raise UserError(f"need at least two classes to train, got {np.unique(y).tolist()}")
    model = HistGradientBoostingClassifier(random_state=seed, **{**DEFAULT_PARAMS, **params})
    return model.fit(X, y)


def baseline_predict_proba(model, X: Any, class_names: Sequence[Any] | None = None) -> np.ndarray:
    """Class probabilities ``(n, n_classes)``; columns in ``class_names`` order when given.

    Example::

        p = baseline_predict_proba(model, X, class_names=["TTjets", "Wjets"])
    """
    proba = model.predict_proba(np.asarray(X, dtype=np.float32))
    if class_names is None:
        return proba
    classes = list(model.classes_)
    missing = [c for c in class_names if c not in classes]
    if missing:
        raise UserError(f"classes {missing} were not in the training labels {classes}")
    return proba[:, [classes.index(c) for c in class_names]]


def baseline_spec(model, feature_names: Sequence[str]) -> dict[str, Any]:
    """JSON-serialisable description (feature names, classes, sklearn params) to refit the model.

    Example::

        write_json_atomic("runs/bdt/baseline.json", baseline_spec(model, names))
    """
    params = {
        k: v
        for k, v in model.get_params().items()
        if isinstance(v, (int, float, str, bool, type(None)))
    }
    return {
        "model": type(model).__name__,
        "feature_names": list(feature_names),
        "classes": [c.item() if hasattr(c, "item") else c for c in model.classes_],
        "params": params,
        "n_iter": int(getattr(model, "n_iter_", 0)),
    }
