"""Cut the glyph templates of the OPAL display font from the displays themselves.

Writes ``eventcnn/images/display_glyphs.json``, which
:mod:`eventcnn.images.display_header` reads. No OCR, no font file: the templates
are pixels of the Manchester masterclass displays.

1. *Seed*: two displays (one of each GIF scale: 590 and 584 pixels) whose header
   a person read off the screen (``REFERENCE``). Each line is aligned with its
   known text by dynamic programming over the pixel columns (glyph windows of 7 or
   8 columns, free blank columns between text items); first scored by the glyph
   windows' empty first column, then again by the Hamming distance to the glyphs
   cut in the first pass. The windows become the first templates.
2. *Grow*: the displays of the *template half* (a fixed half of the names, by
   CRC-32; the other half is never used here, so that ``bench/opal_header.py``
   can measure the reader on displays that gave it nothing) are read with the
   templates so far. A display whose run and event equal its file name and whose
   two lines have the layout of a header gives its glyph windows as new variants:
   the literal text and the run and event digits (whose characters are known), and
   the other numbers' characters when their template is clearly the nearest.
   Three rounds.
3. *Scale labels*: the label above the scale bar of every template-half display,
   grouped by its pixels; each group is named by the nearest of the labels read by
   a person (``200. cm.`` on e5293_10479 and z5299_10235, ``100. cm.`` on z5293_34932).
4. *Cell templates* (``cells``, read by :mod:`eventcnn.images.display_cells`): per GIF
   scale (header box width) with at least :data:`MIN_GROUP` template-half displays,
   the character grid of line 1 (``x0`` and ``pitch`` that put the fewest lit pixels
   on the cells' first columns) and, for each cell of ``Run:event RRRR:EEEEEE``, the
   commonest bitmap of each character seen there at least :data:`MIN_CELL_SEEN`
   times. The characters are labelled by the layout (``Run:event``, ``:``) and by the
   *file name* (run and event digits): on template-half displays only; a display
   whose name disagrees with its pixels (some do) adds a minority bitmap that the
   commonest one outvotes. A digit a run or event cell never showed is borrowed
   from an event cell of the same sub-pixel phase (:data:`SAME_PHASE`).
5. *Numbers on the grid*: windows of line 1 after the event where, on at least
   :data:`MIN_WINDOW_SEEN` template-half displays with ink there, a share
   :data:`MIN_WINDOW_EXACT` equals a digit template of one run/event cell exactly (the
   same sub-pixel phase); a number of :data:`GRID_FIELDS` whose digit places all have
   such a window (a leading one may lack it: then it must stay blank) is read there.

Run::

    python -m tools.make_display_glyphs ../shared/data/opal_manchester/z_displays.zip
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from eventcnn.images import display_header as H
from eventcnn.images.manchester import decode_display_rgb, display_layout, iter_display_files

#: headers read by a person from the screen (one display of each GIF scale)
REFERENCE = {
    "e5293_10479": ("Run:event 5293: 10479     Ctrk(N=  2 Sump= 89.4) Ecal(N=  4 SumE= 93.0)",
                    "Ebeam 45.600 Vtx (-0.03, 0.04, 0.66) Hcal(N= 2 SumE=  0.3) Muon(N= 0)"),
    "z5305_856": ("Run:event 5305:   856    Ctrk(N= 34 Sump= 63.5) Ecal(N= 47 SumE= 48.5)",
                  "Ebeam 45.595 Vtx (-0.02, 0.05, 0.55) Hcal(N=19 SumE= 22.4) Muon(N= 1)"),
}
#: scale labels read by a person
REFERENCE_SCALE = {"e5293_10479": 200, "z5299_10235": 200, "z5293_34932": 100}
HEIGHT = 14
ROUNDS = 6
#: a glyph variant is kept when verified lines show it at least this often
MIN_SEEN = 3
#: variants this close to a more frequent one add nothing (the reader allows a few pixels)
PRUNE = 1
#: columns of line 1 that hold 'Run:event <run>:<event>' (the item ends before x = 190 in every display)
PREFIX_COLUMNS = 200
#: a glyph of the file-name alignment is counted when at most this many pixels differ from a template
MAX_ALIGN_COST = 6.0
#: ... and every other character's nearest template differs in at least this many more
MIN_ALIGN_MARGIN = 2.0


def template_half(name: str) -> bool:
    """The fixed half of the displays the templates may come from (CRC-32 of the name is even)."""
    return zlib.crc32(name.encode()) % 2 == 0


def _tokens(text: str) -> list[str | None]:
    """Characters of a known line; each run of spaces (and both ends) a free gap (None)."""
    out: list[str | None] = [None]
    for ch in text.strip():
        if ch == " ":
            if out[-1] is not None:
                out.append(None)
        else:
            out.append(ch)
    if out[-1] is not None:
        out.append(None)
    return out


def _align(lit: np.ndarray, tokens: list[str | None], cost) -> list[tuple[str, int, int]]:
    """Dynamic programming: ``(char, x, width)`` of each known character."""
    width, n = lit.shape[1], len(tokens)
    total = np.full((n + 1, width + 1), np.inf)
    back: dict[tuple[int, int], tuple[int, int, bool]] = {}
    total[0, 0] = 0.0
    gap = 0.3 + 4.0 * lit.sum(0)
    for k, tok in enumerate(tokens):
        for x in range(width + 1):
            here = total[k, x]
            if not np.isfinite(here):
                continue
            if tok is None:
                if x < width and here + gap[x] < total[k, x + 1]:
                    total[k, x + 1], back[(k, x + 1)] = here + gap[x], (k, x, False)
                if here < total[k + 1, x]:
                    total[k + 1, x], back[(k + 1, x)] = here, (k, x, False)
                continue
            for w in (7, 8):
                if x + w <= width:
                    c = here + cost(tok, lit[:, x: x + w])
                    if c < total[k + 1, x + w]:
                        total[k + 1, x + w], back[(k + 1, x + w)] = c, (k, x, True)
    out, k, x = [], n, width
    while (k, x) != (0, 0):
        pk, px, glyph = back[(k, x)]
        if glyph:
            out.append((tokens[pk], px, x - px))
        k, x = pk, px
    return out[::-1]


def _char_costs(lit: np.ndarray, templates: dict[tuple[str, bytes], np.ndarray]) -> dict[tuple[str, int], list]:
    """Per (character, width): the Hamming distance of the window at every x to the nearest variant."""
    groups: dict[tuple[str, int], list[np.ndarray]] = defaultdict(list)
    for (ch, _), bm in templates.items():
        groups[(ch, bm.shape[1])].append(bm.ravel())
    out = {}
    for (ch, w), bms in groups.items():
        if lit.shape[1] < w:
            continue
        win = H._windows(lit, w)
        t = np.stack(bms).astype(np.float32)
        d = win.sum(1, keepdims=True) + t.sum(1)[None, :] - 2.0 * win @ t.T
        out[(ch, w)] = d.min(1).tolist()
    return out


def _align_prefix(lit: np.ndarray, tokens: list[str | None], costs: dict) -> list[tuple[str, int, int, float]]:
    """The known start of a line aligned by dynamic programming: ``(char, x, width, cost)`` per glyph;
    free gaps where ``tokens`` has None, and everything after the last token is free."""
    width, n = lit.shape[1], len(tokens)
    gap = (0.3 + 4.0 * lit.sum(0)).tolist()
    inf = float("inf")
    total = [[inf] * (width + 1) for _ in range(n + 1)]
    back: dict[tuple[int, int], tuple[int, int, float]] = {}
    total[0][0] = 0.0
    for k, tok in enumerate(tokens):
        row, nxt = total[k], total[k + 1]
        for x in range(width + 1):
            here = row[x]
            if here == inf:
                continue
            if tok is None:
                if x < width and here + gap[x] < row[x + 1]:
                    row[x + 1], back[(k, x + 1)] = here + gap[x], (k, x, -1.0)
                if here < nxt[x]:
                    nxt[x], back[(k + 1, x)] = here, (k, x, -1.0)
                continue
            for w in (7, 8):
                c = costs.get((tok, w))
                if c is not None and x + w <= width and here + c[x] < nxt[x + w]:
                    nxt[x + w], back[(k + 1, x + w)] = here + c[x], (k, x, c[x])
    end = int(np.argmin(total[n]))  # the free tail: the best place to stop
    out, k, x = [], n, end
    while (k, x) != (0, 0):
        pk, px, c = back[(k, x)]
        if c >= 0:
            out.append((tokens[pk], px, x - px, c))
        k, x = pk, px
    return out[::-1]


def _bands(rgb: np.ndarray):
    return H.text_bands(rgb, display_layout(rgb), HEIGHT)


def seed(displays: dict[str, np.ndarray]) -> dict[tuple[str, bytes], np.ndarray]:
    """Templates from the reference displays: two alignment passes."""
    def first_column(ch: str, win: np.ndarray) -> float:
        return 2.0 * win[:, 0].sum() + (5.0 if not win.any() else 0.0)

    cut: dict[str, list[np.ndarray]] = defaultdict(list)
    for name, lines in REFERENCE.items():
        for (lit, _), text in zip(_bands(displays[name]), lines):
            for ch, x, w in _align(lit, _tokens(text), first_column):
                cut[ch].append(lit[:, x: x + w])

    def hamming(ch: str, win: np.ndarray) -> float:
        return min((float((t != win).sum()) for t in cut[ch] if t.shape == win.shape), default=20.0)

    templates: dict[tuple[str, bytes], np.ndarray] = {}
    for name, lines in REFERENCE.items():
        for (lit, _), text in zip(_bands(displays[name]), lines):
            for ch, x, w in _align(lit, _tokens(text), hamming):
                win = lit[:, x: x + w]
                templates[(ch, win.tobytes() + bytes([w]))] = win
    for w in (7, 8):  # the blank glyph (a space)
        blank = np.zeros((HEIGHT, w), bool)
        templates[(" ", blank.tobytes() + bytes([w]))] = blank
    return templates


def to_json(templates: dict[tuple[str, bytes], np.ndarray], labels: list[tuple[int, np.ndarray]],
            note: str) -> dict:
    def rows(bm: np.ndarray) -> list[str]:
        return ["".join("#" if v else "." for v in r) for r in bm]

    glyphs = sorted(({"char": ch, "rows": rows(bm)} for (ch, _), bm in templates.items()),
                    key=lambda g: (g["char"], len(g["rows"][0]), g["rows"]))
    return {"height": HEIGHT, "note": note, "glyphs": glyphs,
            "scale_labels": [{"cm": cm, "rows": rows(bm)} for cm, bm in labels]}




def _labels(name: str, hits, n: int) -> dict[int, str] | None:
    """The known character of each glyph of a line (literal text, run and event digits from the
    file name, clear reads of the other numbers), or None when the line does not fit the layout."""
    text = "".join(h.char for h in hits)
    m = H._PATTERNS[n - 1].match(text)
    if m is None:
        return None
    known: dict[int, str] = {}
    numbers = dict(zip(("run", "event"), map(str, H.name_numbers(name) or ("", ""))))
    for i, item in enumerate(H._LAYOUT[n - 1]):
        if item in H.FIELDS:
            idx = [j for j in range(m.start(item), m.end(item)) if hits[j].char != " "]
            if item in numbers:
                if "".join(hits[j].char for j in idx) != numbers[item]:
                    return None  # the number does not read as the file name says: no labels here
                known.update(zip(idx, numbers[item]))
            else:
                known.update((j, hits[j].char) for j in idx if hits[j].char != "?" and hits[j].margin >= 4)
        else:
            known.update(zip(range(m.start(f"lit{i}"), m.end(f"lit{i}")), str(item)))
    return known


def _not_contradicted(name: str, lit: np.ndarray, hid: np.ndarray, font: H.Font) -> bool:
    """False when line 1 clearly reads another run or event than the file name (some displays
    show another event than their name says: their glyphs must not be labelled by the name)."""
    hits = H._read_line(lit, hid, font)
    m = H._LAX[0].match("".join(h.char for h in hits))
    if m is None:
        return True
    for field, digits in zip(("run", "event"), map(str, H.name_numbers(name))):
        read = "".join(h.char for h in hits[m.start(field): m.end(field)] if h.char != " ")
        if len(read) == len(digits) and any(a not in ("?", b) for a, b in zip(read, digits)):
            return False
    return True


def grow(templates, displays: dict[str, np.ndarray], lenient: bool) -> tuple[int, Counter]:
    """One round over the template-half displays, counting labelled glyph windows:

    - the start of line 1, ``Run:event <run>:<event>``, aligned with what the file name says
      (every glyph labelled by the name; the alignment scored against the templates so far);
    - in lines that read with the layout of a header: the literal text (labelled by the layout)
      and the other numbers' characters whose template is clearly the nearest.
    """
    font = H.font_from_json(to_json(templates, [], ""))
    seen: Counter[tuple[str, bytes]] = Counter()
    windows: dict[tuple[str, bytes], np.ndarray] = {}
    fitted = 0
    limits = (12.0, 0.5) if lenient else (H._MAX_COST, H._MIN_MARGIN)

    def count(ch: str, win: np.ndarray) -> None:
        key = (ch, win.tobytes() + bytes([win.shape[1]]))
        seen[key] += 1
        windows[key] = win

    for name, rgb in displays.items():
        bands = _bands(rgb)
        run, event = H.name_numbers(name) or (None, None)
        lit, hid = bands[0]
        if run is not None and not hid[:, :PREFIX_COLUMNS].any() and _not_contradicted(name, lit, hid, font):
            prefix = _tokens(f"Run:event {run}:{event:>6}")[:-1]
            costs = _char_costs(lit[:, :PREFIX_COLUMNS], templates)
            for ch, x, w, c in _align_prefix(lit[:, :PREFIX_COLUMNS], prefix, costs):
                rival = min((v[x] for (o, ow), v in costs.items() if ow == w and o != ch), default=99.0)
                if c <= MAX_ALIGN_COST and rival - c >= MIN_ALIGN_MARGIN:  # it looks most like its label
                    count(ch, lit[:, x: x + w])
        for n, (lit, hid) in enumerate(bands, start=1):
            hits = H._read_line(lit, hid, font, *limits)
            known = _labels(name, hits, n)
            if known is None:
                continue
            fitted += 1
            for j, ch in known.items():
                h = hits[j]
                if h.width in (7, 8) and not h.hidden:
                    count(ch, lit[:, h.x: h.x + h.width])
    for key, win in windows.items():
        templates.setdefault(key, win)
    return fitted, seen


def prune(templates, seen: Counter) -> dict:
    """Drop a variant within :data:`PRUNE` pixels of a more frequent variant of the same character and width."""
    kept: dict[tuple[str, bytes], np.ndarray] = {}
    for key in sorted(templates, key=lambda k: -seen[k]):
        ch, win = key[0], templates[key]
        if not any(k[0] == ch and v.shape == win.shape and int((v != win).sum()) <= PRUNE for k, v in kept.items()):
            kept[key] = win
    return kept


def scale_labels(displays: dict[str, np.ndarray], all_displays: dict[str, np.ndarray]) -> list[tuple[int, np.ndarray]]:
    """Scale-label templates: every distinct label of the template half, named by the nearer reference."""
    label = H.scale_label

    refs = [(cm, label(all_displays[name])) for name, cm in REFERENCE_SCALE.items()]
    groups: Counter[bytes] = Counter()
    shapes: dict[bytes, np.ndarray] = {}
    for rgb in displays.values():
        lab = label(rgb)
        if lab is not None:
            key = lab.tobytes() + bytes(lab.shape)
            groups[key] += 1
            shapes[key] = lab
    out = []
    for key, count in groups.most_common():
        if count < 2:
            continue  # a label seen once may be covered by a track
        d = sorted((H._shift_distance(shapes[key], ref), cm) for cm, ref in refs)
        rival = min((dist for dist, cm in d if cm != d[0][1]), default=999)
        if d[0][0] <= 8 and rival - d[0][0] >= 8:
            out.append((d[0][1], shapes[key]))
    return out


#: a GIF scale gets its own cell grid from this many template-half displays
MIN_GROUP = 20
#: a cell template is kept when its bitmap is the commonest of its character in its cell, seen this often
MIN_CELL_SEEN = 2


def fit_grid(lits: list[np.ndarray], cells: int = 21) -> tuple[float, float]:
    """``(x0, pitch)``: the grid whose cells' first columns hold the fewest lit pixels (line 1)."""
    profile = np.sum([lit.sum(0) for lit in lits], axis=0).astype(float)
    best = (np.inf, 0.0, 0.0)
    for pitch in np.arange(7.0, 7.4, 0.002):
        for x0 in np.arange(4.0, 13.0, 0.05):
            xs = np.floor(x0 + pitch * np.arange(cells + 1)).astype(int)
            ink = profile[xs[xs < profile.size]].sum()
            if ink < best[0]:
                best = (ink, round(float(x0), 3), round(float(pitch), 4))  # as stored: cut and read alike
    return best[1], best[2]


