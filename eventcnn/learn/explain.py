"""What does the CNN look at? Occlusion-sensitivity maps for any trained image classifier.

A grey (here: black, the display background) square is slid over the image; where
covering the image lowers the probability of the predicted class most, the
network was looking. Only forward passes, batched, so it works with every Keras
backend (TensorFlow, JAX, PyTorch) and every model that takes an image.

- :func:`occlusion_map`: the map ``(H, W)`` for one image and one class.
- :func:`plot_occlusion`: the display with the map on top, into a given
  matplotlib ``Axes`` or a new ``Figure`` (never calls ``matplotlib.use``).
- :func:`load_explainable`: a model with its class names in words and input
  size from a run folder (``best.keras``) or a ``.keras`` file, of any kind
  (OPAL runs and masterclass files: the class words of the displays);
- :func:`explain_files`: PNG per image (atomic writes); the ``eventcnn
  explain`` command, for CMS and OPAL runs alike (OPAL displays decoded on
  black, as the masterclass reads them).

Example::

    from eventcnn.learn import explain
    model, names, size = explain.load_explainable("runs/small")
    image = explain.read_input("event.png", size)
    heat = explain.occlusion_map(model, image)             # (200, 200), predicted class
    fig = explain.plot_occlusion(image, heat, title="tau 0.93")
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from eventcnn._env import quiet_from_env
from eventcnn._io import write_figure_png
from eventcnn.errors import UserError, check_output
from eventcnn.images.folder import image_folder_of
from eventcnn.images.opal_displays import CLASS_NAMES, CLASS_TITLES, decode_display
from eventcnn.learn.runs import load_keras_file, load_run_model, run_kind
from eventcnn.names import CMS_TITLES

__all__ = [
    "background_mask",
    "CMS_WORDS",
    "explain_files",
    "load_explainable",
    "occlusion_map",
    "plot_occlusion",
    "MIN_CHANGE",
    "read_input",
    "shared_scale",
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
        raise UserError(f"image must be (H, W, C), got shape {image.shape}")
    h, w = image.shape[:2]
    patch = max(1, h // 8) if patch is None else int(patch)
    stride = max(1, patch // 2) if stride is None else int(stride)
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise UserError(f"patch must be in [1, {min(h, w)}] and stride >= 1, got {patch}, {stride}")
    base = _predict(model, image[None])[0]
    if target is None:
        target = int(base.argmax())
    if not 0 <= target < len(base):
        raise UserError(f"target class {target} out of range for a model with {len(base)} outputs")
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


#: below this largest probability change an occlusion map says "no region matters" (no colours)
MIN_CHANGE = 0.02


def background_mask(image: np.ndarray) -> np.ndarray:
    """True where ``image`` shows its background: the colour of most of its border pixels.

    Example::

        mask = background_mask(image)   # (H, W) bool; the objects are ~mask
    """
    img = np.asarray(image)
    img = img if img.ndim == 3 else img[..., None]
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]).reshape(-1, img.shape[-1])
    values, counts = np.unique(border, axis=0, return_counts=True)
    bg = values[counts.argmax()]
    return np.all(np.abs(img.astype(np.int64) - bg.astype(np.int64)) <= 8, axis=-1)


def shared_scale(heats: Sequence[np.ndarray]) -> float:
    """One colour scale for several occlusion maps: the largest change among them.

    Example::

        scale = shared_scale([heat_a, heat_b])
        plot_occlusion(a, heat_a, scale=scale); plot_occlusion(b, heat_b, scale=scale)
    """
    return max((float(np.max(np.abs(h))) for h in heats if np.size(h)), default=0.0)


def plot_occlusion(image: np.ndarray, heat: np.ndarray, title: str = "", ax: Any = None,
                   alpha: float = 0.75, scale: float | None = None, min_change: float = MIN_CHANGE) -> Any:
    """The display with the occlusion map under its objects (red: evidence for the class).

    The map is drawn on the image's background only, so every object keeps its
    own colour on top. ``scale``: the probability change at full colour, the same
    for every panel of a figure (:func:`shared_scale`; default: this map's own
    largest change). When no change reaches ``min_change`` the panel says "no
    region matters" instead of colouring noise (a saturated p = 1.00 whose
    changes are 0.003 must not look like a strong effect).

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
    rgb = img if img.shape[-1] != 1 else np.repeat(img, 3, axis=-1)
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb * (255.0 if rgb.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    heat = np.asarray(heat, dtype=np.float64)
    biggest = float(np.max(np.abs(heat))) if heat.size else 0.0
    lim = max(float(scale) if scale else biggest, min_change)
    norm = mpl.colors.Normalize(vmin=-lim, vmax=lim)
    cmap = mpl.colormaps["bwr"]
    bg = background_mask(rgb)
    ax.imshow(rgb)
    if biggest >= min_change:
        overlay = cmap(norm(heat))
        # transparent where covering changes nothing, and on the objects (they stay visible)
        overlay[..., 3] = alpha * np.clip(np.abs(heat) / lim, 0, 1) * bg
        ax.imshow(overlay)
        objects = np.zeros((*bg.shape, 4))
        objects[..., :3] = rgb / 255.0
        objects[..., 3] = ~bg
        ax.imshow(objects)  # the objects once more on top, in their own colours
    else:
        ax.text(0.5, 0.04, f"no region matters: covering any part changes p by < {min_change:g}",
                transform=ax.transAxes, ha="center", va="bottom", fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "grey"})
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.046, pad=0.04,
                 label="drop of p when covered (red: evidence for the class)")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    return fig


