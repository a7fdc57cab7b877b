"""A permutation-invariant network on the reconstructed objects (Deep Sets / Particle Flow Network).

Zaheer et al., "Deep Sets" (2017); Komiske, Metodiev, Thaler, "Energy Flow
Networks" (JHEP 01 (2019) 121): every object goes through the same small
network Phi, the results are pooled over the objects (sum or mean, padding
masked out), and a second network F classifies the pooled vector::

    objects (n, slots, features) + mask (n, slots)
      -> standardise the features (statistics of the real objects, stored in the model)
      -> Phi: Dense-ReLU x len(phi_sizes), applied to every object alike
      -> masked sum (or mean) over the objects
      -> F: Dense-ReLU (+ dropout) x len(f_sizes) -> softmax

The output does not change when the objects are permuted or when padding
slots are added (tested). Backend-neutral (``keras.ops`` only); the custom
layers are registered, so a model saves and loads as a ``.keras`` file.
The objects come from :func:`eventcnn.events.objects.object_arrays`.

Example::

    from eventcnn.learn.sets import build_set_model
    model = build_set_model(num_classes=3, n_slots=15, n_features=9)
    model.predict({"objects": values, "mask": mask})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from eventcnn.errors import UserError

__all__ = ["MaskedPooling", "build_set_model", "feature_statistics", "set_inputs"]

POOLINGS = ("sum", "mean")


@keras.saving.register_keras_serializable(package="eventcnn")
class MaskedPooling(layers.Layer):
    """Sum (or mean) of per-object vectors ``(n, slots, d)`` over the real objects (``mask`` 1).

    Example::

        pooled = MaskedPooling("sum")([per_object, mask])
    """

    def __init__(self, mode: str = "sum", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in POOLINGS:
            raise UserError(f"pooling must be one of {POOLINGS}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        x, mask = inputs
        m = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        total = ops.sum(x * m, axis=1)
        if self.mode == "mean":
            total = total / ops.maximum(ops.sum(m, axis=1), 1.0)
        return total

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return (shape[0], shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


def feature_statistics(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each feature over the real objects only (padding left out).

    Example::

        mean, var = feature_statistics(arrays.values[train], arrays.mask[train])
    """
    values, mask = np.asarray(values, dtype=np.float64), np.asarray(mask, dtype=bool)
    if values.ndim != 3 or mask.shape != values.shape[:2]:
        raise UserError(f"values must be (n, slots, features) and mask (n, slots), got {values.shape}, {mask.shape}")
    real = values[mask]
    if len(real) == 0:
        raise UserError("no real object to compute feature statistics from (the mask is empty)")
    var = real.var(axis=0)
    return real.mean(axis=0), np.where(var > 1e-12, var, 1.0)


def set_inputs(values: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The model's input dict ``{"objects": float32, "mask": float32}``."""
    return {"objects": np.asarray(values, dtype=np.float32), "mask": np.asarray(mask, dtype=np.float32)}


def build_set_model(
    num_classes: int,
    n_slots: int,
    n_features: int,
    *,
    phi_sizes: Sequence[int] = (64, 64, 64),
    f_sizes: Sequence[int] = (64, 64),
    pooling: str = "sum",
    dropout: float = 0.1,
    mean: Sequence[float] | None = None,
    variance: Sequence[float] | None = None,
) -> keras.Model:
    """Deep Sets classifier with inputs ``objects`` ``(slots, features)`` and ``mask`` ``(slots,)``.

    ``mean``/``variance``: feature statistics (:func:`feature_statistics`) for the
    standardisation layer (default: none, i.e. 0 and 1).

    Example::

        mean, var = feature_statistics(values, mask)
        model = build_set_model(3, values.shape[1], values.shape[2], mean=mean, variance=var)
    """
    if num_classes < 2:
        raise UserError(f"num_classes must be >= 2, got {num_classes}")
    if not phi_sizes or not f_sizes:
        raise UserError("phi_sizes and f_sizes need at least one layer each")
    if not 0 <= dropout < 1:
        raise UserError(f"dropout must be in [0, 1), got {dropout}")
    objects = keras.Input((int(n_slots), int(n_features)), name="objects")
    mask = keras.Input((int(n_slots),), name="mask")
    mean = np.zeros(n_features) if mean is None else np.asarray(mean, dtype=np.float64)
    variance = np.ones(n_features) if variance is None else np.asarray(variance, dtype=np.float64)
    if mean.shape != (n_features,) or variance.shape != (n_features,):
        raise UserError(f"mean and variance need {n_features} values each")
    x = layers.Normalization(axis=-1, mean=mean, variance=variance, name="standardise")(objects)
    for i, units in enumerate(phi_sizes):
        x = layers.Dense(int(units), activation="relu", name=f"phi_dense{i + 1}")(x)
    x = MaskedPooling(pooling, name=f"{pooling}_pool")([x, mask])
    for i, units in enumerate(f_sizes):
        x = layers.Dense(int(units), activation="relu", name=f"f_dense{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"f_dropout{i + 1}")(x)
    out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model({"objects": objects, "mask": mask}, out, name=f"deep_sets_{pooling}")
