"""Backbone weights shipped with the package (``weights="sim"``), checked by sha256 on load.

Each shipped backbone is a pair of files in this folder: ``<name>.weights.h5``
(the backbone only, no classifier head) and ``<name>.json`` (backbone name,
image size, sha256 of the weights file, the recipe and the command that
reproduces it; written by :func:`eventcnn.learn.pretrain.export_backbone`).

``weights="sim"`` picks the shipped file for the requested backbone and image
size; ``weights="sim:<name>"`` picks one by name. A backbone or image size
without shipped weights is a clear error that lists what is available.

Example::

    from eventcnn.learn.weights import available, resolve
    print(available())                    # [{'name': 'sim_small_64', 'backbone': 'small', ...}]
    path = resolve("sim", "small", (64, 64, 3))   # Path of the verified .weights.h5
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventcnn._io import sha256sum
from eventcnn.errors import UserError

__all__ = ["SIM_PREFIX", "WEIGHTS_DIR", "available", "is_shipped", "resolve"]

WEIGHTS_DIR = Path(__file__).resolve().parent
SIM_PREFIX = "sim"


def is_shipped(weights: object) -> bool:
    """True for ``"sim"`` and ``"sim:<name>"`` (the shipped-weights spellings)."""
    if not isinstance(weights, str):
        return False
    w = weights.strip().lower()
    return w == SIM_PREFIX or w.startswith(SIM_PREFIX + ":")


def available(directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Metadata of every shipped backbone (the ``<name>.json`` files that have their weights file)."""
    d = Path(directory) if directory is not None else WEIGHTS_DIR
    out = []
    for meta_file in sorted(d.glob("*.json")):
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(meta, dict) or "backbone" not in meta or "image_size" not in meta:
            continue
        if (d / f"{meta_file.stem}.weights.h5").exists():
            out.append({"name": meta_file.stem, **meta})
    return out


def _describe(entries: Sequence[dict[str, Any]]) -> str:
    if not entries:
        return "none are shipped with this installation"
    return "available: " + ", ".join(
        f"{e['name']} (backbone {e['backbone']!r}, image size {e['image_size']})" for e in entries
    )


def resolve(
    weights: str,
    backbone: str,
    input_shape: Sequence[int],
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """The verified ``.weights.h5`` of shipped weights ``"sim"``/``"sim:<name>"`` for a backbone and input.

    Raises ``ValueError`` naming what is available when no shipped file fits
    the backbone and image size, and when the file's sha256 differs from the
    one recorded in its ``.json`` (a damaged installation).

    Example::

        path = resolve("sim", "small", (64, 64, 3))
    """
    if not is_shipped(weights):
        raise UserError(f"{weights!r} is not a shipped-weights name: use 'sim' or 'sim:<name>'")
    d = Path(directory) if directory is not None else WEIGHTS_DIR
    entries = available(d)
    h, w = int(input_shape[0]), int(input_shape[1])
    name = weights.strip().split(":", 1)[1] if ":" in weights else None
    if name is not None:
        matches = [e for e in entries if e["name"] == name]
        if not matches:
            raise UserError(f"no shipped weights named {name!r}; {_describe(entries)}")
    else:
        matches = [e for e in entries if e["backbone"] == backbone]
        if not matches:
            raise UserError(
                f"no simulation-pretrained weights are shipped for backbone {backbone!r}; {_describe(entries)}. "
                "Use --model small (or weights=None / imagenet), or pretrain your own with `eventcnn pretrain`"
            )
    entry = matches[0] if name is not None else next(
        (e for e in matches if int(e["image_size"]) == h == w), matches[0]
    )
    if entry["backbone"] != backbone:
        raise UserError(
            f"shipped weights {entry['name']!r} are for backbone {entry['backbone']!r}, not {backbone!r}; "
            f"{_describe(entries)}"
        )
    size = int(entry["image_size"])
    if (h, w) != (size, size):
        raise UserError(
            f"shipped weights {entry['name']!r} were trained on {size}x{size} images, the model input is {h}x{w}; "
            f"render or resize to {size} px (--size {size}); {_describe(entries)}"
        )
    path = d / f"{entry['name']}.weights.h5"
    digest = sha256sum(path)
    if digest != entry.get("sha256"):
        raise UserError(
            f"shipped weights {path} are damaged: sha256 {digest} differs from {entry.get('sha256')} "
            f"recorded in {entry['name']}.json; reinstall eventcnn"
        )
    return path
