"""Run and event numbers read cell by cell on the header's fixed character grid.

The header of an OPAL display is printed in a fixed-width font on a fixed
layout (``Run:event`` then the run in 4 characters, ``:`` and the event in 6),
and the GIFs were made by scaling the whole display by about 0.9, so that every
character *cell* falls at a fixed sub-pixel phase: a glyph's pixels depend on
where it falls (a ``6`` and an ``8`` differ by a few pixels, and not by the same
pixels in every cell). Two scales of GIF exist (header boxes 514 and 506 pixels
wide); on each, a character drawn in a given cell gives the same pixels on every
display, up to a pixel or two.

So this module keeps, per scale, the grid (first cell's left edge ``x0`` and the
``pitch`` in pixels) and for each cell of ``Run:event RRRR:EEEEEE`` one template
per character seen there (the commonest bitmap of that character in that cell
among the template displays: ``tools/make_display_glyphs.py``). A display is read
by aligning the grid on its literal ``Run:event`` and ``:`` (a shift of at most
:data:`MAX_SHIFT` pixels), then each cell alone: the character whose template
differs in the fewest *visible* pixels (pixels of a track drawn across the
header are not counted), when it differs in at most :data:`MAX_COST` and every
other character seen in that cell differs in at least :data:`MIN_MARGIN` more.
Otherwise the cell is ``?``: *hidden* when pixels of a track lie in it,
*unreadable* when not, never guessed.

Example::

    from eventcnn.images.display_font import load_font
    from eventcnn.images.display_cells import read_run_event
    got = read_run_event(lit, hidden, load_font().cells)
    got.run, got.event, got.text      # 5293, 10479, 'Run:event 5293: 10479'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eventcnn.images.display_places import (
    PlaceFields,
    bitmap_from_rows,
    places_from_json,
    rows_from_bitmap,
)

__all__ = ["CELL_TEXT", "CellGrid", "RunEvent", "align", "cells_from_json", "cells_to_json", "compare_cells", "grid_for",
           "read_run_event", "run_event_text"]

#: cells 0-8 hold the literal ``Run:event``, 9 a blank, 10-13 the run, 14 ``:``, 15-20 the event
RUN_CELLS, COLON_CELL, EVENT_CELLS = range(10, 14), 14, range(15, 21)
CELL_TEXT = "Run:event"
LITERAL_CELLS = tuple(range(len(CELL_TEXT))) + (COLON_CELL,)
#: a display is read on a grid when its literal cells differ from their templates in at most this many
#: visible pixels in all (else its header is not drawn on this grid: the glyph reader reads it)
MAX_LITERAL_COST = 20
#: a literal cost this small ends the search for the grid (the literal cells of most displays fit exactly)
CLEAR_LITERAL_COST = 4
#: the grid is searched over shifts of at most this many pixels (the box's edge found +-1) ...
MAX_SHIFT = 2
#: ... plus the difference between the box's width and the grid's, up to this many pixels
MAX_WIDTH_DIFFERENCE = 8
#: the literal cost leaves out this many worst literal cells (a track across them)
SPARE_LITERALS = 2
#: the place of a leading digit that the grid does not know counts as hidden beyond this share of hidden pixels
GUARD_HIDDEN = 0.3
#: a cell is read when at most this many visible pixels differ from its template ...
MAX_COST = 5.0
#: ... (at most this many where the cell lacks a template of some digit: that digit is no rival there) ...
MAX_COST_INCOMPLETE = 1.0
DIGITS = frozenset("0123456789")
#: ... and every other character seen in that cell differs in at least this many more
MIN_MARGIN = 2.0


def run_event_text(run: int, event: int) -> str:
    """The text of cells 0-20 as the display prints it: ``run_event_text(5293, 10479)`` ->
    ``'Run:event 5293: 10479'``."""
    return f"{CELL_TEXT} {run:4d}:{event:6d}"


@dataclass(frozen=True)
class CellGrid:
    """The character grid of one GIF scale: cell ``i`` spans columns ``[floor(x0 + pitch i),
    floor(x0 + pitch (i + 1)))`` of the header box, rows as :func:`display_header.text_bands`;
    per cell, the templates (``(n, height * width)`` float) and their characters."""

    box_width: int
    x0: float
    pitch: float
    cells: dict[int, tuple[np.ndarray, tuple[str, ...]]] = field(default_factory=dict)
    #: numbers of line 1 read on the grid: field -> (decimals, guard, digit windows ``(x, width, cell)``:
    #: the window's first column in the box, its width, and the run/event cell whose templates it shares;
    #: ``guard`` columns before the first window must be empty: a leading digit the grid does not know)
    fields: dict[str, tuple[int, int, tuple[tuple[int, int, int], ...]]] = field(default_factory=dict)
    #: numbers of lines 1 and 2 read in their own character places (:mod:`eventcnn.images.display_places`)
    places: PlaceFields = field(default_factory=dict)

    def span(self, cell: int, shift: int = 0) -> tuple[int, int]:
        """Columns ``(start, stop)`` of a cell, shifted by ``shift`` pixels."""
        return (int(math.floor(self.x0 + self.pitch * cell)) + shift,
                int(math.floor(self.x0 + self.pitch * (cell + 1))) + shift)


def cells_from_json(items: Sequence[dict[str, Any]]) -> tuple[CellGrid, ...]:
    """Grids from the JSON form: ``[{"box_width", "x0", "pitch", "cells": [{"cell", "char", "rows"}]}]``."""
    grids = []
    for g in items:
        per: dict[int, list[tuple[str, np.ndarray]]] = {}
        for c in g["cells"]:
            bm = bitmap_from_rows(c["rows"])
            if len(str(c["char"])) != 1:
                raise ValueError(f"cell template {c['char']!r} is not one character")
            per.setdefault(int(c["cell"]), []).append((str(c["char"]), bm))
        cells = {i: (np.stack([bm.ravel() for _, bm in v]).astype(np.float32), tuple(ch for ch, _ in v))
                 for i, v in sorted(per.items())}
        fields = {str(f["field"]): (int(f["decimals"]), int(f["guard"]),
                                    tuple((int(x), int(w), int(c)) for x, w, c in f["digits"]))
                  for f in g.get("fields", [])}
        places = places_from_json(g.get("places", []))
        grids.append(CellGrid(int(g["box_width"]), float(g["x0"]), float(g["pitch"]), cells, fields, places))
    return tuple(grids)


def cells_to_json(grids: Sequence[tuple[int, float, float, dict[int, dict[str, np.ndarray]]]],
                  seen: dict[tuple[int, int, str], int] | None = None,
                  fields: dict[int, dict[str, tuple[int, int, list[tuple[int, int, int]]]]] | None = None
                  ) -> list[dict[str, Any]]:
    """The JSON form of grids given as ``(box_width, x0, pitch, {cell: {char: bitmap}})``, with the fields
    read on the grid per box width (``{field: (decimals, guard, [(x, width, cell), ...])}``)."""
    seen, fields = seen or {}, fields or {}
    return [{"box_width": w, "x0": round(x0, 4), "pitch": round(pitch, 5),
             "cells": [{"cell": i, "char": ch, "seen": seen.get((w, i, ch), 0), "rows": rows_from_bitmap(bm)}
                       for i, per in sorted(cells.items()) for ch, bm in sorted(per.items())],
             "fields": [{"field": k, "decimals": d, "guard": guard, "digits": [list(t) for t in digits]}
                        for k, (d, guard, digits) in fields.get(w, {}).items()]}
            for w, x0, pitch, cells in grids]


def grid_for(box_width: int, grids: Sequence[CellGrid]) -> CellGrid | None:
    """The grid of the GIF scale whose header box is this wide (+-2 pixels), or None."""
    near = [g for g in grids if abs(g.box_width - box_width) <= 2]
    return min(near, key=lambda g: abs(g.box_width - box_width)) if near else None


@dataclass(frozen=True)
class _Cell:
    char: str  # "?" when not read
    cost: float
    margin: float
    hidden: int
    why: str = ""  # "hidden" or "unreadable" for "?"


def _window(a: np.ndarray, start: int, stop: int) -> np.ndarray | None:
    if start < 0 or stop > a.shape[1]:
        return None
    return a[:, start:stop].ravel().astype(np.float32)


def _costs(lit: np.ndarray, hid: np.ndarray, grid: CellGrid, cell: int, shift: int) -> np.ndarray | None:
    """Visible pixels that differ between the cell's window and each of its templates (None: off the box)."""
    templates = grid.cells.get(cell)
    if templates is None:
        return None
    a, b = grid.span(cell, shift)
    w_lit, w_hid = _window(lit, a, b), _window(hid, a, b)
    if w_lit is None or w_hid is None or w_lit.size != templates[0].shape[1]:
        return None
    v = 1.0 - w_hid
    va = v * w_lit
    return va.sum() + (v - 2.0 * va) @ templates[0].T