#: numbers of line 1 that may be read on the grid: (digit positions of the format, decimals)
GRID_FIELDS = {"ctrk_n": (3, 0), "ctrk_sump": (4, 1), "ecal_n": (3, 0), "ecal_sume": (4, 1)}
#: a window of line 1 is a digit window of a run/event cell's phase when, on at least MIN_WINDOW_SEEN
#: template-half displays with ink in it, this share equals one of that cell's digit templates exactly
MIN_WINDOW_EXACT, MIN_WINDOW_SEEN = 0.6, 20


def _field_spans(items: list[tuple[str, np.ndarray, np.ndarray, int]]) -> dict[str, tuple[float, float]]:
    """Median first and last column of each number of line 1, as the glyph reader segments it."""
    font = H.load_font()
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _, lit, hid, shift in items:
        hits = H._read_line(lit, hid, font)
        m = H._LAX[0].match("".join(h.char for h in hits))
        if m is None:
            continue
        for k in GRID_FIELDS:
            xs = [(hits[j].x - shift, hits[j].x - shift + hits[j].width) for j in range(m.start(k), m.end(k))
                  if hits[j].char not in " ?"]
            if xs:
                spans[k].append((min(a for a, _ in xs), max(b for _, b in xs)))
    return {k: (float(np.median([a for a, _ in v])), float(np.median([b for _, b in v]))) for k, v in spans.items()}


