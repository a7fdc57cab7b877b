"""Peak memory of OPAL training: the original masterclass pattern vs ours.

(a) ``original-float64``: a faithful reproduction of the masterclass memory
    pattern: images read as float32 arrays (``plt.imread``), every recipe copy
    rotated into a new float64 array (``skimage.transform.rotate`` returns
    float64; here ``scipy.ndimage.rotate`` on float64, same size), kept in a
    Python list, shuffled, split 80/20 and turned into two float64 numpy arrays
    handed to ``model.fit``. Materialising all copies of the 497 events needs
    several GB, so it is measured on two stratified subsets and extrapolated
    linearly in the number of copies to the full set (the script prints both
    measurements, the fit and the extrapolation).
(b) ``ours``: :func:`eventcnn.opal.train` on the full set (uint8, copies or
    augmentation generated per batch), one epoch, followed by predicting all
    497 events; for ``--recipe default`` (our default) and ``original`` (the
    masterclass recipe generated lazily).

Each measurement runs in its own subprocess and reports its own peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Prints MB and the ratio (a)/(b).

Usage::

    python bench/opal_memory.py --data ../shared/data/opal
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "opal"
FACTORS = {"q": 3, "e": 60, "m": 60, "t": 60}  # 3 copies each, leptons x 20 (masterclass)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(data_dir: Path):
    from eventcnn import opal

    return opal.load_displays(data_dir / "centered-masked-rotated1.zip",
                              data_dir / "events_list.csv", quiet=True)


def n_copies(labels: np.ndarray) -> int:
    """Number of recipe copies of these labels."""
    return int(sum(FACTORS[c] for c in labels))


def worker_original(data_dir: Path, fraction: float) -> dict:
    """The masterclass memory pattern on a subset (float64 copies materialised)."""
    import random

    from scipy import ndimage

    from eventcnn import opal
    from eventcnn.learn.splits import stratified_sample

    data = _load(data_dir)
    sub = stratified_sample(data.labels, fraction)
    # plt.imread of a PNG gives float32 in [0, 1]: one float32 image per event
    events = [(data.images[i].astype(np.float32) / 255.0, data.labels[i]) for i in sub]
    del data
    rng = np.random.default_rng(0)
    copies = []
    for image, label in events:
        for _ in range(FACTORS[label]):
            out = ndimage.rotate(image.astype(np.float64), rng.integers(0, 360), reshape=False,
                                 order=1, axes=(0, 1))
            if rng.integers(0, 2):
                out = np.fliplr(out)
            copies.append((out, opal.CLASS_NAMES.index(label)))
    random.Random(0).shuffle(copies)
    n_train = int(0.8 * len(copies))
    train, val = copies[:n_train], copies[n_train:]
    x_train = np.array([c[0] for c in train])  # float64 copy of the list
    y_train = np.array([c[1] for c in train])
    x_val = np.array([c[0] for c in val])
    y_val = np.array([c[1] for c in val])
    peak_arrays = _peak_mb()  # the float64 list and arrays, before Keras sees them
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((200, 200, 3)), *opal.build_model().layers[1:]])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, steps_per_epoch=2, validation_data=(x_val, y_val),
              validation_steps=1, verbose=0)
    return {"mode": "original-float64", "fraction": fraction, "events": int(len(sub)),
            "copies": len(copies), "peak_arrays_mb": peak_arrays, "peak_rss_mb": _peak_mb()}


def worker_ours(data_dir: Path, recipe: str) -> dict:
    """opal.train (one epoch) on the full set, then predict every event."""
    from eventcnn import opal

    data = _load(data_dir)
    start = time.perf_counter()
    res = opal.train(data.images, data.labels, recipe=recipe, epochs=1, seed=0, quiet=True)
    opal.predict(res.model, data.images)
    return {"mode": f"ours-{recipe}", "events": len(data), "copies": n_copies(data.labels),
            "seconds": time.perf_counter() - start, "peak_rss_mb": _peak_mb()}


def run_worker(*args: str) -> dict:
    """Run one measurement in a fresh Python process and return its JSON result."""
    cmd = [sys.executable, __file__, "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--fractions", type=float, nargs=2, default=[0.05, 0.10],
                   help="subset sizes for the float64 reproduction (extrapolated to 1.0)")
    p.add_argument("--recipes", nargs="*", default=["default", "original"])
    p.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    data_dir = Path(args.data)
    if args.worker is not None:
        kind = args.worker[0]
        res = (worker_original(data_dir, float(args.worker[1])) if kind == "original"
               else worker_ours(data_dir, args.worker[1]))
        print("RESULT " + json.dumps(res), flush=True)
        return

    labels = _load(data_dir).labels
    full_copies = n_copies(labels)
    orig = [run_worker("original", str(f), "--data", str(data_dir)) for f in args.fractions]
    for r in orig:
        print(f"(a) original float64 pattern, {r['events']} events, {r['copies']} copies: "
              f"peak {r['peak_arrays_mb']:.0f} MB with the arrays built, "
              f"{r['peak_rss_mb']:.0f} MB after model.fit")
    for key, what in (("peak_arrays_mb", "arrays built"), ("peak_rss_mb", "after model.fit")):
        (c1, m1), (c2, m2) = ((r["copies"], r[key]) for r in orig)
        slope = (m2 - m1) / (c2 - c1)
        extrap = m1 + slope * (full_copies - c1)
        print(f"    {what}: linear fit {slope:.3f} MB per copy (one float64 200x200x3 copy = "
              f"{200 * 200 * 3 * 8 / 2**20:.3f} MB); extrapolated to all {len(labels)} events "
              f"({full_copies} copies): {extrap:.0f} MB")
    for recipe in args.recipes:
        r = run_worker("ours", recipe, "--data", str(data_dir))
        print(f"(b) ours, recipe {recipe}, {r['events']} events, 1 epoch + predict: "
              f"peak {r['peak_rss_mb']:.0f} MB ({r['seconds']:.0f} s); "
              f"ratio (a, after fit, extrapolated)/(b) = {extrap / r['peak_rss_mb']:.1f}x; "
              f"under 1.5 GB: {r['peak_rss_mb'] < 1536}")


if __name__ == "__main__":
    main()
