"""What does the CNN look at? Occlusion-sensitivity maps for any trained image classifier.

A grey (here: black, the display background) square is slid over the image; where
covering the image lowers the probability of the predicted class most, the
network was looking. Only forward passes, batched, so it works with every Keras
backend (TensorFlow, JAX, PyTorch) and every model that takes an image.

- :func:`occlusion_map`: the map ``(H, W)`` for one image and one class.
- :func:`plot_occlusion`: the display with the map on top, into a given
  matplotlib ``Axes`` or a new ``Figure`` (never calls ``matplotlib.use``).
- :func:`load_explainable`: a model with its class names and input size from a
  CMS run folder (``eventcnn train``), an OPAL run folder (``eventcnn opal
  train``) or a ``.keras`` file.
- :func:`explain_files`: PNG per image (atomic writes); the ``eventcnn
  explain`` command.

Example::

    from eventcnn.learn import explain
    model, names, size = explain.load_explainable("runs/opal")
    image = explain.read_input("event.png", size)
    heat = explain.occlusion_map(model, image)             # (200, 200), predicted class
    fig = explain.plot_occlusion(image, heat, title="tau 0.93")
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env
from eventcnn._io import write_figure_png
from eventcnn.errors import UserError, check_output
from eventcnn.images.folder import image_folder_of
from eventcnn.learn.runs import load_keras_file

__all__ = [
    "CMS_WORDS",
    "explain_files",
    "load_explainable",
    "occlusion_map",
    "plot_occlusion",
    "read_input",
]


def _predict(model: Any, batch: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_on_batch(batch), dtype=np.float64)


def occlusion_map(model: Any, image: np.ndarray, target: int | None = None, patch: int | None = None,
                  stride: int | None = None, fill: float = 0.0, batch_size: int = 64) -> np.ndarray:
    """Occlusion sensitivity ``(H, W)`` of ``model``'s probability for class ``target``.

    ``image``: ``(H, W, C)`` in the dtype the model takes (``uint8`` for the
    eventcnn models). ``target``: class index (default: the predicted class).
    A ``patch`` x ``patch`` square (default H/8) filled with ``fill`` is moved
    by ``stride`` (default patch/2); each pixel gets the mean drop of the
    probability over the positions that covered it (positive: the evidence was
    there; negative: covering it made the class more likely). Forward passes
    only, ``batch_size`` occluded copies at a time.

    Example::

        heat = occlusion_map(model, image, patch=16, stride=8)
        y, x = np.unravel_index(heat.argmax(), heat.shape)   # where the evidence is
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {image.shape}")
    h, w = image.shape[:2]
    patch = max(1, h // 8) if patch is None else int(patch)
    stride = max(1, patch // 2) if stride is None else int(stride)
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(f"patch must be in [1, {min(h, w)}] and stride >= 1, got {patch}, {stride}")
    base = _predict(model, image[None])[0]
    if target is None:
        target = int(base.argmax())
    if not 0 <= target < len(base):
        raise ValueError(f"target class {target} out of range for a model with {len(base)} outputs")
    ys = list(range(0, h - patch + 1, stride))
    xs = list(range(0, w - patch + 1, stride))
    if ys[-1] != h - patch:
        ys.append(h - patch)
    if xs[-1] != w - patch:
        xs.append(w - patch)
    positions = [(y, x) for y in ys for x in xs]
    drop = np.zeros((h, w))
    count = np.zeros((h, w))
    fill_value = np.asarray(fill).astype(image.dtype)
    for start in range(0, len(positions), batch_size):
        chunk = positions[start:start + batch_size]
        batch = np.repeat(image[None], len(chunk), axis=0)
        for k, (y, x) in enumerate(chunk):
            batch[k, y:y + patch, x:x + patch] = fill_value
        p = _predict(model, batch)[:, target]
        for k, (y, x) in enumerate(chunk):
            drop[y:y + patch, x:x + patch] += base[target] - p[k]
            count[y:y + patch, x:x + patch] += 1
    return (drop / np.maximum(count, 1)).astype(np.float32)


def plot_occlusion(image: np.ndarray, heat: np.ndarray, title: str = "", ax: Any = None,
                   alpha: float = 0.7) -> Any:
    """The display with the occlusion map on top (red: evidence for the class).

    Draws into ``ax`` when given, else into a new ``matplotlib.figure.Figure``
    (no pyplot, no backend change); returns the figure.

    Example::

        fig = plot_occlusion(image, heat, title="tau (Z -> tau+ tau-), p = 0.93")
        fig.savefig("explain.png")
    """
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.2, 5.4))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    import matplotlib as mpl

    img = np.asarray(image)
    ax.imshow(img if img.shape[-1] != 1 else img[..., 0], cmap=None if img.shape[-1] == 3 else "gray")
    heat = np.asarray(heat, dtype=np.float64)
    lim = float(np.max(np.abs(heat))) or 1.0
    norm = mpl.colors.Normalize(vmin=-lim, vmax=lim)
    cmap = mpl.colormaps["bwr"]
    overlay = cmap(norm(heat))
    overlay[..., 3] = alpha * np.abs(heat) / lim  # transparent where covering changes nothing
    ax.imshow(overlay)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.046, pad=0.04,
                 label="probability drop when covered")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    return fig


