"""Plots and tables of the representation study (matplotlib's object API: no backend chosen here).

Learning curves with their 95 % bands (bootstrap over the test events of the
seed mean) and the seeds as dots, the paired differences image CNN minus the
other representations, and the AUC on real CMS events per arm. Words on every axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eventcnn.learn.study_data import CLASS_WORDS

__all__ = ["arm_words", "hardest_class", "plot_differences", "plot_learning_curves", "plot_transfer",
           "summary_markdown"]

REP_WORDS = {"image": "image CNN (eta-phi images)", "sets": "Deep Sets (objects)",
             "trees": "boosted trees (12 features)"}
REP_COLORS = {"image": "tab:blue", "sets": "tab:orange", "trees": "tab:green"}
ARM_WORDS = {"generated": "trained on generated events only", "fine-tuned": "generated, then fine-tuned on real",
             "real-all": "real events only (whole pool)"}


def arm_words(arm: str) -> str:
    """Plain words for an arm of the real-data comparison (``real-100``: real events only, 100 per class)."""
    if arm in ARM_WORDS:
        return ARM_WORDS[arm]
    return f"real events only, {arm.split('-', 1)[1]} per class" if arm.startswith("real-") else arm


def _figure(ncols: int, width: float = 5.2, height: float = 4.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, np.atleast_1d(fig.subplots(1, ncols))


def _band(ax, xs, figs: list[dict[str, Any]], color: str, label: str, dots: bool = True) -> None:
    v = np.array([f["value"] for f in figs], dtype=float)
    lo = np.array([f["ci95"][0] for f in figs], dtype=float)
    hi = np.array([f["ci95"][1] for f in figs], dtype=float)
    ax.plot(xs, v, "-o", color=color, label=label, ms=4)
    ax.fill_between(xs, lo, hi, color=color, alpha=0.25, lw=0)
    if dots:
        for x, f in zip(xs, figs):
            vals = f.get("seeds", {}).get("values", [])
            ax.plot([x] * len(vals), vals, ".", color=color, alpha=0.5, ms=3)


def hardest_class(points: list[dict[str, Any]], names: list[str]) -> str:
    """The class with the lowest one-vs-rest AUC, averaged over the points (the most telling rejection)."""
    def mean_auc(n: str) -> float:
        vals = [p[f"auc_{n}"]["value"] for p in points if p.get(f"auc_{n}", {}).get("value") is not None]
        return float(np.mean(vals)) if vals else 1.0

    return min(names, key=mean_auc)


def plot_learning_curves(points: list[dict[str, Any]], names: list[str], efficiency: float = 0.9):
    """Macro AUC, accuracy and the hardest class's rejection against training events per class."""
    hard = hardest_class(points, names)
    panels = [("macro_auc", "macro ROC AUC (one class vs the rest)", False),
              ("accuracy", "accuracy (most probable class)", False),
              (f"rejection_{hard}", f"rejection 1/eps_B of the other classes\nat {efficiency:.0%} "
                                    f"{CLASS_WORDS.get(hard, hard)} efficiency", True)]
    fig, axes = _figure(len(panels))
    for ax, (key, label, logy) in zip(axes, panels):
        for rep in REP_WORDS:
            pts = sorted((p for p in points if p["rep"] == rep), key=lambda p: p["size"])
            if pts:
                _band(ax, [p["size"] for p in pts], [p[key] for p in pts], REP_COLORS[rep], REP_WORDS[rep])
        ax.set_xlabel("training events per class (generated)")
        ax.set_ylabel(label)
        finite = [p[key]["value"] for p in points if p[key].get("value") is not None]
        if not finite:  # e.g. no background event left at the cut in a tiny test set
            ax.text(0.5, 0.5, "not a number on this test set", ha="center", transform=ax.transAxes)
            continue
        ax.set_xscale("log")
        if logy and min(finite) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Which representation wins: tt+jets vs W+jets vs Drell-Yan "
                 "(line: mean of seeds, band: 95 % bootstrap interval, dots: seeds)", fontsize=10)
    return fig


def plot_differences(diffs: list[dict[str, Any]]):
    """Image CNN minus each other representation (macro AUC, accuracy) with the paired 95 % interval."""
    fig, axes = _figure(2)
    for ax, (key, label) in zip(axes, (("macro_auc", "macro ROC AUC"), ("accuracy", "accuracy"))):
        for pair in sorted({d["pair"] for d in diffs}):
            rows = sorted((d for d in diffs if d["pair"] == pair), key=lambda d: d["size"])
            other = pair.split(" - ")[1]
            _band(ax, [d["size"] for d in rows], [d[key] for d in rows], REP_COLORS.get(other, "k"),
                  f"image CNN minus {REP_WORDS.get(other, other)}")
        ax.axhline(0.0, color="k", lw=0.8)
        if not diffs:
            ax.text(0.5, 0.5, "no image CNN in this run: nothing to compare", ha="center", transform=ax.transAxes)
            continue
        ax.set_xscale("log")
        ax.set_xlabel("training events per class (generated)")
        ax.set_ylabel(f"difference in {label}\n(> 0: the image CNN is better)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("Paired differences on the same test events (band: 95 % bootstrap interval, dots: seeds)",
                 fontsize=10)
    return fig


