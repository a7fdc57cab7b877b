"""Devices, precision, compilation and data parallelism for the active Keras backend.

* :func:`precision_policy`: ``mixed_bfloat16`` on GPUs that have bfloat16
  (NVIDIA compute capability >= 8.0: A100, H100, RTX 30xx/40xx; no loss scaling
  needed), ``mixed_float16`` on older GPUs, ``float32`` on CPU.
* :func:`device_count`: the devices a data-parallel run spreads over (GPUs; with
  JAX every local device, so ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
  gives two CPU devices for testing).
* :func:`data_parallel`: ``keras.distribution.DataParallel`` (JAX) or
  ``tf.distribute.MirroredStrategy`` (TensorFlow) over those devices; the batch
  of the input pipeline is then the *global* batch (per-device batch x devices).
* :func:`jit_compile_setting`: the ``jit_compile`` argument of ``model.compile``
  for ``--compile auto|on|off``.

Example::

    from eventcnn.learn.devices import data_parallel, precision_policy
    keras.mixed_precision.set_global_policy(precision_policy("auto"))
    with data_parallel() as n:
        model = build_model(...)            # variables replicated on n devices
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from eventcnn._env import sayer
from eventcnn.errors import UserError

__all__ = [
    "allow_jit",
    "backend",
    "COMPILE_MODES",
    "data_parallel",
    "data_parallel_devices",
    "device_count",
    "gpu_capabilities",
    "jit_compile_setting",
    "needs_fixed_shapes",
    "PRECISION_MODES",
    "precision_policy",
    "set_precision",
]


PRECISION_MODES = ("auto", "on", "off", "bfloat16", "float16")
COMPILE_MODES = ("auto", "on", "off")
_HINTED: set[str] = set()


def backend() -> str:
    """Name of the active Keras backend."""
    import keras

    return keras.backend.backend()


def gpu_capabilities() -> list[tuple[int, int]]:
    """CUDA compute capability ``(major, minor)`` of every visible GPU (empty on CPU).

    Unknown capabilities (e.g. ROCm) are reported as ``(0, 0)``.
    """
    name = backend()
    out: list[tuple[int, int]] = []
    try:
        if name == "tensorflow":
            import tensorflow as tf

            for d in tf.config.list_physical_devices("GPU"):
                cc = tf.config.experimental.get_device_details(d).get("compute_capability") or (0, 0)
                out.append((int(cc[0]), int(cc[1])))
        elif name == "jax":
            import jax

            for d in jax.local_devices():
                if d.platform == "gpu":
                    cc = str(getattr(d, "compute_capability", "0.0")).split(".")
                    out.append((int(cc[0]), int(cc[1]) if len(cc) > 1 else 0))
        elif name == "torch":
            import torch

            out = [tuple(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - no GPU runtime: CPU
        return []
    return out


def precision_policy(mode: str = "auto", capabilities: list[tuple[int, int]] | None = None) -> str:
    """The Keras dtype policy for ``mode`` on these GPUs (default: the visible ones).

    ``auto``/``on``: ``mixed_bfloat16`` when every GPU has compute capability >= 8.0,
    else ``mixed_float16`` (with Keras' dynamic loss scaling); ``auto`` on a CPU-only
    machine gives ``float32`` (``on`` gives ``mixed_bfloat16``: CPUs have no float16
    units); ``off``: ``float32``; ``bfloat16``/``float16`` force the policy.

    Example::

        precision_policy("auto", [(9, 0)])   # 'mixed_bfloat16' (H100)
        precision_policy("auto", [(7, 5)])   # 'mixed_float16' (T4)
        precision_policy("auto", [])         # 'float32' (CPU)
    """
    if mode not in PRECISION_MODES:
        raise UserError(f"mixed precision must be one of {PRECISION_MODES}, got {mode!r}")
    if mode == "off":
        return "float32"
    if mode == "bfloat16":
        return "mixed_bfloat16"
    if mode == "float16":
        return "mixed_float16"
    caps = gpu_capabilities() if capabilities is None else capabilities
    if not caps:
        return "mixed_bfloat16" if mode == "on" else "float32"
    return "mixed_bfloat16" if all(c >= (8, 0) for c in caps) else "mixed_float16"


def set_precision(mode: str = "auto", quiet: bool = False) -> str:
    """Set Keras' global dtype policy to :func:`precision_policy` of ``mode``; say so when mixed.

    Example::

        set_precision("off")   # 'float32'
    """
    import keras

    policy = precision_policy(mode)
    keras.mixed_precision.set_global_policy(policy)
    if policy != "float32":
        sayer(quiet)(f"mixed precision: {policy} (softmax in float32)")
    return policy


def device_count() -> int:
    """Devices a data-parallel run uses: GPUs, or (JAX) all local devices."""
    name = backend()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            return max(1, len(tf.config.list_logical_devices("GPU")))
        if name == "jax":
            import jax

            return max(1, len(jax.local_devices()))
        if name == "torch":
            import torch

            return max(1, int(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001 - no accelerator runtime
        return 1
    return 1


def data_parallel_devices() -> int:
    """How many devices :func:`data_parallel` spreads a batch over (1 for torch)."""
    return device_count() if backend() in ("jax", "tensorflow") else 1


@contextlib.contextmanager
def data_parallel(quiet: bool = False) -> Iterator[int]:
    """Data-parallel scope over :func:`data_parallel_devices`; yields the device count.

    JAX: ``keras.distribution.DataParallel`` (reset on exit, so evaluation and
    prediction afterwards run on one device); TensorFlow:
    ``tf.distribute.MirroredStrategy``. One device: nothing changes.
    """
    say = sayer(quiet)
    import keras

    name = backend()
    n = data_parallel_devices()
    if name == "torch" and device_count() > 1:
        say(f"{device_count()} GPUs found; the torch backend trains on one (use KERAS_BACKEND=jax for data parallelism)")
    if n <= 1:
        yield 1
        return
    if name == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        say(f"data parallel: MirroredStrategy over {strategy.num_replicas_in_sync} devices")
        with strategy.scope():
            yield int(strategy.num_replicas_in_sync)
        return
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    say(f"data parallel: keras.distribution.DataParallel over {len(devices)} devices ({', '.join(devices)})")
    try:
        yield len(devices)
    finally:
        keras.distribution.set_distribution(None)


def needs_fixed_shapes(n_devices: int = 1, jit_compile: Any = "auto") -> bool:
    """Whether training batches must all have one shape (drop the last partial batch).

    True on JAX (XLA compiles per shape), with several devices (a batch is split
    evenly) and for a compiled torch model (dynamo recompiles per shape).
    """
    name = backend()
    return name == "jax" or n_devices > 1 or (name == "torch" and jit_compile is True)


def jit_compile_setting(mode: str = "auto", quiet: bool = False) -> bool | str:
    """``jit_compile`` for ``model.compile`` from ``--compile auto|on|off``.

    ``auto`` keeps Keras' choice (XLA on JAX and on TensorFlow GPUs; eager on
    torch, because ``torch.compile`` recompiled repeatedly in our runs), ``on``
    forces compilation (torch: ``torch.compile``), ``off`` runs eagerly.
    On a torch GPU run with ``auto`` a one-time hint names the faster JAX backend.

    Example::

        model.compile(..., jit_compile=jit_compile_setting("auto"))
    """
    say = sayer(quiet)
    if mode not in COMPILE_MODES:
        raise UserError(f"compile must be one of {COMPILE_MODES}, got {mode!r}")
    if mode == "auto" and backend() == "torch" and gpu_capabilities() and "torch" not in _HINTED:
        _HINTED.add("torch")
        say("hint: the torch backend trains eagerly here (several times slower than JAX on a GPU: "
            "~300 vs ~1,600 img/s for ResNet50 on an H100); use KERAS_BACKEND=jax, or --compile on "
            "to try torch.compile")
    return {"auto": "auto", "on": True, "off": False}[mode]


def allow_jit(layer: Any) -> Any:
    """Let XLA compile a model containing ``layer`` on JAX; returns the layer.

    Keras marks ``RandomRotation`` as not jit-compatible (TensorFlow's projective
    transform has no XLA kernel), which makes Keras run the *whole* model op by op
    on JAX: every primitive compiles separately for every new shape (326 compiles
    and 1.7x the time for 4 OPAL epochs on a CPU; far worse on a GPU). Its JAX
    implementation traces fine, so on JAX the flag is lifted; other backends keep it.

    Example::

        rotation = allow_jit(keras.layers.RandomRotation(1.0, seed=1))
    """
    if backend() == "jax" and hasattr(layer, "supports_jit"):
        layer.supports_jit = True
    return layer