def digit_windows(items: list[tuple[str, np.ndarray, np.ndarray, int]], grid) -> list[tuple[int, int, int]]:
    """``(x, width, cell)``: windows of line 1 after the event whose pixels, where inked, are mostly
    exactly a digit template of run/event cell ``cell`` (the same sub-pixel phase)."""
    width = grid.box_width
    lits = np.stack([np.pad(np.roll(lit, -s, 1), ((0, 0), (0, 8)))[:, :width] for _, lit, _, s in items])
    hids = np.stack([np.pad(np.roll(hid, -s, 1), ((0, 0), (0, 8)))[:, :width] for _, _, hid, s in items])
    found = []
    start = int(grid.span(21)[0])
    for x in range(start, width - 8):
        for w in (7, 8):
            win = lits[:, :, x: x + w].reshape(len(items), -1).astype(np.float32)
            ok = (win.sum(1) > 0) & ~hids[:, :, x: x + w].reshape(len(items), -1).any(1)
            if ok.sum() < MIN_WINDOW_SEEN:
                continue
            best = (0, -1)
            for cell in range(15, 21):
                t, chars = grid.cells[cell]
                keep = [i for i, ch in enumerate(chars) if ch.isdigit()]
                if t.shape[1] != win.shape[1] or not keep:
                    continue
                d = win[ok].sum(1, keepdims=True) + t[keep].sum(1) - 2.0 * win[ok] @ t[keep].T
                best = max(best, (int((d.min(1) == 0).sum()), cell))
            if best[0] >= MIN_WINDOW_EXACT * ok.sum():
                found.append((best[0], x, w, best[1]))
    kept: list[tuple[int, int, int, int]] = []
    for f in sorted(found, reverse=True):  # overlapping windows (x +-2): the one with most exact matches
        if all(abs(f[1] - k[1]) > 2 for k in kept):
            kept.append(f)
    return sorted((x, w, cell) for _, x, w, cell in kept)


