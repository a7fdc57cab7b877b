"""Streaming input pipeline vs in-memory tensors: training throughput and peak memory.

Trains the same small CNN (``eventcnn.learn.models.build_model("small")``) on a toy
image folder twice, each in a fresh subprocess:

* ``stream``: :class:`eventcnn.learn.dataset.ImageSequence` decodes the PNGs per batch;
* ``memory``: all images decoded up front into one uint8 array, ``model.fit(x, y)``.

It prints images/s of training (epochs after the first, which compiles), the
peak RSS of each process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and
the ratios stream/memory; then repeats with ``--scale`` times more images to
show that the streaming pipeline's peak RSS does not grow with the data set.

Usage::

    python bench/pipeline.py --images 1000 --size 64 --epochs 3 --scale 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(mode: str, data: str, size: int, epochs: int, batch: int, workers: int) -> None:
    """Train in this process and print one JSON line with throughput and peak RSS."""
    import resource

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from eventcnn.learn.dataset import (
        ImageSequence,
        list_images,
        load_arrays,
        make_split,
        split_arrays,
    )
    from eventcnn.learn.models import build_model, make_optimizer

    keras.utils.set_random_seed(0)
    items, names = list_images(data)
    split = make_split(items, names, fractions=(1.0, 0.0, 0.0), seed=0)
    files, labels = split_arrays(split, "train", data)
    model = build_model("small", len(names), (size, size, 3))
    model.compile(make_optimizer("adam", 1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    t_load = 0.0
    if mode == "stream":
        seq = ImageSequence(files, labels, batch_size=batch, shuffle=True, seed=0, workers=workers)
        model.fit(seq, epochs=epochs, verbose=0, callbacks=[Timer()])
    else:
        t0 = time.perf_counter()
        x = load_arrays(files)
        t_load = time.perf_counter() - t0
        model.fit(x, np.asarray(labels), batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    steady = times[1:] or times
    ips = len(files) * len(steady) / sum(steady)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"mode": mode, "images": len(files), "images_per_s": ips, "peak_rss_mb": rss_mb,
                      "epoch_s": times, "decode_all_s": t_load}))


def run_child(mode: str, data: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--data", str(data), "--size", str(args.size),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="streaming vs in-memory training: images/s and peak RSS")
    p.add_argument("--images", type=int, default=1000, help="images in the 1x data set (half per class)")
    p.add_argument("--scale", type=int, default=4, help="the larger data set has this many times more images")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="PyDataset prefetch threads for the stream")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.data, args.size, args.epochs, args.batch_size, args.workers)
        return 0

    from eventcnn.learn.dataset import make_toy_images

    with tempfile.TemporaryDirectory(prefix="eventcnn_bench_") as tmp:
        results = {}
        for factor in (1, args.scale):
            data = make_toy_images(Path(tmp) / f"x{factor}", n_per_class=args.images * factor // 2, size=args.size)
            for mode in ("stream", "memory"):
                r = run_child(mode, data, args)
                results[(factor, mode)] = r
                print(f"{factor}x {mode:6s}: {r['images']:6d} images, {r['images_per_s']:7.1f} images/s, "
                      f"peak RSS {r['peak_rss_mb']:7.1f} MiB, epochs {[round(t, 1) for t in r['epoch_s']]} s", flush=True)
    s1, m1 = results[(1, "stream")], results[(1, "memory")]
    sk, mk = results[(args.scale, "stream")], results[(args.scale, "memory")]
    print(f"\nthroughput stream/memory: {s1['images_per_s'] / m1['images_per_s']:.3f} (1x), "
          f"{sk['images_per_s'] / mk['images_per_s']:.3f} ({args.scale}x)  [target >= 0.90]")
    print(f"peak RSS stream/memory:   {s1['peak_rss_mb'] / m1['peak_rss_mb']:.3f} (1x), "
          f"{sk['peak_rss_mb'] / mk['peak_rss_mb']:.3f} ({args.scale}x)")
    print(f"peak RSS growth {args.scale}x/1x: stream {sk['peak_rss_mb'] / s1['peak_rss_mb']:.3f}, "
          f"memory {mk['peak_rss_mb'] / m1['peak_rss_mb']:.3f} "
          f"(+{sk['peak_rss_mb'] - s1['peak_rss_mb']:.0f} MiB vs +{mk['peak_rss_mb'] - m1['peak_rss_mb']:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