def _judge(costs: np.ndarray, chars: tuple[str, ...], n_hidden: int) -> _Cell:
    i = int(np.argmin(costs))
    cost = float(costs[i])
    others = costs[np.array([c != chars[i] for c in chars])]
    margin = float(others.min()) - cost if others.size else math.inf
    # a digit cell without a template of every digit has no rival for some: only a near-exact match reads
    limit = MAX_COST if not chars[i].isdigit() or set(chars) >= DIGITS else MAX_COST_INCOMPLETE
    if margin < MIN_MARGIN and n_hidden:
        return _Cell("?", cost, margin, n_hidden, "hidden")
    if cost > limit or margin < MIN_MARGIN:
        return _Cell("?", cost, margin, n_hidden, "hidden" if n_hidden and cost > limit else "unreadable")
    return _Cell(chars[i], cost, margin, n_hidden)


def _literal_cost(lit: np.ndarray, hid: np.ndarray, grid: CellGrid, shift: int) -> float:
    """Visible pixels by which the literal cells differ from their templates, summed over all but the
    :data:`SPARE_LITERALS` worst (a track may cross one or two): inf when the cells fall off the box."""
    costs = []
    for cell in LITERAL_CELLS:
        want = CELL_TEXT[cell] if cell < len(CELL_TEXT) else ":"
        c = _costs(lit, hid, grid, cell, shift)
        chars = grid.cells.get(cell, (None, ()))[1]
        costs.append(float(min(v for v, ch in zip(c, chars) if ch == want))
                     if c is not None and want in chars else math.inf)
    return float(sum(sorted(costs)[: len(costs) - SPARE_LITERALS]))


