"""Online physics augmentation: Keras 3 layers (``keras.ops`` only, any backend).

The exact symmetries of an eta-phi event image (phi roll, eta and phi mirrors)
and, for end-view displays, rotations: see :mod:`eventcnn.images.augment` for the
physics. The classes are registered with Keras under the package name
``eventcnn``: import this module before ``keras.saving.load_model`` of a model
that contains them. Also reachable as ``eventcnn.images.augment.<name>``.

Example::

    from eventcnn.learn.augment import physics_augmentation
    aug = physics_augmentation(seed=0)      # a keras layer, active only in training
    batch = aug(images, training=True)
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
from keras import ops

from eventcnn._io import write_figure_png
from eventcnn.errors import UserError
from eventcnn.learn.devices import allow_jit

__all__ = ["physics_augmentation", "PhysicsAugmentation", "plot_symmetry_grid", "RandomEtaFlip", "RandomPhiFlip", "RandomPhiShift"]

# --------------------------------------------------------------------------
# Online physics augmentation: Keras 3 layers (keras.ops only, any backend)
# --------------------------------------------------------------------------


def _etaphi_transform(x, seed_generator, phi_shift: bool, eta_flip: bool, phi_flip: bool):
    """Per-sample phi roll and eta/phi mirrors of an NHWC batch as ONE gather (keras.ops only).

    The output row ``r`` of sample ``i`` is input row ``(r + shift_i) % H``
    (reversed when phi-mirrored), the output column ``c`` is ``c`` or
    ``W - 1 - c``. One gather over the flattened pixels keeps it fast and
    exact for any dtype.
    """
    shape = ops.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    rows = ops.broadcast_to(ops.arange(h, dtype="int32")[None, :], (n, h))
    cols = ops.broadcast_to(ops.arange(w, dtype="int32")[None, :], (n, w))
    if phi_shift:
        shift = keras.random.randint((n, 1), 0, h, seed=seed_generator, dtype="int32")
        rows = (rows + shift) % h
    if phi_flip:
        mirror = keras.random.uniform((n, 1), seed=seed_generator) < 0.5
        rows = ops.where(mirror, ops.flip(rows, axis=1), rows)
    if eta_flip:
        mirror = keras.random.uniform((n, 1), seed=seed_generator) < 0.5
        cols = ops.where(mirror, ops.flip(cols, axis=1), cols)
    index = (ops.arange(n, dtype="int32")[:, None, None] * h + rows[:, :, None]) * w + cols[
        :, None, :
    ]
    flat = ops.reshape(x, (-1, shape[3]))
    return ops.reshape(ops.take(flat, ops.reshape(index, (-1,)), axis=0), shape)


class _SeededAugmentation(keras.layers.Layer):
    """Base: a seeded layer that is the identity unless ``training=True``."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = ops.convert_to_tensor(inputs)
        if len(x.shape) != 4:
            raise UserError(f"{type(self).__name__} expects NHWC batches, got shape {x.shape}")
        return self._augment(x)

    def _augment(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="eventcnn")
class RandomPhiShift(_SeededAugmentation):
    """Per-sample random cyclic shift along the height (phi) axis, with wrap-around.

    Exact for eta-phi images: phi is periodic and the physics is invariant
    under a rotation of the event around the beam axis. Identity at
    inference. Works on uint8 or float NHWC batches and keeps the dtype.

    Example::

        RandomPhiShift(seed=0)(batch, training=True)
    """

    def _augment(self, x):
        return _etaphi_transform(x, self.seed_generator, True, False, False)


@keras.saving.register_keras_serializable(package="eventcnn")
class RandomEtaFlip(_SeededAugmentation):
    """Mirror each sample in eta (``image[:, ::-1]``) with probability 0.5.

    Exact: the pp initial state is symmetric under z -> -z. Identity at inference.

    Example::

        RandomEtaFlip(seed=0)(batch, training=True)
    """

    def _augment(self, x):
        return _etaphi_transform(x, self.seed_generator, False, True, False)


@keras.saving.register_keras_serializable(package="eventcnn")
class RandomPhiFlip(_SeededAugmentation):
    """Mirror each sample in phi (``image[::-1, :]``) with probability 0.5.

    The reflection phi -> -phi is a symmetry of these processes up to tiny
    effects. Identity at inference.

    Example::

        RandomPhiFlip(seed=0)(batch, training=True)
    """

    def _augment(self, x):
        return _etaphi_transform(x, self.seed_generator, False, False, True)