def grid_fields(items, grid) -> dict[str, tuple[int, int, list[tuple[int, int, int]]]]:
    """The numbers of line 1 whose every digit position (but perhaps a leading one, then guarded) has a
    digit window, 6-8 columns apart (13-15 across a decimal point)."""
    spans, windows = _field_spans(items), digit_windows(items, grid)
    out = {}
    for k, (n_digits, decimals) in GRID_FIELDS.items():
        if k not in spans:
            continue
        a, b = spans[k]
        digits = [t for t in windows if a - 9 <= t[0] and t[0] + t[1] <= b + 3]
        gaps = [q[0] - p[0] for p, q in zip(digits, digits[1:])]
        want = [7] * (len(digits) - 1 - decimals) + [14] * decimals
        if len(digits) not in (n_digits, n_digits - 1) or any(abs(g - w) > 1 for g, w in zip(gaps, want)):
            print(f"cells: {k} not read on the {grid.box_width}-px grid (digit windows {digits})", file=sys.stderr)
            continue
        out[k] = (decimals, 0 if len(digits) == n_digits else 7, digits)
        print(f"cells: {k} read on the {grid.box_width}-px grid: windows {digits}", file=sys.stderr)
    return out


#: cells whose sub-pixel phases differ by at most this much draw a digit alike (cells 11 and 16 of the
#: 514-px scale: 36.02 px apart, their digits' commonest bitmaps are identical)
SAME_PHASE = 0.03


