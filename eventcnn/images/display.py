"""Pictures of stage 1: kinematic distributions per class and image galleries.

Matplotlib only (no Keras). Every function returns the figure and, given
``path``, also saves it as PNG atomically.

Example::

    >>> from eventcnn.images.display import plot_kinematics, plot_gallery
    >>> plot_kinematics({"ttjets": tt, "wjets": w}, path="kinematics.png")   # doctest: +SKIP
    >>> plot_gallery("CreatedImages", per_class=6)                            # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_figure_png
from eventcnn.errors import UserError
from eventcnn.events import Events
from eventcnn.images.folder import MANIFEST, RENDER_CONFIG, open_rgb, read_manifest
from eventcnn.images.render import RenderConfig
from eventcnn.names import class_words

__all__ = ["colour_key", "kinematics", "plot_before_after", "plot_gallery",
           "plot_kinematics", "save_figure"]


def _plt() -> Any:
    """pyplot with the backend the caller chose (a notebook's inline one, Agg on the command line)."""
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike[str] | None, dpi: int = 100) -> None:
    """Save ``fig`` as PNG atomically (no-op when ``path`` is None)."""
    if path is not None:
        write_figure_png(fig, path, dpi=dpi)


def _leading(values: np.ndarray, objs_index: np.ndarray, n: int) -> np.ndarray:
    """Largest value per event (NaN when the event has none), columnar."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, objs_index, values)
    out[np.isinf(out)] = np.nan
    return out


def kinematics(events: Events) -> dict[str, np.ndarray]:
    """Per-event quantities for plots: lepton pT/eta/phi (leading), MET, jets, HT."""
    n = len(events)
    lep_pt = np.concatenate([events.electron["pt"], events.muon["pt"]])
    lep_eta = np.concatenate([events.electron["eta"], events.muon["eta"]])
    lep_phi = np.concatenate([events.electron["phi"], events.muon["phi"]])
    idx = np.concatenate([events.electron.event_index, events.muon.event_index])
    lead = _leading(lep_pt, idx, n)
    # eta/phi of the leading lepton: the entry whose pT equals the per-event maximum
    pick = np.full(n, -1)
    order = np.argsort(lep_pt, kind="stable")
    pick[idx[order]] = order  # the last write per event is the largest pT
    has = pick >= 0
    eta = np.where(has, lep_eta[pick], np.nan)
    phi = np.where(has, lep_phi[pick], np.nan)
    return {
        "lepton pT [GeV]": lead,
        "lepton eta": eta,
        "lepton phi": phi,
        "MET [GeV]": events.met,
        "jet multiplicity": events.jet.counts.astype(float),
        "HT [GeV]": np.bincount(events.jet.event_index, weights=events.jet["pt"], minlength=n),
    }


_BINS = {
    "lepton pT [GeV]": np.linspace(0, 200, 41),
    "lepton eta": np.linspace(-3, 3, 31),
    "lepton phi": np.linspace(-np.pi, np.pi, 31),
    "MET [GeV]": np.linspace(0, 250, 41),
    "jet multiplicity": np.arange(-0.5, 10.5, 1.0),
    "HT [GeV]": np.linspace(0, 1000, 41),
}


def plot_kinematics(
    samples: Mapping[str, Events],
    path: str | os.PathLike[str] | None = None,
    density: bool = True,
) -> Any:
    """Histograms of lepton pT, eta, phi, MET, jet multiplicity and HT, one colour per class."""
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    per_class = {label: kinematics(ev) for label, ev in samples.items()}
    for ax, (name, bins) in zip(axes.ravel(), _BINS.items()):
        for label, values in per_class.items():
            v = values[name]
            v = v[np.isfinite(v)]
            ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.8,
                    density=density, label=f"{label} ({len(v)})")
        ax.set_xlabel(name)
        ax.set_ylabel("normalised" if density else "events")
    axes[0, 0].legend()
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def colour_key(config: Any = None) -> list[tuple[str, tuple[float, float, float]]]:
    """``(what, RGB in 0-1)`` per object kind as the images draw it (the legend of a gallery).

    Example::

        >>> [name for name, _ in colour_key()]
        ['jet', 'b-jet', 'electron', 'muon', 'MET (missing transverse energy)']
    """

    cfg = config or RenderConfig()
    if cfg.style == "channels":
        return [("light jets (red channel)", (1.0, 0.0, 0.0)), ("b-jets (green channel)", (0.0, 0.8, 0.0)),
                ("leptons and MET (blue channel)", (0.0, 0.0, 1.0))]
    names = {"jet": "jet", "bjet": "b-jet", "electron": "electron", "muon": "muon",
             "met": "MET (missing transverse energy)"}
    return [(names[k], tuple(c / 255.0 for c in cfg.colors[k])) for k in ("jet", "bjet", "electron", "muon", "met")]


def _render_config(root: Path) -> Any:

    path = root / RENDER_CONFIG
    try:
        return RenderConfig.from_json(path) if path.is_file() else RenderConfig()
    except (ValueError, OSError):
        return RenderConfig()


def plot_gallery(
    image_dir: str | os.PathLike[str],
    per_class: int = 6,
    classes: list[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Any:
    """A grid of images per class from an image folder (``<dir>/<class>/*.png``).

    Readable by a student: every image on eta (left to right) and phi (bottom to
    top) axes, the class in words on each row, and a colour key of the objects
    (jet, b-jet, electron, muon, MET; from the folder's ``render_config.json``).
    """
    from matplotlib.lines import Line2D
    from PIL import Image

    plt = _plt()
    root = Path(image_dir)
    files = _files_by_class(root)
    classes = classes or sorted(files)
    if not classes:
        raise FileNotFoundError(f"no images found in {root} (expected {root}/<class>/*.png)")
    cfg = _render_config(root)
    extent = (-cfg.eta_max, cfg.eta_max, -np.pi, np.pi)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(2.1 * per_class + 0.6, 2.3 * len(classes) + 0.9),
                             squeeze=False)
    for row, label in enumerate(classes):
        chosen = files.get(label, [])
        if len(chosen) > per_class:
            chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), per_class, replace=False))]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([-cfg.eta_max, 0, cfg.eta_max])
            ax.set_yticks([-np.pi, 0, np.pi], ["-pi", "0", "pi"])
            ax.tick_params(labelsize=7, length=2, labelbottom=row == len(classes) - 1, labelleft=col == 0)
            if col < len(chosen):
                with Image.open(chosen[col]) as im:
                    ax.imshow(np.asarray(im.convert("RGB")), extent=extent, aspect="auto")
            else:
                ax.set_axis_off()
            if row == len(classes) - 1:
                ax.set_xlabel("eta", fontsize=8)
            if col == 0:
                ax.set_ylabel("phi", fontsize=8)
        # the class in words, never a file name (OPAL names such as e5293_... give it away)
        axes[row, 0].set_title(class_words(label), fontsize=10, loc="left", fontweight="bold")
    handles = [Line2D([], [], marker="o", ls="", markerfacecolor="none", markeredgecolor=rgb,
                      markeredgewidth=2, markersize=9, label=name) for name, rgb in colour_key(cfg)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
               title="one circle per object; bigger = higher transverse momentum pT", title_fontsize=8)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    save_figure(fig, path)
    return fig


def _files_by_class(root: Path) -> dict[str, list[Path]]:
    manifest = root / MANIFEST
    out: dict[str, list[Path]] = {}
    if manifest.exists():

        for row in read_manifest(manifest):
            out.setdefault(row["class"], []).append(root / row["file"])
        return out
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(sub.glob("*.png")) + sorted(sub.glob("*.jpg"))
        if images:
            out[sub.name] = images
    return out


def plot_before_after(augmented_dir: str | os.PathLike[str], n: int = 4, seed: int = 0,
                      path: str | os.PathLike[str] | None = None) -> Any:
    """Original (top) and Augmentor-augmented image (bottom) for ``n`` random augmented files.

    Reads the ``manifest.csv`` of an :func:`eventcnn.images.augment.augment_folder` output.

    Example::

        fig = plot_before_after("augmented", n=4, seed=0)
    """
    plt = _plt()
    augmented_dir = Path(augmented_dir)
    rows = read_manifest(augmented_dir / MANIFEST, required=("file", "source"))
    if not rows:
        raise UserError(f"{augmented_dir}/manifest.csv lists no augmented images")
    pick = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    fig, axes = plt.subplots(2, len(pick), figsize=(2.6 * len(pick), 5.4), squeeze=False)
    for col, i in enumerate(pick):
        row = rows[i]
        for ax, file, title in ((axes[0, col], row["source"], f"{row['class']} event {row['event']}"),
                                (axes[1, col], augmented_dir / row["file"], "Augmentor")):
            ax.imshow(open_rgb(file))
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("before (top) and after (bottom) the on-disk Augmentor recipe")
    fig.tight_layout()
    save_figure(fig, path)
    return fig
