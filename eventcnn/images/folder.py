"""The image-folder format: its file names, the manifest (one writer, one reader), the class sub-folders.

An image folder is ``<folder>/<class>/<image>`` plus eventcnn's metadata files,
named here and nowhere else: ``manifest.csv`` (:data:`MANIFEST`, columns
:data:`MANIFEST_COLUMNS`; :func:`write_manifest`, :func:`read_manifest`),
``render_config.json`` (:data:`RENDER_CONFIG`; :func:`read_render_config`),
``selection.json``, ``augment_config.json``, ``skipped.csv`` (:func:`write_skipped`)
and the lock file; :data:`FOLDER_METADATA` lists them all. Shard folders
(``shards.csv``) are :mod:`eventcnn.images.shards`.

Shared by rendering, on-disk augmentation, datasets, prediction and OPAL; Keras-free
(PIL only inside :func:`open_rgb` and :func:`read_image`), so every light stage can use it.

Example::

    >>> from eventcnn.images.folder import IMAGE_SUFFIXES, class_images
    >>> files, skipped = class_images(Path("CreatedImages"))      # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_text_atomic
from eventcnn.errors import UserError
from eventcnn.images.shards import parse_ref, read_shard_image

__all__ = ["AUGMENT_CONFIG", "FOLDER_METADATA", "IMAGE_SUFFIXES", "LOCK", "MANIFEST", "MANIFEST_COLUMNS",
           "RENDER_CONFIG", "SELECTION", "SKIPPED", "SKIPPED_COLUMNS", "class_images", "image_folder_of",
           "manifest_by_file", "open_rgb", "read_image", "read_manifest", "read_render_config", "write_manifest",
           "write_skipped"]

#: image file types read everywhere (lower case; compared with ``Path.suffix.lower()``)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")

#: the list of the images of a folder: one row per image
MANIFEST = "manifest.csv"
#: columns of ``manifest.csv`` in an image folder (``file`` relative to the folder)
MANIFEST_COLUMNS = ("file", "class", "source", "event")
#: how the images were drawn (``RenderConfig`` as JSON): a trained run draws new events the same way
RENDER_CONFIG = "render_config.json"
#: the event selection the images passed (``Selection`` as JSON, or null)
SELECTION = "selection.json"
#: the Augmentor settings of an augmented folder
AUGMENT_CONFIG = "augment_config.json"
#: the bad events that ``--skip-bad`` dropped, with their source, field and reason
SKIPPED = "skipped.csv"
SKIPPED_COLUMNS = ("source", "event", "field", "reason")
#: the lock that serialises writers of one folder
LOCK = ".eventcnn.lock"
#: the shard index (:mod:`eventcnn.images.shards` owns shard folders)
_SHARD_INDEX = "shards.csv"
#: every file and folder eventcnn writes into an image folder besides the images (metadata, not inputs)
FOLDER_METADATA = frozenset({MANIFEST, RENDER_CONFIG, SELECTION, AUGMENT_CONFIG, SKIPPED, LOCK, _SHARD_INDEX,
                             ".eventcnn-cache"})


def image_folder_of(path: str | os.PathLike[str]) -> Path | None:
    """The eventcnn image folder that holds ``path`` (itself, or an ancestor up to two levels
    with ``manifest.csv`` or ``render_config.json``), or None.

    Outputs never go into such a folder: training would read them as images.

    Example::

        >>> image_folder_of("CreatedImages/ttbar/ttbar_event_1.png")     # doctest: +SKIP
        PosixPath('CreatedImages')
    """
    path = Path(path)
    for folder in [path, *path.parents][:3]:
        if folder.is_dir() and any((folder / n).is_file() for n in (MANIFEST, RENDER_CONFIG)):
            return folder
    return None


def read_manifest(
    path: str | os.PathLike[str], required: tuple[str, ...] = ("file", "class")
) -> list[dict[str, str]]:
    """The rows of a ``manifest.csv`` (``file,class,source,event``) as dicts, in file order.

    Missing ``required`` columns, or an empty required field in a row, are an
    error naming the file and the row.

    Example::

        >>> rows = read_manifest("CreatedImages/manifest.csv")     # doctest: +SKIP
        >>> rows[0]["class"], rows[0]["event"]                      # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"manifest not found: {path}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = sorted(set(required) - set(reader.fieldnames or []))
        if missing:
            raise UserError(f"{path}: missing column(s) {missing}; expected {','.join(MANIFEST_COLUMNS)}")
        rows = list(reader)
    for row_no, row in enumerate(rows, start=2):
        empty = [c for c in required if not row.get(c)]
        if empty:
            raise UserError(f"{path} row {row_no}: empty field(s) {empty}")
    return rows