def borrow_digits(grid, cells: dict[int, dict[str, np.ndarray]]) -> int:
    """Give the run and event cells the digits they never showed on the template half (a run such as 7575
    in cells 10-13) from an event cell of the same sub-pixel phase: returns how many were borrowed.

    Phases just below 1 and just above 0 are the same phase one column apart (the window of the first
    starts a column earlier: cell 10 of the 514-px scale draws cell 20's digits after a blank column)."""
    def phase(c: int) -> float:
        return (grid.x0 + grid.pitch * c) % 1.0

    def moved(bm: np.ndarray, d: float, width: int) -> np.ndarray | None:
        if abs(d) <= SAME_PHASE:
            out = bm
        elif d >= 1.0 - SAME_PHASE:  # this cell's window starts one column earlier
            out = np.hstack([np.zeros((bm.shape[0], 1), bool), bm])
        elif d <= SAME_PHASE - 1.0 and not bm[:, 0].any():
            out = bm[:, 1:]
        else:
            return None
        out = out[:, :width]
        return out if out.shape[1] == width and out.sum() == bm.sum() else None

    n = 0
    for cell in [*range(15, 21), *range(10, 15)]:  # the event cells first: the run cells borrow from them
        if cell not in cells:
            continue
        width = next(iter(cells[cell].values())).shape[1]
        for other in range(15, 21):
            if other == cell or other not in cells:
                continue
            for ch, bm in cells[other].items():
                if ch.isdigit() and ch not in cells[cell]:
                    got = moved(bm, phase(cell) - phase(other), width)
                    if got is not None:
                        cells[cell][ch] = got
                        n += 1
    return n


