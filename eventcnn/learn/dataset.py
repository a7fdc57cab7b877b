"""Image datasets: listing, seeded stratified splits and a streaming input pipeline.

A data folder is the output of ``eventcnn render``::

    CreatedImages/<class>/<class>_event_<n>.png
    CreatedImages/manifest.csv          # file,class,source,event (optional)
    CreatedImages/render_config.json    # optional

:func:`list_images` reads the manifest (or, without one, lists the class
folders), :func:`make_split` draws a stratified, seeded train/val/test split
that is saved as ``split.json`` so that runs are comparable, and
:class:`ImageSequence` streams batches of ``uint8`` images straight from the
PNG files (a :class:`keras.utils.PyDataset`, so it works with every Keras
backend). Memory holds only the batches in flight, never the data set.

Example::

    from eventcnn.learn.dataset import list_images, make_split, ImageSequence
    items, classes = list_images("CreatedImages")
    split = make_split(items, classes, seed=42)
    train = ImageSequence.from_split(split, "train", "CreatedImages", batch_size=32)
    x, y = train[0]                     # x: uint8 (32, H, W, 3), y: int32 (32,)
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError, few_names
from eventcnn.images.folder import (  # noqa: F401 - read_image, _hw: the one image reader, re-exported
    IMAGE_SUFFIXES,
    MANIFEST,
    _hw,
    class_images,
    read_image,
    read_manifest,
    write_manifest,
)
from eventcnn.images.shards import (
    INDEX_FILE,
    is_shard_folder,
    parse_ref,
    read_index,
    shard_ref,
)
from eventcnn.learn.splits import balanced_class_weight, oversample_factors

__all__ = [
    "balanced_class_weight",
    "epoch_indices",
    "get_split",
    "IMAGE_SUFFIXES",
    "ImageItem",
    "ImageSequence",
    "list_images",
    "load_arrays",
    "load_split",
    "make_split",
    "make_toy_images",
    "oversample_factors",
    "read_image",
    "save_split",
    "split_arrays",
    "SPLITS",
]


#: image files read (any mode, converted to RGB; the first frame of an animated GIF/WebP/TIFF)
SPLITS = ("train", "val", "test")
_PyDataset: Any = keras.utils.PyDataset


@dataclass(frozen=True)
class ImageItem:
    """One image of a data folder: ``file`` relative to the folder, its class and origin."""

    file: str
    cls: str
    source: str = ""
    event: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "class": self.cls, "source": self.source, "event": self.event}


# ---------------------------------------------------------------------------
# listing and splits
# ---------------------------------------------------------------------------


def list_images(data_dir: str | os.PathLike[str]) -> tuple[list[ImageItem], list[str]]:
    """List the images of a data folder and its class names (sorted).

    A shard folder (``render --format shards``, :mod:`eventcnn.images.shards`) lists
    its index ``shards.csv``; each image is then named ``shard-NNNNN.npy#ROW``.
    Otherwise reads ``manifest.csv`` when present (columns ``file,class,source,event``;
    image files on disk that it does not list are counted and named in a
    warning), otherwise every image (:data:`IMAGE_SUFFIXES`) in the class
    sub-folders; other files there are counted and named in a warning.

    Example::

        items, class_names = list_images("CreatedImages")
    """
    data_dir = Path(data_dir)
    if data_dir.is_file():
        hint = (f"a zip of OPAL event displays is trained with `eventcnn opal train --data {data_dir} --labels "
                "LABELS`" if data_dir.suffix.lower() == ".zip" else
                f"for event files: `eventcnn render {data_dir} --out CreatedImages`")
        raise UserError(f"{data_dir} is a file, not an image folder: give the folder of class sub-folders ({hint})")
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"image folder {data_dir} not found: create it with `eventcnn render ... --out {data_dir}`"
        )
    manifest = data_dir / MANIFEST
    items: list[ImageItem] = []
    if is_shard_folder(data_dir):
        items = [ImageItem(shard_ref(int(r["shard"]), int(r["row"])), r["class"], r["source"], r["event"])
                 for r in read_index(data_dir)]
        if not items:
            raise UserError(f"{data_dir / INDEX_FILE} lists no images")
    elif manifest.exists():
        items = [ImageItem(row["file"], row["class"], row.get("source") or "", str(row.get("event") or ""))
                 for row in read_manifest(manifest)]
        listed = {Path(it.file).as_posix() for it in items}
        extra = [f for f in _class_images(data_dir)[0] if f not in listed]
        if extra:
            warnings.warn(
                f"{data_dir}: {len(extra)} image file(s) on disk are not in manifest.csv and are not used: "
                f"{few_names(extra)} (render them with `eventcnn render` into the folder, or delete them)",
                UserWarning, stacklevel=2)
    else:
        found, skipped = _class_images(data_dir)
        items = [ImageItem(f, f.split("/", 1)[0]) for f in found]
        if skipped:
            warnings.warn(
                f"{data_dir}: skipped {len(skipped)} file(s) that are not images "
                f"({'/'.join(IMAGE_SUFFIXES)}): {few_names(skipped)}", UserWarning, stacklevel=2)
    if not items:
        raise UserError(f"no images found in {data_dir} (expected <class>/*.png or a manifest.csv)")
    class_names = sorted({it.cls for it in items})
    return items, class_names


_class_images = class_images  # the former private name


def make_split(
    items: Sequence[ImageItem],
    class_names: Sequence[str] | None = None,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 42,
) -> dict[str, Any]:
    """Stratified, seeded train/val/test split.

    Each class is shuffled with ``seed`` and cut by ``fractions``; every split
    gets at least one image of each class that has three or more. Returns a
    JSON-able dict ``{"seed", "fractions", "class_names", "train": [rows], "val":
    [...], "test": [...]}`` where a row is ``{"file", "class", "source", "event"}``.

    Example::

        split = make_split(items, seed=1, fractions=(0.8, 0.1, 0.1))
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise UserError(f"fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    class_names = sorted({it.cls for it in items}) if class_names is None else list(class_names)
    out: dict[str, Any] = {"seed": int(seed), "fractions": [float(f) for f in fractions], "class_names": class_names}
    for name in SPLITS:
        out[name] = []
    rng = np.random.default_rng(seed)
    for cls in class_names:
        members = sorted((it for it in items if it.cls == cls), key=lambda it: it.file)
        order = rng.permutation(len(members))
        n = len(members)
        n_val = int(round(fractions[1] * n))
        n_test = int(round(fractions[2] * n))
        if n >= 3:
            n_val = max(n_val, 1 if fractions[1] > 0 else 0)
            n_test = max(n_test, 1 if fractions[2] > 0 else 0)
        excess = max(0, n_val + n_test - n)  # rounding up can ask for more than there is
        n_val -= min(excess, n_val)
        n_test = min(n_test, n - n_val)
        n_train = n - n_val - n_test
        cuts = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
        for name, idx in cuts.items():
            out[name].extend(members[i].to_dict() for i in sorted(idx))
    return out


def save_split(split: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a split atomically as JSON."""
    return write_json_atomic(path, dict(split))


def load_split(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a split written by :func:`save_split`, checking its keys."""
    path = Path(path)
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a split file of `eventcnn train` (not JSON: {exc})") from None
    if not isinstance(split, dict):
        raise UserError(f"{path}: not a split file of `eventcnn train` (a JSON object with class_names, "
                        f"{', '.join(SPLITS)} expected, got {type(split).__name__})")
    missing = [k for k in ("class_names", *SPLITS) if k not in split]
    if missing:
        raise UserError(f"{path}: not a split file, missing key(s) {missing}")
    for name in SPLITS:  # CMS runs: {"file", "class"} rows; OPAL runs: display names or ids
        rows = split[name]
        if not isinstance(rows, list) or not (all(isinstance(r, dict) and "file" in r and "class" in r for r in rows)
                                              or all(isinstance(r, str) for r in rows)):
            raise UserError(f"{path}: field {name!r} is not a list of {{\"file\": ..., \"class\": ...}} rows "
                            "(or of display names): the split file is damaged; train again or give another --split")
    return split


def get_split(
    data_dir: str | os.PathLike[str],
    split_file: str | os.PathLike[str] | None = None,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 42,
) -> dict[str, Any]:
    """Re-use ``split_file`` when it exists, else draw a new split of ``data_dir``.

    Files of a re-used split must exist in ``data_dir``; a clear error names the
    first missing one.
    """
    if split_file is not None and Path(split_file).exists():
        split = load_split(split_file)
        for name in SPLITS:
            for row in split[name][:1] + split[name][-1:]:
                ref = parse_ref(row["file"])
                if not (Path(data_dir) / (ref[0] if ref else row["file"])).exists():
                    raise FileNotFoundError(
                        f"split {split_file} lists {row['file']} which is not in {data_dir}; "
                        "pass the image folder the split was made from, or drop the split file"
                    )
        return split
    items, class_names = list_images(data_dir)
    return make_split(items, class_names, fractions=fractions, seed=seed)


def split_arrays(split: Mapping[str, Any], name: str, data_dir: str | os.PathLike[str]) -> tuple[list[Path], np.ndarray]:
    """Absolute file paths and integer labels of one split part."""
    if name not in SPLITS:
        raise UserError(f"split part must be one of {SPLITS}, got {name!r}")
    index = {c: i for i, c in enumerate(split["class_names"])}
    rows = split[name]
    files = [Path(data_dir) / r["file"] for r in rows]
    labels = np.array([index[r["class"]] for r in rows], dtype=np.int32)
    return files, labels


# ---------------------------------------------------------------------------
# imbalance
# ---------------------------------------------------------------------------

# balanced_class_weight, oversample_factors: eventcnn.learn.splits (re-exported here)


def epoch_indices(
    labels: np.ndarray,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    oversample: Mapping[int, float] | None = None,
) -> np.ndarray:
    """Indices of one epoch: each class repeated by its factor, shuffled by ``(seed, epoch)``.

    A factor ``2.5`` repeats a class twice plus a random half of it (drawn
    anew every epoch). Deterministic for a given ``seed`` and ``epoch``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng([int(seed), int(epoch)])
    idx = np.arange(len(labels))
    if oversample:
        parts = [idx]
        for cls, factor in sorted(oversample.items()):
            if factor < 1:
                raise UserError(f"oversampling factor of class {cls} must be >= 1, got {factor}")
            members = idx[labels == cls]
            extra = factor - 1.0
            whole = int(math.floor(extra))
            parts.extend([members] * whole)
            frac = extra - whole
            if frac > 0 and len(members):
                parts.append(rng.choice(members, size=int(round(frac * len(members))), replace=False))
        idx = np.concatenate(parts)
    if shuffle:
        idx = idx[rng.permutation(len(idx))]
    return idx


# ---------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------


def load_arrays(
    files: Sequence[str | os.PathLike[str]], size: int | Sequence[int] | None = None
) -> np.ndarray:
    """Decode a (small) list of images into one ``uint8 (N, H, W, 3)`` array in memory.

    Example::

        files, y = split_arrays(split, "test", "CreatedImages")
        x = load_arrays(files, size=64)
    """
    if not files:
        raise UserError("load_arrays: empty list of files")
    first = read_image(files[0], size)
    out = np.empty((len(files), *first.shape), dtype=np.uint8)
    out[0] = first
    for i, f in enumerate(files[1:], start=1):
        img = read_image(f, size if size is not None else first.shape[:2])
        out[i] = img
    return out


class ImageSequence(_PyDataset):
    """Streaming ``uint8`` image batches decoded from files (a ``keras.utils.PyDataset``).

    Parameters
    ----------
    files, labels:
        Image paths and integer labels (``labels=None`` for prediction: batches are ``x`` only).
    batch_size:
        Images per batch (the last batch may be smaller).
    shuffle, seed:
        Reshuffle every epoch with ``(seed, epoch)``: deterministic and reproducible.
    size:
        Resize to this size (``int`` or ``(h, w)``); ``None`` keeps the file size
        (all files must then have the same size).
    oversample:
        ``None``, ``"balanced"`` or ``{class: factor}``; repeats images of a class in an epoch.
    class_weight:
        ``None``, ``"balanced"`` or ``{class: weight}``; batches then carry sample weights
        ``(x, y, w)`` (works with every backend, unlike ``fit(class_weight=...)``).
    workers, use_multiprocessing, max_queue_size:
        Passed to :class:`keras.utils.PyDataset` (prefetching in threads/processes).

    Example::

        seq = ImageSequence(files, labels, batch_size=32, seed=1, size=64)
        model.fit(seq, epochs=3)
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike[str]],
        labels: Sequence[int] | np.ndarray | None = None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        size: int | Sequence[int] | None = None,
        oversample: str | Mapping[int, float] | None = None,
        class_weight: str | Mapping[int, float] | None = None,
        num_classes: int | None = None,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        if not len(files):
            raise UserError("ImageSequence: no files")
        self.files = [str(f) for f in files]
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int32)
        if self.labels is not None and len(self.labels) != len(self.files):
            raise UserError(f"{len(self.files)} files but {len(self.labels)} labels")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.size = size
        ncls = num_classes or (int(self.labels.max()) + 1 if self.labels is not None else 0)
        self.num_classes = ncls
        if oversample == "balanced":
            oversample = oversample_factors(self._need_labels("oversample"), ncls)
        self.oversample = dict(oversample) if oversample else None
        if class_weight == "balanced":
            class_weight = balanced_class_weight(self._need_labels("class_weight"), ncls)
        self.class_weight = dict(class_weight) if class_weight else None
        self.epoch = 0
        self._order = self._make_order()

    def _need_labels(self, what: str) -> np.ndarray:
        if self.labels is None:
            raise UserError(f"{what} needs labels")
        return self.labels

    def _make_order(self) -> np.ndarray:
        if self.labels is None:
            return np.arange(len(self.files))
        return epoch_indices(self.labels, self.seed, self.epoch, self.shuffle, self.oversample)

    def set_epoch(self, epoch: int) -> None:
        """Jump to the ordering of ``epoch`` (used when a run resumes)."""
        self.epoch = int(epoch)
        self._order = self._make_order()

    def on_epoch_end(self) -> None:
        """Advance to the next epoch's ordering (called by Keras)."""
        self.set_epoch(self.epoch + 1)

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    @property
    def num_samples(self) -> int:
        """Images per epoch (after oversampling)."""
        return len(self._order)

    def __getitem__(self, index: int):
        if index < 0 or index >= len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        size = self.size
        first = read_image(self.files[idx[0]], size)
        if size is None:
            size = first.shape[:2]
        x = np.empty((len(idx), *first.shape), dtype=np.uint8)
        x[0] = first
        for j, i in enumerate(idx[1:], start=1):
            img = read_image(self.files[i], size)
            if img.shape != first.shape:  # pragma: no cover - read_image resizes to `size`
                raise UserError(f"image {self.files[i]} has shape {img.shape}, expected {first.shape}")
            x[j] = img
        if self.labels is None:
            return (x,)
        y = self.labels[idx]
        w = self._sample_weights(y)
        return (x, y) if w is None else (x, y, w)

    def _sample_weights(self, y: np.ndarray) -> np.ndarray | None:
        """Per-sample ``class_weight`` of the labels ``y`` (None without class weights)."""
        if not self.class_weight:
            return None
        return np.array([self.class_weight.get(int(c), 1.0) for c in y], dtype=np.float32)

    @classmethod
    def from_split(
        cls,
        split: Mapping[str, Any],
        name: str,
        data_dir: str | os.PathLike[str],
        **kwargs: Any,
    ) -> ImageSequence:
        """Build the sequence of one part (``train``/``val``/``test``) of a split."""
        files, labels = split_arrays(split, name, data_dir)
        if not files:
            raise UserError(f"split part {name!r} is empty: use more images or other fractions")
        kwargs.setdefault("num_classes", len(split["class_names"]))
        return cls(files, labels, **kwargs)


