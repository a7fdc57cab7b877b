"""The Z measurement over the masterclass's whole challenge: end views, side views, all (issue 35 item 5).

Every display of the Manchester Z challenge (``opal_manchester/z_displays.zip``,
997 distinct displays: 622 end views, 375 side views) is classified as hadronic
(``q``), electron (``e``), muon (``m``) or tau (``t``), and the decay fractions
are measured with :func:`eventcnn.opal.fractions.measure_fractions` (the one
misidentification correction), three times:

- ``end``: the end views, read by the masterclass CNN. The labelled end views
  (``opal/events_list.csv``, their published 200 x 200 crops) are classified
  out-of-fold: a stratified ``folds``-fold cross-validation (seeded), each fold's
  CNN trained on the others (from the shipped simulation-pretrained weights,
  ``epochs`` epochs, no simulated displays mixed in); the unlabelled end views are
  cropped as the masterclass does (:func:`eventcnn.images.manchester.masterclass_crop`)
  and classified by the mean of the fold CNNs. The correction uses the CNN's
  cross-validated confusion. On the labelled displays alone the correction gives
  back their true composition by construction (same displays, same confusion):
  what they add is the counting uncertainty and the check that the method works.
- ``side``: the side views, which the CNN cannot read. The header numbers
  (:mod:`eventcnn.images.display_header`) summarise the event whatever the view,
  so gradient-boosted trees on them (:func:`eventcnn.opal.classic.train_header_trees`),
  trained on the labelled end views, classify the side views, corrected with the
  trees' cross-validated confusion on the end views (same folds). No side-view
  CNN (simulated side views, pretraining) was built.
- ``all``: every display of the challenge classified by the same trees (the
  labelled end views out-of-fold), corrected with the same confusion; and
  ``all_combined``: the end and side measurements pooled
  (:func:`~eventcnn.opal.fractions.combine_measurements`).

Which classifier wins (``cross_validation``): on the labelled end views, same folds, the CNN, the header
trees, the masterclass's cut rules, the CNN's output and the numbers stacked in trees, and the CNN that
also reads the numbers (:mod:`eventcnn.opal.header_cnn`, started from each fold's CNN; ``header_cnn=False``
leaves it out), each with its balanced accuracy and the paired difference to the CNN.

Example::

    result = measure_challenge("~/.cache/eventcnn", folds=5, epochs=8, seed=42)
    result["side"]["fractions"]["m"]      # {'value': ..., 'stat': ..., 'pdg': ...}
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn import stats
from eventcnn._env import sayer
from eventcnn.errors import UserError, few_names
from eventcnn.events.download import cache_dir
from eventcnn.events.sources import REGISTRY, fetch
from eventcnn.images.display_header import load_font, read_header
from eventcnn.images.manchester import (
    CropError,
    decode_display_rgb,
    detect_view,
    display_layout,
    iter_display_files,
    masterclass_crop,
)
from eventcnn.images.opal_displays import load_displays
from eventcnn.learn.predict import predict_images
from eventcnn.learn.train_arrays import train_arrays
from eventcnn.names import OPAL_CLASSES
from eventcnn.opal.classic import (
    HEADER_FEATURES,
    CutRules,
    classic_rules,
    header_matrix,
    predict_header_trees,
    train_header_trees,
)
from eventcnn.opal.fractions import (
    DEFAULT_TOYS,
    combine_measurements,
    confusion_counts,
    measure_fractions,
)
from eventcnn.seeds import DEFAULT_SEED, derive_rng, derive_seed

__all__ = ["CNN_EPOCHS", "CNN_STEPS", "Challenge", "challenge_files", "MEASURE_FOLDS", "agreement", "load_challenge", "low_multiplicity",
           "measure_challenge"]

#: cross-validation folds of the measurement
MEASURE_FOLDS = 5
#: epochs of each fold's CNN (from the simulation-pretrained weights, at the fine-tuning rate). Cross-validated
#: on the 497 labelled end views: 3 epochs 0.944 [0.894, 0.985] balanced accuracy, 8 epochs 0.955 [0.905, 0.987]
#: (about 4 minutes a fold on 2 cores; docs/benchmarks.md, issue 35)
CNN_EPOCHS = 8
#: training batches per epoch (the recipe's); the tests' quick path uses a few
CNN_STEPS = 32
#: the CNN with the header numbers (started from each fold's CNN, at most ``epochs`` epochs) stops after this many
#: epochs without a better validation loss
HEADER_CNN_PATIENCE = 3
#: the trees stop early on an internal stratified 20 % split only with this many displays of every class
_TREES_EARLY_STOP_MIN = 10


@dataclass
class Challenge:
    """The challenge's displays: names, views, labels ('' = none), header numbers, crops of labelled end views."""

    names: np.ndarray
    views: np.ndarray
    labels: np.ndarray
    X: np.ndarray
    crops: dict[str, np.ndarray]
    header_errors: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)

    def where(self, view: str, labelled: bool | None = None) -> np.ndarray:
        """Indices of the displays of ``view`` (labelled, unlabelled or both)."""
        keep = self.views == view
        if labelled is not None:
            keep &= (self.labels != "") == labelled
        return np.flatnonzero(keep)


