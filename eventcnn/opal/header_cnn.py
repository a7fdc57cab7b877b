"""The masterclass CNN that also reads the header numbers: a second, small input beside the image.

A student looks at the picture *and* reads ``Ctrk(N= 2 Sump= 89.4) Ecal(N= 4
SumE= 93.0) ...``. This network does the same: the masterclass CNN's image
branch (its convolutions and its 64-unit dense layer, started from a trained
masterclass CNN) and a small dense branch on the eight header numbers
(:data:`eventcnn.opal.classic.HEADER_FEATURES`, standardised with the training
set's mean and spread; a number not read is set to the mean), joined before a
new softmax. Keras 3 layers only (backend-neutral).

Training (:func:`train_header_cnn`): class-balanced batches of 16, the images
rotated by any angle and mirrored inside the model (as the default recipe), 20 %
of the labelled displays held out for early stopping on the class-balanced
validation loss (stratified by class when every class has two displays and the
held-out part one per class; patience 8, best weights restored), Adam.

Example::

    cnn = opal.train(crops[train], labels[train], weights="sim").model
    model = train_header_cnn(crops[train], X[train], labels[train], base=cnn, seed=1)
    p = predict_header_cnn(model, crops[test], X[test])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.images.opal_displays import CLASS_NAMES, label_indices
from eventcnn.learn.models import masterclass_network

__all__ = ["HeaderCNN", "build_header_cnn", "predict_header_cnn", "train_header_cnn"]


@dataclass
class HeaderCNN:
    """The two-input model and the feature statistics it was trained with (``mean`` fills what was not read)."""

    model: Any
    mean: np.ndarray
    std: np.ndarray
    history: list[dict[str, float]]

    def features(self, X: np.ndarray) -> np.ndarray:
        """``X`` standardised; NaN (not read) becomes 0 (the training mean)."""
        Z = (np.asarray(X, dtype=np.float64) - self.mean) / self.std
        return np.nan_to_num(Z, nan=0.0).astype(np.float32)


def build_header_cnn(n_features: int, base: Any | None = None, image_size: int = 200, seed: int = 0):
    """The two-input network; with ``base`` (a trained masterclass CNN) its image branch starts from it.

    Example::

        model = build_header_cnn(8)
        model.count_params()
    """
    import keras
    from keras import layers


    cnn = masterclass_network((image_size, image_size, 3), augment=True, seed=seed)
    if base is not None:
        src = [la for la in base.layers if la.weights]
        dst = [la for la in cnn.layers if la.weights]
        if len(src) != len(dst):
            raise UserError("base is not a masterclass CNN (its weighted layers differ)")
        for a, b in zip(src, dst):
            b.set_weights(a.get_weights())
    image = keras.Input((image_size, image_size, 3), name="display")
    x = image
    for layer in cnn.layers[:-1]:  # everything up to the 64-unit dense layer
        x = layer(x)
    numbers = keras.Input((n_features,), name="header")
    h = layers.Dense(16, activation="relu", name="header_dense")(numbers)
    joined = layers.Concatenate(name="join")([x, h])
    joined = layers.Dense(32, activation="relu", name="joint_dense")(joined)
    out = layers.Dense(len(CLASS_NAMES), activation="softmax", name="classes")(joined)
    return keras.Model([image, numbers], out, name="opal_cnn_with_header")


def _balanced_batches(y: np.ndarray, batch: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """``(steps, batch)`` indices, each class equally likely."""
    classes = [np.flatnonzero(y == c) for c in np.unique(y)]
    pick = rng.integers(0, len(classes), size=(steps, batch))
    out = np.empty((steps, batch), dtype=np.int64)
    for k, members in enumerate(classes):
        mask = pick == k
        out[mask] = members[rng.integers(0, len(members), size=int(mask.sum()))]
    return out


def train_header_cnn(images: np.ndarray, X: np.ndarray, labels: Any, base: Any | None = None, *,
                     seed: int = 0, epochs: int = 40, steps_per_epoch: int = 32, batch_size: int = 16,
                     patience: int = 8, learning_rate: float = 1e-4, val_fraction: float = 0.2,
                     quiet: bool = True) -> HeaderCNN:
    """Train the two-input network on labelled ``uint8`` crops and their header numbers ``X``.

    Example::

        model = train_header_cnn(crops, X, labels, base=cnn_model, seed=1)
    """
    import keras
    from sklearn.model_selection import train_test_split

    images = np.asarray(images)
    X = np.asarray(X, dtype=np.float64)
    y = label_indices(labels)
    if not (len(images) == len(X) == len(y)):
        raise UserError(f"{len(images)} images, {len(X)} header rows and {len(y)} labels: one of each per display")
    keras.utils.set_random_seed(seed)
    idx = np.arange(len(y))
    counts = np.bincount(y)
    n_val = int(np.ceil(val_fraction * len(y)))
    stratify = y if (counts[counts > 0] >= 2).all() and n_val >= np.count_nonzero(counts) else None
    tr, va = train_test_split(idx, test_size=val_fraction, stratify=stratify, random_state=seed)
    mean = np.nanmean(X[tr], axis=0)
    std = np.nanstd(X[tr], axis=0)
    std[~(std > 0)] = 1.0
    hc = HeaderCNN(build_header_cnn(X.shape[1], base, images.shape[1], seed), mean, std, [])
    F = hc.features(X)
    hc.model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                     metrics=["accuracy"])
    counts = np.bincount(y[va], minlength=len(CLASS_NAMES)).astype(float)
    val_w = (len(va) / (np.count_nonzero(counts) * counts[y[va]])).astype(np.float32)
    rng = np.random.default_rng(seed)
    best, best_weights, waited = np.inf, hc.model.get_weights(), 0
    for epoch in range(epochs):
        batches = _balanced_batches(y[tr], batch_size, steps_per_epoch, rng)
        losses = [float(hc.model.train_on_batch([images[tr[b]], F[tr[b]]], y[tr[b]])[0]) for b in batches]
        val = hc.model.evaluate([images[va], F[va]], y[va], sample_weight=val_w, verbose=0, batch_size=64)
        val_loss = float(val[0])
        hc.history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_loss": val_loss})
        if not quiet:
            print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f} val_loss {val_loss:.4f}", flush=True)
        if val_loss < best - 1e-4:
            best, best_weights, waited = val_loss, hc.model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    hc.model.set_weights(best_weights)
    return hc


def predict_header_cnn(hc: HeaderCNN, images: np.ndarray, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Probabilities ``(n, 4)`` in :data:`~eventcnn.names.OPAL_CLASSES` order."""
    return np.asarray(hc.model.predict([np.asarray(images), hc.features(X)], batch_size=batch_size, verbose=0))
