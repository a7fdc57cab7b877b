"""Z decay fractions measured from classified displays, corrected for misidentification. No Keras.

The one measurement that the classroom (``eventcnn class results``) and
``eventcnn opal measure`` share. A classifier (students, the CNN, the cut rules)
sorts ``N`` displays into hadronic (``q``), electron (``e``), muon (``m``) and tau
(``t``) decays. Its mistakes are known from displays whose true class is known
(a confusion matrix from cross-validation or from an answer key):

    predicted counts  n_pred = M @ n_true,   M[p, t] = P(predicted p | true t)

so the true counts are ``n_true = M^-1 @ n_pred`` and the fractions
``f = n_true / sum(n_true)`` (of visible Z decays: Z -> neutrinos leave no display).
Two uncertainties are estimated with seeded pseudo-experiments:

- ``stat``: the counting statistics of the ``N`` classified displays
  (multinomial fluctuations of ``n_pred``);
- ``confusion``: the finite number of labelled displays that measured ``M``
  (each true class's row of the confusion drawn from its Dirichlet posterior);
- ``total``: both at once.

Derived figures: ``R`` = hadronic / leptonic (all three lepton flavours),
``R_l`` = hadronic / one lepton flavour (the PDG's R_l = Gamma_had / Gamma_ll),
lepton universality as ``mu/e``, ``tau/e`` and the lepton shares; each beside
its PDG value.

Example::

    >>> import numpy as np
    >>> conf = np.array([[95, 1, 1, 3], [1, 18, 0, 1], [0, 0, 20, 1], [2, 1, 1, 16]])  # true x predicted
    >>> m = measure_fractions(["q"] * 870 + ["e"] * 45 + ["m"] * 40 + ["t"] * 45, conf, toys=500)
    >>> round(m.fractions["q"]["value"], 2), m.fractions["q"]["stat"] > 0
    (0.91, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.opal.displays import CLASS_NAMES
from eventcnn.opal.physics import Z_BRANCHING_PERCENT, expected_fractions
from eventcnn.seeds import DEFAULT_SEED, derive_rng

__all__ = [
    "DEFAULT_TOYS",
    "FractionMeasurement",
    "PDG_R_L",
    "combine_measurements",
    "confusion_counts",
    "measure_fractions",
]

#: pseudo-experiments per measurement
DEFAULT_TOYS = 4000
#: R_l = Gamma(Z -> hadrons) / Gamma(Z -> l+ l-), PDG (lepton universality assumed), value and error
PDG_R_L = (20.767, 0.025)
_LEPTONS = ("e", "m", "t")


@dataclass
class FractionMeasurement:
    """Fractions of each decay class and derived figures, each ``{"value", "stat", "confusion", "total"}``.

    ``raw`` holds the uncorrected shares of the predicted classes (counting
    statistics only); ``pdg`` the expected values; ``counts`` the predicted
    counts that were corrected; ``known_counts`` those of displays of known class
    added (``known``); ``corrected_counts`` the estimated true counts (both).
    :meth:`to_json` is the documented JSON form (see docs/opal.md).
    """

    classes: tuple[str, ...]
    counts: dict[str, int]
    corrected_counts: dict[str, float]
    fractions: dict[str, dict[str, float]]
    R: dict[str, float]
    R_l: dict[str, float]
    universality: dict[str, dict[str, float]]
    raw: dict[str, dict[str, float]]
    pdg: dict[str, Any]
    confusion: list[list[int]]
    toys: int
    seed: int
    notes: list[str] = field(default_factory=list)
    known_counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_displays(self) -> int:
        """How many displays were measured (classified, and of known class)."""
        return int(sum(self.counts.values()) + sum(self.known_counts.values()))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (plain floats and lists)."""
        return {
            "method": "misidentification-corrected fractions (n_true = M^-1 n_pred), "
                      "uncertainties from seeded pseudo-experiments",
            "classes": list(self.classes), "n_displays": self.n_displays,
            "counts": dict(self.counts), "known_counts": dict(self.known_counts),
            "corrected_counts": dict(self.corrected_counts),
            "fractions": self.fractions, "R": self.R, "R_l": self.R_l,
            "universality": self.universality, "raw": self.raw, "pdg": self.pdg,
            "confusion": {"true_x_predicted": self.confusion, "classes": list(self.classes)},
            "toys": self.toys, "seed": self.seed, "notes": list(self.notes),
        }