def make_cells(displays: dict[str, np.ndarray]) -> list[dict]:
    """Cell templates of ``Run:event RRRR:EEEEEE`` per GIF scale (labels: layout and file name)."""
    from eventcnn.images import display_cells as C

    groups: dict[int, list[tuple[str, np.ndarray, np.ndarray]]] = defaultdict(list)
    for name, rgb in displays.items():
        if H.name_numbers(name) is None:
            continue
        lit, hid = _bands(rgb)[0]
        groups[lit.shape[1]].append((name, lit, hid))
    grids, seen_all = [], {}
    for width, items in sorted(groups.items()):
        if len(items) < MIN_GROUP:
            continue
        x0, pitch = fit_grid([lit for _, lit, _ in items])
        grid = C.CellGrid(width, x0, pitch)
        seen: dict[tuple[int, str], Counter] = defaultdict(Counter)
        bitmaps: dict[bytes, np.ndarray] = {}
        for name, lit, hid in items:
            text = C.run_event_text(*H.name_numbers(name))
            for cell, ch in enumerate(text):
                a, b = grid.span(cell)
                if b > lit.shape[1] or hid[:, a:b].any():
                    continue  # a track across the cell: its pixels are not the glyph's
                win = lit[:, a:b]
                key = win.tobytes()
                seen[(cell, ch)][key] += 1
                bitmaps[key] = win
        cells: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
        for (cell, ch), counts in seen.items():
            key, n = counts.most_common(1)[0]
            if n >= MIN_CELL_SEEN:
                cells[cell][ch] = bitmaps[key]
                seen_all[(width, cell, ch)] = n
        borrowed = borrow_digits(grid, cells)
        grids.append((width, x0, pitch, dict(cells)))
        print(f"cells: box {width} px, {len(items)} displays, x0 {x0:.2f} pitch {pitch:.3f}, "
              f"{sum(len(v) for v in cells.values())} cell templates ({borrowed} borrowed from a cell of the "
              "same phase)", file=sys.stderr)
    fields = {}
    for grid in C.cells_from_json(C.cells_to_json(grids, seen_all)):
        aligned = []
        for name, lit, hid in groups[grid.box_width]:
            found = C.align(lit, hid, [grid])
            if found is not None and found[2] <= C.CLEAR_LITERAL_COST:
                aligned.append((name, lit, hid, found[1]))
        fields[grid.box_width] = grid_fields(aligned, grid)
    return C.cells_to_json(grids, seen_all, fields)


