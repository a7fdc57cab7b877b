"""Training throughput per Keras backend next to native PyTorch, measured in one run.

For each backend that imports (``jax``, ``torch``, ``tensorflow``; each in a
subprocess with ``KERAS_BACKEND`` set) it prints

* **model only**: ``train_on_batch`` on random ``uint8`` batches, ResNet50 from
  scratch (``eventcnn.learn.models.build_model("resnet50", weights=None)``), the
  precision of :func:`eventcnn.learn.devices.precision_policy` (bf16 on Ampere+ GPUs);
* **end to end**: ``python -m eventcnn train`` (cache on, ResNet50 from scratch)
  on a folder of rendered CMS images, images/s over the epochs after the first;

next to a native PyTorch reference (torchvision ResNet50, bf16 autocast on
GPUs, ``channels_last``), and the ratio backend / native.

Usage::

    python bench/gpu_train.py                      # GPU: 224 px, batch 64
    python bench/gpu_train.py --smoke              # CPU check: 32 px, batch 4, a few steps
    python bench/gpu_train.py --backends jax --data CreatedImages
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BACKENDS = ("jax", "torch", "tensorflow")


def _rate(step, batch: int, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def child_model_only(size: int, batch: int, steps: int, warmup: int, compile_mode: str) -> dict:
    """Keras ``train_on_batch`` images/s in this process (backend from ``KERAS_BACKEND``)."""
    import keras
    import numpy as np

    from eventcnn.learn.devices import jit_compile_setting, precision_policy
    from eventcnn.learn.models import build_model

    policy = precision_policy("auto")
    keras.mixed_precision.set_global_policy(policy)
    model = build_model("resnet50", 2, (size, size, 3), weights=None, freeze="none")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
                  jit_compile=jit_compile_setting(compile_mode, quiet=True))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(batch, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, 2, size=batch).astype(np.int32)

    def fast_step():
        out = model.train_on_batch(x, y)
        float(out[0] if isinstance(out, list) else out)  # wait for the device

    return {"images_per_s": _rate(fast_step, batch, steps, warmup), "policy": policy}


def torch_resnet50(num_classes: int = 2):
    """torchvision's ResNet50 (v1.5: stride on the 3x3 conv); the same network written out
    when torchvision is missing or does not match the installed torch."""
    try:
        import torchvision

        return torchvision.models.resnet50(num_classes=num_classes), "torchvision"
    except (ImportError, RuntimeError):
        pass
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.body(x) + self.down(x))

    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                               nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers), "built-in (torchvision unavailable)"


def child_native(size: int, batch: int, steps: int, warmup: int) -> dict:
    """Native PyTorch ResNet50 training images/s (bf16 autocast on GPU, channels_last)."""
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    net, source = torch_resnet50(2)
    model = net.to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=dev)
    y = torch.randint(0, 2, (batch,), device=dev)
    use_bf16 = dev == "cuda" and torch.cuda.is_bf16_supported()

    def step():
        xb = (x.float() / 255.0).contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=use_bf16):
            loss = torch.nn.functional.cross_entropy(model(xb), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        float(loss)  # sync

    n_params = sum(p.numel() for p in model.parameters())
    return {"images_per_s": _rate(step, batch, steps, warmup), "policy": "bf16 autocast" if use_bf16 else "float32",
            "device": dev, "model": source, "params": n_params}


def end_to_end(backend: str, data: Path, args: argparse.Namespace, tmp: Path) -> dict:
    """``python -m eventcnn train`` on ``data``; images/s over the epochs after the first."""
    out = tmp / f"run_{backend}"
    cmd = [sys.executable, "-m", "eventcnn", "train", "--data", str(data), "--out", str(out), "--model", "resnet50",
           "--weights", "none", "--freeze", "none", "--size", str(args.size),
           "--batch-size", str(args.batch_size), "--epochs", str(args.epochs), "--no-augment", "--no-evaluate",
           "--no-baseline", "--quiet", "--compile", args.compile, "--patience", "1000",
           "--fractions", "0.9", "0.05", "0.05"]  # epoch seconds include the (5 %) validation pass
    proc = subprocess.run(cmd, env=_env(backend), cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1][:300]}
    cfg = json.loads((out / "config.json").read_text())
    hist = json.loads((out / "history.json").read_text())
    n, gb = cfg["split_counts"]["train"], cfg["devices"]["global_batch_size"]
    per_epoch = n // gb * gb if backend == "jax" and n >= gb else n  # JAX trains full batches only
    steady = hist[1:] or hist
    return {"images_per_s": per_epoch * len(steady) / sum(h["seconds"] for h in steady),
            "epoch_s": [h["seconds"] for h in hist], "train_images": n}


def _env(backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_child(kind: str, backend: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--size", str(args.size),
           "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--compile", args.compile]
    proc = subprocess.run(cmd, env=_env(backend), capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1][:300] if (proc.stderr or proc.stdout) else "?"}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="training images/s per Keras backend vs native PyTorch")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script on a CPU")
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: all that import)")
    p.add_argument("--data", default=None, help="image folder (default: render the CMS events at --size)")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=50, help="timed train_on_batch steps (model only)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation)")
    p.add_argument("--epochs", type=int, default=3, help="end-to-end epochs (the first is not counted)")
    p.add_argument("--limit", type=int, default=None, help="events rendered per class (default: all)")
    p.add_argument("--compile", default="auto", choices=["auto", "on", "off"], help="eventcnn --compile")
    p.add_argument("--skip-e2e", action="store_true", help="model-only figures")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.size, args.batch_size, args.steps, args.warmup, args.epochs = 32, 4, 3, 1, 2
        args.limit = args.limit or 24
    if args.child == "model":
        print(json.dumps(child_model_only(args.size, args.batch_size, args.steps, args.warmup, args.compile)))
        return 0
    if args.child == "native":
        print(json.dumps(child_native(args.size, args.batch_size, args.steps, args.warmup)))
        return 0

    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    have = [b for b in wanted if importlib.util.find_spec(b) is not None]
    for b in sorted(set(wanted) - set(have)):
        print(f"{b}: not installed, skipped")
    print(f"{args.size} px, batch {args.batch_size}, {args.steps} steps after {args.warmup} warm-up; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    native = (run_child("native", "torch", args) if importlib.util.find_spec("torch")
              else {"error": "torch not installed"})
    print(f"native PyTorch ResNet50 ({native.get('model', '?')}, {native.get('params', 0) / 1e6:.1f} M parameters, "
          f"{native.get('policy', '?')}, {native.get('device', '?')}): "
          f"{native.get('images_per_s', float('nan')):.1f} img/s {native.get('error', '')}", flush=True)
    ref = native.get("images_per_s")
    with tempfile.TemporaryDirectory(prefix="eventcnn_gpu_") as tmp:
        data = None
        if not args.skip_e2e:
            from bench.input_pipeline import render_folder

            data = Path(args.data) if args.data else render_folder(Path(tmp) / "images", args.size, True,
                                                                   limit=args.limit)
        for b in have:
            m = run_child("model", b, args)
            line = f"{b:10s} model only: {m.get('images_per_s', float('nan')):8.1f} img/s ({m.get('policy', '?')})"
            if ref and "images_per_s" in m:
                line += f", {m['images_per_s'] / ref:.2f}x native"
            print(line + (f" ERROR {m['error']}" if "error" in m else ""), flush=True)
            if data is None:
                continue
            e = end_to_end(b, data, args, Path(tmp))
            line = f"{b:10s} end to end: {e.get('images_per_s', float('nan')):8.1f} img/s (eventcnn train, cache on)"
            if ref and "images_per_s" in e:
                line += f", {e['images_per_s'] / ref:.2f}x native; epochs {e['epoch_s']} s"
            print(line + (f" ERROR {e['error']}" if "error" in e else ""), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
