"""The class's physics result: Z decay fractions with uncertainties, from a training's ``lesson.json``.

One measurement for the classroom and ``eventcnn opal measure``:
:func:`eventcnn.opal.fractions.measure_fractions` on the CNN's class of every
display nobody labelled, corrected with the confusion between the class's labels
and the CNN's answers on the **held-out** class-labelled displays (the CNN never
trained on them; :mod:`eventcnn.opal.lesson_job`), plus the displays the class
labelled by hand (``known``): the class chose those to be diverse, so most rare
lepton decays are among them and the rest alone is not a fair sample; together
they are the whole set of displays, which is. Statistical (and confusion)
uncertainties, lepton universality (e : mu : tau), the PDG values beside.

- :func:`lesson_results`: the result of one training (JSON-ready);
- :func:`class_results`: the results file of ``eventcnn class results`` (the
  result plus the class's numbers, no names), format ``eventcnn-class-results``
  version 1, documented in docs/opal.md;
- :func:`public_view`: what a projector and the students' screens show;
- :func:`combine_results`: ``eventcnn class combine``: classes pooled as the
  International Masterclasses pool institutes (``combined.json`` and a figure).

No FastAPI, no Keras.

Example::

    lesson = json.load(open("class_run/lesson.json"))
    res = lesson_results(lesson)
    res["measurement"]["fractions"]["m"]     # {'value': 0.05, 'stat': 0.012, ..., 'pdg': 0.0421}
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError
from eventcnn.opal import pictures
from eventcnn.opal.displays import CLASS_NAMES
from eventcnn.opal.fractions import (
    DEFAULT_TOYS,
    combine_measurements,
    confusion_counts,
    measure_fractions,
)
from eventcnn.stats import balanced_accuracy, binomial_interval, bootstrap

__all__ = ["FORMAT", "class_results", "combine_results", "lesson_curves", "lesson_results", "public_view",
           "read_results"]

#: the ``format`` field of a results file
FORMAT = "eventcnn-class-results"
_VERSION = 1


def _binomial(k: int, n: int) -> dict[str, Any] | None:
    if n < 1:
        return None
    est = binomial_interval(k, n)
    return {"k": int(k), "n": int(n), **est.to_json()}


def lesson_curves(lesson: Mapping[str, Any]) -> dict[str, Any]:
    """The training's curves as the pages draw them: losses, and validation accuracy with its 95 % interval.

    With a validation set of a few displays an accuracy of 1.00 means little: every
    epoch's validation accuracy carries its Clopper-Pearson interval for the
    ``validation`` displays, and ``kept`` says which epoch's weights were kept.
    """
    rows = list(lesson.get("history", []))
    n_val = int(lesson.get("validation", 0))

    def col(key: str) -> list[float | None]:
        return [None if (v := r.get(key)) is None or not math.isfinite(float(v)) else float(v) for r in rows]

    acc = col("val_accuracy")
    band = []
    for a in acc:
        b = _binomial(int(round(a * n_val)), n_val) if a is not None and n_val else None
        band.append(None if b is None else b["ci95"])
    return {"epochs": list(range(1, len(rows) + 1)), "loss": col("loss"), "val_loss": col("val_loss"),
            "accuracy": col("accuracy"), "val_accuracy": acc, "val_accuracy_ci95": band, "validation": n_val,
            "kept": lesson.get("best_epoch"), "epochs_max": lesson.get("epochs_max")}


def _reference_scores(lesson: Mapping[str, Any], reference: Mapping[str, str],
                      class_labels: Mapping[str, str]) -> dict[str, Any]:
    """Class and CNN against the answer key (teacher only): agreement, accuracy, the true fractions."""
    cls = [(c, reference[i]) for i, c in class_labels.items() if i in reference]
    measured = [(p, reference[i]) for i, p in lesson.get("measured", []) if i in reference]
    out: dict[str, Any] = {"class_vs_key": _binomial(sum(a == b for a, b in cls), len(cls)),
                           "cnn_vs_key": _binomial(sum(a == b for a, b in measured), len(measured))}
    if measured:
        pred = np.array([p for p, _ in measured])
        true = np.array([t for _, t in measured])
        out["cnn_balanced_accuracy"] = bootstrap(balanced_accuracy, true, pred, seed=42).to_json()
        out["confusion_cnn_vs_key"] = confusion_counts(true, pred).tolist()
        whole = np.concatenate([true, np.array([t for _, t in cls], dtype=true.dtype)])
        out["true_fractions"] = {c: float(np.mean(whole == c)) for c in CLASS_NAMES}  # of the measured sample
    if cls:
        out["confusion_class_vs_key"] = confusion_counts([t for _, t in cls], [c for c, _ in cls]).tolist()
    return out


def lesson_results(lesson: Mapping[str, Any], reference: Mapping[str, str] | None = None,
                   class_labels: Mapping[str, str] | None = None, *, toys: int = DEFAULT_TOYS,
                   seed: int = 42) -> dict[str, Any]:
    """The physics result of one training (see the module docstring); JSON-ready.

    ``reference``: the answer key by display id (teacher only), with
    ``class_labels`` (the class's labels by id) to score the class too.
    ``measurement`` is None when the held-out displays lack a class (then
    ``problem`` says which classes to label more of).
    """
    held = list(lesson.get("heldout", []))
    measured = [p for _, p in lesson.get("measured", [])]
    conf = confusion_counts([t for _, t, _ in held], [p for _, _, p in held]) if held else \
        np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=int)
    known = {c: int(n) for c, n in (lesson.get("per_class") or {}).items() if c in CLASS_NAMES}
    out: dict[str, Any] = {
        "measured_displays": len(measured),
        "labelled_displays": int(sum(known.values())),
        "predicted_counts": {c: int(sum(p == c for p in measured)) for c in CLASS_NAMES},
        "heldout": {"displays": len(held), "confusion": {"class_x_cnn": conf.tolist(), "classes": list(CLASS_NAMES)},
                    "agreement": _binomial(int(np.trace(conf)), int(conf.sum()))},
        "measurement": None, "problem": None,
    }
    missing = [c for c, row in zip(CLASS_NAMES, conf) if row.sum() == 0]
    if not measured:
        out["problem"] = {"code": "nothing_measured", "classes": []}
    elif missing:
        out["problem"] = {"code": "heldout_missing", "classes": missing}
    else:
        try:
            out["measurement"] = measure_fractions(measured, conf, toys=toys, seed=seed, known=known).to_json()
        except UserError as exc:
            out["problem"] = {"code": "not_invertible", "classes": [], "text": str(exc)}
    if reference:
        out["reference"] = _reference_scores(lesson, reference, class_labels or {})
    return out


def _training(lesson: Mapping[str, Any]) -> dict[str, Any]:
    """How the CNN was trained, for the results file and the pages."""
    hist = lesson.get("history", [])
    return {"labels": lesson.get("labels"), "per_class": lesson.get("per_class"),
            "trained_on": lesson.get("trained_on"), "heldout": len(lesson.get("heldout", [])),
            "heldout_share": lesson.get("heldout_share"), "validation": lesson.get("validation"),
            "epochs_run": len(hist), "epochs_max": lesson.get("epochs_max"), "kept_epoch": lesson.get("best_epoch"),
            "pretrained": lesson.get("pretrained"), "settings": lesson.get("settings"),
            "tta_copies": lesson.get("tta_copies"), "seconds": lesson.get("seconds"),
            "confusion_from": "held-out class-labelled displays (not trained on)"}


def class_results(class_progress: Mapping[str, Any], lesson: Mapping[str, Any], name: str,
                  reference: Mapping[str, str] | None = None,
                  class_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The results file of ``eventcnn class results``: result, class numbers, training; no names.

    ``class_progress``: :meth:`eventcnn.opal.web.store.ClassStore.progress` of the class.
    """
    res = lesson_results(lesson, reference, class_labels)
    agreement = class_progress.get("agreement", {})
    return {
        "format": FORMAT, "version": _VERSION, "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "class": {"students": len(class_progress.get("students", [])), "votes": class_progress.get("votes"),
                  "displays": class_progress.get("displays"), "class_labels": class_progress.get("class_labels"),
                  "ties": class_progress.get("ties"),
                  "agreement": _binomial(int(agreement.get("agree", 0)), int(agreement.get("pairs", 0)))},
        "counts": {"labelled_by_class": lesson.get("per_class"), "labelled": res["labelled_displays"],
                   "classified_by_cnn": res["measured_displays"], "predicted": res["predicted_counts"]},
        "measurement": res["measurement"], "problem": res["problem"], "heldout": res["heldout"],
        "training": _training(lesson),
        **({"reference": res["reference"]} if "reference" in res else {}),
    }


