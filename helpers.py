"""Shared utilities of the numbered notebooks (thin: the logic lives in ``eventcnn``).

Each notebook does ``import helpers`` (the install cell puts the repository root
on ``sys.path``). Sections follow the pipeline stages.
"""

from __future__ import annotations

# --- 01 events and images ---
from pathlib import Path  # noqa: E402

from eventcnn.images.display import plot_gallery, plot_kinematics  # noqa: E402,F401
from eventcnn.images.folder import MANIFEST  # noqa: E402


class InputFiles(dict):
    """``{label: Path}`` of event files, plus where they come from.

    ``examples`` is True when these are the small generated example files instead
    of the real CMS data; ``note`` says why (show it next to any result).
    """

    examples: bool = False
    note: str = ""


def cms_inputs(prefer_examples: bool = False) -> InputFiles:
    """Class label -> event file: the public CMS files (fetched once, cached).

    Only when the data cannot be had (offline / not downloadable: ``DownloadError``,
    or a missing mirror file: ``FileNotFoundError``) do the small example files shipped
    with eventcnn (60 generated events per class) stand in; that is announced with a
    loud warning and recorded in ``.examples`` / ``.note`` of the result. A checksum
    mismatch or any other error is raised, never papered over.
    """
    from eventcnn.events.sources import DownloadError, fetch

    if prefer_examples:
        out = InputFiles(example_inputs())
        out.examples, out.note = True, "example events (asked for with prefer_examples=True), not real CMS data"
        return out
    try:
        return InputFiles(fetch("cms", quiet=True))
    except (DownloadError, FileNotFoundError) as exc:
        out = InputFiles(example_inputs())
        out.examples = True
        out.note = (f"the CMS files could not be fetched ({exc}); using the 60 generated example "
                    "events per class shipped with eventcnn: results below are on EXAMPLE events, "
                    "NOT real CMS data")
        print(f"WARNING: {out.note}")
        return out


def example_inputs() -> dict[str, Path]:
    """The example event files inside the package (60 generated events per class)."""
    from eventcnn.events.sources import example_files

    return example_files()


def load_selected(inputs: dict[str, Path], selection="paper", limit=None, quiet=False):
    """Read and select every class; prints the cut flows. Returns ``{label: Events}``."""
    from eventcnn.events import read_events
    from eventcnn.events.selection import get_selection

    sel = get_selection(selection)
    out = {}
    for label, path in inputs.items():
        events = read_events(path)
        if sel is not None:
            events, flow = sel.apply(events)
            if not quiet:
                print(flow.table(f"{Path(path).name} -> {label}"), end="\n\n")
        out[label] = events[:limit] if limit else events
    return out

# --- 02 augmentation ---


def ensure_images(image_dir, per_class: int = 20, size: int = 224, selection="paper") -> Path:
    """``image_dir`` with images in it: when it has no ``manifest.csv`` yet (notebook 01 not
    run), render ``per_class`` selected events per class there first."""
    from eventcnn.images.render import RenderConfig, render_to_dir

    image_dir = Path(image_dir)
    if (image_dir / MANIFEST).exists():
        return image_dir
    print(f"no images in {image_dir} yet (notebook 01 makes them): rendering {per_class} per class")
    inputs = cms_inputs()
    render_to_dir([(path, label) for label, path in inputs.items()], image_dir,
                  RenderConfig(size=size), selection=selection, limit=per_class, quiet=True)
    return image_dir


def plot_before_after(augmented_dir, n: int = 4, seed: int = 0, path=None):
    """Original and augmented images side by side (:func:`eventcnn.images.display.plot_before_after`)."""
    from eventcnn.images.display import plot_before_after as plot

    return plot(augmented_dir, n=n, seed=seed, path=path)


def plot_symmetry_grid(image, n: int = 7, seed: int = 0, geometry: str = "etaphi", path=None):
    """One event and versions of it (:func:`eventcnn.learn.augment.plot_symmetry_grid`)."""
    from eventcnn.learn.augment import plot_symmetry_grid as plot

    return plot(image, n=n, seed=seed, geometry=geometry, path=path)


# --- 03 transfer learning ---


def class_counts(image_dir) -> dict[str, int]:
    """Images per class of an image folder (manifest or sub-folders)."""
    from collections import Counter

    from eventcnn.learn.dataset import list_images

    items, _ = list_images(image_dir)
    return dict(sorted(Counter(it.cls for it in items).items()))