# ---------------------------------------------------------------------------
# a toy data set (tests, benchmarks, quick demos)
# ---------------------------------------------------------------------------


def make_toy_images(
    root: str | os.PathLike[str],
    n_per_class: int = 30,
    size: int = 32,
    seed: int = 0,
    manifest: bool = True,
    classes: Sequence[str] = ("top", "bottom"),
) -> Path:
    """Write a learnable toy image folder: a red disc in the top vs the bottom half.

    Each class ``classes[k]`` puts its disc in horizontal band ``k`` of the
    image (random x, jittered y), white background; ``manifest.csv`` is written
    unless ``manifest=False``. Used by the tests, benchmarks and quick demos.

    Example::

        make_toy_images("toy", n_per_class=50, size=64)
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    root = Path(root)
    rows = []
    k = len(classes)
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            im = Image.new("RGB", (size, size), (255, 255, 255))
            draw = ImageDraw.Draw(im)
            cx = rng.uniform(0.2, 0.8) * size
            lo, hi = c / k, (c + 1) / k
            cy = rng.uniform(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)) * size
            r = size * 0.12
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 0, 0))
            name = f"{cls}/{cls}_event_{i}.png"
            im.save(root / name)
            rows.append(ImageItem(name, cls, "", str(i)).to_dict())
    if manifest:
        write_manifest(root / MANIFEST, rows)
    return root
