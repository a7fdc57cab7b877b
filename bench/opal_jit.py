"""OPAL default recipe on JAX: XLA-compiled vs op-by-op (Keras' RandomRotation flag).

Keras marks ``RandomRotation`` as not jit-compatible, so a model containing it
(OPAL's default recipe, ``physics_augmentation("endview")``) trained op by op
on JAX, compiling every primitive for every new shape.
:func:`eventcnn.learn.devices.allow_jit` lifts the flag on JAX. This script trains
the same recipe both ways, each in a subprocess with ``KERAS_BACKEND=jax``, and
prints the number of XLA compilations (``jax_log_compiles``), the wall time and
the ratio.

Usage::

    python bench/opal_jit.py --images 200 --size 100 --epochs 4 --steps 10
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(mode: str, images: int, size: int, epochs: int, steps: int) -> dict:
    """Train the default recipe in this process; ``mode`` ``keras`` keeps Keras' flag, ``jit`` lifts it."""
    import jax

    jax.config.update("jax_log_compiles", True)
    count = {"n": 0}

    class Count(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Compiling"):
                count["n"] += 1

    logging.getLogger("jax").addHandler(Count())
    logging.getLogger("jax").setLevel(logging.WARNING)
    import numpy as np

    from eventcnn import opal
    from eventcnn.learn import devices

    if mode == "keras":
        devices.allow_jit = lambda layer: layer  # type: ignore[assignment] - the flag as Keras sets it
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(images, size, size, 3), dtype=np.uint8)
    y = np.array(list("qqqqqqqqeemmttqe") * (images // 16 + 1))[:images]
    t0 = time.perf_counter()
    res = opal.train(x, y, recipe="default", epochs=epochs, steps_per_epoch=steps, batch_size=16, seed=3, quiet=True)
    return {"mode": mode, "jit_compile": bool(res.model.jit_compile), "compiles": count["n"],
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="OPAL default recipe on JAX: XLA vs op by op")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.images, args.size, args.epochs, args.steps)))
        return 0
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "EVENTCNN_QUIET": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"{args.images} images {args.size} px, {args.epochs} epochs x {args.steps} steps of 16; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    out = {}
    for mode in ("keras", "jit"):
        cmd = [sys.executable, __file__, "--child", mode, "--images", str(args.images), "--size", str(args.size),
               "--epochs", str(args.epochs), "--steps", str(args.steps)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        out[mode] = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
        r = out[mode]
        print(f"{mode:5s}: jit_compile={r['jit_compile']}, {r['compiles']} XLA compilations, {r['seconds']:.1f} s",
              flush=True)
    print(f"time keras/jit: {out['keras']['seconds'] / out['jit']['seconds']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