def _keep_places(cells: list[dict], old: dict) -> list[dict]:
    """The place templates of the file being replaced, per box width (``tools/make_display_places.py`` makes them:
    rerun it after new cell templates)."""
    places = {g["box_width"]: g["places"] for g in old.get("cells", []) if "places" in g}
    for g in cells:
        if g["box_width"] in places:
            g["places"] = places[g["box_width"]]
    return cells


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("displays", help="zip or folder of the Manchester displays (z_displays.zip)")
    ap.add_argument("--out", default=str(H.GLYPHS_FILE), help="JSON to write (default: the shipped file)")
    ap.add_argument("--cells-only", action="store_true",
                    help="remake only the cell templates, keeping the glyphs and scale labels of --out")
    args = ap.parse_args(argv)
    files, _ = iter_display_files(args.displays)
    everything = {name: decode_display_rgb(data, name) for name, data in files}
    half = {n: rgb for n, rgb in everything.items() if template_half(n)}
    out = Path(args.out)
    if args.cells_only:
        obj = json.loads(out.read_text(encoding="utf-8"))
        obj["cells"] = _keep_places(make_cells(half), obj)
        out.write_text(json.dumps(obj, indent=0) + "\n", encoding="utf-8")
        print(f"cell templates from {len(half)} template-half displays -> {out}", file=sys.stderr)
        return 0
    templates = seed(everything)
    print(f"seed: {len(templates)} templates from {len(REFERENCE)} displays read by a person", file=sys.stderr)
    for r in range(ROUNDS):
        fitted, seen = grow(templates, half, lenient=True)
        # keep what verified lines show at least MIN_SEEN times (a window cut once may hold a stray mark)
        templates = {k: v for k, v in templates.items() if seen[k] >= MIN_SEEN or k[0] == " "}
        print(f"round {r + 1}: {fitted} of {2 * len(half)} template-half lines fit the layout; "
              f"{len(templates)} templates seen at least {MIN_SEEN} times", file=sys.stderr)
    templates = prune(templates, seen)
    print(f"{len(templates)} templates after dropping variants within {PRUNE} pixel of a more frequent one",
          file=sys.stderr)
    labels = scale_labels(everything, everything)  # labels read by a person name the groups: all displays
    note = (f"cut from {len(half)} displays of {Path(args.displays).name} (CRC-32 of the name even) by "
            "tools/make_display_glyphs.py; seeds: " + ", ".join(REFERENCE))
    obj = to_json(templates, labels, note)
    obj["cells"] = _keep_places(make_cells(half), json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {})
    out.write_text(json.dumps(obj, indent=0) + "\n", encoding="utf-8")
    chars = Counter(ch for ch, _ in templates)
    print(f"{len(templates)} glyph templates ({len(chars)} characters), {len(labels)} scale labels -> {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
