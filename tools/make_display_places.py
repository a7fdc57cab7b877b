"""Cut the place templates of line 2 and of Ecal N / SumE from the displays (``display_places``).

Adds ``places`` to each cell grid of ``eventcnn/images/display_glyphs.json`` (run it after
``tools/make_display_glyphs.py``). Only the *template half* of the displays (CRC-32 of the
name even; ``--half odd`` for the cross-fit) is looked at, and never a file name:

1. *Places*: each display is aligned on its line-1 grid (literal ``Run:event``: the shift);
   the glyph reader's characters of each number of :data:`FORMAT`, right-aligned as the
   Fortran format prints them, give each place's commonest column and width; among the
   windows one column and width either side, the one whose pixels most often repeat
   exactly (the same character drawn the same way) is kept. A place the reader never
   saw inked (a hundreds digit) lies 7 columns left of its neighbour.
2. *Labels* of each bitmap seen at least :data:`MIN_SEEN` times in a place, on displays
   with no track across the window (never a file name): an empty window is a blank; the
   format's decimal point is a ``.``; on line 1 a digit is named only by a run/event cell
   template of the shipped grid that it equals pixel for pixel (empty columns aside: the
   same glyph at the same phase); on line 2 the glyph reader's read names a bitmap when it
   is one of :data:`TRUSTED` (0 1 2 4 7, and ``-``), the same on every display where it
   is sure (margin >= 2; at least half of the bitmap's sightings), and the window holds
   more than 3 columns of it. 3, 5, 6, 8, 9 are never named by the glyph reader: it
   reads line-2 8s as 3 or 6 (and never reads an 8 on line 2 of the 506-px scale).
   A bitmap that none of these names takes its label from :data:`BY_EYE`
   (``tools/display_places_by_eye.json``: bitmaps read by a person, keyed by grid, field,
   place and exact pixels). On line 2 a person's read wins over the glyph reader's (a 6
   or 8 that it reads as 0, a 4 read as 1: logged); on line 1 a disagreement with a cell
   template drops the bitmap (none occurs).
3. *Checks*: a glyph drawn with identical pixels in two places of a line must carry one
   label (else dropped), and an unlabelled bitmap identical to a labelled one takes its
   label; one character drawn two ways (beyond :data:`MAX_VARIANT` pixels) in one place
   loses its templates there (a 4 the glyph reader reads as 1 beside the real 1s). The
   templates were also looked at, enlarged, by a person (docs/benchmarks.md).
4. *Borrowing*: a place lacking some digit takes it from a place of the same line and
   width that draws at least :data:`MIN_SHARED` characters with identical pixels and none
   differently (the same sub-pixel phase). A place still lacking a digit reads only exact
   matches (:mod:`eventcnn.images.display_places`); a number with a place that has no
   template at all is left to the glyph reader (Ebeam: its 5s and 6s are never named).

Run::

    python -m tools.make_display_places ../shared/data/opal_manchester/z_displays.zip
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from eventcnn.images import display_cells as C
from eventcnn.images import display_header as H
from eventcnn.images.display_places import bitmap_from_rows, places_to_json
from eventcnn.images.manchester import decode_display_rgb, display_layout, iter_display_files
from tools.make_display_glyphs import template_half

#: the numbers read in places: field -> (line 0/1, places of the Fortran format, decimals)
FORMAT = {"ctrk_n": (0, 3, 0), "ctrk_sump": (0, 5, 1), "ecal_n": (0, 3, 0), "ecal_sume": (0, 5, 1),
          "ebeam": (1, 6, 3), "vtx_x": (1, 5, 2), "vtx_y": (1, 5, 2), "vtx_z": (1, 5, 2), "hcal_n": (1, 2, 0), "hcal_sume": (1, 5, 1),
          "muon_n": (1, 2, 0)}
#: a bitmap of a place becomes a template when seen (and labelled alike) on this many displays
MIN_SEEN = 3
#: the digits whose glyph reads label line 2 (it reads 8s as 3 or 6, some 9s as 0 and 4s as 1, and on line 2 of
#: the 506-px scale never an 8: 3, 5, 6, 8, 9 are never labelled by it; a 4 read as 1 or a 9 read as 0 is caught
#: by MAX_VARIANT or by eye, docs/benchmarks.md)
TRUSTED = frozenset("01247")
#: places of the same phase share this many characters drawn identically
MIN_SHARED = 3
#: the templates of one character in one place differ by at most this many pixels (the GIFs' variants);
#: more, and one of them is not that character (the glyph reader reads some 4s as 1, some 8s as 3)
MAX_VARIANT = 2
#: bitmaps read by a person (see the module docstring, step 2)
BY_EYE = Path(__file__).with_name("display_places_by_eye.json")
#: ``(grid width, field, place, bitmap bytes + width) -> char``
ByEye = dict[tuple[int, str, int, bytes], str]


def _by_eye(path: Path = BY_EYE) -> ByEye:
    """``(grid width, field, place, bitmap bytes) -> char`` of the labels read by a person."""
    if not path.exists():
        return {}
    out = {}
    for e in json.loads(path.read_text(encoding="utf-8"))["labels"]:
        bm = bitmap_from_rows(e["rows"])
        out[(int(e["grid"]), str(e["field"]), int(e["place"]), bm.tobytes() + bytes([bm.shape[1]]))] = str(e["char"])
    return out


def _items(displays: dict[str, np.ndarray]):
    """Per display: box width, the line-1 grid's shift, bands, glyph hits of both lines."""
    font = H.load_font()
    out = []
    for name, rgb in displays.items():
        bands = H.text_bands(rgb, display_layout(rgb), font.height)
        found = C.align(*bands[0], font.cells)
        if found is None or found[2] > C.CLEAR_LITERAL_COST:
            continue
        hits = [H._read_line(lit, hid, font) for lit, hid in bands]
        out.append((name, found[0], found[1], bands, hits))
    return out


