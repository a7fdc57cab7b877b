"""Words and pictures for a classroom: class names in words, a hint card, readable plots.

Plots a 16-year-old can read: the classes are called *hadronic*, *electron*,
*muon* and *tau* on every axis, confusion matrices use a linear colour scale
with the count written in every cell (a log scale only on request), bar charts
carry their numbers on the bars. Every plot function returns a
:class:`matplotlib.figure.Figure` built without pyplot, so no backend is
chosen or changed here (show it in Jupyter by returning it, save it with
:func:`save`).

Example::

    from eventcnn import opal
    from eventcnn.opal import pictures as classroom
    print(classroom.hint_card())
    fig = classroom.confusion_figure([[40, 1, 0, 2], [0, 3, 0, 0], [0, 0, 4, 1], [1, 0, 0, 3]])
    classroom.save(fig, "confusion_matrix.png")
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_figure_png
from eventcnn.errors import UserError
from eventcnn.names import OPAL_CLASSES as CLASS_CODES  # class codes in model-output order
from eventcnn.names import OPAL_WORDS as CLASS_WORDS  # each class in one word

__all__ = ['confusion_figure', 'counts_figure', 'DISPLAY_KEY', 'displays_figure', 'hint_card', 'overview_figure',
           'save', 'words']

HINTS: dict[str, str] = {
    "q": "many tracks, grouped in two or more jets; lots of calorimeter energy",
    "e": "two tracks, back to back, ending in big deposits in the electromagnetic calorimeter",
    "m": "two tracks, back to back, going right through to the muon chambers; "
         "little calorimeter energy",
    "t": "few tracks (often 1 + 1 or 1 + 3), not back to back: missing energy, unbalanced",
}
"""What a display of each class looks like (one line each)."""


def words(codes: Sequence[str]) -> list[str]:
    """Class codes -> words (unknown codes are kept as they are).

    Example::

        >>> words(["q", "t"])
        ['hadronic', 'tau']
    """
    return [CLASS_WORDS.get(str(c), str(c)) for c in codes]


def hint_card() -> str:
    """A few lines saying what each class looks like and which key to press.

    Example::

        print(hint_card())
    """
    width = max(len(w) for w in CLASS_WORDS.values())
    lines = ["What the classes look like (the detector seen along the beam):"]
    lines += [f"  {c} = {CLASS_WORDS[c]:<{width}}  {HINTS[c]}" for c in CLASS_CODES]
    return "\n".join(lines)


def _figure(figsize: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically and return the path.

    Example::

        save(overview_figure(rows), "overview.png")
    """
    return write_figure_png(fig, path, dpi=dpi, tight=False)  # the constrained layout fits the page


def confusion_figure(cm: Any, class_names: Sequence[str] | None = None, log: bool = False,
                     title: str | None = None) -> Any:
    """Confusion matrix (rows: true class, columns: predicted) with the count in every cell.

    ``class_names``: codes or words (default q, e, m, t); codes are written as
    words. Linear colour scale from 0; ``log=True`` for a logarithmic one.

    Example::

        fig = confusion_figure([[40, 2, 0, 1], [0, 3, 0, 0], [0, 0, 4, 0], [1, 0, 1, 3]])
    """
    from matplotlib.colors import LogNorm, Normalize

    cm = np.asarray(cm, dtype=float)
    names = words(CLASS_CODES if class_names is None else class_names)
    k = len(names)
    if cm.ndim != 2 or cm.shape != (k, k):
        raise UserError(f"confusion matrix must be ({k}, {k}) for classes {names}, got {cm.shape}")
    top = max(float(cm.max()), 1.0)
    norm = LogNorm(vmin=0.8, vmax=max(top, 8.0)) if log else Normalize(vmin=0.0, vmax=top)
    fig, ax = _figure((1.1 * k + 2.6, 1.0 * k + 1.8))
    im = ax.imshow(np.where(cm > 0, cm, np.nan) if log else cm, cmap="Blues", norm=norm)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="number of events")
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("the CNN says")
    ax.set_ylabel("it really is")
    ax.set_title(title or "Which class is taken for which?")
    for i in range(k):
        for j in range(k):
            dark = norm(cm[i, j]) > 0.55 if cm[i, j] > 0 else False
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=11,
                    color="white" if dark else "black", fontweight="bold" if i == j else None)
    return fig