def challenge_files(data: str | os.PathLike[str] | None, *, quiet: bool = True) -> tuple[Path, Path, Path]:
    """The displays zip, the crops zip and the labels under ``data``: where ``eventcnn data fetch`` puts
    them (the labels under ``opal/answer_key/``) or laid out like a mirror (``../shared/data``).
    Without ``data``, the data sources' own: :func:`eventcnn.events.sources.fetch` of ``opal`` and
    ``manchester`` (files already in the cache are used as they are; else from ``EVENTCNN_DATA_MIRROR``
    or downloaded, each checked)."""
    if data is None:
        paths = fetch(["opal", "manchester"], quiet=quiet)
        return paths["displays"], paths["zip"], paths["labels"]
    root = Path(data).expanduser()
    found, missing = [], []
    for dataset, key in (("opal_manchester", "displays"), ("opal", "zip"), ("opal", "labels")):
        src = next(s for s in REGISTRY if s.dataset == dataset and s.key == key)
        places = list(dict.fromkeys([root / src.relpath, root / src.mirror_relpath]))
        hit = next((p for p in places if p.is_file()), None)
        found.append(hit)
        if hit is None:
            missing.append(" or ".join(str(p) for p in places))
    if missing:
        raise UserError(f"{'; '.join(missing)} not found: run 'eventcnn data fetch opal manchester' "
                        f"(or give --data, a folder holding opal/ and opal_manchester/ like ../shared/data)")
    return found[0], found[1], found[2]


def _pick(label_of: dict[str, str], limit: int, folds: int, seed: int) -> list[str]:
    """A quick sample of labelled displays: about ``limit``, every class at least ``2 * folds`` times where
    it can, drawn with the seed."""
    rng = derive_rng(seed, "measure-sample")
    names = np.array(sorted(label_of))
    labels = np.array([label_of[n] for n in names])
    chosen = []
    for c in OPAL_CLASSES:
        members = names[labels == c]
        share = max(2 * folds, math.ceil(limit * len(members) / max(len(names), 1)))
        chosen += rng.permutation(members)[:share].tolist()
    return sorted(chosen)


