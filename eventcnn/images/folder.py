"""Image folders on disk: the file types read, the manifest and its reader, the class sub-folders.

Shared by rendering, on-disk augmentation, datasets and OPAL; numpy-free and
Keras-free (PIL only inside :func:`open_rgb`), so every light stage can use it.

Example::

    >>> from eventcnn.images.folder import IMAGE_SUFFIXES, class_images
    >>> files, skipped = class_images(Path("CreatedImages"))      # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from eventcnn.errors import UserError

__all__ = ["IMAGE_SUFFIXES", "MANIFEST_COLUMNS", "class_images", "image_folder_of", "manifest_by_file", "open_rgb",
           "read_manifest"]

#: image file types read everywhere (lower case; compared with ``Path.suffix.lower()``)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")

#: columns of ``manifest.csv`` in an image folder (``file`` relative to the folder)
MANIFEST_COLUMNS = ("file", "class", "source", "event")


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
        if folder.is_dir() and any((folder / n).is_file() for n in ("manifest.csv", "render_config.json")):
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