def plot_transfer(transfer: dict[str, Any]):
    """ROC AUC on the real CMS test events, per arm and representation, with 95 % intervals."""
    fig, axes = _figure(1, width=8.5, height=4.4)
    ax = axes[0]
    arms = list(transfer["arms"])
    width = 0.8 / 3
    for k, rep in enumerate(REP_WORDS):
        xs, v, err = [], [], [[], []]
        for i, arm in enumerate(arms):
            f = transfer["arms"][arm].get(rep)
            if f:
                xs.append(i + (k - 1) * width)
                v.append(f["value"])
                err[0].append(f["value"] - f["ci95"][0])
                err[1].append(f["ci95"][1] - f["value"])
        if xs:
            ax.errorbar(xs, v, yerr=err, fmt="o", color=REP_COLORS[rep], capsize=3, label=REP_WORDS[rep])
            for x, val in zip(xs, v):
                ax.annotate(f"{val:.3f}", (x, val), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xticks(range(len(arms)), [arm_words(a) for a in arms], fontsize=8, rotation=12)
    ax.set_ylabel("ROC AUC, tt+jets vs W+jets\non the real CMS test events")
    ax.set_title(f"Real CMS 2011 simulation, {transfer['n_test']} held-out events "
                 "(bars: 95 % bootstrap interval of the seed mean)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _fmt(f: dict[str, Any] | None, digits: int = 4) -> str:
    if not f or f.get("value") is None:
        return "-"
    lo, hi = f["ci95"]
    seeds = f.get("seeds", {})
    spread = f" (seeds ±{seeds['std']:.{digits}f})" if seeds.get("std") is not None else ""
    return f"{f['value']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]{spread}"


def summary_markdown(report: dict[str, Any]) -> str:
    """Tables of the learning curves, the differences and the transfer (value [95 % interval] (seed spread))."""
    names = list(report["classes"])
    hard = hardest_class(report["points"], names) if report["points"] else names[0]
    eff = report.get("signal_efficiency_for_rejection", 0.9)
    lines = ["# Which representation wins, and when", "",
             f"Test events: {report['events']['test']:,} (balanced over {', '.join(report['classes'].values())}); "
             "cells: mean over seeds [95 % bootstrap interval over the test events] (± standard deviation over seeds).",
             ""]
    for key, title, d in (("macro_auc", "Macro ROC AUC", 4), ("accuracy", "Accuracy", 4),
                          *((f"rejection_{n}", f"Rejection of the other classes at {eff:.0%} "
                             f"{report['classes'][n]} efficiency", 1) for n in [hard, *(m for m in names if m != hard)])):
        sizes = sorted({p["size"] for p in report["points"]})
        lines += [f"## {title}", "", "| representation | " + " | ".join(f"{s:,}/class" for s in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for rep, word in REP_WORDS.items():
            cells = [_fmt(next((p[key] for p in report["points"] if p["rep"] == rep and p["size"] == s), None), d)
                     for s in sizes]
            if any(c != "-" for c in cells):
                lines.append(f"| {word} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Paired differences (image CNN minus the other)", "",
              "| pair | training events per class | macro AUC | accuracy |", "|---|---|---|---|"]
    for d in sorted(report["differences"], key=lambda d: (d["pair"], d["size"])):
        lines.append(f"| {d['pair']} | {d['size']:,} | {_fmt(d['macro_auc'])} | {_fmt(d['accuracy'])} |")
    t = report.get("transfer")
    if t:
        lines += ["", f"## Real CMS events (tt+jets vs W+jets, {t['n_test']} test events, ROC AUC)", "",
                  "| arm | " + " | ".join(REP_WORDS.values()) + " | image - sets | image - trees |",
                  "|---|---|---|---|---|---|"]
        for arm, figs in t["arms"].items():
            dif = t["differences"].get(arm, {})
            lines.append(f"| {arm_words(arm)} | " + " | ".join(_fmt(figs.get(r)) for r in REP_WORDS)
                         + f" | {_fmt(dif.get('image - sets'))} | {_fmt(dif.get('image - trees'))} |")
    return "\n".join(lines) + "\n"