def counts_figure(counts: Mapping[str, int], title: str = "events per class",
                  xlabel: str = "number of events") -> Any:
    """Horizontal bar chart of counts per class, the number written at each bar.

    Example::

        fig = counts_figure({"q": 30, "e": 7, "m": 6, "t": 7}, title="your labels")
    """
    codes = list(counts)
    values = [int(counts[c]) for c in codes]
    fig, ax = _figure((6, 0.45 * len(codes) + 1.4))
    bars = ax.barh(words(codes), values, color="tab:blue")
    ax.bar_label(bars, labels=[str(v) for v in values], padding=3)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.set_xlim(0, max(values + [1]) * 1.15)
    return fig


def overview_figure(rows: Sequence[Mapping[str, Any]], log: bool = False,
                    title: str = "Share of each kind of Z decay") -> Any:
    """The Z overview: predicted (and reference) shares per class next to the expected ones.

    ``rows``: :func:`eventcnn.opal.predicted_overview` output. Grouped
    horizontal bars (class names in words, one row per class, so no labels
    overlap), the share in percent written at every bar, a linear axis unless
    ``log=True``.

    Example::

        fig = overview_figure(opal.predicted_overview(pred, data.labels))
    """
    if not rows:
        raise UserError("overview_figure needs at least one row (see opal.predicted_overview)")
    series = [("predicted_share", "CNN prediction")]
    if "reference_share" in rows[0]:
        series.append(("reference_share", "reference labels"))
    series.append(("expected_share", "expected from the Z (PDG)"))
    y = np.arange(len(rows))
    height = 0.8 / len(series)
    fig, ax = _figure((7, 1.1 * len(rows) + 1.2))
    for k, (key, label) in enumerate(series):
        values = np.array([100.0 * float(r[key]) for r in rows])
        bars = ax.barh(y + k * height, values, height, label=label)
        ax.bar_label(bars, labels=[f"{v:.1f} %" for v in values], padding=2, fontsize=8)
    ax.set_yticks(y + height * (len(series) - 1) / 2, words([r["class"] for r in rows]))
    ax.invert_yaxis()
    ax.set_xlabel("share of the visible Z decays (%)")
    if log:
        ax.set_xscale("log")
    else:
        ax.set_xlim(0, 112)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


DISPLAY_KEY: tuple[tuple[str, str, str], ...] = (
    ("_", "#dddddd", "lines from the centre: tracks of charged particles (central jet chamber)"),
    ("s", "#e0e000", "boxes further out: energy in the calorimeters (electromagnetic inside, "
                     "hadron outside); a bigger box is more energy"),
    ("o", "#ff2020", "red marks at the edge: hits in the muon chambers (only muons get there)"),
)
"""The key of an OPAL display by detector part: ``(marker, colour, what)``.

Measured on the masterclass displays (``bench``-free check: the radius of lit
pixels per colour): red marks lie furthest out (muon chambers); tracks and
calorimeter boxes are drawn in several colours (yellow, green, blue, cyan,
magenta) at the same radii, so for those the key names the detector part by
where and what it is, not by colour.
"""


def displays_figure(images: Sequence[np.ndarray] | np.ndarray, titles: Sequence[str] | None = None,
                    cols: int = 3, inches: float = 4.2, key: bool = True) -> Any:
    """OPAL displays large enough to read, with a key of the detector parts underneath.

    ``images``: ``uint8`` displays ``(N, H, W, 3)``; ``titles``: one per display
    (e.g. "event 3 of 50" or a class in words, never a file name).

    Example::

        fig = displays_figure(data.images[:3], ["hadronic", "electron", "muon"])
        save(fig, "examples.png")
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    extra = 1.1 if key else 0.0
    fig = Figure(figsize=(inches * cols, inches * rows + extra), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(images[i], interpolation="antialiased")
            if titles is not None and i < len(titles):
                ax.set_title(str(titles[i]), fontsize=11)
    if key:
        handles = [Line2D([], [], marker=m, ls="", color=c, markersize=10, markeredgewidth=2,
                          markerfacecolor="none" if m == "s" else c, label=text) for m, c, text in DISPLAY_KEY]
        leg = fig.legend(handles=handles, loc="outside lower center", ncol=1, fontsize=9, frameon=True,
                         facecolor="black", labelcolor="white", edgecolor="grey",
                         title="the detector seen along the beam, from the centre out")
        leg.get_title().set_color("white")
        leg.get_title().set_fontsize(9)
    return fig
