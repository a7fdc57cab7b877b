"""Numbers read in their fixed character places: line 2 of the header and Ecal SumE.

The header is printed by a fixed Fortran format, so every number's characters fall in
fixed *places* (Ebeam ``F7.3``, each vertex coordinate ``F5.2``, Hcal N ``I2``, SumE
``F5.1``, Muon N ``I2``; Ecal N ``I3`` and SumE ``F5.1`` on line 1), and a GIF scale
draws a given character in a given place with the same pixels on every display. Line 2
is drawn at another vertical phase than line 1, so the run/event cell templates of
:mod:`eventcnn.images.display_cells` do not fit it: each place has its own window
(``x``, ``width`` in the header box, after the line-1 grid's shift) and its own
templates, one per character seen there on the template half of the displays
(``tools/make_display_places.py`` says where the labels come from).

A place is read like a cell: the character whose template differs in the fewest
*visible* pixels, within :data:`MAX_COST` and by at least :data:`MIN_MARGIN` fewer than
every other character of the place; a place that lacks a template of some digit reads
only exact matches (what matches none of its templates there is unreadable, track or
not). Otherwise ``?`` (hidden under a track, or unreadable), and the number is not read:
never guessed.

Example::

    from eventcnn.images.display_places import read_places
    got = read_places(bands, grid.places, shift)
    got.values["hcal_n"], got.text["hcal_n"]        # 2, ' 2'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Place", "PlaceRead", "bitmap_from_rows", "places_from_json", "places_to_json", "read_places",
           "rows_from_bitmap"]

#: a place is read when at most this many visible pixels differ from its template ...
MAX_COST = 5.0
#: ... (none, where the place lacks a template of some digit: that digit is no rival there) ...
MAX_COST_INCOMPLETE = 0.0
#: ... and every other character of the place differs in at least this many more
MIN_MARGIN = 2.0
DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class Place:
    """One character place: line (0 or 1), window ``[x, x + width)`` of the header box (before the
    shift), the templates (``(n, height * width)`` float) and their characters (``" "``: blank)."""

    line: int
    x: int
    width: int
    templates: np.ndarray
    chars: tuple[str, ...]
    #: every digit has a template here (or no digit was seen here)
    complete: bool = field(init=False)

    def __post_init__(self) -> None:
        present = set(self.chars) & DIGITS
        object.__setattr__(self, "complete", not present or present == DIGITS)


#: per field: (decimals, places from left to right)
PlaceFields = dict[str, tuple[int, tuple[Place, ...]]]


def bitmap_from_rows(rows: Sequence[str]) -> np.ndarray:
    """A template bitmap from its text form in ``display_glyphs.json`` (``#`` lit, ``.`` dark), e.g.
    ``bitmap_from_rows(["#.", ".#"])``."""
    return np.array([[ch == "#" for ch in r] for r in rows], dtype=bool)


def rows_from_bitmap(bm: np.ndarray) -> list[str]:
    """The text form of a template bitmap (the inverse of :func:`bitmap_from_rows`)."""
    return ["".join("#" if v else "." for v in r) for r in bm]


def places_from_json(items: Sequence[dict[str, Any]]) -> PlaceFields:
    """Fields from the JSON form ``[{"field", "decimals", "places": [{"line", "x", "width", "templates":
    [{"char", "rows"}]}]}]``."""
    out: PlaceFields = {}
    for f in items:
        places = []
        for p in f["places"]:
            bms = [bitmap_from_rows(t["rows"]) for t in p["templates"]]
            chars = tuple(str(t["char"]) for t in p["templates"])
            if not bms or any(len(c) != 1 for c in chars) or any(b.shape[1] != int(p["width"]) for b in bms):
                raise ValueError(f"place templates of {f['field']!r} at x {p['x']}: malformed")
            places.append(Place(int(p["line"]), int(p["x"]), int(p["width"]),
                                np.stack([b.ravel() for b in bms]).astype(np.float32), chars))
        out[str(f["field"])] = (int(f["decimals"]), tuple(places))
    return out


def places_to_json(fields: dict[str, tuple[int, Sequence[tuple[int, int, int, Sequence[tuple[str, np.ndarray, int]]]]]]
                   ) -> list[dict[str, Any]]:
    """The JSON form of fields given as ``{field: (decimals, [(line, x, width, [(char, bitmap, seen)])])}``."""
    return [{"field": k, "decimals": d,
             "places": [{"line": line, "x": x, "width": w,
                         "templates": [{"char": ch, "seen": n, "rows": rows_from_bitmap(bm)} for ch, bm, n in tmpl]}
                        for line, x, w, tmpl in places]}
            for k, (d, places) in fields.items()]


@dataclass
class PlaceRead:
    """Values read in places (None: not read, why in ``problems``), the places not read
    (``<line>:x<column> (field, hidden|unreadable)``) and each field's text (``?``: not read)."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)


#: windows are read padded to this many columns (the padding counts as covered)
PAD = 8


@dataclass(frozen=True)
class _Plan:
    """All places of one line as one matrix product: windows padded to :data:`PAD` columns."""

    places: tuple[tuple[str, int, Place], ...]  # (field, index in the field, place)
    x: np.ndarray  # (n,) first columns
    valid: np.ndarray  # (n, height * PAD) inside the window
    templates: np.ndarray  # (m, height * PAD)
    owner: np.ndarray  # (m,) the place of each template
    codes: np.ndarray  # (m,) its character's code point
    limit: np.ndarray  # (n,) MAX_COST, or MAX_COST_INCOMPLETE where a digit lacks a template


_PLANS: dict[int, tuple[PlaceFields, list[_Plan]]] = {}


def _plans(fields: PlaceFields) -> list[_Plan]:
    """The two lines' plans of these fields (made once per fields object)."""
    got = _PLANS.get(id(fields))
    if got is not None and got[0] is fields:
        return got[1]
    plans = []
    for line in (0, 1):
        places = tuple((k, i, p) for k, (_, ps) in fields.items() for i, p in enumerate(ps) if p.line == line)
        height = places[0][2].templates.shape[1] // places[0][2].width if places else 0
        valid = np.zeros((len(places), height, PAD), bool)
        tmpl, owner, codes = [], [], []
        for j, (_, _, p) in enumerate(places):
            valid[j, :, : p.width] = True
            t = np.zeros((len(p.chars), height, PAD), np.float32)
            t[:, :, : p.width] = p.templates.reshape(len(p.chars), height, p.width)
            tmpl.append(t.reshape(len(p.chars), -1))
            owner += [j] * len(p.chars)
            codes += [ord(c) for c in p.chars]
        plans.append(_Plan(places, np.array([p.x for _, _, p in places], int), valid.reshape(len(places), height * PAD),
                           np.concatenate(tmpl) if tmpl else np.zeros((0, height * PAD), np.float32),
                           np.array(owner, int), np.array(codes, int),
                           np.array([MAX_COST if p.complete else MAX_COST_INCOMPLETE for _, _, p in places])))
    _PLANS[id(fields)] = (fields, plans)
    return plans


def _read_line(plan: _Plan, lit: np.ndarray, hid: np.ndarray, shift: int) -> list[tuple[str, str]]:
    """``(char, "")`` or ``("?", "hidden" | "unreadable")`` for every place of one line."""
    n = len(plan.places)
    if n == 0:
        return []
    cols = plan.x[:, None] + shift + np.arange(PAD)[None, :]  # (n, PAD)
    inside = (cols >= 0) & (cols < lit.shape[1])
    c = np.clip(cols, 0, lit.shape[1] - 1)
    w_lit = lit[:, c].transpose(1, 0, 2).reshape(n, -1)  # (n, height * PAD)
    w_hid = hid[:, c].transpose(1, 0, 2).reshape(n, -1) & plan.valid
    v = plan.valid & ~w_hid
    va = v & w_lit
    costs = va.sum(1, keepdims=True) + (v.astype(np.float32) - 2.0 * va) @ plan.templates.T  # (n, m)
    own = plan.owner[None, :] == np.arange(n)[:, None]
    costs = np.where(own, costs, np.inf)
    i = np.argmin(costs, 1)
    best = costs[np.arange(n), i]
    rivals = np.where(plan.codes[None, :] == plan.codes[i][:, None], np.inf, costs)
    margin = rivals.min(1) - best
    n_hidden = w_hid.sum(1)
    out = []
    for j in range(n):
        ok_place = inside[j, : plan.places[j][2].width].all()
        if not ok_place or (best[j] > plan.limit[j] and plan.limit[j] < MAX_COST):
            out.append(("?", "unreadable"))  # off the box, or a character this place has no template of
        elif margin[j] < MIN_MARGIN and n_hidden[j]:
            out.append(("?", "hidden"))
        elif best[j] > plan.limit[j] or margin[j] < MIN_MARGIN:
            out.append(("?", "hidden" if n_hidden[j] and best[j] > plan.limit[j] else "unreadable"))
        else:
            out.append((chr(plan.codes[i[j]]), ""))
    return out


def _number(text: str, decimals: int) -> Any:
    s = text.strip()
    shape = r"\d+" if decimals == 0 else rf"-?\d*\.\d{{{decimals}}}"
    if not re.fullmatch(shape, s) or (decimals == 0 and len(s) > 1 and s[0] == "0"):
        return None
    return float(s) if decimals else int(s)


def read_places(bands: Sequence[tuple[np.ndarray, np.ndarray]], fields: PlaceFields, shift: int,
                skip: Sequence[str] = ()) -> PlaceRead:
    """Read each field in its places (``bands``: ``(lit, hidden)`` of lines 1 and 2 as
    :func:`display_header.text_bands` gives them; ``shift``: the line-1 grid's, see
    :func:`display_cells.align`), but those named in ``skip``."""
    out = PlaceRead()
    read: dict[str, list[tuple[str, str, Place]]] = {k: [] for k in fields}
    for plan, (lit, hid) in zip(_plans(fields), bands):
        for (name, _, place), got in zip(plan.places, _read_line(plan, lit, hid, shift)):
            read[name].append((*got, place))
    for name, (decimals, _) in fields.items():
        if name in skip:
            continue
        chars, whys = [], []
        for ch, why, p in read[name]:
            chars.append(ch)
            if ch == "?":
                whys.append(why)
                out.hidden.append(f"{p.line + 1}:x{p.x + shift} ({name}, {why})")
        text = "".join(chars)
        out.text[name] = text
        value = None if whys else _number(text, decimals)
        out.values[name] = value
        if whys:
            out.problems[name] = ("hidden by a track drawn across the header" if set(whys) == {"hidden"}
                                  else "characters that match no glyph of the font in their place")
        elif value is None:
            out.problems[name] = f"not a number of the header's form: {text!r}"
    return out