def _field_hits(hits, line: int, name: str):
    """The glyph reader's non-blank characters of one number (None: the line does not parse, or a ``?``)."""
    m = H._PATTERNS[line].match("".join(h.char for h in hits))
    if m is None:
        return None
    got = [hits[j] for j in range(m.start(name), m.end(name)) if hits[j].char != " "]
    return None if any(h.char == "?" for h in got) else got


def _windows(items, grid, name: str) -> list[tuple[int, int]]:
    """``(x, width)`` of each place of a number (before the shift), left to right."""
    line, n, _ = FORMAT[name]
    seen: dict[int, Counter] = defaultdict(Counter)
    for _, g, shift, _, hits in items:
        got = _field_hits(hits[line], line, name) if g is grid else None
        for k, h in enumerate(reversed(got or [])):
            if k < n:
                seen[n - 1 - k][(h.x - shift, h.width)] += 1
    places: list[tuple[int, int] | None] = [seen[p].most_common(1)[0][0] if seen[p] else None for p in range(n)]
    out: list[tuple[int, int]] = []
    for p in range(n - 1, -1, -1):
        if places[p] is None:  # never seen inked: the widest window left of its neighbour that is mostly empty
            if not out:
                raise SystemExit(f"{name}: no place found on the {grid.box_width}-px grid")
            nxt = out[0][0]
            out.insert(0, next(((nxt - w, w) for w in (7, 6, 5, 4) if _empty_share(items, grid, line, nxt - w, w) >= 0.9),
                               (nxt - 4, 4)))
            continue
        x, w = places[p]
        cands = [(x + dx, wd) for dx in (0, -1, 1) for wd in (w, 15 - w)]
        out.insert(0, max(cands, key=lambda c: _repeat_share(items, grid, line, *c)))
    return out


def _empty_share(items, grid, line: int, x: int, w: int) -> float:
    got = [not bm.any() for _, bm in _bitmaps(items, grid, line, x, w)]
    return sum(got) / len(got) if got else 0.0


def _bitmaps(items, grid, line: int, x: int, w: int):
    """``(display index, bitmap)`` of the window on displays of this grid with no track across it."""
    for i, (_, g, shift, bands, _) in enumerate(items):
        lit, hid = bands[line]
        a = x + shift
        if g is grid and a >= 0 and a + w <= lit.shape[1] and not hid[:, a: a + w].any():
            yield i, lit[:, a: a + w]


def _repeat_share(items, grid, line: int, x: int, w: int) -> float:
    counts = Counter(bm.tobytes() for _, bm in _bitmaps(items, grid, line, x, w))
    total = sum(counts.values())
    return sum(v for v in counts.values() if v >= MIN_SEEN) / total if total else 0.0


def _glyph_label(hits, x: int, w: int) -> tuple[str, float] | None:
    """The glyph reader's character over most of the window ``[x, x + w)`` (shifted), with its margin."""
    best = max(hits, key=lambda h: min(h.x + h.width, x + w) - max(h.x, x))
    if min(best.x + best.width, x + w) - max(best.x, x) < w // 2 or best.char in " ?" or best.width not in (7, 8):
        return None
    return best.char, best.margin


def _trim(bm: np.ndarray) -> bytes:
    """A bitmap without its empty columns either side: the glyph as drawn, wherever the window falls."""
    cols = np.flatnonzero(bm.any(0))
    return bm[:, cols[0]: cols[-1] + 1].tobytes() + bytes([cols[-1] + 1 - cols[0]]) if cols.size else b""


