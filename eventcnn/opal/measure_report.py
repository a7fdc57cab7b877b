"""The report of ``eventcnn opal measure``: measurement.json, report.md and its figures. No Keras.

Figures for a student: the decay fractions of the end views, the side views and
all displays beside the PDG (words on the axes, numbers on the bars, error bars =
total uncertainty), and the two classifiers' cross-validated confusion matrices
(counts in the cells). Library code: the figures are ``matplotlib.figure.Figure``
objects (no backend is picked).

Example::

    write_measurement(measure_challenge("../shared/data"), "measurement/")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_figure_png, write_json_atomic, write_text_atomic
from eventcnn.names import OPAL_CLASSES, OPAL_WORDS

__all__ = ["MEASUREMENT_FILES", "MEASUREMENT_JSON", "REPORT", "measurement_markdown", "write_measurement"]

MEASUREMENT_JSON = "measurement.json"
REPORT = "report.md"
#: every file :func:`write_measurement` writes into its folder
MEASUREMENT_FILES = (MEASUREMENT_JSON, REPORT, "fractions.png", "confusion.png")
_SETS = (("end", "end views (CNN)"), ("side", "side views (header trees)"), ("all", "all displays (header trees)"))


def _ok(result: dict[str, Any], key: str) -> dict[str, Any] | None:
    m = result.get(key)
    return m if isinstance(m, dict) and "fractions" in m else None


def fractions_figure(result: dict[str, Any]):
    """Bars: each class's fraction in every measured set and the PDG, with total uncertainties and numbers."""
    from matplotlib.figure import Figure

    sets = [(k, label) for k, label in _SETS if _ok(result, k)]
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 3]})
    width = 0.8 / (len(sets) + 1)
    for ax, classes in zip(axes, (("q",), ("e", "m", "t"))):
        x = np.arange(len(classes))
        for j, (key, label) in enumerate(sets + [("pdg", "PDG")]):
            if key == "pdg":
                pdg = next(_ok(result, k) for k, _ in sets)["pdg"]["fractions"]
                vals, errs = [pdg[c] for c in classes], None
            else:
                f = result[key]["fractions"]
                vals, errs = [f[c]["value"] for c in classes], [f[c]["total"] or 0.0 for c in classes]
            bars = ax.bar(x + (j - len(sets) / 2) * width, vals, width, yerr=errs, capsize=3, label=label)
            ax.bar_label(bars, labels=[f"{v:.3f}" for v in vals], fontsize=7, padding=2)
        ax.set_xticks(x, [OPAL_WORDS[c] for c in classes])
        ax.set_ylabel("fraction of visible Z decays")
    axes[0].set_title("hadronic decays")
    axes[1].set_title("leptonic decays (error bars: stat + misidentification)")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9)
    fig.suptitle("Z decay fractions measured on the OPAL masterclass challenge")
    return fig