@keras.saving.register_keras_serializable(package="eventcnn")
class PhysicsAugmentation(keras.layers.Layer):
    """The exact symmetries of an event display, as one layer (see :func:`physics_augmentation`)."""

    def __init__(
        self,
        geometry: str = "etaphi",
        seed: int | None = None,
        phi_shift: bool = True,
        eta_flip: bool = True,
        phi_flip: bool = True,
        background: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if geometry not in ("etaphi", "endview"):
            raise UserError(f"geometry must be 'etaphi' or 'endview', got {geometry!r}")
        self.geometry = geometry
        self.seed = seed
        self.phi_shift = bool(phi_shift)
        self.eta_flip = bool(eta_flip)
        self.phi_flip = bool(phi_flip)
        self.background = float(background)

        def sub(k: int) -> int | None:
            return None if seed is None else int(seed) + k

        self.steps: list = []
        self.seed_generator = keras.random.SeedGenerator(seed)
        if geometry == "endview":

            self.steps.append(
                allow_jit(keras.layers.RandomRotation(
                    1.0,
                    fill_mode="constant",
                    fill_value=self.background,
                    seed=sub(0),
                    name="rotation",
                ))
            )
            self.steps.append(keras.layers.RandomFlip("horizontal", seed=sub(1), name="mirror"))

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = ops.convert_to_tensor(inputs)
        if self.geometry == "etaphi":
            if not (self.phi_shift or self.eta_flip or self.phi_flip):
                return x
            if len(x.shape) != 4:
                raise UserError(f"PhysicsAugmentation expects NHWC batches, got shape {x.shape}")
            return _etaphi_transform(
                x, self.seed_generator, self.phi_shift, self.eta_flip, self.phi_flip
            )
        dtype = x.dtype
        y = x
        for step in self.steps:
            y = step(y, training=True)
        if y.dtype != dtype:  # keras RandomRotation computes in float
            if "int" in str(dtype):
                y = ops.round(y)
            y = ops.cast(y, dtype)
        return y

    def build(self, input_shape):
        for step in self.steps:
            step.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "geometry": self.geometry,
                "seed": self.seed,
                "phi_shift": self.phi_shift,
                "eta_flip": self.eta_flip,
                "phi_flip": self.phi_flip,
                "background": self.background,
            }
        )
        return config


def physics_augmentation(
    geometry: str = "etaphi",
    seed: int | None = None,
    phi_shift: bool = True,
    eta_flip: bool = True,
    phi_flip: bool = True,
    background: float = 0.0,
):
    """Return a Keras layer applying the exact symmetries of an event display.

    ``geometry="etaphi"`` (CMS images): per-sample cyclic phi shift, eta mirror
    and phi mirror (each switchable). ``geometry="endview"`` (OPAL r-phi
    displays): a random rotation by any angle around the image centre (the
    beam axis), filled with ``background``, plus a random mirror.

    The layer is active only when called with ``training=True`` (as inside
    ``model.fit``) and the identity otherwise; it takes uint8 or float NHWC
    batches and returns the same dtype. It is registered for ``.keras``
    saving, so a model containing it saves and loads as usual.

    Example::

        import keras
        model = keras.Sequential([keras.Input((224, 224, 3)),
                                  physics_augmentation(seed=1),
                                  keras.layers.Rescaling(1 / 255), ...])
    """
    return PhysicsAugmentation(
        geometry=geometry,
        seed=seed,
        phi_shift=phi_shift,
        eta_flip=eta_flip,
        phi_flip=phi_flip,
        background=background,
    )


def plot_symmetry_grid(image: Any, n: int = 7, seed: int = 0, geometry: str = "etaphi",
                       path: str | os.PathLike[str] | None = None) -> Any:
    """One event and ``n`` versions of it made by :func:`physics_augmentation` (training mode).

    Example::

        fig = plot_symmetry_grid(image, n=7, seed=0)            # eta-phi image
        fig = plot_symmetry_grid(display, geometry="endview")   # OPAL end view
    """
    import matplotlib.pyplot as plt

    image = np.asarray(image)
    batch = np.repeat(image[None], n, axis=0)
    augmented = keras.ops.convert_to_numpy(physics_augmentation(geometry, seed=seed)(batch, training=True))
    cols = min(4, n + 1)
    rows = -(-(n + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.9 * rows), squeeze=False)
    extent = (-3, 3, -np.pi, np.pi) if geometry == "etaphi" else None
    for k, ax in enumerate(axes.flat):
        if k > n:
            ax.axis("off")
            continue
        ax.imshow(image if k == 0 else augmented[k - 1], extent=extent, aspect="auto")
        ax.set_title("original" if k == 0 else f"augmented {k}", fontsize=9)
        if geometry == "etaphi":
            ax.set_xlabel("eta", fontsize=8)
            ax.set_ylabel("phi", fontsize=8)
            ax.tick_params(labelsize=7)
        else:
            ax.axis("off")
    fig.suptitle("exact symmetries: cyclic phi shift, eta mirror, phi mirror" if geometry == "etaphi"
                 else "end view: rotation around the beam axis and mirror")
    fig.tight_layout()
    if path is not None:
        write_figure_png(fig, path, dpi=100)
    return fig