def _partial(bm: np.ndarray, ch: str) -> bool:
    """A digit of which the window holds 3 columns or fewer (the rest outside it: its shape says little)."""
    return ch.isdigit() and ch != "1" and len(_trim(bm)) <= bm.shape[0] * 3 + 1


def _cell_digits(grid) -> dict[bytes, str]:
    """Run/event cell digit templates of the grid, by their bitmap (line 1's vertical phase)."""
    out: dict[bytes, str] = {}
    for cell in (*C.RUN_CELLS, *C.EVENT_CELLS):
        t, chars = grid.cells.get(cell, (np.zeros((0, 0)), ()))
        w = t.shape[1] // H.load_font().height if t.size else 0
        for row, ch in zip(t, chars):
            if ch.isdigit():
                out[_trim(row.astype(bool).reshape(-1, w))] = ch
    return out


def _clusters(items, grid, name: str, windows, log,
              eye: ByEye | None = None) -> list[dict[bytes, tuple[str, np.ndarray, int]]]:
    """Per place: bitmap key -> (label, bitmap, seen), before the cross-place check."""
    line = FORMAT[name][0]
    known = _cell_digits(grid) if line == 0 else {}
    n_places, decimals = FORMAT[name][1:]
    point = n_places - 1 - decimals if decimals else -1
    eye = eye or {}
    out = []
    for p, (x, w) in enumerate(windows):
        bms: dict[bytes, np.ndarray] = {}
        seen: Counter = Counter()
        reads: dict[bytes, Counter] = defaultdict(Counter)
        for i, bm in _bitmaps(items, grid, line, x, w):
            key = bm.tobytes() + bytes([w])
            bms[key], seen[key] = bm, seen[key] + 1
            got = _glyph_label(items[i][4][line], x + items[i][2], w)
            reads[key][got[0] if got and got[1] >= 2.0 else None] += 1
        place: dict[bytes, tuple[str, np.ndarray, int]] = {}
        for key, n in seen.items():
            if n < MIN_SEEN:
                continue
            if not bms[key].any():
                place[key] = (" ", bms[key], n)
                continue
            sure = {ch: k for ch, k in reads[key].items() if ch is not None}
            glyph = (next(iter(sure)) if len(sure) == 1 and sum(sure.values()) >= max(MIN_SEEN, n / 2) else None)
            cell = known.get(_trim(bms[key]))
            if p == point:  # the format prints its decimal point here: layout text
                label = "." if glyph in (None, ".") else None
            elif line == 0:  # line 1: only a run/event cell template names a digit
                label = cell
                if cell is not None and glyph is not None and cell != glyph:
                    log(f"{grid.box_width} {name} x{x}: cell template {cell!r}, glyph reader {glyph!r} (cell kept)")
            elif glyph is None or (glyph.isdigit() and glyph not in TRUSTED) or _partial(bms[key], glyph):
                label = None
            else:
                label = glyph
            by_eye = eye.get((grid.box_width, name, p, key))
            if by_eye is not None and label not in (None, by_eye):
                if line == 0:  # a cell template is a file name's digit: neither source wins
                    log(f"{grid.box_width} {name} x{x}: read {by_eye!r} by eye, {label!r} by a cell template: dropped")
                    continue
                log(f"{grid.box_width} {name} x{x}: read {by_eye!r} by eye, {label!r} by the glyph reader: {by_eye!r}")
            label = by_eye or label
            if label is None:
                log(f"{grid.box_width} {name} x{x}: bitmap seen {n}x not labelled by the glyph reader "
                    f"({dict(reads[key])})")
            place[key] = (label, bms[key], n)
        out.append(place)
    return out


def make_places(displays: dict[str, np.ndarray], log=lambda s: print(s, file=sys.stderr)) -> dict[int, list]:
    """``{box_width: places JSON}`` for each grid of the shipped font."""
    items = _items(displays)
    eye = _by_eye()
    result = {}
    for grid in H.load_font().cells:
        fields = {name: _windows(items, grid, name) for name in FORMAT}
        clusters = {name: _clusters(items, grid, name, w, log, eye) for name, w in fields.items()}
        _cross_check(clusters, grid.box_width, log, eye)
        _one_shape(clusters, grid.box_width, log, eye)
        _borrow(fields, clusters, log, grid.box_width)
        out = {}
        for name, places in clusters.items():
            line, _, decimals = FORMAT[name]
            if not all(places):
                log(f"{grid.box_width} {name}: not read in places (a place without any template)")
                continue
            out[name] = (decimals, [(line, x, w, [(ch, bm, n) for ch, bm, n in sorted(p.values(), key=lambda t: t[0])])
                                    for (x, w), p in zip(fields[name], places)])
            log(f"{grid.box_width} {name}: places " + ", ".join(
                f"x{x}/{w}:{''.join(sorted({ch for ch, _, _ in p.values()}))}" for (x, w), p in zip(fields[name], places)))
        result[grid.box_width] = places_to_json(out)
    return result