def align(lit: np.ndarray, hid: np.ndarray, grids: Sequence[CellGrid]) -> tuple[CellGrid, int, float] | None:
    """``(grid, shift, cost)``: the grid and shift (pixels) that best put the literal ``Run:event`` and
    ``:`` of line 1 on their templates. A box whose edge is cut or widened by a few pixels (a cropped
    GIF, a track along the edge) is tried against each grid within as many pixels more of shift.
    Grids are tried nearest width first, shifts smallest first; a fit within :data:`CLEAR_LITERAL_COST`
    ends the search."""
    best: tuple[CellGrid, int, float] | None = None
    width = lit.shape[1]
    for grid in sorted(grids, key=lambda g: abs(g.box_width - width)):
        extra = abs(grid.box_width - width)
        if extra > MAX_WIDTH_DIFFERENCE:
            continue
        for shift in sorted(range(-MAX_SHIFT - extra, MAX_SHIFT + extra + 1), key=abs):
            cost = _literal_cost(lit, hid, grid, shift)
            if best is None or cost < best[2]:
                best = (grid, shift, cost)
                if cost <= CLEAR_LITERAL_COST:
                    return best
    return best


@dataclass
class RunEvent:
    """Run and event read on the grid, and the other numbers of line 1 the grid knows (``values``): None
    when not read, with why in ``problems``; the characters not read (``1:<cell> (field, hidden|unreadable)``
    for run and event, ``1:x<column> (field, ...)`` for the others) and the text of cells 0-20 (``?``)."""

    run: int | None = None
    event: int | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the grid's other fields (None: not read)
    problems: dict[str, str] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    text: str = ""
    grid: CellGrid | None = None  # the grid and shift the line was read on
    shift: int = 0


def _number(name: str, cells: list[_Cell], out: RunEvent) -> int | None:
    text = "".join(c.char for c in cells)
    bad = [c for c in cells if c.char == "?"]
    if bad:
        out.problems[name] = ("hidden by a track drawn across the header" if {c.why for c in bad} == {"hidden"}
                              else "characters that match no glyph of the font in their place")
        return None
    s = text.strip()
    if not s.isdigit() or s[0] == "0" or " " in s:
        out.problems[name] = f"not a number of the header's form: {text!r}"
        return None
    return int(s)


def read_run_event(lit: np.ndarray, hid: np.ndarray, grids: Sequence[CellGrid]) -> RunEvent | None:
    """Read run and event from line 1 (``lit``, ``hid``: its lit and hidden pixels, as
    :func:`display_header.text_bands` gives them) on the grid of its GIF scale.

    None when no grid fits (the literal ``Run:event`` is nowhere a grid puts it): the caller then reads
    the line with the glyph reader.
    """
    found = align(lit, hid, grids)
    if found is None or found[2] > MAX_LITERAL_COST:
        return None
    grid, shift, _ = found
    out = RunEvent(grid=grid, shift=shift)
    read: dict[int, _Cell] = {}
    for cell in (*RUN_CELLS, *EVENT_CELLS):
        costs = _costs(lit, hid, grid, cell, shift)
        if costs is None:
            read[cell] = _Cell("?", math.inf, 0.0, 0, "unreadable")
            continue
        a, b = grid.span(cell, shift)
        read[cell] = _judge(costs, grid.cells[cell][1], int(hid[:, a:b].sum()))
    out.run = _number("run", [read[c] for c in RUN_CELLS], out)
    out.event = _number("event", [read[c] for c in EVENT_CELLS], out)
    for cell, c in read.items():
        if c.char == "?":
            out.hidden.append(f"1:{cell} ({'run' if cell in RUN_CELLS else 'event'}, {c.why})")
    out.text = (CELL_TEXT + " " + "".join(read[c].char for c in RUN_CELLS) + ":"
                + "".join(read[c].char for c in EVENT_CELLS))
    for name, (decimals, guard, digits) in grid.fields.items():
        out.values[name] = _grid_field(name, decimals, guard, digits, lit, hid, grid, shift, out)
    return out