def confusion_figure(result: dict[str, Any]):
    """The cross-validated confusion matrices of the CNN and of the header trees on the labelled end views."""
    from matplotlib.figure import Figure

    cv = result["cross_validation"]
    fig = Figure(figsize=(11, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    words = [OPAL_WORDS[c] for c in OPAL_CLASSES]
    for ax, key, title in zip(axes, ("cnn", "trees"), ("masterclass CNN (end views)", "trees on the header numbers")):
        m = np.asarray(cv[key]["confusion"]["true_x_predicted"])
        ax.imshow(m / np.maximum(m.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        for (i, j), n in np.ndenumerate(m):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=10,
                    color="white" if n > 0.6 * max(m[i].sum(), 1) else "black")
        ax.set_xticks(range(4), words)
        ax.set_yticks(range(4), words)
        ax.set_xlabel("predicted decay")
        ax.set_ylabel("true decay (label)")
        bal = cv[key]["balanced_accuracy"]
        ax.set_title(f"{title}\nbalanced accuracy {bal['value']:.3f} [{bal['ci95'][0]:.3f}, {bal['ci95'][1]:.3f}]",
                     fontsize=9)
    fig.suptitle(f"Cross-validated confusion on {cv['displays']} labelled end views ({cv['folds']} folds)")
    return fig


def _fmt(f: dict[str, Any] | None) -> str:
    if not f or f.get("value") is None:
        return "–"
    return f"{f['value']:.4f} ± {f['stat']:.4f} (stat) ± {f['confusion']:.4f} (mis-id)"


_CLASSIFIERS = (("cnn", "masterclass CNN (end-view crops)"), ("trees", "gradient-boosted trees on the header numbers"),
                ("rules", "the masterclass's cut rules (displays they decide)"),
                ("cnn_and_numbers", "CNN output and header numbers together (stacked trees)"),
                ("cnn_with_header", "the CNN that also reads the header numbers (second input)"))
_DIFFERENCES = (("balanced_accuracy_cnn_minus_trees", "CNN - trees"),
                ("balanced_accuracy_cnn_minus_rules_where_decided", "CNN - cut rules (displays they decide)"),
                ("balanced_accuracy_cnn_and_numbers_minus_cnn", "CNN output and numbers (stacked) - CNN"),
                ("balanced_accuracy_cnn_with_header_minus_cnn", "CNN reading the numbers too - CNN"))


def _interval(x: dict[str, Any], sign: str = "") -> str:
    return f"{x['value']:{sign}.3f} [{x['ci95'][0]:{sign}.3f}, {x['ci95'][1]:{sign}.3f}]"


def _comparison_lines(cv: dict[str, Any]) -> list[str]:
    """Which classifier wins on the labelled end views: balanced accuracies and paired differences, 95 % intervals."""
    lines = ["", f"## Which classifier wins ({cv['folds']}-fold cross-validation, {cv['displays']} labelled end views)",
             "", "| classifier | balanced accuracy [95 %] |", "|---|---|"]
    lines += [f"| {text} | {_interval(cv[key]['balanced_accuracy'])} |" for key, text in _CLASSIFIERS if key in cv]
    lines += ["", "Paired differences (same displays, same folds; ahead beyond the uncertainty when the interval "
              "excludes 0):", ""]
    lines += [f"- {text}: {_interval(cv[key], '+')}" for key, text in _DIFFERENCES if key in cv]
    return lines


def measurement_markdown(result: dict[str, Any]) -> str:
    """The report's text: the three measurements beside the PDG, the agreement checks, what was not done."""
    lines = ["# Z decay fractions from the OPAL masterclass challenge", ""]
    d, cfg = result["displays"], result["config"]
    lines += [f"{d['challenge']} displays: {d['labelled_end']} labelled end views, {d['other_end']} other end "
              f"views, {d['side']} side views. Seed {cfg['seed']}, {cfg['folds']}-fold cross-validation, "
              f"CNN {cfg['epochs']} epochs" + (f", quick sample (limit {cfg['limit']})" if cfg["limit"] else "")
              + ".", ""]
    for key, label in _SETS:
        m = result.get(key)
        lines.append(f"## {label}")
        if not _ok(result, key):
            lines += ["", f"Not measured: {(m or {}).get('error', 'no displays')}", ""]
            continue
        lines += ["", f"Classifier: {m['classifier']}.", "", "| decay | fraction | PDG |", "|---|---|---|"]
        for c in OPAL_CLASSES:
            lines.append(f"| {OPAL_WORDS[c]} | {_fmt(m['fractions'][c])} | {m['pdg']['fractions'][c]:.4f} |")
        lines.append(f"| R = hadronic / leptonic | {_fmt(m['R'])} | {m['pdg']['R']:.3f} |")
        for k in ("mu/e", "tau/e"):
            lines.append(f"| {k} (lepton universality) | {_fmt(m['universality'][k])} | {m['pdg'][k]:.3f} |")
        lines.append("")
    lines += ["## Agreement (total uncertainties; within 2 sigma?)", ""]
    for key, text in result["agreement"].items():
        if text is None:
            continue
        lines.append(f"- {key.replace('_', ' ')}: " + ", ".join(
            f"{OPAL_WORDS[c]} {a['pull']:+.2f} sigma {'yes' if a['within_2_sigma'] else 'NO'}"
            if a["pull"] is not None else f"{OPAL_WORDS[c]} –" for c, a in text.items()))
    low = result["displays"].get("low_multiplicity") or {}
    if any(low.values()):
        lines += ["", "Displays with at most 6 charged tracks (Ctrk N read; no classifier; PDG leptonic share "
                  "12.6 %): " + ", ".join(f"{v} {x['k']}/{x['n']} = {100 * x['value']:.1f} % "
                                          f"[{100 * x['ci95'][0]:.1f}, {100 * x['ci95'][1]:.1f}]"
                                          for v, x in low.items() if x) + "."]
    lines += _comparison_lines(result["cross_validation"])
    lines += ["", "![fractions](fractions.png)", "", "![confusion](confusion.png)", "",
              "Side views are classified by gradient-boosted trees on the header numbers (a per-event summary "
              "that does not depend on the view), trained on the labelled end views; a side-view CNN from "
              "simulated side views was not built. On the labelled end views the correction returns their "
              "labelled composition by construction (same displays, same confusion).", "",
              f"Data: {cfg['licence']}.", ""]
    return "\n".join(lines)


def write_measurement(result: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write ``measurement.json``, ``report.md``, ``fractions.png`` and ``confusion.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(_ok(result, k) for k, _ in _SETS):
        write_figure_png(fractions_figure(result), out / "fractions.png")
    write_figure_png(confusion_figure(result), out / "confusion.png")
    write_text_atomic(out / REPORT, measurement_markdown(result))
    return write_json_atomic(out / MEASUREMENT_JSON, result)