def _cross_check(clusters, width: int, log, eye: ByEye | None = None) -> None:
    """Labels across the places of a line: a glyph drawn with identical pixels (empty columns aside) in two
    places must carry one label, else every template of it is dropped; an unlabelled bitmap identical to a
    labelled template of another place takes its label; one still unlabelled is dropped. A glyph read by a
    person on line 2 carries that read in every place (the glyph reader's other names for it are its misreads)."""
    labels: dict[tuple[int, bytes], set[str]] = defaultdict(set)
    for name, places in clusters.items():
        for place in places:
            for ch, bm, _ in place.values():
                if ch is not None and ch != " ":
                    labels[(FORMAT[name][0], _trim(bm))].add(ch)
    for (w, name, _, key), ch in (eye or {}).items():
        if w == width and FORMAT[name][0] == 1 and ch != " ":
            labels[(1, _trim(np.frombuffer(key[:-1], bool).reshape(-1, key[-1])))] = {ch}
    for name, places in clusters.items():
        line = FORMAT[name][0]
        for place in places:
            for key, (ch, bm, n) in list(place.items()):
                got = labels.get((line, _trim(bm)), set())
                if len(got) == 1 and ch not in (None, *got):
                    log(f"{width} {name}: a bitmap seen {n}x named {ch!r} is the {next(iter(got))!r} read by a person")
                    place[key] = (next(iter(got)), bm, n)
                elif len(got) > 1:
                    log(f"{width} {name}: one glyph labelled {sorted(got)} in different places: dropped")
                    del place[key]
                elif ch is None and got:
                    place[key] = (next(iter(got)), bm, n)
                    log(f"{width} {name}: a bitmap seen {n}x is the {next(iter(got))!r} of another place")
                elif ch is None:
                    del place[key]


def _one_shape(clusters, width: int, log, eye: ByEye | None = None) -> None:
    """A character drawn two ways in one place (beyond :data:`MAX_VARIANT` pixels) is no label there: all
    its templates in that place are dropped. Bitmaps read by eye are not compared (a person has looked
    at each: their variants are the GIFs' own)."""
    eye = eye or {}
    for name, places in clusters.items():
        for p, place in enumerate(places):
            by: dict[str, list[tuple[int, bytes, np.ndarray]]] = defaultdict(list)
            for key, (ch, bm, n) in place.items():
                if (width, name, p, key) not in eye:
                    by[ch].append((n, key, bm))
            for ch, got in by.items():
                got.sort(key=lambda t: -t[0])
                if ch not in " ." and any(int((bm != got[0][2]).sum()) > MAX_VARIANT for _, _, bm in got[1:]):
                    log(f"{width} {name}: {ch!r} drawn {len(got)} ways in one place (seen {[n for n, _, _ in got]}): "
                        "dropped there")
                    for _, key, _ in got:
                        del place[key]


def _borrow(fields, clusters, log, width: int) -> None:
    """Complete a place's digits from a place of the same line, width and sub-pixel phase."""
    flat = [(FORMAT[n][0], w, p) for n in FORMAT for (_, w), p in zip(fields[n], clusters[n])]
    for line, w, place in flat:
        mine = {ch: key for key, (ch, _, _) in place.items()}
        for line2, w2, other in flat:
            if other is place or (line2, w2) != (line, w):
                continue
            theirs = {ch: key for key, (ch, _, _) in other.items()}
            shared = [ch for ch in mine if ch in theirs and ch != " "]
            if len(shared) < MIN_SHARED or any(mine[ch] != theirs[ch] for ch in shared):
                continue
            for ch, key in theirs.items():
                if ch.isdigit() and ch not in mine and key not in place:
                    place[key] = other[key][:2] + (0,)
                    mine[ch] = key
    log(f"{width}: borrowed digits between places of the same phase")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("displays", help="zip or folder of the Manchester displays (z_displays.zip)")
    ap.add_argument("--out", default=str(H.GLYPHS_FILE), help="JSON to write (default: the shipped file)")
    ap.add_argument("--half", choices=("even", "odd"), default="even",
                    help="the displays to learn from (even: the template half; odd: for the cross-fit)")
    args = ap.parse_args(argv)
    files, _ = iter_display_files(args.displays)
    want = args.half == "even"
    half = {n: decode_display_rgb(d, n) for n, d in files if template_half(n) == want}
    made = make_places(half)
    obj = json.loads(H.GLYPHS_FILE.read_text(encoding="utf-8"))
    for g in obj["cells"]:
        g["places"] = made.get(int(g["box_width"]), [])
    Path(args.out).write_text(json.dumps(obj, indent=0) + "\n", encoding="utf-8")
    print(f"place templates from {len(half)} displays ({args.half} half) -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
