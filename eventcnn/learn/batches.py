"""Training batches of labelled images held in memory, drawn as a recipe says (:mod:`eventcnn.learn.recipes`).

:func:`recipe_batches` returns Keras ``PyDataset`` objects (training,
validation) over ``uint8`` images: the original recipe's rotated and mirrored
copies, generated per batch from the originals (nothing materialised); our
default's class-balanced draws, seeded per (epoch, batch), with a share of
every batch taken from simulated displays (:func:`simulated_batch_pool`) when
fine-tuning; and fixed validation batches with class-balancing sample weights.
Keras is imported only when the batches are made.

Example::

    from eventcnn.learn.batches import recipe_batches
    from eventcnn.learn.recipes import RecipeConfig
    train, val = recipe_batches(images, y, RecipeConfig(recipe="original", seed=1))
    x, labels = train[0]
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from eventcnn.events.opal_detector import DETECTOR, LOOSE_DETECTOR
from eventcnn.images.opal_display import png_bytes, simulate_chunk
from eventcnn.images.opal_displays import CLASS_NAMES
from eventcnn.learn.recipes import RecipeConfig, recipe_copies
from eventcnn.learn.splits import class_weight_vector, stratified_holdout

__all__ = ["decode_pngs", "recipe_batches", "rotate_images", "simulated_batch_pool"]


def rotate_images(images: np.ndarray, angles: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Rotate (degrees, about the centre) and optionally mirror ``uint8`` images.

    Returns a new ``uint8`` array of the same shape; corners are filled black.

    Example::

        out = rotate_images(batch, np.array([90.0]), np.array([True]))
    """
    out = np.empty_like(images)
    for i in range(len(images)):  # one small PIL call per image (C speed, uint8)
        im = Image.fromarray(images[i]).rotate(float(angles[i]), resample=Image.Resampling.BILINEAR)
        arr = np.asarray(im)
        out[i] = arr[:, ::-1] if mirror[i] else arr
    return out