def public_view(results: Mapping[str, Any] | None, lesson: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the projector and the students see: fractions, universality, PDG, how trained; no ids, no names."""
    if results is None or lesson is None:
        return None
    m = results.get("measurement")
    keep = None if m is None else {k: m[k] for k in ("fractions", "R", "R_l", "universality", "raw", "pdg",
                                                      "n_displays", "counts", "known_counts")}
    return {"measurement": keep, "problem": results.get("problem"),
            "predicted_counts": results.get("predicted_counts"), "measured_displays": results.get("measured_displays"),
            "labelled_displays": results.get("labelled_displays"),
            "heldout": {"displays": results["heldout"]["displays"], "agreement": results["heldout"]["agreement"]},
            "training": {k: v for k, v in _training(lesson).items() if k not in ("settings",)}}


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A results file of ``eventcnn class results`` (or a measurement JSON); one clear error when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found: give results files written by `eventcnn class results`") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a results file (not JSON: {exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a results file (expected a JSON object)")
    m = data.get("measurement") if data.get("format") == FORMAT else data
    if not isinstance(m, dict) or not isinstance(m.get("fractions"), dict):
        why = data.get("problem", {}) or {}
        raise UserError(f"{path} holds no measurement" + (f" ({why.get('code')}: label more displays of "
                                                          f"{', '.join(why.get('classes', []))})" if why else ""))
    return data


def _measurement(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return data["measurement"] if data.get("format") == FORMAT else data


def combine_results(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Pool several classes' results into ``OUT/combined.json`` and ``OUT/combined.png``; returns the JSON.

    Each input is a results file of ``eventcnn class results`` (or the JSON of
    :meth:`~eventcnn.opal.fractions.FractionMeasurement.to_json`); the pooled
    figures are :func:`eventcnn.opal.fractions.combine_measurements` (inverse-variance
    weighted means with ``chi2``/``ndof``).

    Example::

        combine_results(["school_a.json", "school_b.json"], "combined")["fractions"]["m"]
    """
    if not paths:
        raise UserError("nothing to combine: give at least one results file")
    data = [read_results(p) for p in paths]
    names = [str(d.get("name") or Path(p).stem) for d, p in zip(data, paths)]
    pooled = combine_measurements([_measurement(d) for d in data])
    pooled["inputs"] = [{"name": n, "file": str(p), "n_displays": _measurement(d).get("n_displays"),
                         "fractions": {c: {k: _measurement(d)["fractions"].get(c, {}).get(k)
                                           for k in ("value", "stat", "total")} for c in CLASS_NAMES}}
                        for n, p, d in zip(names, paths, data)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "combined.json", pooled)
    _combined_figure(pooled, out / "combined.png")
    return pooled


def _combined_figure(pooled: Mapping[str, Any], path: Path) -> None:
    """Each class's fractions with their uncertainties, the pooled value and the PDG, one panel per decay."""
    from matplotlib.figure import Figure

    words = pictures.words(CLASS_NAMES)
    inputs = pooled["inputs"]
    fig = Figure(figsize=(12, 3.2 + 0.35 * len(inputs)), layout="constrained")
    axes = fig.subplots(1, len(CLASS_NAMES))
    labels = [i["name"] for i in inputs] + ["combined"]
    for ax, c, word in zip(axes, CLASS_NAMES, words):
        vals = [i["fractions"][c]["value"] for i in inputs] + [pooled["fractions"][c]["value"]]
        errs = [i["fractions"][c]["total"] for i in inputs] + [pooled["fractions"][c]["total"]]
        y = np.arange(len(vals))[::-1]
        for k, (v, e) in enumerate(zip(vals, errs)):
            if v is None:
                continue
            last = k == len(vals) - 1
            ax.errorbar([100 * v], [y[k]], xerr=[100 * (e or 0)], fmt="s" if last else "o",
                        color="black" if last else "tab:blue", capsize=4, ms=7)
        pdg = pooled["pdg"]["fractions"][c]
        ax.axvline(100 * pdg, color="tab:red", ls="--", label="PDG")
        ax.set_yticks(y, labels)
        ax.set_title(f"{word} decays")
        ax.set_xlabel("share of visible Z decays (%)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle("Z decay fractions measured by each class, and combined")
    pictures.save(fig, path)