def manifest_by_file(
    path: str | os.PathLike[str], required: tuple[str, ...] = ("file", "class")
) -> dict[str, dict[str, str]]:
    """The rows of ``manifest.csv`` keyed by their ``file`` (as a POSIX path); ``{}`` when there is none."""
    path = Path(path)
    if not path.exists():
        return {}
    return {Path(row["file"]).as_posix(): row for row in read_manifest(path, required=required)}


def write_manifest(path: str | os.PathLike[str], rows: Iterable[dict[str, str]]) -> Path:
    """Write ``rows`` (dicts with :data:`MANIFEST_COLUMNS`) as a ``manifest.csv``, in the order given, atomically.

    The one writer of the format (render, augment and the datasets' examples call it).

    Example::

        >>> write_manifest("imgs/manifest.csv", [{"file": "a/a_event_1.png", "class": "a",
        ...                                       "source": "a.json", "event": "1"}])  # doctest: +SKIP
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Path(write_text_atomic(path, buf.getvalue()))


def read_render_config(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``render_config.json`` of an image folder as a dict, or None when the folder has none.

    A damaged file is a :class:`~eventcnn.errors.UserError` naming it.

    Example::

        >>> read_render_config("CreatedImages")["size"]               # doctest: +SKIP
        224
    """
    path = Path(folder) / RENDER_CONFIG
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable render configuration ({exc}); render the images again") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a render configuration (a JSON object is expected); render the images again")
    return data


def write_skipped(path: str | os.PathLike[str], rows: Iterable[dict[str, str]], replace_sources: set[str]) -> None:
    """Merge ``rows`` (:data:`SKIPPED_COLUMNS`) into ``skipped.csv``; earlier rows of ``replace_sources`` go.

    Nothing is written when there is nothing to list and no file yet.
    """
    path = Path(path)
    old: list[dict[str, str]] = []
    if path.exists():
        with path.open(newline="") as fh:
            old = [r for r in csv.DictReader(fh) if r.get("source") not in replace_sources]
    rows = old + list(rows)
    if not rows and not path.exists():
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SKIPPED_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["source"], r["event"])))
    write_text_atomic(path, buf.getvalue())


def class_images(data_dir: Path) -> tuple[list[str], list[str]]:
    """Image files ``<class>/<name>`` of the class sub-folders, and the other files skipped there.

    Hidden folders and files (``.ipynb_checkpoints``, ``.DS_Store``) are ignored.
    """
    found: list[str] = []
    skipped: list[str] = []
    for cls_dir in sorted(p for p in Path(data_dir).iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(cls_dir.iterdir()):
            if f.name.startswith("."):
                continue
            rel = f"{cls_dir.name}/{f.name}"
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                found.append(rel)
            else:
                skipped.append(rel + ("/" if f.is_dir() else ""))
    return found, skipped


def open_rgb(path: str | os.PathLike[str]) -> Any:
    """Decode an image file as an RGB PIL image, loaded into memory (the file is closed again).

    A missing file is a :class:`FileNotFoundError`, a broken or empty one a
    :class:`~eventcnn.errors.UserError`, both naming the file.

    Example::

        >>> im = open_rgb("CreatedImages/ttjets/ttjets_event_1.png")   # doctest: +SKIP
    """
    from PIL import Image


    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} not found") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"image {path} could not be decoded ({exc}): replace or delete the file") from None


def read_image(path: str | os.PathLike[str], size: int | Sequence[int] | None = None) -> np.ndarray:
    """Decode one image as ``uint8 (H, W, 3)`` RGB, optionally resized (bilinear): the one image reader.

    Training, evaluation, the decoded-image cache and ``predict`` (Keras or ONNX
    Runtime) read images through it, so they see the same pixels.

    ``path`` may name an image of a shard folder (``.../shard-00000.npy#17``): its
    row is read from the memory-mapped shard, with no PNG round trip.

    Example::

        img = read_image("CreatedImages/ttbar/ttbar_event_1.png", size=64)
    """
    from PIL import Image

    if parse_ref(path) is not None:  # an image of a shard folder: no decoding
        arr = read_shard_image(path)
        if size is None or arr.shape[:2] == _hw(size):
            return arr
        im = Image.fromarray(arr)
    else:
        im = open_rgb(path)
    if size is not None:
        h, w = _hw(size)
        if im.size != (w, h):
            im = im.resize((w, h), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)
