"""Benchmark: online physics augmentation vs the on-disk Augmentor pipeline (images/s, CPU).

Prints images/s for a batch of 64 224x224 uint8 RGB event-like images:

- ``physics_augmentation`` (phi shift + eta/phi mirrors), eager and compiled
  (``tf.function`` when the Keras backend is TensorFlow, as inside ``model.fit``);
- ``physics_augment_numpy`` (the PyDataset-side version);
- reference: ``keras.layers.RandomRotation`` (+-5 deg) on the same batch;
- the on-disk Augmentor recipe (``augment_folder``: read PNG, augment, write PNG).

and the ratios against the Augmentor pipeline measured in the same run.

Usage::

    python bench/augment.py [--batch 64] [--repeats 10] [--disk-samples 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from eventcnn.images.augment import (
    AugmentorConfig,
    augment_folder,
    physics_augment_numpy,
    physics_augmentation,
)  # noqa: E402


def event_like_images(n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """Black images with a few unfilled coloured ellipses (like the eta-phi event images)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        im = Image.new("RGB", (size, size))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.integers(3, 8)):
            x, y = rng.integers(0, size, 2)
            r = int(rng.integers(5, 40))
            color = tuple(int(c) for c in rng.integers(64, 256, 3))
            draw.ellipse([x - r, y - r, x + r, y + r], outline=color, width=2)
        out[i] = np.asarray(im)
    return out


def rate(fn, n_images: int, repeats: int) -> float:
    fn()  # warm up (tracing, allocation)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n_images * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument(
        "--disk-samples",
        type=int,
        default=64,
        help="Augmentor images written per class (2 classes)",
    )
    args = ap.parse_args()

    batch = event_like_images(args.batch)
    x = keras.ops.convert_to_tensor(batch)
    phys = physics_augmentation(seed=0)
    rot = keras.layers.RandomRotation(5 / 360, fill_mode="constant", seed=0)
    results: dict[str, float] = {}
    results["online physics (eager)"] = rate(
        lambda: keras.ops.convert_to_numpy(phys(x, training=True)), args.batch, args.repeats
    )
    results["keras RandomRotation +-5 deg (eager)"] = rate(
        lambda: keras.ops.convert_to_numpy(rot(x, training=True)), args.batch, args.repeats
    )
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        phys_c = tf.function(lambda t: phys(t, training=True))
        rot_c = tf.function(lambda t: rot(t, training=True))
        results["online physics (tf.function)"] = rate(
            lambda: phys_c(x).numpy(), args.batch, args.repeats
        )
        results["keras RandomRotation +-5 deg (tf.function)"] = rate(
            lambda: rot_c(x).numpy(), args.batch, args.repeats
        )
    rng = np.random.default_rng(0)
    results["online physics (numpy)"] = rate(
        lambda: physics_augment_numpy(batch, rng), args.batch, args.repeats
    )

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "CreatedImages"
        for k, cls in enumerate(("TTjets", "Wjets")):
            (src / cls).mkdir(parents=True)
            for i, img in enumerate(event_like_images(16, seed=k + 1)):
                Image.fromarray(img).save(src / cls / f"{cls}_event_{i}.png")
        n_disk = 2 * args.disk_samples
        cfg = AugmentorConfig(samples=args.disk_samples, seed=0)
        t0 = time.perf_counter()
        augment_folder(src, Path(tmp) / "augmented", cfg, quiet=True)
        results["Augmentor on disk (read+augment+write PNG)"] = n_disk / (time.perf_counter() - t0)

    disk = results["Augmentor on disk (read+augment+write PNG)"]
    rot = results["keras RandomRotation +-5 deg (eager)"]
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPUs visible, keras {keras.__version__} "
        f"backend {keras.backend.backend()}, batch {args.batch}x224x224x3 uint8"
    )
    print(f"{'method':48s} {'images/s':>10s} {'vs Augmentor':>13s} {'vs RandomRotation':>18s}")
    for name, value in results.items():
        print(f"{name:48s} {value:10.0f} {value / disk:12.1f}x {value / rot:17.2f}x")


def cpu_name() -> str:
    """CPU model from /proc/cpuinfo (Linux), else the platform string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
