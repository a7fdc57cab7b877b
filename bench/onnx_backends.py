"""One model file, every runtime: the same model on Keras (TensorFlow, JAX, PyTorch backends) and ONNX Runtime.

Loads a run's ``best.keras`` in a fresh process per Keras backend (``KERAS_BACKEND``),
classifies the same fixed seeded ``uint8`` images with each, and compares them with the
exported ONNX model on ONNX Runtime: the largest probability difference and images/s,
one thread everywhere (batch ``--batch``, best of ``--rounds``). A backend that is not
installed is reported as such (PyPI's torch is large: install it into a folder of its own
with ``pip install --target DIR torch`` and pass ``--torch-path DIR``).

Usage::

    python bench/onnx_backends.py --run runs/small64 [--onnx small64.onnx] [--torch-path /tmp/torch]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
model_file, x_file, out_file, batch, rounds = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
import numpy as np
import keras
backend = keras.backend.backend()
if backend == "tensorflow":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
elif backend == "torch":
    import torch
    torch.set_num_threads(1)
from eventcnn.learn.runs import load_keras_file
model = load_keras_file(model_file)
x = np.load(x_file)
model.predict(x[:batch], batch_size=batch, verbose=0)
best = None
for _ in range(rounds):
    t = time.perf_counter(); p = model.predict(x, batch_size=batch, verbose=0); dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
np.save(out_file, np.asarray(p, dtype=np.float64))
mod = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
print(json.dumps({"backend": backend, "seconds": best, "version": sys.modules[mod].__version__}))
"""


def run_backend(backend: str, model: Path, x_file: Path, work: Path, batch: int, rounds: int,
                extra_path: str | None) -> dict:
    out = work / f"{backend}.npy"
    path = [str(ROOT), *([extra_path] if extra_path else []), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, **ONE_THREAD, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join(path)}
    res = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(model), str(x_file), str(out), str(batch),
                          str(rounds)], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return {"backend": backend, "error": last[:200]}
    info = json.loads(res.stdout.strip().splitlines()[-1])
    info["probs"] = np.load(out)
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder with best.keras (CMS small CNN or OPAL)")
    p.add_argument("--onnx", default=None, help="its export (default: exported here into a temporary folder)")
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--torch-path", default=None, help="folder where torch is installed (pip install --target)")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "_out" / "onnx_backends.json")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    run = Path(args.run)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        onnx = Path(args.onnx) if args.onnx else None
        if onnx is None:
            from eventcnn.learn.export import export_run

            onnx = export_run(run, work / "model.onnx", quiet=True)
        from eventcnn.learn.onnx_runtime import OnnxClassifier

        clf = OnnxClassifier(onnx, threads=1)
        x = np.random.default_rng(0).integers(0, 256, (args.images, clf.size, clf.size, 3), dtype=np.uint8)
        x[:8] = 255  # a few blank images (white background) among the noise
        np.save(work / "x.npy", x)
        clf.predict(x[: args.batch], args.batch)
        best = min(_timed(lambda: clf.predict(x, args.batch)) for _ in range(args.rounds))
        ref = clf.predict(x, args.batch)
        rows = [{"runtime": "ONNX Runtime", "version": __import__("onnxruntime").__version__,
                 "img_s": len(x) / best, "max_abs_diff": 0.0}]
        for backend in ("tensorflow", "jax", "torch"):
            info = run_backend(backend, run / "best.keras", work / "x.npy", work, args.batch, args.rounds,
                               args.torch_path if backend == "torch" else None)
            if "error" in info:
                rows.append({"runtime": f"Keras on {backend}", "error": info["error"]})
                continue
            rows.append({"runtime": f"Keras on {backend}", "version": info["version"],
                         "img_s": len(x) / info["seconds"],
                         "max_abs_diff": float(np.max(np.abs(info["probs"] - ref)))})
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load[0]:.1f}; 1 thread, "
          f"batch {args.batch}, {args.images} seeded {clf.size} px images, model {run}/best.keras and {onnx.name}\n")
    print("| runtime | version | images/s | vs ONNX Runtime | max abs difference of probabilities |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['runtime']} | not run: {r['error']} | | | |")
        else:
            print(f"| {r['runtime']} | {r['version']} | {r['img_s']:,.0f} | {r['img_s'] / rows[0]['img_s']:.2f}x | "
                  f"{r['max_abs_diff']:.1e} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"load": load[0], "batch": args.batch, "images": args.images,
                                     "rows": rows}, indent=2) + "\n")
    return 0


def _timed(fn) -> float:
    import time

    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
