"""How close our masterclass crops come to the published ones, on every pair available.

The published ``centered-masked-rotated1.zip`` (NTW Münster) holds 200 x 200
crops of the labelled end views; ``../shared/data/opal`` has 497 of the 622
(the rest are the held-out set). For each of them this script makes our crop
from the Manchester GIF (:func:`eventcnn.images.manchester.masterclass_crop`)
and compares, pixel by pixel (0-255 per channel):

- mean absolute difference (MAD) per pixel and channel, and MAD relative to the
  published crop's mean brightness (the crops are mostly black);
- the share of pixels that differ by more than 32 levels in any channel;
- the overlap of lit pixels (any channel > 30): |ours and theirs| / |theirs|;
- the share of pairs whose best match over flips and 1-3 degree turns is not
  the crop as made (orientation disagreements: the axis angle and the up/down
  flip are discrete decisions of the published script).

Medians, 90th percentiles and means with bootstrap intervals (eventcnn.stats);
the 10 worst pairs by name. Speed: crops per second, as a ratio to decoding the
GIFs alone, in the same run. The CNN's agreement on both versions is measured
by ``bench/opal_classic.py`` (the same folds as the classic methods).

Usage::

    nice -n 5 python bench/opal_crop.py --shared ../shared/data --out bench/_out/opal_crop.json
"""

from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from eventcnn import stats
from eventcnn._io import write_json_atomic
from eventcnn.images import manchester as M

PREFIX = "finalcenteredmaskedrotatedopencv"


def published(zip_path: Path) -> dict[str, np.ndarray]:
    out = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            base = name.rsplit("/", 1)[-1]
            if base.startswith(PREFIX) and base.endswith(".png"):
                out[base[len(PREFIX):-4]] = np.asarray(Image.open(io.BytesIO(zf.read(name))).convert("RGB"))
    return out


def compare(ours: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    a, b = ours.astype(np.int16), ref.astype(np.int16)
    mad = float(np.abs(a - b).mean())
    lit_a, lit_b = a.max(axis=2) > 30, b.max(axis=2) > 30
    variants = [ours, ours[::-1], ours[:, ::-1], ours[::-1, ::-1]]
    best = int(np.argmin([np.abs(v.astype(np.int16) - b).mean() for v in variants]))
    return {"mad": mad, "mad_rel": mad / max(float(b.mean()), 1e-6),
            "differ": float((np.abs(a - b).max(axis=2) > 32).mean()),
            "overlap": float((lit_a & lit_b).sum() / max(int(lit_b.sum()), 1)),
            "orientation_differs": float(best != 0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data", help="folder with opal/ and opal_manchester/")
    ap.add_argument("--out", default="bench/_out/opal_crop.json")
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    ref = published(shared / "opal" / "centered-masked-rotated1.zip")
    files, _ = M.iter_display_files(shared / "opal_manchester" / "z_displays.zip")
    data = {n: d for n, d in files if n in ref}
    missing = sorted(set(ref) - set(data))
    t0 = time.perf_counter()
    decoded = {n: M.decode_display_rgb(d, n) for n, d in data.items()}
    t_decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows, errors = {}, {}
    for n, rgb in decoded.items():
        try:
            rows[n] = compare(M.masterclass_crop(rgb), ref[n])
        except M.CropError as exc:
            errors[n] = str(exc)
    t_crop = time.perf_counter() - t0
    names = sorted(rows)
    table = {k: np.array([rows[n][k] for n in names]) for k in next(iter(rows.values()))}
    result = {"pairs": len(names), "published_total": 622, "published_here": len(ref),
              "no_gif": missing, "crop_errors": errors, "metrics": {}}
    for k, v in table.items():
        mean = stats.bootstrap(lambda x: float(np.mean(x)), v, seed=1)
        result["metrics"][k] = {"mean": mean.to_json(), "median": float(np.median(v)),
                                "p90": float(np.quantile(v, 0.9))}
    worst = sorted(names, key=lambda n: -rows[n]["mad_rel"])[:10]
    result["worst"] = {n: rows[n] for n in worst}
    result["speed"] = {"crop_seconds": t_crop, "decode_seconds": t_decode,
                       "crops_per_second": len(names) / t_crop, "ratio_crop_to_decode": t_crop / t_decode}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, result)
    print(f"{len(names)} pairs (of the 622 published crops, {len(ref)} are here; "
          f"{len(missing)} without a GIF, {len(errors)} crop errors)")
    for k, m in result["metrics"].items():
        print(f"  {k:20s} mean {m['mean']['value']:.4f} [{m['mean']['ci95'][0]:.4f}, {m['mean']['ci95'][1]:.4f}]"
              f"  median {m['median']:.4f}  p90 {m['p90']:.4f}")
    print("  worst (relative MAD):", ", ".join(f"{n} {rows[n]['mad_rel']:.2f}" for n in worst))
    print(f"  speed: {len(names) / t_crop:.1f} crops/s; crop / decode time = {t_crop / t_decode:.1f}")
    print(json.dumps({"out": args.out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
