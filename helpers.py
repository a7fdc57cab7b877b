"""Shared utilities of the numbered notebooks (thin: the logic lives in ``eventcnn``).

Each notebook does ``import helpers`` (the install cell puts the repository root
on ``sys.path``). Sections follow the pipeline stages.
"""

from __future__ import annotations

# --- 01 events and images ---
from pathlib import Path  # noqa: E402

from eventcnn.images.display import plot_gallery, plot_kinematics  # noqa: E402,F401


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
    if (image_dir / "manifest.csv").exists():
        return image_dir
    print(f"no images in {image_dir} yet (notebook 01 makes them): rendering {per_class} per class")
    inputs = cms_inputs()
    render_to_dir([(path, label) for label, path in inputs.items()], image_dir,
                  RenderConfig(size=size), selection=selection, limit=per_class, quiet=True)
    return image_dir


def plot_before_after(augmented_dir, n: int = 4, seed: int = 0, path=None):
    """Original (top) and Augmentor-augmented image (bottom) for ``n`` random augmented files."""
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from eventcnn.images.folder import read_manifest

    augmented_dir = Path(augmented_dir)
    rows = read_manifest(augmented_dir / "manifest.csv", required=("file", "source"))
    pick = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    fig, axes = plt.subplots(2, len(pick), figsize=(2.6 * len(pick), 5.4), squeeze=False)
    for col, i in enumerate(pick):
        row = rows[i]
        for ax, file, title in ((axes[0, col], row["source"], f"{row['class']} event {row['event']}"),
                                (axes[1, col], augmented_dir / row["file"], "Augmentor")):
            with Image.open(file) as im:
                ax.imshow(np.asarray(im.convert("RGB")))
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("before (top) and after (bottom) the on-disk Augmentor recipe")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_symmetry_grid(image, n: int = 7, seed: int = 0, geometry: str = "etaphi", path=None):
    """One event and ``n`` versions of it made by the online physics augmentation (training mode)."""
    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    from eventcnn.learn.augment import physics_augmentation

    image = np.asarray(image)
    batch = np.repeat(image[None], n, axis=0)
    augmented = keras.ops.convert_to_numpy(physics_augmentation(geometry, seed=seed)(batch, training=True))
    cols = min(4, n + 1)
    rows = -(-(n + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.9 * rows), squeeze=False)
    extent = (-3, 3, -np.pi, np.pi) if geometry == "etaphi" else None
    for k, ax in enumerate(axes.flat):
        if k > n:
            ax.axis("off")
            continue
        ax.imshow(image if k == 0 else augmented[k - 1], extent=extent, aspect="auto")
        ax.set_title("original" if k == 0 else f"augmented {k}", fontsize=9)
        if geometry == "etaphi":
            ax.set_xlabel("eta", fontsize=8)
            ax.set_ylabel("phi", fontsize=8)
            ax.tick_params(labelsize=7)
        else:
            ax.axis("off")
    fig.suptitle("exact symmetries: cyclic phi shift, eta mirror, phi mirror" if geometry == "etaphi"
                 else "end view: rotation around the beam axis and mirror")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


# --- 03 transfer learning ---


def class_counts(image_dir) -> dict[str, int]:
    """Images per class of an image folder (manifest or sub-folders)."""
    from collections import Counter

    from eventcnn.learn.dataset import list_images

    items, _ = list_images(image_dir)
    return dict(sorted(Counter(it.cls for it in items).items()))


def freeze_table(backbone: str, image_size: int, num_classes: int = 2):
    """:func:`eventcnn.learn.models.freeze_table` shown as Markdown."""
    from eventcnn.learn.models import freeze_table as rows

    return markdown(_table(rows(backbone, image_size, num_classes)))


def _table(rows) -> str:
    from eventcnn.learn.metrics import comparison_table

    return comparison_table(rows, digits=4)


def results_table(metrics: dict):
    """CNN vs baseline on the test split (accuracy, balanced accuracy, ROC AUC) as Markdown."""
    rows = [{"classifier": "CNN", "accuracy": metrics["accuracy"], "balanced accuracy": metrics["balanced_accuracy"],
             "macro ROC AUC": metrics["roc_auc"]["macro"]}]
    b = metrics.get("baseline") or {}
    if "accuracy" in b:
        rows.append({"classifier": "gradient-boosted trees", "accuracy": b["accuracy"],
                     "balanced accuracy": b["balanced_accuracy"], "macro ROC AUC": b["roc_auc"]["macro"]})
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
    """Import Keras and start its device once, with the process's stderr muted.

    TensorFlow's C++ start-up lines (``cudart_stub``, ``failed call to cuInit``
    on a machine without a GPU) are written before any log setting applies and
    would land in the notebook as red noise. Errors are not hidden: an import
    that fails still raises.
    """
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import keras

                keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # the device starts here (cuInit)
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


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
    """Your labels and, only in demo mode, reference labels for the ones missing.

    Returns ``(mine, demo_labels)``: arrays over ``data`` (``""`` = none).
    ``mine`` holds only what you labelled. With fewer than ``n_label`` labels a
    clear error says so, unless ``demo`` is True: then the missing ones are
    taken from the reference labels into ``demo_labels`` (never written to your
    label file, never counted in the agreement score) and this is said loudly.
    """
    import numpy as np

    from eventcnn.opal import ids

    by_id = dict(zip(ids.display_ids(data.names), data.names))  # the session may name displays by id
    table = {by_id.get(k, k): v for k, v in session.labels.items()}
    mine = np.array([table.get(n, "") for n in data.names], dtype="<U1")
    demo_labels = np.full(len(data), "", dtype="<U1")
    have = int((mine != "").sum())
    print(session.status())
    if have >= n_label:
        return mine, demo_labels
    if not demo:
        raise RuntimeError(
            f"You labelled {have} of the {n_label} events (N_LABEL). Label the others in the "
            "labeller above (or lower N_LABEL in the parameters cell), then re-run this cell. "
            "For a demonstration without labelling set DEMO_LABELS = True in the parameters cell: "
            "the missing labels are then copied from the reference and marked as such.")
    ref = dict(zip(data.names, data.labels))
    todo = [by_id.get(n, n) for n in session.names if by_id.get(n, n) not in table][: n_label - have]
    index = {n: i for i, n in enumerate(data.names)}
    for name in todo:
        demo_labels[index[name]] = ref[name]
    print(f"DEMO_LABELS: {len(todo)} of the {n_label} labels are REFERENCE labels, not yours. "
          "They are used for training only and left out of the agreement score.")
    return mine, demo_labels


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