# --------------------------------------------------------------------------- models and inputs


#: Words for the CMS process classes of eventcnn (render/generate); other names are kept.
CMS_WORDS: dict[str, str] = CMS_TITLES


def load_explainable(path: str | os.PathLike[str],
                     words: Mapping[str, str] | None = None) -> tuple[Any, list[str], tuple[int, int]]:
    """``(model, class names in words, (H, W))`` from a run folder or a ``.keras`` file of any kind.

    Run folders: ``best.keras`` + ``config.json`` with ``class_names``; bare
    ``.keras`` files of the masterclass CNN take the OPAL class codes, others
    ``class 0``, ``class 1``, .... ``words`` maps class names to words
    (default: the OPAL classes for OPAL runs, the CMS processes, :data:`CMS_WORDS`, else).

    Example::

        model, names, (h, w) = load_explainable("runs/small")
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: give a run folder or a .keras model file")
    opal = run_kind(path) == "opal"
    default_names: Sequence[str] = CLASS_NAMES if opal else ()
    cfg: dict[str, Any] = {}
    if path.is_dir():
        cfg_file = path / "config.json"
        if cfg_file.is_file():
            try:
                cfg = json.loads(cfg_file.read_text())
            except json.JSONDecodeError as exc:
                raise UserError(f"{cfg_file}: not valid JSON ({exc})") from None
        if not (path / "best.keras").is_file():
            raise FileNotFoundError(f"{path}: no best.keras in this folder: give a run folder of "
                                    "`eventcnn train` or `eventcnn opal train`, or a .keras file")
        model = load_run_model(path)
    else:
        model = load_keras_file(path)
    n_out = int(model.output_shape[-1])
    names = [str(c) for c in cfg.get("class_names", [])] or [str(c) for c in default_names]
    if len(names) != n_out:
        names = [f"class {i}" for i in range(n_out)]
    words = (CLASS_TITLES if opal else CMS_WORDS) if words is None else words
    names = [words.get(c, words.get(c.lower(), c)) for c in names]
    h, w = model.input_shape[1:3]
    if h is None or w is None:
        size = int(cfg.get("image_size") or 64)
        h = w = size
    return model, names, (int(h), int(w))


def read_input(path: str | os.PathLike[str], size: tuple[int, int] | int,
               decode: Callable[[bytes, int], np.ndarray] | None = None) -> np.ndarray:
    """An image file as ``uint8 (H, W, 3)`` resized to ``size``.

    ``decode(data, size)`` decodes square images (the OPAL displays:
    :func:`eventcnn.images.opal_displays.decode_display`); default :func:`eventcnn.learn.dataset.read_image`.

    Example::

        image = read_input("event.png", (64, 64))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} not found")
    h, w = (size, size) if isinstance(size, int) else size
    if decode is None or h != w:
        from eventcnn.learn.dataset import (
            read_image,  # deferred: Keras (explain.py stays light for the CLI)
        )

        return read_image(path, (h, w))
    try:
        return decode(path.read_bytes(), int(h))
    except OSError as exc:
        raise UserError(f"image {path} could not be decoded: {exc}") from None


def _decode_display(data: bytes, size: int) -> np.ndarray:
    return decode_display(data, size=size)


def explain_files(model_path: str | os.PathLike[str], images: Sequence[str | os.PathLike[str]],
                  out: str | os.PathLike[str] = "explain", patch: int | None = None,
                  stride: int | None = None, quiet: bool = False,
                  words: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``<out>/<image stem>_occlusion.png`` for each image (atomic writes), for a run of any kind.

    The title names the predicted class in words (:func:`load_explainable`;
    ``words`` overrides them) and its probability. OPAL displays are decoded as
    the masterclass reads them (RGBA and palettes on black).

    Example::

        explain_files("runs/small", ["CreatedImages/ttjets/ttjets_event_1.png"], out="explain")
        explain_files("runs/opal", ["z5299_24147.png"], out="explain")
    """
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
    model, names, size = load_explainable(model_path, words=words)
    decode = _decode_display if run_kind(model_path) == "opal" else None
    out.mkdir(parents=True, exist_ok=True)
    written = []
    quiet = quiet or quiet_from_env()
    maps = []
    for f in tqdm(list(images), desc="occlusion maps", disable=quiet, unit="image"):
        image = read_input(f, size, decode=decode)
        probs = _predict(model, image[None])[0]
        k = int(probs.argmax())
        maps.append((f, image, probs, k, occlusion_map(model, image, target=k, patch=patch, stride=stride)))
    scale = shared_scale([m[-1] for m in maps])  # one colour scale: the maps compare
    for f, image, probs, k, heat in maps:
        fig = plot_occlusion(image, heat, title=f"{Path(f).name}\npredicted {names[k]}, p = {probs[k]:.3f}",
                             scale=scale)
        target = out / f"{Path(f).stem}_occlusion.png"
        written.append(write_figure_png(fig, target, dpi=100))
    return written