def freeze_table(backbone: str, size: int, num_classes: int = 2):
    """:func:`eventcnn.learn.models.freeze_table` shown as Markdown."""
    from eventcnn.learn.models import freeze_table as rows

    return markdown(_table(rows(backbone, size, num_classes)))


def _table(rows) -> str:
    from eventcnn.learn.metrics import comparison_table

    return comparison_table(rows, digits=4)


def results_table(metrics: dict):
    """CNN vs baseline on the test split (accuracy, balanced accuracy, ROC AUC, with 95 % intervals) as Markdown."""
    from eventcnn.learn.intervals import fmt

    def row(name, m, signed=False):
        return {"classifier": name, "accuracy": fmt(m.get("accuracy"), 4, signed),
                "balanced accuracy": fmt(m.get("balanced_accuracy"), 4, signed),
                "macro ROC AUC": fmt((m.get("roc_auc") or {}).get("macro"), 4, signed)}

    rows = [row("CNN", metrics)]
    b = metrics.get("baseline") or {}
    if "accuracy" in b:
        rows.append(row("gradient-boosted trees", b))
    if metrics.get("cnn_minus_baseline"):
        rows.append(row("CNN - trees (paired, same events)", metrics["cnn_minus_baseline"], signed=True))
    elif b:
        print(b.get("skipped"))
    return markdown(_table(rows))


def show_image(path):
    """Display a PNG in the notebook (prints the path when it does not exist)."""
    from IPython.display import Image, display

    if not Path(path).exists():
        print(f"{path}: not written")
        return None
    return display(Image(filename=str(path)))


def markdown(text: str):
    """Render a Markdown string in the notebook."""
    from IPython.display import Markdown

    return Markdown(text)


def import_keras_quietly() -> None:
    """Import Keras and start its device once, stderr muted (:func:`eventcnn.cli._keras.import_keras_quietly`)."""
    from eventcnn.cli._keras import import_keras_quietly as start

    start(start_device=True)


# --- 04 OPAL masterclass ---


def opal_events(quick: bool = False, n_quick: int = 60, seed: int = 42):
    """The OPAL displays with the reference labels (``eventcnn.events.sources.fetch("opal")``).

    In quick mode a stratified subset of ``n_quick`` events (every class kept).

    Example::

        data = helpers.opal_events(quick=QUICK)
    """

    from eventcnn import opal
    from eventcnn.events.sources import fetch
    from eventcnn.learn.splits import stratified_sample

    paths = fetch("opal")
    data = opal.load_displays(paths["zip"], paths["labels"])
    if quick and len(data) > n_quick:
        keep = stratified_sample(data.labels, n_quick / len(data), seed, min_per_class=3,
                                 classes=opal.CLASS_NAMES)
        data = data[keep]
        print(f"QUICK mode: using {len(data)} of the events")  # never the class counts: students measure them
    return data


def show_examples(data, per_class: int = 3) -> None:
    """Example displays of every class, large, with a key of the detector parts (one row per class)."""
    import numpy as np

    from eventcnn import opal
    from eventcnn.opal import pictures as classroom

    for c in opal.CLASS_NAMES:
        idx = np.flatnonzero(data.labels == c)[:per_class]
        if len(idx):  # the class in words, never the file name
            fig = classroom.displays_figure(data.images[idx], [opal.CLASS_TITLES[c]] * len(idx),
                                            cols=per_class, inches=3.6, key=c == opal.CLASS_NAMES[-1])
            show_figure(fig)


def interactive_frontend(quick: bool) -> bool:
    """True when a person can click widgets here (a Jupyter kernel, not QUICK/CI)."""
    from eventcnn.opal import labeller

    return not quick and labeller.widgets_available()


def student_labels(session, data, n_label: int, demo: bool = False):
    """Your labels and, only with ``demo``, reference labels for the missing ones
    (:func:`eventcnn.opal.labeller.student_labels`)."""
    from eventcnn.opal.labeller import student_labels as labels

    return labels(session, data.names, data.labels, n_label, demo=demo)


def plot_overview(pred, reference=None):
    """Shares of each class predicted (and in the reference) vs the Z expectation: table + chart."""
    from eventcnn import opal
    from eventcnn.opal import pictures as classroom

    rows = opal.predicted_overview(pred, reference)
    print(opal.overview_table(rows))
    show_figure(classroom.overview_figure(rows))


def show_figure(fig) -> None:
    """Show a matplotlib Figure (also one made without pyplot) in the notebook as a PNG."""
    import io

    from IPython.display import Image, display

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    display(Image(buf.getvalue()))