def _decode(blobs: dict[str, bytes], label_of: dict[str, str], limit: int | None, folds: int, seed: int,
            left_out: dict[str, str], quiet: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Decode the displays and tell their view; with ``limit`` only a sample (the labelled ones drawn,
    then the first ``limit`` unlabelled end views and side views by name)."""
    from tqdm.auto import tqdm

    if limit is None:
        order, chosen, quota = sorted(blobs), set(), {}
    else:
        chosen = set(_pick({n: c for n, c in label_of.items() if n in blobs}, limit, folds, seed))
        order = sorted(chosen) + sorted(n for n in blobs if n not in label_of)
        quota = {"end": limit, "side": limit}
    rgbs, views = {}, {}
    for name in tqdm(order, desc="displays", unit="display", disable=quiet):
        if quota and name not in chosen and not any(quota.values()):
            break
        try:
            rgb = decode_display_rgb(blobs[name], name)
            view = detect_view(rgb)
        except UserError as exc:
            left_out[name] = str(exc)
            continue
        if quota and name not in chosen:
            if not quota[view]:
                continue
            quota[view] -= 1
        rgbs[name], views[name] = rgb, view
    return rgbs, views


def load_challenge(data: str | os.PathLike[str] | None = None, *, limit: int | None = None,
                   folds: int = MEASURE_FOLDS, seed: int = DEFAULT_SEED, quiet: bool = False) -> Challenge:
    """Read the challenge's displays: view and header of each, the labels, the crops of the end views.

    ``data``: a folder with ``opal/`` and ``opal_manchester/`` (default: the data
    sources', :func:`challenge_files`). ``limit``: a quick sample (tests, notebooks).

    Example::

        ch = load_challenge("../shared/data", limit=20)
        ch.where("side").size
    """
    from tqdm.auto import tqdm

    displays_zip, crops_zip, labels_csv = challenge_files(data, quiet=quiet)
    files, skipped = iter_display_files(displays_zip)
    left_out = {Path(m).stem: why for m, why in skipped
                if not m.lower().endswith((".csv", ".txt", ".md", ".json"))}
    published = load_displays(crops_zip, labels_csv, quiet=True)
    label_of = {str(n): str(lab) for n, lab in zip(published.names, published.labels) if lab}
    crop_of = {str(n): img for n, img, lab in zip(published.names, published.images, published.labels) if lab}
    rgbs, views = _decode(dict(files), label_of, limit, folds, seed, left_out, quiet)
    names = np.array(sorted(rgbs))
    v = np.array([views[n] for n in names])
    labels = np.array([label_of.get(n, "") if views[n] == "end" and n in crop_of else "" for n in names])
    font = load_font()
    reads = [read_header(rgbs[n], n, font) for n in tqdm(names, desc="headers", unit="display", disable=quiet)]
    X, _ = header_matrix(reads)
    crops = {n: crop_of[n] for n, lab in zip(names, labels) if lab}
    for n, view, lab in tqdm(list(zip(names, v, labels)), desc="crops", unit="display", disable=quiet):
        if view == "end" and not lab:
            try:
                crops[n] = masterclass_crop(rgbs[n], display_layout(rgbs[n]))
            except CropError as exc:
                left_out[n] = f"end view without a crop: {exc}"
    return Challenge(names, v, labels, X, crops, {r.display: r.error for r in reads if r.error}, left_out)


def _folds(y: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedKFold

    counts = {c: int((y == c).sum()) for c in OPAL_CLASSES}
    few = {c: n for c, n in counts.items() if n < folds}
    if few:
        raise UserError(f"{folds}-fold cross-validation needs at least {folds} labelled displays of every class; "
                        f"found {few}: use fewer --folds or more displays")
    split = StratifiedKFold(folds, shuffle=True, random_state=derive_seed(seed, "measure-folds"))
    return [test for _, test in split.split(np.zeros(len(y)), y)]


def _cnn_cross_validation(crops: np.ndarray, y: np.ndarray, test_sets: Sequence[np.ndarray], others: np.ndarray,
                          epochs: int, steps: int, seed: int, say: Any, quiet: bool,
                          X: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Out-of-fold CNN probabilities of the labelled crops, the fold CNNs' mean on ``others`` and, given the
    header numbers ``X`` of the labelled displays, the out-of-fold probabilities of the CNN that also reads
    them (:mod:`eventcnn.opal.header_cnn`, started from the fold's CNN, trained on the same fold)."""
    oof = np.zeros((len(y), len(OPAL_CLASSES)))
    rest = np.zeros((len(others), len(OPAL_CLASSES)))
    oof_header = np.zeros((len(y), len(OPAL_CLASSES))) if X is not None else None
    for k, test in enumerate(test_sets):
        t0 = time.perf_counter()
        train = np.setdiff1d(np.arange(len(y)), test)
        result = train_arrays(crops[train], y[train], recipe="default", weights="sim", sim_displays=0,
                              epochs=epochs, steps_per_epoch=steps, seed=derive_seed(seed, "measure-cnn", k), quiet=quiet)
        oof[test] = predict_images(result.model, crops[test])
        if len(others):
            rest += predict_images(result.model, others) / len(test_sets)
        say(f"fold {k + 1}/{len(test_sets)}: CNN trained on {len(train)} displays in {time.perf_counter() - t0:.0f} s")
        if X is not None and oof_header is not None:
            from eventcnn.opal.header_cnn import (  # deferred: Keras
                predict_header_cnn,
                train_header_cnn,
            )

            t0 = time.perf_counter()
            hc = train_header_cnn(crops[train], X[train], y[train], base=result.model, epochs=epochs,
                                  steps_per_epoch=steps, patience=HEADER_CNN_PATIENCE,
                                  seed=derive_seed(seed, "measure-header-cnn", k))
            oof_header[test] = predict_header_cnn(hc, crops[test], X[test])
            say(f"fold {k + 1}/{len(test_sets)}: the CNN with the header numbers trained in "
                f"{time.perf_counter() - t0:.0f} s ({len(hc.history)} epochs)")
    return oof, rest, oof_header


def low_multiplicity(X: np.ndarray, views: np.ndarray) -> dict[str, Any]:
    """Per view, the share of displays with at most ``CutRules.max_lepton_tracks`` charged tracks (Ctrk N)
    among those whose Ctrk N was read, with a Clopper-Pearson interval: a check of the samples that needs no
    classifier (a lepton pair gives at most 6 tracks; the PDG's leptonic share of visible decays is 12.6 %)."""
    n = X[:, HEADER_FEATURES.index("ctrk_n")]
    out = {}
    for view in ("end", "side", "all"):
        keep = np.isfinite(n) & ((views == view) if view != "all" else True)
        k, total = int((n[keep] <= CutRules.max_lepton_tracks).sum()), int(keep.sum())
        out[view] = {**stats.binomial_interval(k, total).to_json(), "k": k, "n": total} if total else None
    return out


def _trees(X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """The header trees; on a small sample (a class too rare for the internal early-stopping split) without
    early stopping, with few iterations and small leaves (the default leaf of 20 displays would not split)."""
    rare = min(int((y == c).sum()) for c in np.unique(y)) < _TREES_EARLY_STOP_MIN
    small = {"early_stopping": False, "max_iter": 50, "min_samples_leaf": 2}
    return train_header_trees(X, y, seed=seed, **(small if rare else {}))


def _codes(proba: np.ndarray) -> np.ndarray:
    return np.array(OPAL_CLASSES)[np.asarray(proba).argmax(axis=1)] if len(proba) else np.array([], dtype=str)


def _scores(true: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Balanced accuracy (seeded bootstrap interval) and per-class recall (Clopper-Pearson) of a cross-validation.

    A class with no display among ``true`` has no recall (``None``), never a made-up one.
    """
    recall = {c: stats.binomial_interval(int(((true == c) & (pred == c)).sum()), n).to_json()
              if (n := int((true == c).sum())) else None for c in OPAL_CLASSES}
    bal = stats.bootstrap(stats.balanced_accuracy, true, pred, seed=DEFAULT_SEED, strata=true)
    return {"balanced_accuracy": bal.to_json(), "recall": recall,
            "confusion": {"true_x_predicted": confusion_counts(true, pred).tolist(), "classes": list(OPAL_CLASSES)}}


def agreement(a: dict[str, Any], b: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per class: the difference of two measurements (``b``; or of ``a`` and the PDG) in units of its
    uncertainty (total uncertainties added in quadrature), and whether it is within 2 sigma."""
    out = {}
    for c, f in a["fractions"].items():
        other = b["fractions"][c]["value"] if b is not None else f["pdg"]
        sig = math.hypot(f["total"] or 0.0, (b["fractions"][c]["total"] or 0.0) if b is not None else 0.0)
        diff = f["value"] - other
        pull = diff / sig if sig > 0 else None
        out[c] = {"difference": diff, "sigma": sig, "pull": pull,
                  "within_2_sigma": bool(pull is not None and abs(pull) <= 2.0)}
    return out


def _measure(predicted: np.ndarray, conf: np.ndarray, toys: int, seed: int, what: str,
             classifier: str) -> dict[str, Any]:
    """One view's measurement, or ``{"error": why}`` when it cannot be made (e.g. a singular confusion)."""
    try:
        m = measure_fractions(predicted, conf, toys=toys, seed=seed).to_json()
    except UserError as exc:
        return {"error": f"{what}: {exc}", "classifier": classifier}
    m["classifier"] = classifier
    return m


def _tree_cross_validation(X: np.ndarray, y: np.ndarray, test_sets: Sequence[np.ndarray], seed: int) -> np.ndarray:
    """Out-of-fold probabilities of the header trees on the labelled displays (the CNN's folds)."""
    oof = np.zeros((len(y), len(OPAL_CLASSES)))
    for k, test in enumerate(test_sets):
        train = np.setdiff1d(np.arange(len(y)), test)
        oof[test] = predict_header_trees(_trees(X[train], y[train], derive_seed(seed, "measure-trees", k)), X[test])
    return oof


def _stacked_cross_validation(X: np.ndarray, oof_cnn: np.ndarray, y: np.ndarray, test_sets: Sequence[np.ndarray],
                               seed: int) -> np.ndarray:
    """The CNN and the header numbers together: trees on the header numbers plus the CNN's out-of-fold
    log-probabilities (stacking), cross-validated on the same folds. Every display's CNN feature comes from a
    CNN that never saw it; the CNNs behind the training displays' features did see the test fold's displays,
    the usual (mildly optimistic) cross-validated stacking."""
    features = np.column_stack([X, np.log(np.clip(oof_cnn, 1e-6, 1.0))])
    oof = np.zeros((len(y), len(OPAL_CLASSES)))
    for k, test in enumerate(test_sets):
        train = np.setdiff1d(np.arange(len(y)), test)
        model = _trees(features[train], y[train], derive_seed(seed, "measure-stacked", k))
        oof[test] = predict_header_trees(model, features[test])
    return oof


def _display_counts(ch: Challenge, other_end: int, side_pred: np.ndarray) -> dict[str, Any]:
    """How many displays of each kind, which were left out and why, what the header gave, the side views' classes."""
    classes, counts = np.unique(side_pred, return_counts=True)
    return {"challenge": len(ch.names), "labelled_end": len(ch.where("end", True)), "other_end": other_end,
            "side": len(ch.where("side")), "left_out": ch.left_out, "header_incomplete": len(ch.header_errors),
            "low_multiplicity": low_multiplicity(ch.X, ch.views),
            "header_numbers_read": {k: int(np.isfinite(ch.X[:, j]).sum()) for j, k in enumerate(HEADER_FEATURES)},
            "predicted": {"side": {str(c): int(n) for c, n in zip(classes, counts)}}}


def _comparison(y: np.ndarray, cnn: np.ndarray, trees: np.ndarray, rules: np.ndarray, folds: int,
                seed: int, stacked: np.ndarray | None = None, header_cnn: np.ndarray | None = None) -> dict[str, Any]:
    """The classifiers on the same labelled displays: the CNN and the trees (out-of-fold), the masterclass's cut
    rules (no fitting; scored where the numbers they need were read), the CNN's output and the header numbers
    together (``stacked`` trees, out-of-fold), the CNN that also reads the numbers (``header_cnn``, out-of-fold)
    and the paired differences."""
    decided = rules != ""
    paired = {"balanced_accuracy_cnn_minus_trees":
              stats.paired_difference(stats.balanced_accuracy, y, cnn, trees, seed=seed, strata=y).to_json()}
    out = {"folds": folds, "displays": len(y), "cnn": _scores(y, cnn), "trees": _scores(y, trees)}
    if stacked is not None:
        out["cnn_and_numbers"] = _scores(y, stacked)
        paired["balanced_accuracy_cnn_and_numbers_minus_cnn"] = stats.paired_difference(
            stats.balanced_accuracy, y, stacked, cnn, seed=seed, strata=y).to_json()
    if header_cnn is not None:
        out["cnn_with_header"] = _scores(y, header_cnn)
        paired["balanced_accuracy_cnn_with_header_minus_cnn"] = stats.paired_difference(
            stats.balanced_accuracy, y, header_cnn, cnn, seed=seed, strata=y).to_json()
    if decided.sum() and len(np.unique(y[decided])) > 1:
        out["rules"] = {**_scores(y[decided], rules[decided]), "displays": int(decided.sum()),
                        "undecided": int((~decided).sum())}
        paired["balanced_accuracy_cnn_minus_rules_where_decided"] = stats.paired_difference(
            stats.balanced_accuracy, y[decided], cnn[decided], rules[decided], seed=seed, strata=y[decided]).to_json()
    return {**out, **paired}


def measure_challenge(data: str | os.PathLike[str] | None = None, *, folds: int = MEASURE_FOLDS,
                      epochs: int = CNN_EPOCHS, steps: int = CNN_STEPS, seed: int = DEFAULT_SEED,
                      toys: int = DEFAULT_TOYS, header_cnn: bool = True,
                      limit: int | None = None, quiet: bool = False) -> dict[str, Any]:
    """The measurement's JSON: ``end``, ``side``, ``all`` (each :meth:`FractionMeasurement.to_json`
    plus ``classifier``), ``all_combined``, ``agreement``, ``cross_validation``, ``displays``, ``config``.

    Example::

        result = measure_challenge("../shared/data", folds=2, epochs=1, limit=12, toys=200)
        result["end"]["fractions"]["q"]["value"], result["end"]["fractions"]["q"]["stat"]
    """
    if folds < 2:
        raise UserError(f"folds must be >= 2 for a cross-validation, got {folds}")
    if epochs < 1 or steps < 1:
        raise UserError(f"epochs and steps must be >= 1, got {epochs} and {steps}")
    say = sayer(quiet)
    t_start = time.perf_counter()
    ch = load_challenge(data, limit=limit, folds=folds, seed=seed, quiet=quiet)
    lab, end_rest, side = ch.where("end", True), ch.where("end", False), ch.where("side")
    end_rest = np.array([i for i in end_rest if ch.names[i] in ch.crops], dtype=int)
    y = ch.labels[lab]
    test_sets = _folds(y, folds, seed)
    say(f"{len(ch.names)} displays: {len(lab)} labelled end views, {len(end_rest)} other end views, "
        f"{len(side)} side views; {folds}-fold cross-validation")
    crops = np.stack([ch.crops[n] for n in ch.names[lab]])
    others = np.stack([ch.crops[n] for n in ch.names[end_rest]]) if len(end_rest) else crops[:0]
    oof_cnn, rest_cnn, oof_header = _cnn_cross_validation(crops, y, test_sets, others, epochs, steps, seed,
                                                          say, quiet, ch.X[lab] if header_cnn else None)
    cnn_pred = _codes(oof_cnn)
    trees_pred = _codes(_tree_cross_validation(ch.X[lab], y, test_sets, seed))
    full_trees = _trees(ch.X[lab], y, derive_seed(seed, "measure-trees", "all"))
    unlabelled = np.concatenate([end_rest, side])
    trees_rest = _codes(predict_header_trees(full_trees, ch.X[unlabelled])) if len(unlabelled) else np.array([])
    conf_cnn, conf_trees = confusion_counts(y, cnn_pred), confusion_counts(y, trees_pred)
    cnn_name = f"masterclass CNN ({folds}-fold cross-validated, {epochs} epochs from the simulation-pretrained weights)"
    trees_name = "gradient-boosted trees on the header numbers, trained on the labelled end views"
    end = _measure(np.concatenate([cnn_pred, _codes(rest_cnn)]), conf_cnn, toys, seed, "end views", cnn_name)
    side_m = (_measure(trees_rest[len(end_rest):], conf_trees, toys, seed, "side views", trees_name)
              if len(side) else {"error": "side views: none among the displays"})
    everything = _measure(np.concatenate([trees_pred, trees_rest]), conf_trees, toys, seed, "all displays",
                          trees_name)
    result: dict[str, Any] = {"end": end, "side": side_m, "all": everything}
    ok = {k: m for k, m in result.items() if "error" not in m}
    result["all_combined"] = (combine_measurements([ok[k] for k in ("end", "side") if k in ok])
                              if "end" in ok or "side" in ok else None)
    result["agreement"] = {
        "side_vs_end": agreement(ok["side"], ok["end"]) if {"side", "end"} <= set(ok) else None,
        **{f"{k}_vs_pdg": agreement(ok[k]) if k in ok else None for k in ("side", "end", "all")}}
    result["errors"] = [m["error"] for m in result.values() if isinstance(m, dict) and "error" in m]
    stacked = _codes(_stacked_cross_validation(ch.X[lab], oof_cnn, y, test_sets, seed))
    result["cross_validation"] = _comparison(y, cnn_pred, trees_pred, classic_rules(ch.X[lab]), folds, seed,
                                             stacked, _codes(oof_header) if oof_header is not None else None)
    cnn_of = dict(zip(ch.names[lab], cnn_pred)) | dict(zip(ch.names[end_rest], _codes(rest_cnn)))
    trees_of = dict(zip(ch.names[lab], trees_pred)) | dict(zip(ch.names[unlabelled], trees_rest))
    result["displays"] = _display_counts(ch, len(end_rest), trees_rest[len(end_rest):])
    result["predictions"] = [{"display": str(n), "view": str(v), "label": str(t), "cnn": str(cnn_of.get(n, "")),
                              "trees": str(trees_of.get(n, ""))} for n, v, t in zip(ch.names, ch.views, ch.labels)]
    if ch.left_out:
        say(f"{len(ch.left_out)} displays left out: {few_names(sorted(ch.left_out), 5)}")
    result["config"] = {"data": str(data) if data is not None else str(cache_dir()), "folds": folds, "epochs": epochs,
                        "steps_per_epoch": steps, "seed": seed, "toys": toys, "limit": limit,
                        "header_cnn": ({"epochs_at_most": epochs, "patience": HEADER_CNN_PATIENCE} if header_cnn
                                       else None),
                        "seconds": round(time.perf_counter() - t_start, 1),
                        "side_view_cnn": "not built: side views are classified by the header numbers only",
                        "licence": "the Manchester/QuarkNet displays and the OPAL data state no licence; "
                                   "ask their authors before redistributing"}
    return result