def simulated_batch_pool(config: RecipeConfig) -> tuple[list[bytes], np.ndarray]:
    """The ``config.sim_displays`` simulated displays mixed into training: ``(PNG bytes, class codes)``.

    Equal numbers per class (the remainder to the first classes), seeded by
    ``config.seed``; per class the first half with the tuned detector
    (:data:`eventcnn.events.opal_detector.DETECTOR`), the rest with its looser display
    thresholds (:data:`~eventcnn.events.opal_detector.LOOSE_DETECTOR`, a detector
    variation: 0.950 +- 0.015 against 0.934 +- 0.016 with the tuned detector
    alone, 50 suggested labels, 5 seeds, docs/benchmarks.md). Kept as PNG (about
    5 kB a display instead of 120 kB) and decoded per batch (:func:`decode_pngs`).

    Example::

        pngs, codes = simulated_batch_pool(RecipeConfig(sim_displays=8, seed=1))
        decode_pngs(pngs, [0, 1], 200).shape, np.bincount(codes)   # (2, 200, 200, 3), [2 2 2 2]
    """
    n = config.sim_displays
    per = [n // len(CLASS_NAMES) + (k < n % len(CLASS_NAMES)) for k in range(len(CLASS_NAMES))]
    pngs: list[bytes] = []
    codes: list[np.ndarray] = []
    for k, (cls, m) in enumerate(zip(CLASS_NAMES, per)):
        half = (m + 1) // 2
        imgs = simulate_chunk(config.seed, cls, 0, half, det=DETECTOR) if half else []
        imgs += simulate_chunk(config.seed, cls, half, m - half, det=LOOSE_DETECTOR) if m > half else []
        pngs += [png_bytes(im) for im in imgs]
        codes.append(np.full(m, k))
    return pngs, np.concatenate(codes)


def decode_pngs(pngs: Sequence[bytes], idx: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
    """``uint8 (len(idx), size, size, 3)`` images of the PNG-encoded displays ``pngs[idx]``."""
    out = np.empty((len(idx), size, size, 3), np.uint8)
    for j, i in enumerate(np.asarray(idx, dtype=int).tolist()):
        with Image.open(io.BytesIO(pngs[i])) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            out[j] = np.asarray(im)
    return out


def recipe_batches(images: np.ndarray, y: np.ndarray, config: RecipeConfig,
                   sim: tuple[Sequence[bytes], np.ndarray] | None = None):
    """Keras PyDatasets ``(train, validation or None)`` of ``uint8`` images and class indices ``y``.

    ``sim``: simulated ``(PNG bytes, codes)`` mixed into every training batch
    (``config.sim_share`` of it, class-balanced; default recipe).
    """
    if config.recipe == "original":
        copies_cls = _copies_class(images, y, config)
        cp = recipe_copies(y, config)
        t, v = cp["train"], ~cp["train"]
        train = copies_cls(cp["source"][t], cp["angle"][t], cp["mirror"][t], shuffle_seed=config.seed)
        val = copies_cls(cp["source"][v], cp["angle"][v], cp["mirror"][v]) if v.any() else None
        return train, val
    balanced_cls, plain_cls = _default_classes(images, y, config, sim)
    val_mask = stratified_holdout(y, config.val_fraction, config.seed)
    train = balanced_cls(np.flatnonzero(~val_mask))
    val = plain_cls(np.flatnonzero(val_mask)) if val_mask.any() else None
    return train, val


def _copies_class(images: np.ndarray, y: np.ndarray, config: RecipeConfig):
    """The original recipe's PyDataset class over ``images`` (defined here: it imports Keras)."""
    import keras

    class CopiesDataset(keras.utils.PyDataset):
        """Batches of rotated/mirrored copies generated on the fly from uint8 originals."""

        def __init__(self, source, angle, mirror, shuffle_seed=None):
            super().__init__()
            self.source, self.angle, self.mirror = source, angle, mirror
            self.shuffle_seed = shuffle_seed
            self.order = np.arange(len(source))
            self.epoch = 0

        def __len__(self):
            return math.ceil(len(self.source) / config.batch_size)

        def __getitem__(self, i):
            sel = self.order[i * config.batch_size:(i + 1) * config.batch_size]
            x = rotate_images(images[self.source[sel]], self.angle[sel], self.mirror[sel])
            return x, y[self.source[sel]]

        def on_epoch_end(self):
            self.epoch += 1
            if self.shuffle_seed is not None:  # Keras' shuffle per epoch, seeded
                rng = np.random.default_rng([self.shuffle_seed, self.epoch])
                self.order = rng.permutation(len(self.source))

    return CopiesDataset


def _default_classes(images: np.ndarray, y: np.ndarray, config: RecipeConfig,
                     sim: tuple[Sequence[bytes], np.ndarray] | None):
    """The default recipe's PyDataset classes (training, validation) over ``images``."""
    import keras

    if sim is not None:  # per batch: n_sim simulated displays, drawn class-balanced
        n_sim = min(max(int(round(config.sim_share * config.batch_size)), 1), config.batch_size - 1)
        sim_freq = np.bincount(sim[1], minlength=len(CLASS_NAMES)).astype(float)
        sim_p = 1.0 / sim_freq[sim[1]]
        sim_p /= sim_p.sum()

    class BalancedDataset(keras.utils.PyDataset):
        """Class-balanced batches of uint8 originals; index draws seeded per (epoch, batch)."""

        def __init__(self, idx):
            super().__init__()
            self.idx = idx
            self.epoch = 0
            classes = y[idx]
            if config.balance == "sampling":
                freq = np.bincount(classes, minlength=len(CLASS_NAMES)).astype(float)
                w = 1.0 / freq[classes]
            else:
                w = np.ones(len(idx))
            self.p = w / w.sum()

        def __len__(self):
            return config.steps_per_epoch

        def __getitem__(self, i):
            rng = np.random.default_rng([config.seed, self.epoch, i])
            if sim is None:
                sel = rng.choice(self.idx, size=config.batch_size, p=self.p)
                return images[sel], y[sel]
            sel = rng.choice(self.idx, size=config.batch_size - n_sim, p=self.p)
            other = rng.choice(len(sim[1]), size=n_sim, p=sim_p)
            return (np.concatenate([images[sel], decode_pngs(sim[0], other, images.shape[1])]),
                    np.concatenate([y[sel], sim[1][other]]))

        def on_epoch_end(self):
            self.epoch += 1

    class PlainDataset(keras.utils.PyDataset):
        """Fixed batches of uint8 originals (validation), with class-balancing sample weights."""

        def __init__(self, idx):
            super().__init__()
            self.idx = idx
            self.w = class_weight_vector(y[idx], len(CLASS_NAMES), present_only=True).astype(np.float32)

        def __len__(self):
            return math.ceil(len(self.idx) / config.batch_size)

        def __getitem__(self, i):
            sel = self.idx[i * config.batch_size:(i + 1) * config.batch_size]
            return images[sel], y[sel], self.w[y[sel]]

    return BalancedDataset, PlainDataset
