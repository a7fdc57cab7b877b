"""Read the header of every Manchester display: how fast, and how often run:event equal the file name.

Targets (issue 35): all 997 displays read in <= 20 s on one core; run:event equal
to the file name on >= 99.5 %. The reference measured in the same run is
decoding the GIFs alone (what any reader must do): the header read's time is
printed as a ratio to it. The match rate is given on all displays and apart on
the half of the displays that gave the glyph templates nothing (the
``tools/make_display_glyphs.py`` split by CRC-32 of the name), with Clopper-Pearson
intervals; every display that does not match is named, with what was read.

Usage (docs/benchmarks.md)::

    nice -n 5 python bench/opal_header.py ../shared/data/opal_manchester/z_displays.zip \
        --out bench/_out/opal_header.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no BLAS threads (set before numpy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time
import zlib
from collections import Counter
from pathlib import Path

from eventcnn import stats
from eventcnn._io import write_json_atomic
from eventcnn.images.display_header import FIELDS, load_font, read_header
from eventcnn.images.manchester import decode_display_rgb, iter_display_files


def template_half(name: str) -> bool:
    """The displays the glyph templates may come from (as tools/make_display_glyphs.py)."""
    return zlib.crc32(name.encode()) % 2 == 0


def rate(reads) -> dict:
    named = [r for r in reads if r.matches_name is not None]
    k = sum(bool(r.matches_name) for r in named)
    return {**stats.binomial_interval(k, len(named)).to_json(), "match": k, "of": len(named)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("displays", help="zip or folder of displays (z_displays.zip)")
    ap.add_argument("--out", default="bench/_out/opal_header.json")
    args = ap.parse_args(argv)
    files, _ = iter_display_files(args.displays)
    font = load_font()
    t0, c0 = time.perf_counter(), time.process_time()
    for name, data in files:
        decode_display_rgb(data, name)
    t_decode, c_decode = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    reads = [read_header(decode_display_rgb(data, name), name, font) for name, data in files]
    t_read, c_read = time.perf_counter() - t0, time.process_time() - c0
    held_out = [r for r in reads if not template_half(r.display)]
    wrong = [r for r in reads if r.matches_name is False]
    fields = {k: sum(r.values.get(k) is not None for r in reads) for k in FIELDS}
    result = {
        "displays": len(reads), "views": dict(Counter(r.view for r in reads)),
        "seconds": {"read_headers": t_read, "decode_only": t_decode, "ratio": t_read / t_decode,
                    "read_headers_cpu": c_read, "decode_only_cpu": c_decode, "ratio_cpu": c_read / c_decode},
        "match_all": rate(reads), "match_held_out": rate(held_out),
        "not_matching": {r.display: {"run": r.run, "event": r.event, "line1": r.lines[0], "error": r.error}
                         for r in wrong},
        "complete": sum(not r.error for r in reads),
        "fields_read": fields,
        "with_hidden_characters": sum(bool(r.hidden) for r in reads),
        "scale_cm": dict(Counter(str(r.scale_cm) for r in reads)),
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, result)
    m, h = result["match_all"], result["match_held_out"]
    print(f"{len(reads)} displays {result['views']}: headers read in {t_read:.1f} s wall / {c_read:.1f} s CPU "
          f"(one core), decoding alone {t_decode:.1f} s wall / {c_decode:.1f} s CPU: ratio {c_read / c_decode:.1f} "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"run:event equal to the file name: {m['match']}/{m['of']} = {100 * m['value']:.2f} % "
          f"[{100 * m['ci95'][0]:.2f}, {100 * m['ci95'][1]:.2f}]; on the held-out half "
          f"{h['match']}/{h['of']} = {100 * h['value']:.2f} %")
    for r in wrong:
        print(f"  {r.display}: read run {r.run} event {r.event} ({r.error or 'no error'})")
    print(f"complete headers {result['complete']}; with hidden characters {result['with_hidden_characters']}; "
          f"scale {result['scale_cm']}")
    print("fields read: " + ", ".join(f"{k} {v}" for k, v in fields.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