def _grid_field(name: str, decimals: int, guard: int, digits: tuple[tuple[int, int, int], ...], lit: np.ndarray,
                hid: np.ndarray, grid: CellGrid, shift: int, out: RunEvent) -> Any:
    """One number of line 1 read in its digit windows (templates of the run/event cell of the same
    phase; digits and blank only); the ``guard`` columns before the first must be empty."""
    a = digits[0][0] + shift
    guard_lit, guard_hid = lit[:, max(0, a - guard): a], hid[:, max(0, a - guard): a]
    # a digit there would show some of its ink unless a track covers most of the place
    if (guard_lit & ~guard_hid).any() or (guard_hid.size and guard_hid.mean() > GUARD_HIDDEN):
        why = "unreadable" if (guard_lit & ~guard_hid).any() else "hidden"
        out.hidden.append(f"1:x{a - guard} ({name}, {why})")
        out.problems[name] = ("hidden by a track drawn across the header" if why == "hidden"
                              else "a character before the number where the layout has none")
        return None
    cells = []
    for x, w, cell in digits:
        templates, chars = grid.cells[cell]
        keep = [i for i, ch in enumerate(chars) if ch.isdigit()]
        win_lit, win_hid = _window(lit, x + shift, x + shift + w), _window(hid, x + shift, x + shift + w)
        if win_lit is None or win_hid is None or win_lit.size != templates.shape[1]:
            cells.append(_Cell("?", math.inf, 0.0, 0, "unreadable"))
            continue
        v = 1.0 - win_hid
        va = v * win_lit
        costs = va.sum() + (v - 2.0 * va) @ templates[keep].T
        costs = np.append(costs, va.sum())  # and a blank (a leading digit that is not printed)
        cells.append(_judge(costs, tuple(chars[i] for i in keep) + (" ",), int(win_hid.sum())))
        if cells[-1].char == "?":
            out.hidden.append(f"1:x{x + shift} ({name}, {cells[-1].why})")
    bad = [c for c in cells if c.char == "?"]
    if bad:
        out.problems[name] = ("hidden by a track drawn across the header" if {c.why for c in bad} == {"hidden"}
                              else "characters that match no glyph of the font in their place")
        return None
    text = "".join(c.char for c in cells)
    whole, frac = (text[:-decimals], text[-decimals:]) if decimals else (text, "")
    whole = whole.lstrip(" ")
    if not whole.isdigit() or (len(whole) > 1 and whole[0] == "0") or (frac and not frac.isdigit()):
        out.problems[name] = f"not a number of the header's form: {text!r}"
        return None
    return float(f"{whole}.{frac}") if decimals else int(whole)


def compare_cells(lit: np.ndarray, hid: np.ndarray, grids: Sequence[CellGrid], text: str) -> list[dict[str, Any]]:
    """Where the pixels of cells 10-20 look more like another character than ``text`` says (``text`` as
    :func:`run_event_text` gives it, e.g. from a file name): per such cell, the character whose template
    is nearest and the visible pixels by which it and the expected character's template differ (None:
    no template of it in that cell). For scoring and explaining reads, never for reading.

    Example::

        compare_cells(lit, hid, font.cells, run_event_text(5297, 118862))
        # [{'cell': 19, 'nearest': '8', 'nearest_px': 0.0, 'expected': '6', 'expected_px': 6.0}]
    """
    found = align(lit, hid, grids)
    if found is None or found[2] > MAX_LITERAL_COST:
        return []
    grid, shift, _ = found
    out = []
    for cell in (*RUN_CELLS, *EVENT_CELLS):
        costs = _costs(lit, hid, grid, cell, shift)
        if costs is None or cell >= len(text):
            continue
        chars = grid.cells[cell][1]
        i = int(np.argmin(costs))
        if chars[i] != text[cell]:
            want = [float(c) for c, ch in zip(costs, chars) if ch == text[cell]]
            out.append({"cell": cell, "nearest": chars[i], "nearest_px": float(costs[i]),
                        "expected": text[cell], "expected_px": min(want) if want else None})
    return out
