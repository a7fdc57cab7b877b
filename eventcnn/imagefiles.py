"""Image folders on disk: the file types read, the manifest columns, the class sub-folders.

Shared by rendering, on-disk augmentation, datasets and OPAL; numpy-free and
Keras-free, so every light stage can use it.

Example::

    >>> from eventcnn.imagefiles import IMAGE_SUFFIXES, class_images
    >>> files, skipped = class_images(Path("CreatedImages"))      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "MANIFEST_COLUMNS", "class_images"]

#: image file types read everywhere (lower case; compared with ``Path.suffix.lower()``)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")

#: columns of ``manifest.csv`` in an image folder (``file`` relative to the folder)
MANIFEST_COLUMNS = ("file", "class", "source", "event")


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
