"""What the masterclass CNN looks at: occlusion maps of OPAL displays.

:func:`eventcnn.learn.explain.explain_files` with the OPAL class words
(hadrons, electrons, muons, taus) and the display decoder (RGBA on black).
The ``eventcnn explain`` command picks it for OPAL runs (:mod:`eventcnn.kinds`).

Example::

    from eventcnn.opal.explain import explain_files
    explain_files("runs/opal", ["z5299_24147.png"], out="explain")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eventcnn.learn import explain as _explain
from eventcnn.opal.displays import CLASS_NAMES, CLASS_TITLES, decode_display

__all__ = ["explain_files", "load_explainable", "read_input"]


def _decode(data: bytes, size: int) -> np.ndarray:
    return decode_display(data, size=size)


def load_explainable(path: str | os.PathLike[str]):
    """``(model, class names in words, (H, W))`` of an OPAL run folder or masterclass ``.keras`` file."""
    return _explain.load_explainable(path, words=CLASS_TITLES, default_names=CLASS_NAMES)


def read_input(path: str | os.PathLike[str], size: tuple[int, int] | int) -> np.ndarray:
    """An OPAL display file as ``uint8 (H, W, 3)`` (RGBA and palettes on black), resized to ``size``."""
    return _explain.read_input(path, size, decode=_decode)


def explain_files(run: str | os.PathLike[str], images: Sequence[str | os.PathLike[str]],
                  out: str | os.PathLike[str] = "explain", patch: int | None = None,
                  stride: int | None = None, quiet: bool = False) -> list[Path]:
    """Write ``<out>/<image stem>_occlusion.png`` for each display, classes named in words."""
    return _explain.explain_files(run, images, out=out, patch=patch, stride=stride, quiet=quiet,
                                  words=CLASS_TITLES, default_names=CLASS_NAMES, decode=_decode)