# --------------------------------------------------------------------------- models and inputs


#: Words for the CMS process classes of eventcnn (render/generate); other names are kept.
CMS_WORDS: dict[str, str] = {
    "ttjets": "top pair + jets (ttjets)",
    "tt": "top pair + jets (tt)",
    "wjets": "W + jets (wjets)",
    "dy": "Drell-Yan Z/gamma* -> l l (dy)",
    "zz": "ZZ (zz)",
}


def _opal_words() -> dict[str, str]:
    from eventcnn.opal import CLASS_TITLES

    return dict(CLASS_TITLES)


def load_explainable(path: str | os.PathLike[str]) -> tuple[Any, list[str], tuple[int, int]]:
    """``(model, class names in words, (H, W))`` from a run folder or a ``.keras`` file.

    CMS run folders (``eventcnn train``: ``best.keras`` + ``config.json`` with
    ``class_names``), OPAL run folders (``eventcnn opal train``: ``best.keras`` too, or
    ``model.keras`` in folders written before the common run-folder format)
    and bare ``.keras`` files (OPAL names when the model is the masterclass CNN,
    else ``class 0``, ``class 1``, ...).

    Example::

        model, names, (h, w) = load_explainable("runs/small")
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: give a run folder or a .keras model file")
    cfg: dict[str, Any] = {}
    if path.is_dir():
        cfg_file = path / "config.json"
        if cfg_file.is_file():
            try:
                cfg = json.loads(cfg_file.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{cfg_file}: not valid JSON ({exc})") from None
        if (path / "best.keras").is_file():
            from eventcnn.learn.runs import load_run_model

            model = load_run_model(path)
        elif (path / "model.keras").is_file():
            from eventcnn.opal import load_model

            model = load_model(path)
        else:
            raise FileNotFoundError(f"{path}: no best.keras (eventcnn train) or model.keras "
                                    "(eventcnn opal train) in this folder")
    else:
        model = load_keras_file(path)
    n_out = int(model.output_shape[-1])
    names = [str(c) for c in cfg.get("class_names", [])]
    if not names and model.name == "opal_masterclass_cnn":
        from eventcnn.opal import CLASS_NAMES

        names = list(CLASS_NAMES)
    if len(names) != n_out:
        names = [f"class {i}" for i in range(n_out)]
    words = _opal_words()
    if set(names) <= set(words):
        names = [words[c] for c in names]
    else:
        names = [CMS_WORDS.get(c.lower(), c) for c in names]
    h, w = model.input_shape[1:3]
    if h is None or w is None:
        size = int(cfg.get("image_size") or 64)
        h = w = size
    return model, names, (int(h), int(w))


def read_input(path: str | os.PathLike[str], size: tuple[int, int] | int) -> np.ndarray:
    """An image file as ``uint8 (H, W, 3)`` resized to ``size`` (RGBA/palette -> RGB on black).

    Example::

        image = read_input("event.png", (200, 200))
    """
    from eventcnn.opal import decode_display

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} not found")
    h, w = (size, size) if isinstance(size, int) else size
    if h != w:
        from eventcnn.learn.dataset import read_image

        return read_image(path, (h, w))
    try:
        return decode_display(path.read_bytes(), size=int(h))
    except OSError as exc:
        raise ValueError(f"image {path} could not be decoded: {exc}") from None


def explain_files(model_path: str | os.PathLike[str], images: Sequence[str | os.PathLike[str]],
                  out: str | os.PathLike[str] = "explain", patch: int | None = None,
                  stride: int | None = None, quiet: bool = False) -> list[Path]:
    """Write ``<out>/<image stem>_occlusion.png`` for each image (atomic writes).

    The title names the predicted class in words and its probability.

    Example::

        explain_files("runs/opal", ["z5299_24147.png"], out="explain")
    """
    from tqdm.auto import tqdm

    out = Path(out)
    for f in images:  # before the model is loaded
        if Path(f).is_dir():
            raise UserError(f"{f} is a folder: give image files (e.g. {Path(f) / '*.png'})")
        if not Path(f).is_file():
            raise FileNotFoundError(f"image {f} not found")
    run_folder = Path(model_path).is_dir()
    check_output(out, inputs=[*images, *[model_path] * (not run_folder)], folder=True, protected=[
        *[("the run folder", model_path)] * run_folder,
        *[("the image folder", f) for f in dict.fromkeys(map(image_folder_of, images)) if f is not None]])
    model, names, size = load_explainable(model_path)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    quiet = quiet or quiet_from_env()
    for f in tqdm(list(images), desc="occlusion maps", disable=quiet, unit="image"):
        image = read_input(f, size)
        probs = _predict(model, image[None])[0]
        k = int(probs.argmax())
        heat = occlusion_map(model, image, target=k, patch=patch, stride=stride)
        fig = plot_occlusion(image, heat, title=f"{Path(f).name}\npredicted {names[k]}, p = {probs[k]:.3f}")
        target = out / f"{Path(f).stem}_occlusion.png"
        written.append(write_figure_png(fig, target, dpi=100))
    return written