def confusion_counts(true: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray,
                     classes: Sequence[str] = CLASS_NAMES) -> np.ndarray:
    """Counts ``C[t, p]`` of displays of true class ``classes[t]`` predicted as ``classes[p]``.

    Entries whose true label is empty (unlabelled) are left out; any other label
    outside ``classes`` is an error naming it.
    """
    t, p = np.asarray(true).astype(str), np.asarray(predicted).astype(str)
    if len(t) != len(p):
        raise UserError(f"{len(t)} true labels for {len(p)} predictions: give one of each per display")
    keep = t != ""
    t, p = t[keep], p[keep]
    index = {c: i for i, c in enumerate(classes)}
    bad = sorted({x for x in np.concatenate([t, p]) if x not in index})
    if bad:
        raise UserError(f"labels {bad} are not among the classes {list(classes)}")
    out = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(out, (np.array([index[x] for x in t], dtype=int), np.array([index[x] for x in p], dtype=int)), 1)
    return out


def _predicted_counts(predicted: Sequence[str] | np.ndarray | Mapping[str, int],
                      classes: Sequence[str]) -> np.ndarray:
    if isinstance(predicted, Mapping):
        unknown = sorted(set(predicted) - set(classes))
        if unknown:
            raise UserError(f"counts for unknown classes {unknown}; the classes are {list(classes)}")
        counts = np.array([int(predicted.get(c, 0)) for c in classes], dtype=np.int64)
    else:
        labels = np.asarray(predicted).astype(str)
        unknown = sorted(set(labels.tolist()) - set(classes))
        if unknown:
            raise UserError(f"predicted labels {unknown} are not among the classes {list(classes)}")
        counts = np.array([int(np.sum(labels == c)) for c in classes], dtype=np.int64)
    if (counts < 0).any() or counts.sum() == 0:
        raise UserError("no classified displays to measure: every predicted count is zero")
    return counts


def _check_confusion(confusion: Any, classes: Sequence[str]) -> np.ndarray:
    c = np.asarray(confusion, dtype=np.float64)
    k = len(classes)
    if c.shape != (k, k) or (c < 0).any() or not np.isfinite(c).all():
        raise UserError(f"the confusion matrix must be {k}x{k} non-negative counts (true x predicted, "
                        f"classes {list(classes)}), got shape {c.shape}")
    empty = [classes[i] for i in range(k) if c[i].sum() == 0]
    if empty:
        raise UserError(f"no labelled display of class {', '.join(empty)} in the confusion matrix: "
                        "the misidentification of a class nobody labelled cannot be measured; "
                        "label some displays of every class (or use the answer key)")
    return c


def _unfold(m: np.ndarray, n_pred: np.ndarray) -> np.ndarray:
    """True counts from predicted ones; ``m[..., p, t]`` = P(p | t); batched over leading axes."""
    return np.linalg.solve(m, n_pred[..., None])[..., 0]


