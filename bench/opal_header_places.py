"""Line 2 and Ecal N / SumE read in their character places, checked against the glyph reader.

For each display (of the half given), the header is read twice: with the place templates
of ``--font`` (``tools/make_display_places.py``) and with the glyph reader alone (the same
font without places). Per field: both read and agree, both read and disagree, read only
in places, read only by the glyph reader. Every disagreement is listed, and its header
box is saved enlarged (``--crops DIR``) to be looked at. The cross-fit: templates made
from the odd half (``--half odd`` of the tool), read on the even half, and the other way.

Usage (docs/benchmarks.md)::

    python -m tools.make_display_places ../shared/data/opal_manchester/z_displays.zip --half odd \
        --out bench/_out/places_odd.json
    python bench/opal_header_places.py ../shared/data/opal_manchester/z_displays.zip \
        --font bench/_out/places_odd.json --half even --out bench/_out/places_crossfit_even.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses
import zlib
from pathlib import Path

import numpy as np

from eventcnn._io import write_json_atomic
from eventcnn.images.display_cells import read_run_event
from eventcnn.images.display_header import load_font, read_header, text_bands
from eventcnn.images.display_places import read_places
from eventcnn.images.manchester import decode_display_rgb, display_layout, iter_display_files

FIELDS = ("ecal_n", "ecal_sume", "ebeam", "vtx_x", "vtx_y", "vtx_z", "hcal_n", "hcal_sume", "muon_n")


def in_half(name: str, half: str) -> bool:
    even = zlib.crc32(name.encode()) % 2 == 0
    return half == "all" or (half == "even") == even


def save_crop(rgb: np.ndarray, path: Path, k: int = 3) -> None:
    from PIL import Image

    top, bottom, left, right = display_layout(rgb).header
    box = rgb[top: bottom + 1, left: right + 1]
    Image.fromarray(np.kron(box, np.ones((k, k, 1), dtype=np.uint8))).save(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("displays")
    ap.add_argument("--font", default=None, help="glyph JSON with places (default: the shipped one)")
    ap.add_argument("--half", choices=("even", "odd", "all"), default="all")
    ap.add_argument("--out", default="bench/_out/opal_header_places.json")
    ap.add_argument("--crops", default=None, help="folder for enlarged headers of the disagreements")
    args = ap.parse_args(argv)
    font = load_font(args.font)
    glyph = dataclasses.replace(font, cells=tuple(dataclasses.replace(g, places={}) for g in font.cells))
    files, _ = iter_display_files(args.displays)
    counts = {k: dict(agree=0, disagree=0, places_only=0, glyph_only=0, neither=0, places_hidden=0) for k in FIELDS}
    disagree = []
    for name, data in files:
        if not in_half(name, args.half):
            continue
        rgb = decode_display_rgb(data, name)
        b = read_header(rgb, name, glyph)
        bands = text_bands(rgb, display_layout(rgb), font.height)
        got = read_run_event(*bands[0], font.cells)
        placed = read_places(bands, got.grid.places, got.shift) if got is not None and got.grid else None
        for k in FIELDS:
            va = placed.values.get(k) if placed else None
            vb = b.values.get(k)
            key = ("neither" if va is None and vb is None else "places_only" if vb is None else
                   "glyph_only" if va is None else "agree" if va == vb else "disagree")
            counts[k][key] += 1
            counts[k]["places_hidden"] += bool(placed and placed.problems.get(k, "").startswith("hidden"))
            if key == "disagree":
                disagree.append({"display": name, "field": k, "places": va, "glyph": vb, "text": placed.text[k],
                                 "line2": b.lines[1]})
                if args.crops:
                    Path(args.crops).mkdir(parents=True, exist_ok=True)
                    save_crop(rgb, Path(args.crops) / f"{name}.png")
    write_json_atomic(args.out, {"half": args.half, "font": args.font, "fields": counts, "disagree": disagree,
                                 "load_average": os.getloadavg()})
    for k, c in counts.items():
        print(f"{k:10s} " + " ".join(f"{n} {v}" for n, v in c.items()))
    for d in disagree:
        print(f"  {d['display']} {d['field']}: places {d['places']} ({d['text']!r}) glyph {d['glyph']}  ({d['line2']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
