"""Tests of eventcnn.learn.devices: precision per GPU, compile choice, data-parallel training on 2 JAX CPU devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventcnn.learn.cache import default_cache_dir
from eventcnn.learn.dataset import make_toy_images
from eventcnn.learn.devices import jit_compile_setting, needs_fixed_shapes, precision_policy
from eventcnn.learn.train import TrainConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("mode", "caps", "policy"), [
    ("auto", [(9, 0)], "mixed_bfloat16"),            # H100
    ("auto", [(8, 0), (8, 6)], "mixed_bfloat16"),    # A100 + RTX 3090
    ("auto", [(7, 5)], "mixed_float16"),             # T4 (Colab): no bf16
    ("auto", [(9, 0), (7, 0)], "mixed_float16"),     # mixed machine: the weakest GPU decides
    ("auto", [], "float32"),                         # CPU
    ("on", [], "mixed_bfloat16"),
    ("off", [(9, 0)], "float32"),
    ("float16", [(9, 0)], "mixed_float16"),
])
def test_precision_policy_fits_the_device(mode, caps, policy):
    assert precision_policy(mode, caps) == policy


def test_precision_on_this_cpu_machine_is_float32():
    assert precision_policy("auto") == "float32"


def test_compile_setting_and_validation(tmp_path):
    assert jit_compile_setting("on") is True and jit_compile_setting("off") is False
    assert jit_compile_setting("auto") == "auto"
    with pytest.raises(ValueError, match="compile"):
        jit_compile_setting("fast")
    with pytest.raises(ValueError, match="compile"):
        TrainConfig(tmp_path, tmp_path / "r", compile="yes")
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainConfig(tmp_path, tmp_path / "r", mixed_precision="fp8")
    assert needs_fixed_shapes(n_devices=2)


@pytest.mark.slow
def test_data_parallel_training_on_two_jax_cpu_devices(tmp_path):
    pytest.importorskip("jax")
    data = make_toy_images(tmp_path / "toy", n_per_class=15, size=16, seed=0)
    out = tmp_path / "run"
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
    env.pop("EVENTCNN_QUIET", None)
    proc = subprocess.run(
        [sys.executable, "-m", "eventcnn", "train", "--data", str(data), "--out", str(out), "--epochs", "1",
         "--batch-size", "3", "--no-augment", "--no-baseline", "--scale-lr", "--lr", "1e-3"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DataParallel over 2 devices" in proc.stdout
    devices = json.loads((out / "config.json").read_text())["devices"]
    assert devices["backend"] == "jax" and devices["count"] == 2
    assert devices["global_batch_size"] == 6 and devices["lr_scale"] == 2.0
    assert (out / "best.keras").exists() and (out / "metrics.json").exists()
    history = json.loads((out / "history.json").read_text())
    # global batch 6 (3 per device); Adam at 2e-3 (linear scaling)
    assert len(history) == 1 and history[0]["lr"] == pytest.approx(2e-3)


def _train_cli(data: Path, out: Path, backend: str, *extra: str, env_extra: dict | None = None):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg",
           "PYTHONPATH": str(REPO), **(env_extra or {})}
    env.pop("EVENTCNN_QUIET", None)
    return subprocess.run(
        [sys.executable, "-m", "eventcnn", "train", "--data", str(data), "--out", str(out), "--epochs", "2",
         "--batch-size", "4", "--no-augment", "--no-baseline", "--no-evaluate", "--quiet", *extra],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
    )


@pytest.mark.slow
def test_torch_backend_compile_on_matches_eager(tmp_path):
    """torch.compile (``--compile on``) trains to the same losses as eager (``off``, what ``auto`` picks)."""
    pytest.importorskip("torch", reason="torch is not in the test extra (CPU wheel ~200 MB); install it to run this")
    data = make_toy_images(tmp_path / "toy", n_per_class=10, size=16, seed=0)
    losses = {}
    for mode in ("off", "on"):
        proc = _train_cli(data, tmp_path / mode, "torch", "--compile", mode)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        devices = json.loads((tmp_path / mode / "config.json").read_text())["devices"]
        assert devices["backend"] == "torch" and devices["compile"] == mode
        losses[mode] = [h["loss"] for h in json.loads((tmp_path / mode / "history.json").read_text())]
        assert (tmp_path / mode / "best.keras").exists()
    assert losses["on"] == pytest.approx(losses["off"], rel=1e-3)


def test_train_records_devices_uses_cache_and_resumes_runs_from_before_these_settings(tmp_path):
    import keras

    from eventcnn.learn.train import train

    data = make_toy_images(tmp_path / "toy", n_per_class=8, size=16, seed=0)
    kw = {"model": "small", "batch_size": 4, "augment": False, "quiet": True, "evaluate": False}
    run = train(TrainConfig(data, tmp_path / "run", epochs=1, **kw))
    cfg = json.loads((run.out / "config.json").read_text())
    assert cfg["devices"] == {"backend": keras.backend.backend(), "count": 1, "per_device_batch_size": 4, "global_batch_size": 4,
                              "lr_scale": 1.0, "precision": "float32", "compile": "auto", "cache": True}
    assert len(list(default_cache_dir(data).glob("*.npy"))) == 2  # train and val, in the user cache
    assert not any(p.name.startswith(".") for p in data.iterdir())  # nothing written into the images
    for key in ("cache", "cache_dir", "compile", "scale_lr"):  # a run folder written before this version
        del cfg["train"][key]
    (run.out / "config.json").write_text(json.dumps(cfg))
    resumed = train(TrainConfig(data, tmp_path / "run", epochs=2, cache=False, **kw))
    assert [h["epoch"] for h in resumed.history] == [1, 2]


@pytest.mark.slow
def test_rotation_augmentation_keeps_xla_on_jax(tmp_path):
    """OPAL's default recipe and the end-view augmentation compile with XLA on JAX (not op by op)."""
    pytest.importorskip("jax")
    script = (
        "import numpy as np, keras\n"
        "from eventcnn import opal\n"
        "from eventcnn.learn.augment import physics_augmentation\n"
        "from eventcnn.learn.models import build_model\n"
        "x = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)\n"
        "y = np.arange(8) % 2\n"
        "for m in (opal.build_model((64, 64, 3), augment=True, seed=1),\n"
        "          build_model('small', 2, (64, 64, 3), augmentation=physics_augmentation('endview', seed=1))):\n"
        "    m.compile('adam', 'sparse_categorical_crossentropy')\n"
        "    m.fit(x, y, batch_size=4, epochs=1, verbose=0)\n"
        "    print('jit_compile', m.jit_compile)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split().count("True") == 2, proc.stdout
