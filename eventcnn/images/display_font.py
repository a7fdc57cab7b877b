"""The fixed font of the OPAL displays' header: glyph templates, read from ``display_glyphs.json``.

:mod:`eventcnn.images.display_header` reads the header with it; the templates were cut
from the displays by ``tools/make_display_glyphs.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.images.display_cells import CellGrid, cells_from_json
from eventcnn.images.display_places import bitmap_from_rows

__all__ = ["GLYPHS_FILE", "Font", "font_from_json", "load_font"]

#: the glyph templates shipped with eventcnn (cut from the displays by tools/make_display_glyphs.py)
GLYPHS_FILE = Path(__file__).resolve().parent / "display_glyphs.json"


@dataclass(frozen=True)
class Font:
    """Glyph templates: ``height`` rows; per width, the template bitmaps (``(n, height * width)``
    float) and their characters; the scale-bar labels (bitmaps by centimetres); and the cell grids of
    ``Run:event`` per GIF scale (:mod:`eventcnn.images.display_cells`)."""

    height: int
    by_width: dict[int, tuple[np.ndarray, tuple[str, ...]]]
    scale_labels: tuple[tuple[int, np.ndarray], ...]
    codes: dict[int, np.ndarray] = field(default_factory=dict)  # per width: the characters as code points
    cells: tuple[CellGrid, ...] = ()

    @property
    def chars(self) -> set[str]:
        return {c for _, chars in self.by_width.values() for c in chars}


def font_from_json(obj: dict[str, Any]) -> Font:
    """A :class:`Font` from the JSON form (``{"height", "glyphs": [{"char", "rows"}], "scale_labels":
    [{"cm", "rows"}], "cells": [...]}``); a malformed file is a clear error."""
    try:
        height = int(obj["height"])
        groups: dict[int, list[tuple[str, np.ndarray]]] = {}
        for g in obj["glyphs"]:
            bm = bitmap_from_rows(g["rows"])
            if bm.shape[0] != height or len(str(g["char"])) != 1:
                raise ValueError(f"glyph {g['char']!r} is not {height} rows of one character")
            char = "." if g["char"] == "," else str(g["char"])  # alike in this font: the layout tells them apart
            groups.setdefault(bm.shape[1], []).append((char, bm))
        labels = tuple((int(s["cm"]), bitmap_from_rows(s["rows"])) for s in obj.get("scale_labels", []))
        cells = cells_from_json(obj.get("cells", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"glyph templates: malformed ({exc})") from exc
    by_width = {w: (np.stack([bm.ravel() for _, bm in items]).astype(np.float32), tuple(c for c, _ in items))
                for w, items in sorted(groups.items())}
    codes = {w: np.array([ord(c) for c in chars]) for w, (_, chars) in by_width.items()}
    return Font(height, by_width, labels, codes, cells)


@lru_cache(maxsize=4)
def load_font(path: str | None = None) -> Font:
    """The glyph templates (default: the shipped ``display_glyphs.json``).

    Example::

        font = load_font()
        sorted(font.chars)[:5]      # [' ', '(', ')', ',', '-']
    """
    p = Path(path) if path is not None else GLYPHS_FILE
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{p}: cannot read the glyph templates ({exc})") from exc
    return font_from_json(obj)
