"""Read the numbers students read off an OPAL display: the header line and the scale bar.

Every Manchester OPAL display carries a header, yellow text on a blue box::

    Run:event 5293: 10479    Ctrk(N=  2 Sump= 89.4) Ecal(N=  4 SumE= 93.0)
    Ebeam 45.600 Vtx (-0.03, 0.04, 0.66) Hcal(N= 2 SumE=  0.3) Muon(N= 0)

(charged tracks and their summed momentum in GeV, electromagnetic and hadronic
calorimeter clusters and their summed energy in GeV, muon-chamber hits, the beam
energy, the vertex in cm) and, at the bottom, a scale bar labelled ``200. cm.``
or ``100. cm.`` (the zoom). The font is a fixed bitmap font, drawn at 8 pixels a
character and scaled by about 0.9 when the GIFs were made, so that a glyph is 7
or 8 pixels wide depending on where it falls. This module reads it from the
pixels, with glyph templates cut from the displays themselves
(``display_glyphs.json``, made by ``tools/make_display_glyphs.py``; no OCR
service, no network):

1. the header box and its two text lines are found (yellow on blue);
2. every pixel of another colour inside the box is *hidden*: a track or a
   detector outline drawn across the header;
3. each line is segmented and read at once by dynamic programming over the
   pixel columns: a glyph template of width 7 or 8 (or a blank column) at a time,
   scored by the number of *visible* pixels that differ;
4. a character whose visible pixels do not single out one character (a track
   covers it) is reported as hidden (``?``), one that matches no glyph as
   unreadable, never guessed; a field with such a character has no value and
   says why (``error``, ``hidden``);
5. the lines are parsed into fields by the fixed layout above;
6. run and event (and the numbers of line 1 whose digit places the grid knows) are
   read again cell by cell on the line's fixed character grid
   (:mod:`eventcnn.images.display_cells`: templates per cell, which tell a 6 from
   an 8 where the glyph templates cannot), and replace the glyph reader's read.

Example::

    from eventcnn.images.display_header import read_headers, write_header_csv
    reads = read_headers("z_displays.zip")
    reads[0].run, reads[0].event, reads[0].ctrk_n      # 5293, 10479, 2
    write_header_csv("header.csv", reads)
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import atomic_path
from eventcnn.errors import UserError
from eventcnn.images.display_cells import read_run_event
from eventcnn.images.display_font import GLYPHS_FILE, Font, font_from_json, load_font
from eventcnn.images.display_places import read_places
from eventcnn.images.manchester import (
    DisplayLayout,
    decode_display_rgb,
    detect_view,
    display_layout,
    iter_display_files,
    scale_bar,
)

__all__ = [
    "EXTRA_COLUMNS",
    "FIELDS",
    "GLYPHS_FILE",
    "HEADER_COLUMNS",
    "Font",
    "HeaderRead",
    "font_from_json",
    "load_font",
    "name_numbers",
    "read_header",
    "read_headers",
    "read_scale",
    "scale_label",
    "write_header_csv",
]

#: columns of ``eventcnn opal header`` (fixed: checks outside the test suite read them)
HEADER_COLUMNS: tuple[str, ...] = ("display", "view", "run", "event", "ctrk_n", "ctrk_sump", "ecal_n",
                                   "ecal_sume", "hcal_n", "hcal_sume", "muon_n", "ebeam", "error")

#: further columns, after those
EXTRA_COLUMNS: tuple[str, ...] = ("vtx_x", "vtx_y", "vtx_z", "scale_cm", "hidden", "matches_name",
                                  "line1", "line2")

#: the header fields in reading order, with their type
FIELDS: dict[str, type] = {
    "run": int, "event": int, "ctrk_n": int, "ctrk_sump": float, "ecal_n": int, "ecal_sume": float,
    "ebeam": float, "vtx_x": float, "vtx_y": float, "vtx_z": float, "hcal_n": int, "hcal_sume": float,
    "muon_n": int,
}

# The fixed layout of the two lines: literal text and fields, in order.
_LAYOUT: tuple[tuple[str | None, ...], ...] = (
    ("Run:event", "run", ":", "event", "Ctrk(N=", "ctrk_n", "Sump=", "ctrk_sump", ")",
     "Ecal(N=", "ecal_n", "SumE=", "ecal_sume", ")"),
    ("Ebeam", "ebeam", "Vtx", "(", "vtx_x", ",", "vtx_y", ",", "vtx_z", ")",
     "Hcal(N=", "hcal_n", "SumE=", "hcal_sume", ")", "Muon(N=", "muon_n", ")"),
)

#: a glyph is read when at most this many visible pixels differ from its template ...
_MAX_COST = 4.0
#: ... and every other character differs in at least this many more visible pixels
_MIN_MARGIN = 2.0
#: visible lit pixels in a glyph window from which the blank glyph no longer competes with the read
_MIN_INK = 3
#: cost of a blank column (a gap between text items) and of each lit / hidden pixel in it
_GAP_COST, _GAP_LIT, _GAP_HIDDEN = 0.3, 4.0, 0.5


# --------------------------------------------------------------------------- pixels


def _yellow(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 160) & (rgb[..., 1] > 160) & (rgb[..., 2] < 100)


def _blue(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 2] > 160) & (rgb[..., 0] < 80) & (rgb[..., 1] < 80)


def text_bands(rgb: np.ndarray, layout: DisplayLayout, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two text lines of the header box: ``(lit, hidden)`` boolean arrays ``(height, width)``.

    ``lit``: the yellow text pixels; ``hidden``: pixels of any other colour than
    the box's blue and the text's yellow (something drawn over the header).
    """
    if layout.header is None:
        raise UserError("no header box (the blue box at the top of an OPAL display) found")
    top, bottom, left, right = layout.header
    box = rgb[top: bottom + 1, left: right + 1]
    lit = _yellow(box)
    hidden = ~(lit | _blue(box))
    # the capitals fill 9 rows; brackets reach 2 rows above them, the comma's tail and 'p' 3 below
    core, above = 9, 2
    profile = np.convolve(lit.sum(1), np.ones(core), mode="valid")
    if profile.size < 2 * core + above:
        raise UserError(f"the header box is {box.shape[0]} rows high: too small for two lines of text")
    half = box.shape[0] // 2
    r0 = int(np.argmax(profile[: max(1, half - core // 2)]))
    rest = profile[r0 + core + 2:]
    if rest.size == 0:
        raise UserError("the header box holds one line of text, not two")
    r1 = r0 + core + 2 + int(np.argmax(rest))
    pad = ((above, height), (0, 0))  # rows beyond the box read as blue (empty)
    lit_p, hid_p = np.pad(lit, pad), np.pad(hidden, pad)
    return [(lit_p[r: r + height], hid_p[r: r + height]) for r in (r0, r1)]


# --------------------------------------------------------------------------- reading a line


@dataclass(frozen=True)
class _Hit:
    x: int
    width: int
    char: str  # the character, "?" when hidden or unreadable, " " for a gap between items
    cost: float
    margin: float
    hidden: int  # hidden pixels in the window
    why: str = ""  # "hidden" or "unreadable" for "?"


def _windows(a: np.ndarray, w: int) -> np.ndarray:
    """``(n_positions, height * w)`` float32 sliding windows of a ``(height, width)`` array."""
    win = np.lib.stride_tricks.sliding_window_view(a, w, axis=1)  # (h, n, w)
    return np.ascontiguousarray(win.transpose(1, 0, 2)).reshape(win.shape[1], -1).astype(np.float32)


def _costs(lit: np.ndarray, hidden: np.ndarray, font: Font) -> dict[int, np.ndarray]:
    """Per template width: ``(n_positions, n_templates)`` visible pixels that differ."""
    out = {}
    for w, (templates, _) in font.by_width.items():
        if lit.shape[1] < w:
            continue
        a, v = _windows(lit, w), _windows(~hidden, w)
        va = v * a
        # sum over visible pixels of |a - t| = sum(v a) + (v - 2 v a) . t: one matrix product
        out[w] = va.sum(1, keepdims=True) + (v - 2.0 * va) @ templates.T
    return out


def _best_path(lit: np.ndarray, hidden: np.ndarray, costs: dict[int, np.ndarray]) -> list[tuple[int, int, int]]:
    """Dynamic programming over columns: the cheapest tiling by glyph windows and blank columns.

    Returns ``(x, width, template index)`` moves; width 0 = one blank column.
    """
    n = lit.shape[1]
    gap = (_GAP_COST + _GAP_LIT * (lit & ~hidden).sum(0) + _GAP_HIDDEN * hidden.sum(0)).tolist()
    best = [(w, c.min(1).tolist(), c.argmin(1).tolist()) for w, c in costs.items()]
    total = [0.0] + [math.inf] * n  # plain floats: this loop is the reader's inner loop
    move: list[tuple[int, int]] = [(0, -1)] * (n + 1)  # (width, template) that reaches x
    for x in range(1, n + 1):
        t, m = total[x - 1] + gap[x - 1], (0, -1)
        for w, bc, bi in best:
            if x >= w:
                c = total[x - w] + bc[x - w]
                if c < t:
                    t, m = c, (w, bi[x - w])
        total[x] = t
        move[x] = m
    path = []
    x = n
    while x > 0:
        w, i = move[x]
        step = max(w, 1)
        path.append((x - step, w, i))
        x -= step
    return path[::-1]


def _read_line(lit: np.ndarray, hidden: np.ndarray, font: Font, max_cost: float = _MAX_COST,
               min_margin: float = _MIN_MARGIN) -> list[_Hit]:
    """The characters of one text line, left to right (gaps between items as one ``" "``)."""
    costs = _costs(lit, hidden, font)
    hits: list[_Hit] = []
    gap_start, gap_hidden = None, 0
    for x, w, i in _best_path(lit, hidden, costs) + [(lit.shape[1], -1, -1)]:
        if w == 0:
            gap_start = x if gap_start is None else gap_start
            gap_hidden += int(hidden[:, x].sum())
            continue
        if gap_start is not None:  # a run of blank columns: a word gap, or something hidden in it
            if gap_hidden:
                hits.append(_Hit(gap_start, x - gap_start, "?", 0.0, 0.0, gap_hidden, "hidden"))
            elif x - gap_start >= 3:
                hits.append(_Hit(gap_start, x - gap_start, " ", 0.0, np.inf, 0))
            gap_start, gap_hidden = None, 0
        if w < 0:
            break
        hits.append(_judge(x, w, i, costs[w][x], font.by_width[w][1], font.codes[w],
                           int(hidden[:, x: x + w].sum()), max_cost, min_margin,
                           ink=int((lit & ~hidden)[:, x: x + w].sum())))
    return hits


def _judge(x: int, w: int, i: int, row: np.ndarray, chars: tuple[str, ...], codes: np.ndarray, n_hidden: int,
           max_cost: float = _MAX_COST, min_margin: float = _MIN_MARGIN, ink: int = 0) -> _Hit:
    """The character of the template chosen at ``x``, or ``?`` when the pixels do not single it out.

    With at least ``_MIN_INK`` visible lit pixels in the window, the blank glyph is no rival: pixels are
    drawn there (a decimal point has 3, and differs from a blank by no more than from its own template)."""
    char, cost = chars[i], float(row[i])
    rivals = codes != codes[i]
    if ink >= _MIN_INK:
        rivals &= np.array([c != " " for c in chars])
    others = row[rivals]
    margin = float(others.min()) - cost if others.size else math.inf
    if margin < min_margin and n_hidden:
        return _Hit(x, w, "?", cost, margin, n_hidden, "hidden")
    if cost > max_cost or margin < min_margin:
        return _Hit(x, w, "?", cost, margin, n_hidden, "unreadable")
    return _Hit(x, w, char, cost, margin, n_hidden)


# --------------------------------------------------------------------------- fields


#: decimals of each field as the display prints it (Fortran formats: F5.1, F6.3, F5.2); 0 = a whole number
DECIMALS: dict[str, int] = {"ctrk_sump": 1, "ecal_sume": 1, "hcal_sume": 1, "ebeam": 3, "vtx_x": 2, "vtx_y": 2,
                            "vtx_z": 2}


def _field(name: str, strict: bool) -> str:
    """A field's group: the number's shape (``?`` anywhere a character was not read), or anything (lax)."""
    if not strict:
        return f"(?P<{name}>.*?)"
    d = DECIMALS.get(name, 0)
    if d == 0:
        return f"(?P<{name}>[ ?]*[0-9?]+)"
    return f"(?P<{name}>[ ?]*[-?]?[0-9?]*[.?][0-9?]{{{d}}})"


def _pattern(items: Sequence[str | None], strict: bool = True) -> re.Pattern[str]:
    """Regex of a layout: literals (group ``lit<i>``; each character may be ``?``, a comma may read as a
    full stop: the font draws them alike) padded by spaces, and the fields (:func:`_field`).

    A ``?`` next to a field belongs to the field (never to the blanks around a literal): a hidden
    character beside a number makes the number unread, never silently shorter.
    """
    def char(c: str) -> str:
        return "[" + re.escape(",." if c == "," else c) + "?]"

    parts = [r"^[ ?]*"]
    for i, item in enumerate(items):
        if item is not None and item in FIELDS:
            parts.append(_field(item, strict))
        else:
            parts.append(rf" *(?P<lit{i}>" + "".join(char(c) for c in str(item)) + r") *")
    parts.append(r"[ ?]*$")
    return re.compile("".join(parts))


_PATTERNS = tuple(_pattern(items) for items in _LAYOUT)
_LAX = tuple(_pattern(items, strict=False) for items in _LAYOUT)


def _value(name: str, text: str) -> tuple[Any, str]:
    """``(value, "")`` or ``(None, why not)`` for the text of one field (the shape the display prints)."""
    s = text.strip()
    if "?" in s:
        return None, ""  # told by the caller (hidden or unreadable characters)
    if not s:
        return None, "empty"
    d = DECIMALS.get(name, 0)
    shape = r"\d+" if d == 0 else rf"-?\d*\.\d{{{d}}}"
    if not re.fullmatch(shape, s) or (d == 0 and len(s) > 1 and s[0] == "0"):  # never a leading zero
        return None, f"not a number of the header's form: {s!r}"
    return (int(s) if d == 0 else float(s)), ""


# --------------------------------------------------------------------------- the result


@dataclass
class HeaderRead:
    """What one display's header says. Fields (:data:`FIELDS`) are None when not read;
    ``problems`` says why per field, ``hidden`` lists the characters a track covers
    (``line:character (field)``), ``lines`` the decoded text (``?`` = not read).

    Example::

        r = read_header(rgb, "e5293_10479")
        r.ctrk_n, r.ecal_sume, r.error      # 2, 93.0, ''
    """

    display: str
    view: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    lines: tuple[str, str] = ("", "")
    scale_cm: int | None = None
    scale_problem: str = ""

    def __getattr__(self, name: str) -> Any:
        if name in FIELDS:
            return self.values.get(name)
        raise AttributeError(name)

    @property
    def vertex(self) -> tuple[float, float, float] | None:
        """``(x, y, z)`` in cm, or None when a coordinate was not read."""
        v = tuple(self.values.get(k) for k in ("vtx_x", "vtx_y", "vtx_z"))
        return None if any(c is None for c in v) else v  # type: ignore[return-value]

    @property
    def error(self) -> str:
        """Empty when every field was read, else one line naming each field not read and why."""
        msgs = [f"{k}: {why}" for k, why in self.problems.items()]
        if self.scale_problem:
            msgs.append(f"scale: {self.scale_problem}")
        return "; ".join(msgs)

    @property
    def matches_name(self) -> bool | None:
        """Run and event equal the numbers of the display's name (None: the name has none)."""
        numbers = name_numbers(self.display)
        if numbers is None:
            return None
        return (self.values.get("run"), self.values.get("event")) == numbers

    def row(self) -> dict[str, Any]:
        """The CSV row: :data:`HEADER_COLUMNS` then :data:`EXTRA_COLUMNS` (empty for None)."""
        def fmt(v: Any) -> Any:
            return "" if v is None else v

        out = {"display": self.display, "view": self.view}
        out.update({k: fmt(self.values.get(k)) for k in HEADER_COLUMNS[2:-1]})
        out["error"] = self.error
        out.update({k: fmt(self.values.get(k)) for k in ("vtx_x", "vtx_y", "vtx_z")})
        out["scale_cm"] = fmt(self.scale_cm)
        out["hidden"] = "; ".join(self.hidden)
        m = self.matches_name
        out["matches_name"] = "" if m is None else ("yes" if m else "no")
        out["line1"], out["line2"] = self.lines
        return out


_NAME = re.compile(r"^[A-Za-z]*(\d+)_(\d+)")


def name_numbers(name: str) -> tuple[int, int] | None:
    """``(run, event)`` in a display name (``z5293_10479`` -> ``(5293, 10479)``), or None.

    Example::

        >>> name_numbers("x7575_13812.gif")
        (7575, 13812)
    """
    m = _NAME.match(Path(name).stem)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _parse(read: HeaderRead, hits_per_line: list[list[_Hit]]) -> None:
    """Fill ``read`` from the decoded lines: values, problems, hidden characters."""
    texts = []
    for n, (hits, pattern) in enumerate(zip(hits_per_line, _PATTERNS), start=1):
        text = "".join(h.char for h in hits)
        texts.append(text)
        names = [k for k in _LAYOUT[n - 1] if k is not None and k in FIELDS]
        m = pattern.match(text) or _LAX[n - 1].match(text)  # lax: the other fields still read
        if m is None:
            for k in names:
                read.problems[k] = f"line {n} does not have the layout of an OPAL header ({text.strip()!r})"
            continue
        chars = [h.char for h in hits]
        for i, item in enumerate(_LAYOUT[n - 1]):
            if item == "," or (item is not None and "," in item and item not in FIELDS):
                for j in range(m.start(f"lit{i}"), m.end(f"lit{i}")):
                    chars[j] = "," if chars[j] == "." else chars[j]
        texts[-1] = "".join(chars)
        for k in names:
            value, why = _value(k, m.group(k))
            bad = [i for i in range(m.start(k), m.end(k)) if hits[i].char == "?"]
            if bad:
                kinds = {hits[i].why for i in bad}
                why = ("hidden by a track drawn across the header" if kinds == {"hidden"} else
                       "characters that match no glyph of the font (marks drawn over the text?)")
            read.values[k] = value
            if why:
                read.problems[k] = why
        for i, h in enumerate(hits):
            if h.char == "?":
                owner = next((k for k in names if m.start(k) <= i < m.end(k)), "label")
                read.hidden.append(f"{n}:{i} ({owner}, {h.why})")
    read.lines = (texts[0].rstrip(), texts[1].rstrip())


def read_scale(rgb: np.ndarray, font: Font | None = None) -> tuple[int | None, str]:
    """The scale bar's label in centimetres (``100`` or ``200``), or ``(None, why not)``.

    The label is the white text above the longest white bar in the last 60 rows,
    matched against the label templates over small shifts.
    """
    font = font or load_font()
    if not font.scale_labels:
        return None, "no scale-label templates"
    label = scale_label(rgb)
    if label is None:
        return None, "no scale bar with a label found"
    best: list[tuple[int, int]] = []
    for cm, tmpl in font.scale_labels:
        best.append((_shift_distance(label, tmpl), cm))
    best.sort()
    if best[0][0] > 6:
        return None, "the label matches no known scale"
    rivals = [d for d, cm in best if cm != best[0][1]]
    if rivals and rivals[0] - best[0][0] < 3:
        return None, "the label is not clear (covered?)"
    return best[0][1], ""


def scale_label(rgb: np.ndarray) -> np.ndarray | None:
    """The white label above the scale bar (``200. cm.``), cropped to its pixels; None without bar or label.

    The label sits 6-18 rows above the bar, between its end ticks.
    """
    bar = scale_bar(rgb)
    if bar is None:
        return None
    row, x0, x1 = bar
    part = rgb[max(0, row - 18): max(0, row - 5), x0 + 3: x1 - 2]
    region = (part[..., 0] > 200) & (part[..., 1] > 200) & (part[..., 2] > 200)
    ys, xs = np.nonzero(region)
    if xs.size == 0:
        return None
    return region[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def _shift_distance(a: np.ndarray, t: np.ndarray) -> int:
    """Smallest number of differing pixels between ``a`` and template ``t`` over shifts of +-2 px."""
    H, W = max(a.shape[0], t.shape[0]) + 4, max(a.shape[1], t.shape[1]) + 4
    canvas = np.zeros((H, W), bool)
    canvas[2: 2 + a.shape[0], 2: 2 + a.shape[1]] = a
    best = a.sum() + t.sum()
    for dy in range(0, 5):
        for dx in range(0, 5):
            if dy + t.shape[0] > H or dx + t.shape[1] > W:
                continue
            placed = np.zeros((H, W), bool)
            placed[dy: dy + t.shape[0], dx: dx + t.shape[1]] = t
            best = min(best, int((canvas ^ placed).sum()))
    return int(best)


def _decide(read: HeaderRead, keys: list[str], values: dict[str, Any], problems: dict[str, str],
            hidden: list[str]) -> None:
    """The grid's read of ``keys`` replaces the glyph reader's (values, problems, hidden characters)."""
    read.hidden = [h for h in read.hidden if not any(h.endswith((f"({k}, hidden)", f"({k}, unreadable)"))
                                                     for k in keys)]
    for k in keys:
        read.values[k] = values[k]
        read.problems.pop(k, None)
        if k in problems:
            read.problems[k] = problems[k]
    read.hidden[:0] = [h for h in hidden if any(f"({k}," in h for k in keys)]


def _run_event_on_grid(read: HeaderRead, bands: list[tuple[np.ndarray, np.ndarray]], font: Font) -> None:
    """Run, event and the numbers that the grid knows, read cell by cell on the grid of the display's
    GIF scale, where one fits (:mod:`eventcnn.images.display_cells`; lines 1 and 2 in their character
    places: :mod:`eventcnn.images.display_places`). They replace what the glyph reader made of them:
    run and event always, another number when the grid reads it or finds it hidden (a number the grid
    cannot read for another reason keeps the glyph reader's read)."""
    got = read_run_event(*bands[0], font.cells)
    if got is None:
        return
    values = {"run": got.run, "event": got.event, **got.values}
    problems, hidden = dict(got.problems), list(got.hidden)
    if got.grid is not None and got.grid.places:
        decided_by_grid = tuple(k for k, v in got.values.items()
                                if v is not None or got.problems.get(k, "").startswith("hidden"))
        placed = read_places(bands, got.grid.places, got.shift, skip=decided_by_grid)
        values.update(placed.values)
        problems.update(placed.problems)
        hidden += placed.hidden
    decided = ["run", "event"] + [k for k, v in values.items() if k not in ("run", "event")
                                  and (v is not None or problems.get(k, "").startswith("hidden"))]
    _decide(read, decided, values, problems, hidden)
    line1 = read.lines[0]
    m = re.match(r"^\s*Run:event.*?:\s*[0-9?]*", line1)
    read.lines = ((got.text + line1[m.end():]) if m else line1, read.lines[1])


def read_header(rgb: np.ndarray, display: str = "", font: Font | None = None,
                layout: DisplayLayout | None = None) -> HeaderRead:
    """Read the header (and the scale) of one display.

    Never guesses: a field whose characters are hidden or unreadable is None,
    with the reason in ``problems`` (and ``error``).

    Example::

        r = read_header(decode_display_rgb(Path("e5293_10479.gif").read_bytes()), "e5293_10479")
        (r.run, r.event, r.ebeam, r.vertex, r.scale_cm)   # (5293, 10479, 45.6, (-0.03, 0.04, 0.66), 200)
    """
    font = font or load_font()
    layout = layout or display_layout(rgb)
    read = HeaderRead(display, view=detect_view(rgb, layout))
    try:
        bands = text_bands(rgb, layout, font.height)
    except UserError as exc:
        for k in FIELDS:
            read.problems[k] = str(exc)
    else:
        _parse(read, [_read_line(lit, hid, font) for lit, hid in bands])
        _run_event_on_grid(read, bands, font)
    read.scale_cm, read.scale_problem = read_scale(rgb, font)
    return read


def read_headers(source: str | os.PathLike[str], *, quiet: bool = True,
                 font: Font | None = None) -> list[HeaderRead]:
    """Read every display of a zip or folder (sorted by name); an unreadable file is a row with its error.

    Example::

        reads = read_headers("z_displays.zip")
        sum(r.matches_name for r in reads)        # displays whose run:event equal their name
    """
    from tqdm.auto import tqdm

    font = font or load_font()
    files, skipped = iter_display_files(source)
    out = []
    for name, data in tqdm(files, desc="headers", unit="display", disable=quiet):
        try:
            rgb = decode_display_rgb(data, name)
        except UserError as exc:
            bad = HeaderRead(name)
            bad.problems = {k: str(exc) for k in FIELDS}
            out.append(bad)
            continue
        out.append(read_header(rgb, name, font))
    for member, why in skipped:
        if not member.rsplit("/", 1)[-1].lower().endswith((".csv", ".txt", ".md", ".json")):
            bad = HeaderRead(Path(member).stem)
            bad.problems = {"file": why}
            out.append(bad)
    return out


def write_header_csv(path: str | os.PathLike[str], reads: Sequence[HeaderRead]) -> Path:
    """Write one row per display (:data:`HEADER_COLUMNS` + :data:`EXTRA_COLUMNS`), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(HEADER_COLUMNS + EXTRA_COLUMNS))
        writer.writeheader()
        for r in reads:
            writer.writerow(r.row())
    return path