def _derived(n_true: np.ndarray, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """Fractions, R, R_l and universality ratios from true counts (last axis = classes)."""
    idx = {c: i for i, c in enumerate(classes)}
    total = n_true.sum(axis=-1)
    out: dict[str, np.ndarray] = {f"f_{c}": n_true[..., i] / total for i, c in enumerate(classes)}
    if all(c in idx for c in ("q", *_LEPTONS)):
        lep = sum(n_true[..., idx[c]] for c in _LEPTONS)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["R"] = n_true[..., idx["q"]] / lep
            out["R_l"] = 3.0 * out["R"]
            out["mu/e"] = n_true[..., idx["m"]] / n_true[..., idx["e"]]
            out["tau/e"] = n_true[..., idx["t"]] / n_true[..., idx["e"]]
            for c in _LEPTONS:
                out[f"share_{c}"] = n_true[..., idx[c]] / lep
    return out


def _spread(samples: np.ndarray) -> float:
    """Half the central 68 % interval of the pseudo-experiments (robust to the odd wild toy)."""
    finite = samples[np.isfinite(samples)]
    if finite.size < 2:
        return float("nan")
    lo, hi = np.quantile(finite, [0.15865, 0.84135])
    return float((hi - lo) / 2.0)


def _figure(value: float, stat: np.ndarray, conf: np.ndarray, total: np.ndarray,
            pdg: float | None = None) -> dict[str, float]:
    out = {"value": _clean(value), "stat": _clean(_spread(stat)),
           "confusion": _clean(_spread(conf)), "total": _clean(_spread(total))}
    if pdg is not None:
        out["pdg"] = pdg
        tot = out["total"]
        out["pull"] = _clean((value - pdg) / tot) if tot and math.isfinite(tot) and tot > 0 else None
    return out


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _pdg_figures(classes: Sequence[str]) -> dict[str, Any]:
    expect = expected_fractions()
    br = Z_BRANCHING_PERCENT
    lep = sum(br[c] for c in _LEPTONS)
    return {
        "fractions": {c: expect[c] for c in classes},
        "R": br["q"] / lep, "R_l": PDG_R_L[0], "R_l_error": PDG_R_L[1],
        "mu/e": br["m"] / br["e"], "tau/e": br["t"] / br["e"],
        "shares": {c: br[c] / lep for c in _LEPTONS},
        "source": "PDG 2020 Z branching fractions (visible decays only); R_l = Gamma_had/Gamma_ll",
    }


def _known_counts(known: Mapping[str, int], classes: Sequence[str]) -> np.ndarray:
    unknown = sorted(set(known) - set(classes))
    if unknown:
        raise UserError(f"known counts for unknown classes {unknown}; the classes are {list(classes)}")
    out = np.array([int(known.get(c, 0)) for c in classes], dtype=np.float64)
    if (out < 0).any():
        raise UserError("known counts must not be negative")
    return out


def _toy_matrices(conf: np.ndarray, toys: int, rng: np.random.Generator) -> np.ndarray:
    """``toys`` misidentification matrices ``M[p, t]``, each true class's row from its Dirichlet posterior."""
    k = conf.shape[0]
    rows = np.stack([rng.dirichlet(conf[t] + 0.5, size=toys) for t in range(k)], axis=1)  # (toys, t, p)
    return np.transpose(rows, (0, 2, 1))


def measure_fractions(predicted: Sequence[str] | np.ndarray | Mapping[str, int], confusion: Any, *,
                      classes: Sequence[str] = CLASS_NAMES, toys: int = DEFAULT_TOYS,
                      seed: int = DEFAULT_SEED, known: Mapping[str, int] | None = None) -> FractionMeasurement:
    """Measure the decay fractions of the classified displays, corrected for misidentification.

    ``predicted``: the predicted class of every display that is measured (or the
    counts per class). ``confusion``: counts ``C[true, predicted]`` on displays of
    known class (:func:`confusion_counts`; from cross-validation, never from the
    displays the classifier was trained on). Every class must occur among the
    labelled displays. Seeded: the same inputs give the same numbers.

    ``known``: counts per class of further displays of the same sample whose
    class is known without the classifier (e.g. those a class labelled by hand,
    when the classifier sorted the rest): added to the corrected counts, so the
    fractions are those of the whole sample; in the statistical pseudo-experiments
    the whole sample fluctuates (multinomially), the known counts need no correction.
    """
    classes = tuple(classes)
    if toys < 100:
        raise UserError(f"toys must be >= 100 for a stable uncertainty, got {toys}")
    n_pred = _predicted_counts(predicted, classes).astype(np.float64)
    conf = _check_confusion(confusion, classes)
    m_hat = (conf / conf.sum(axis=1, keepdims=True)).T
    notes: list[str] = []
    if abs(np.linalg.det(m_hat)) < 1e-9:
        raise UserError("the classifier confuses some classes completely (the misidentification matrix "
                        "cannot be inverted): more labelled displays of each class are needed")
    n_true = _unfold(m_hat, n_pred)
    if (n_true < 0).any():
        neg = [c for c, x in zip(classes, n_true) if x < 0]
        notes.append(f"the corrected count of {', '.join(neg)} is negative: compatible with zero within "
                     "its uncertainty, or the confusion does not describe these displays")
    rng = derive_rng(seed, "fractions")
    total_n = int(n_pred.sum())
    pred_toys = rng.multinomial(total_n, n_pred / total_n, size=toys).astype(np.float64)
    m_toys = _toy_matrices(conf, toys, rng)
    n_known = np.zeros(len(classes)) if known is None else _known_counts(known, classes)
    known_toys = (rng.multinomial(int(n_known.sum()), n_known / n_known.sum(), size=toys).astype(np.float64)
                  if n_known.sum() else np.zeros((toys, len(classes))))
    central = _derived(n_true + n_known, classes)
    stat = _derived(_unfold(np.broadcast_to(m_hat, m_toys.shape), pred_toys) + known_toys, classes)
    conf_only = _derived(_unfold(m_toys, np.broadcast_to(n_pred, pred_toys.shape)) + n_known, classes)
    both = _derived(_unfold(m_toys, pred_toys) + known_toys, classes)
    raw = _derived(n_pred + n_known, classes)
    raw_toys = _derived(pred_toys + known_toys, classes)
    pdg = _pdg_figures(classes)

    def fig(key: str, pdg_value: float | None) -> dict[str, float]:
        return _figure(float(central[key]), stat[key], conf_only[key], both[key], pdg_value)

    fractions = {c: fig(f"f_{c}", pdg["fractions"][c]) for c in classes}
    lep = set(_LEPTONS) <= set(classes) and "q" in classes
    if known is not None:
        notes.append(f"{int(n_known.sum())} displays of known class added to the {total_n} classified ones")
    return FractionMeasurement(
        classes=classes,
        counts={c: int(x) for c, x in zip(classes, n_pred)},
        corrected_counts={c: float(x) for c, x in zip(classes, n_true + n_known)},
        fractions=fractions,
        R=fig("R", pdg["R"]) if lep else {},
        R_l=fig("R_l", pdg["R_l"]) if lep else {},
        universality=({"mu/e": fig("mu/e", pdg["mu/e"]), "tau/e": fig("tau/e", pdg["tau/e"]),
                       **{f"share_{c}": fig(f"share_{c}", pdg["shares"][c]) for c in _LEPTONS}}
                      if lep else {}),
        raw={c: {"value": float(raw[f"f_{c}"]), "stat": _clean(_spread(raw_toys[f"f_{c}"]))} for c in classes},
        pdg=pdg, confusion=conf.astype(int).tolist(), toys=int(toys), seed=int(seed), notes=notes,
        known_counts={c: int(x) for c, x in zip(classes, n_known)} if known is not None else {},
    )


def combine_measurements(measurements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pool several measurements (``to_json()`` dicts, e.g. one per class or institute).

    Each figure is the inverse-variance weighted mean of the inputs' values,
    weighted by their ``total`` uncertainty, as the International Masterclasses
    combine institutes; its ``total`` is the uncertainty of that mean, and
    ``chi2``/``ndof`` say whether the inputs agree.

    Example::

        pooled = combine_measurements([json.load(open(p)) for p in paths])
        pooled["fractions"]["m"]   # {'value': ..., 'total': ..., 'chi2': ..., 'ndof': ...}
    """
    if not measurements:
        raise UserError("nothing to combine: give at least one results file")
    classes = list(measurements[0].get("classes", CLASS_NAMES))

    def pooled(get: Any) -> dict[str, Any]:
        vals, errs = [], []
        for m in measurements:
            f = get(m)
            if f and f.get("value") is not None and f.get("total"):
                vals.append(float(f["value"]))
                errs.append(float(f["total"]))
        if not vals:
            return {"value": None, "total": None, "n_inputs": 0}
        w = 1.0 / np.square(errs)
        mean = float(np.sum(w * vals) / np.sum(w))
        chi2 = float(np.sum(w * np.square(np.asarray(vals) - mean)))
        return {"value": mean, "total": float(1.0 / math.sqrt(np.sum(w))),
                "chi2": chi2, "ndof": len(vals) - 1, "n_inputs": len(vals)}

    out: dict[str, Any] = {
        "method": "inverse-variance weighted mean of the inputs (total uncertainties)",
        "n_inputs": len(measurements),
        "n_displays": int(sum(int(m.get("n_displays", 0)) for m in measurements)),
        "fractions": {c: pooled(lambda m, c=c: m.get("fractions", {}).get(c)) for c in classes},
        "R": pooled(lambda m: m.get("R")), "R_l": pooled(lambda m: m.get("R_l")),
        "universality": {k: pooled(lambda m, k=k: m.get("universality", {}).get(k))
                         for k in ("mu/e", "tau/e", "share_e", "share_m", "share_t")},
        "pdg": measurements[0].get("pdg", _pdg_figures(classes)),
    }
    return out
