"""The masterclass CNN and its training recipes, prediction and evaluation.

:func:`build_model` is the masterclass network (204,100 parameters);
:func:`train` runs the original recipe (rotated + mirrored copies, leptons
multiplied, generated lazily per batch) or our default (on-the-fly augmentation
inside the model, balanced sampling, early stopping) and writes the common run
folder (:mod:`eventcnn.learn.runs`). Keras is imported only inside the functions that
need it; images stay ``uint8``.

Example::

    from eventcnn.opal import predict, train
    result = train(data.images, data.labels, recipe="default", seed=1)
    probs = predict(result.model, data.images)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from eventcnn._env import quiet_from_env
from eventcnn._io import atomic_path, write_json_atomic
from eventcnn.errors import UserError
from eventcnn.learn import metrics
from eventcnn.learn.devices import allow_jit
from eventcnn.learn.loop import LoopSettings, fit_phase, settle_best
from eventcnn.learn.runs import load_keras_file, versions
from eventcnn.learn.splits import balanced_class_weight, class_weight_vector, stratified_holdout
from eventcnn.limits import MAX_EPOCHS, check_batch_size, check_count
from eventcnn.opal import (
    pictures as classroom,  # class names in words, linear scale, counts in cells
)
from eventcnn.opal.displays import (
    CLASS_NAMES,
    CONV_STAGES,
    IMAGE_SIZE,
    check_image_size,
    label_indices,
)
from eventcnn.opal.physics import predicted_overview
from eventcnn.opal.simulate import DETECTOR, LOOSE_DETECTOR, png_bytes, simulate_chunk
from eventcnn.opal.weights import resolve_weights, weights_image_size
from eventcnn.seeds import DEFAULT_SEED

__all__ = [
    "MODEL_NAME",
    "build_model",
    "check_weights_size",
    "evaluate",
    "loop_settings",
    "load_model",
    "load_pretrained",
    "predict",
    "recipe_copies",
    "RecipeConfig",
    "rotate_images",
    "save_run",
    "save_base_weights",
    "FINE_TUNE",
    "decode_displays",
    "simulated_batch_pool",
    "SMALL_SET",
    "SMALL_SET_EPOCHS",
    "stratified_holdout",
    "train",
    "TrainResult",
    "write_predictions",
]


#: Default recipe with fewer labelled events than SMALL_SET and no explicit
#: ``epochs``: at most SMALL_SET_EPOCHS epochs (< 2 minutes on 2 CPU cores).
SMALL_SET, SMALL_SET_EPOCHS = 100, 12

#: Default recipe starting from pretrained weights (``weights="sim"`` or a file):
#: the settings of the fine-tuning unless given explicitly. A small learning
#: rate, and three quarters of every batch simulated displays (``sim_displays`` of them,
#: made on the fly with :func:`eventcnn.opal.simulate.simulate_chunk`), so that
#: 50 real labels adapt the network to the real displays without undoing what it
#: learnt from simulation (``bench/opal_active.py --arms sim``, docs/benchmarks.md).
FINE_TUNE: dict[str, Any] = {"learning_rate": 3e-5, "sim_displays": 2000, "sim_share": 0.75}

#: the name of the masterclass network (:func:`build_model`), as saved in ``.keras`` files
MODEL_NAME = "opal_masterclass_cnn"


def build_model(input_shape: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 3),
                num_classes: int = 4, augment: bool = False, seed: int | None = None):
    """The masterclass CNN, taking ``uint8`` images (rescaled inside the model).

    Conv 32 3x3 -> MaxPool 3x3 -> Conv 64 3x3 -> MaxPool 3x3 -> Conv 64 3x3 ->
    MaxPool 3x3 -> Flatten (2304) -> Dense 64 ReLU -> Dense 4 softmax: 204,100
    parameters. ``augment`` adds a training-only stage (random rotation by any
    angle and random mirror; end-view displays may be rotated freely around the
    beam axis) that is inactive in ``predict``.

    Example::

        model = build_model()
        model.count_params()   # 204100
    """
    import keras
    from keras import layers

    check_image_size(min(input_shape[0], input_shape[1]))
    stages: list[Any] = [keras.Input(shape=input_shape), layers.Rescaling(1.0 / 255.0)]
    if augment:

        stages += [
            allow_jit(layers.RandomRotation(1.0, fill_mode="constant", fill_value=0.0, seed=seed)),
            layers.RandomFlip("horizontal", seed=None if seed is None else seed + 1),
        ]
    for filters, kernel, pool in CONV_STAGES:
        stages += [layers.Conv2D(filters, (kernel, kernel), activation="relu"), layers.MaxPooling2D((pool, pool))]
    stages += [
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ]
    return keras.Sequential(stages, name=MODEL_NAME)


def load_pretrained(model: Any, path: str | os.PathLike[str]) -> Any:
    """Copy weights from ``path`` (a masterclass ``.weights.h5``) into ``model``'s layers.

    Works whether or not ``model`` has the augmentation stage (the file holds the
    network without it). Returns ``model``.

    Example::

        model = build_model(augment=True)
        load_pretrained(model, shipped_weights())
    """
    shape = tuple(model.input_shape[1:])
    check_weights_size(path, shape[0])
    base = build_model(shape, augment=False)
    try:
        base.load_weights(str(path))
    except Exception as exc:  # noqa: BLE001 - Keras raises several types for a wrong file
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise UserError(f"{path}: not masterclass-CNN weights for input {shape} "
                        f"({type(exc).__name__}: {detail})") from exc
    src = [layer for layer in base.layers if layer.weights]
    dst = [layer for layer in model.layers if layer.weights]
    if len(src) != len(dst):
        raise UserError(f"{path}: {len(src)} weighted layers, the model has {len(dst)}")
    for a, b in zip(src, dst):
        b.set_weights(a.get_weights())
    return model


def check_weights_size(path: str | os.PathLike[str], size: int) -> None:
    """Refuse weights made for other than ``size`` px displays (as recorded in the ``.json`` beside them).

    ``eventcnn opal pretrain`` writes ``<name>.json`` with ``image_size`` next to
    ``<name>.weights.h5``; without it nothing is checked here (Keras then refuses
    a wrong shape when loading).
    """
    made_for = weights_image_size(path)
    if made_for is not None and made_for != size:
        raise UserError(f"{path}: made for {made_for} px displays, these are {size} px: load the displays "
                        f"at {made_for} px (--size {made_for}) or start from random weights (--weights none)")


def save_base_weights(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``model``'s weights without its augmentation stage as ``.weights.h5`` (atomic).

    The file loads into any masterclass model of the same input size
    (:func:`load_pretrained`).

    Example::

        save_base_weights(result.model, "my.weights.h5")
    """
    base = build_model(tuple(model.input_shape[1:]), augment=False)
    for a, b in zip([la for la in model.layers if la.weights], [la for la in base.layers if la.weights]):
        b.set_weights(a.get_weights())
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp_h5 = tmp.with_name(tmp.name + ".weights.h5")
        base.save_weights(str(tmp_h5))
        os.replace(tmp_h5, tmp)
    return path


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


@dataclass
class RecipeConfig:
    """Training settings; ``recipe`` is ``"original"`` or ``"default"``.

    original: every training image is copied ``copies`` times with a random
    rotation (0-360 deg) and a random mirror, leptonic classes (e, m, t)
    ``lepton_factor`` times more (the masterclass used 20, its later solution 60),
    the copies shuffled and split ``val_fraction`` for validation, then trained
    for ``epochs`` epochs in batches of 32 (Keras' default, as in the masterclass). The copies are generated lazily per batch from the
    ``uint8`` originals (same numbers as materialising them, a fraction of the
    memory).

    default: a stratified ``val_fraction`` of the originals is held out;
    training batches are drawn class-balanced (``balance="sampling"``) or with
    class weights (``balance="weights"``), rotated and mirrored on the fly
    inside the model, ``steps_per_epoch`` batches of 16 per epoch, early stopping on
    the validation loss with ``patience``, best weights restored. The validation
    loss is class-balanced (sample weights), like the training batches, so that
    the few leptons count as much as the many hadrons.

    weights: the starting weights: ``None`` (random, seeded), ``"sim"`` (the
    shipped simulation-pretrained weights, :func:`eventcnn.opal.pretrain.shipped_weights`)
    or a ``.weights.h5`` file from ``eventcnn opal pretrain``; :func:`train`
    then fine-tunes with :data:`FINE_TUNE` unless those fields are given.

    sim_displays, sim_share (default recipe): ``sim_displays`` simulated
    displays (equal per class, seeded by ``seed``; 0 = none) are made before
    training and ``sim_share`` of every training batch is drawn from them
    (class-balanced); the rest of the batch, and all of the validation, are the
    real labelled displays.
    """

    recipe: str = "default"
    epochs: int = 40
    batch_size: int | None = None
    seed: int = DEFAULT_SEED
    val_fraction: float = 0.2
    copies: int = 3
    lepton_factor: int = 20
    balance: str = "sampling"
    steps_per_epoch: int = 32
    patience: int = 8
    learning_rate: float = 1e-3
    weights: str | None = None
    sim_displays: int = 0
    sim_share: float = 0.5

    def __post_init__(self) -> None:
        if self.batch_size is None:  # Keras' 32 as in the masterclass; 16 keeps ours < 1.5 GB
            self.batch_size = 32 if self.recipe == "original" else 16
        if self.recipe not in ("original", "default"):
            raise UserError(f"recipe must be 'original' or 'default', got {self.recipe!r}")
        if self.balance not in ("sampling", "weights", "none"):
            raise UserError(f"balance must be 'sampling', 'weights' or 'none', got {self.balance!r}")
        for name in ("epochs", "batch_size", "copies", "lepton_factor", "steps_per_epoch"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_count("--epochs", self.epochs, 1, MAX_EPOCHS)
        check_batch_size(self.batch_size)
        check_count("--lepton-factor", self.lepton_factor, 1, 1000, hint="the masterclass used 20, later 60")
        check_count("copies", self.copies, 1, 1000)
        if not 0.0 <= self.val_fraction < 1.0:
            raise UserError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.sim_displays:
            if self.sim_displays < len(CLASS_NAMES):
                raise UserError(f"sim_displays must be 0 (no simulated displays) or at least "
                                f"{len(CLASS_NAMES)} (one per class), got {self.sim_displays}")
            check_count("sim_displays", self.sim_displays, len(CLASS_NAMES), 20000)
            if self.recipe != "default":
                raise UserError("sim_displays works with the default recipe only (recipe='default')")
        if not 0.0 < self.sim_share < 1.0:
            raise UserError(f"sim_share must be in (0, 1), got {self.sim_share}")

    def factors(self) -> dict[str, int]:
        """Copies per original image and class under the original recipe."""
        return {c: self.copies * (1 if c == "q" else self.lepton_factor) for c in CLASS_NAMES}


def recipe_copies(y: np.ndarray, config: RecipeConfig) -> dict[str, np.ndarray]:
    """The original recipe's copies, as index arrays: source image, angle, mirror, split.

    Returns ``source`` (int, index of the original image), ``angle`` (degrees,
    integers 0-359 as in the masterclass), ``mirror`` (bool), ``train`` (bool;
    False for the validation share). The copies are shuffled; nothing is
    materialised, and the same seed gives the same copies.

    Example::

        copies = recipe_copies(np.array([0, 1, 0]), RecipeConfig(recipe="original"))
        np.bincount(copies["source"])   # [3, 60, 3]
    """
    rng = np.random.default_rng(config.seed)
    per_class = np.array([config.factors()[c] for c in CLASS_NAMES])
    source = np.repeat(np.arange(len(y)), per_class[y])
    source = source[rng.permutation(len(source))]
    angle = rng.integers(0, 360, size=len(source)).astype(np.float32)
    mirror = rng.integers(0, 2, size=len(source)).astype(bool)
    n_val = int(round(config.val_fraction * len(source)))
    train = np.ones(len(source), dtype=bool)
    train[len(source) - n_val:] = False
    return {"source": source, "angle": angle, "mirror": mirror, "train": train}


def simulated_batch_pool(config: RecipeConfig) -> tuple[list[bytes], np.ndarray]:
    """The ``config.sim_displays`` simulated displays mixed into training: ``(PNG bytes, class codes)``.

    Equal numbers per class (the remainder to the first classes), seeded by
    ``config.seed``; per class the first half with the tuned detector
    (:data:`eventcnn.opal.simulate.DETECTOR`), the rest with its looser display
    thresholds (:data:`~eventcnn.opal.simulate.LOOSE_DETECTOR`, a detector
    variation: 0.950 +- 0.015 against 0.934 +- 0.016 with the tuned detector
    alone, 50 suggested labels, 5 seeds, docs/benchmarks.md). Kept as PNG (about
    5 kB a display instead of 120 kB) and decoded per batch (:func:`decode_displays`).

    Example::

        pngs, codes = simulated_batch_pool(RecipeConfig(sim_displays=8, seed=1))
        decode_displays(pngs, [0, 1], 200).shape, np.bincount(codes)   # (2, 200, 200, 3), [2 2 2 2]
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


def decode_displays(pngs: Sequence[bytes], idx: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
    """``uint8 (len(idx), size, size, 3)`` images of the PNG-encoded displays ``pngs[idx]``."""
    out = np.empty((len(idx), size, size, 3), np.uint8)
    for j, i in enumerate(np.asarray(idx, dtype=int).tolist()):
        with Image.open(io.BytesIO(pngs[i])) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            out[j] = np.asarray(im)
    return out


def _make_datasets(images: np.ndarray, y: np.ndarray, config: RecipeConfig,
                   sim: tuple[Sequence[bytes], np.ndarray] | None = None):
    """Keras PyDatasets (train, validation or None) for a recipe; defined lazily (imports keras).

    ``sim``: simulated ``(PNG bytes, codes)`` mixed into every training batch
    (``config.sim_share`` of it, class-balanced; default recipe).
    """
    import keras

    if sim is not None:  # per batch: n_sim simulated displays, drawn class-balanced
        n_sim = min(max(int(round(config.sim_share * config.batch_size)), 1), config.batch_size - 1)
        sim_freq = np.bincount(sim[1], minlength=len(CLASS_NAMES)).astype(float)
        sim_p = 1.0 / sim_freq[sim[1]]
        sim_p /= sim_p.sum()

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
            return (np.concatenate([images[sel], decode_displays(sim[0], other, images.shape[1])]),
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

    if config.recipe == "original":
        cp = recipe_copies(y, config)
        t, v = cp["train"], ~cp["train"]
        train = CopiesDataset(cp["source"][t], cp["angle"][t], cp["mirror"][t],
                              shuffle_seed=config.seed)
        val = CopiesDataset(cp["source"][v], cp["angle"][v], cp["mirror"][v]) if v.any() else None
        return train, val
    val_mask = stratified_holdout(y, config.val_fraction, config.seed)
    train = BalancedDataset(np.flatnonzero(~val_mask))
    val = PlainDataset(np.flatnonzero(val_mask)) if val_mask.any() else None
    return train, val


@dataclass
class TrainResult:
    """A trained model with its history (one row per epoch, as in ``history.json``), config and timing."""

    model: Any
    history: list[dict[str, Any]]
    config: RecipeConfig
    seconds: float
    best_epoch: int | None = None  # 1-based; None when the last epoch's weights are kept
    loop: LoopSettings | None = None  # what the shared loop monitored, kept and stopped on

    def curve(self, key: str) -> list[float]:
        """One metric per epoch, e.g. ``result.curve("val_loss")`` (NaN where an epoch lacks it)."""
        return [float(h.get(key, float("nan"))) for h in self.history]


def loop_settings(config: RecipeConfig, has_validation: bool) -> LoopSettings:
    """The shared loop's settings for a recipe (:mod:`eventcnn.learn.loop`).

    default: early stopping on the class-balanced validation loss with
    ``patience``, the best epoch's weights kept (Keras' ``EarlyStopping`` with
    ``restore_best_weights``). original: all ``epochs``, the last weights kept,
    as in the masterclass. Without validation data: the last weights.
    """
    if config.recipe == "default" and has_validation:
        return LoopSettings(monitor="val_loss", patience=config.patience, min_delta=0.0, restore_best=True)
    return LoopSettings(monitor=None, patience=None)


def train(images: np.ndarray, labels: Sequence[str] | np.ndarray,
          recipe: str | RecipeConfig = "default", out: str | os.PathLike[str] | None = None,
          quiet: bool | None = None, data_dir: str | os.PathLike[str] | None = None,
          run_info: dict[str, Any] | None = None, callbacks: Sequence[Any] = (),
          **overrides: Any) -> TrainResult:
    """Train the masterclass CNN on labelled ``uint8`` displays.

    ``recipe``: ``"original"`` (the masterclass recipe, copies generated lazily)
    or ``"default"`` (our recipe), or a :class:`RecipeConfig`; keyword
    ``overrides`` set its fields (``epochs=3``, ``lepton_factor=60``, ``seed=1``,
    ``weights="sim"`` to start from the simulation-pretrained weights).
    The model trains through the shared loop (:func:`eventcnn.learn.loop.fit_phase`,
    settings from :func:`loop_settings`), as CMS runs do. With ``out`` the run
    folder is written in the common format (:func:`save_run`; ``data_dir`` is
    recorded as the run's data). ``quiet``: no Keras progress bar (default: the
    ``EVENTCNN_QUIET`` environment variable, :func:`eventcnn._env.quiet_from_env`;
    the old ``verbose=0`` still works). ``callbacks``: extra Keras callbacks
    (e.g. a progress bar of the class web app, :mod:`eventcnn.opal.web.training`).

    Example::

        result = train(data.images[data.labelled], data.labels[data.labelled],
                       recipe="original", epochs=3, lepton_factor=20, seed=1)
        result.history[-1]["val_accuracy"]
    """
    quiet = quiet_from_env() if quiet is None else bool(quiet)
    config = recipe if isinstance(recipe, RecipeConfig) else RecipeConfig(recipe=recipe)
    if overrides:
        config = RecipeConfig(**{**asdict(config), **overrides})
    if (config.recipe == "default" and not isinstance(recipe, RecipeConfig) and "epochs" not in overrides
            and len(labels) < SMALL_SET):  # tiny validation set: early stopping rarely fires
        config.epochs = min(config.epochs, SMALL_SET_EPOCHS)
    start_from = resolve_weights(config.weights)  # a wrong name or a damaged file fails here
    if (config.recipe == "default" and not isinstance(recipe, RecipeConfig)
            and start_from is not None):  # fine-tuning pretrained weights
        config = RecipeConfig(**{**asdict(config), **{k: v for k, v in FINE_TUNE.items() if k not in overrides}})
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise UserError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if start_from is not None:  # before any simulation or training
        check_weights_size(start_from, images.shape[1])
    y = label_indices(labels)
    if len(y) != len(images):
        raise UserError(f"{len(images)} images but {len(y)} labels")
    if len(y) == 0:
        raise UserError("no labelled images to train on: label some events first")
    import keras

    out_path = Path(out) if out is not None else None
    key = _fingerprint(images, y, config)
    state, history = ({}, []) if out_path is None else _resumable(out_path, key, quiet)
    sim = None
    if config.sim_displays and not state.get("finished"):
        _say(quiet, f"simulating {config.sim_displays} displays to mix into the training batches")
        sim = simulated_batch_pool(config)
    keras.utils.set_random_seed(config.seed)
    train_ds, val_ds = _make_datasets(images, y, config, sim)
    settings = loop_settings(config, val_ds is not None)
    if state.get("finished"):  # the same command again: the run is done, nothing to train
        model = load_model(out_path)
        result = TrainResult(model, history, config, float(state.get("train_seconds", 0.0)),
                             state.get("best_epoch") if settings.restore_best else None)
        return result
    start_epoch = int(state.get("epoch", 0))
    if start_epoch:
        _say(quiet, f"{out_path}: resuming after epoch {start_epoch} of {config.epochs} from last.keras")
        settle_best(out_path, state)
        model = keras.models.load_model(out_path / "last.keras", safe_mode=True)
        for ds in (train_ds, val_ds):  # batches drawn as in an uninterrupted run
            if hasattr(ds, "epoch"):
                ds.epoch = start_epoch
        if hasattr(train_ds, "on_epoch_end") and hasattr(train_ds, "shuffle_seed"):
            train_ds.epoch = start_epoch - 1
            train_ds.on_epoch_end()
    else:
        model = build_model(images.shape[1:], augment=config.recipe == "default", seed=config.seed)
        if start_from is not None:
            load_pretrained(model, start_from)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        state.update({"fingerprint": key, "recipe": config.recipe, "epochs": config.epochs})
    weights = None
    if config.recipe == "default" and config.balance == "weights":
        weights = balanced_class_weight(y, len(CLASS_NAMES))
    start = time.perf_counter()
    if start_epoch < config.epochs and not state.get("stopped_early_phase1"):
        state, history = fit_phase(model, train_ds, val_ds, epochs=config.epochs, initial_epoch=start_epoch,
                                   settings=settings, class_weight=weights, shuffle_batches=True,
                                   quiet=quiet, out=out_path, state=state, history=history,
                                   callbacks=callbacks)
    if start_epoch and settings.restore_best and (out_path / "best.keras").is_file():
        # the best epoch may be from before the interruption: its weights are in best.keras
        model.set_weights(keras.models.load_model(out_path / "best.keras", safe_mode=True).get_weights())
    seconds = float(state.get("train_seconds", time.perf_counter() - start))
    best = state.get("best_epoch") if settings.restore_best else None
    result = TrainResult(model, history, config, seconds, best, loop=settings)
    if out_path is not None:
        save_run(result, out_path, data_dir=data_dir, run_info=run_info, state=state)
    return result


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def _fingerprint(images: np.ndarray, y: np.ndarray, config: RecipeConfig) -> str:
    """What makes two trainings the same: the displays, their labels and the recipe."""
    h = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(y, dtype=np.int64).data)
    return h.hexdigest()[:32]


def _resumable(out: Path, key: str, quiet: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The state and history of an OPAL run in ``out`` trained by the same command, else fresh ones.

    A run on other displays, labels or settings is replaced, and that is said.
    """
    state_file = out / "state.json"
    if not state_file.is_file():
        return {}, []
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state, history = {}, []
    if state.get("fingerprint") != key:
        if state:
            _say(quiet, f"{out} holds a run on other displays, labels or settings: training afresh "
                        "(its files are replaced; use another --out to keep it)")
        return {}, []
    if state.get("finished") and (out / "best.keras").is_file():
        _say(quiet, f"{out}: this training finished already ({state.get('epoch')} epochs); not retraining "
                    "(delete the folder or use another --out to train again)")
        return state, history[: int(state.get("epoch", 0))]
    if not (out / "last.keras").is_file() or not state.get("epoch"):
        return {}, []
    return state, history[: int(state["epoch"])]


def save_run(result: TrainResult, out: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
             run_info: dict[str, Any] | None = None, state: dict[str, Any] | None = None) -> Path:
    """Write the run folder in the common format (:mod:`eventcnn.learn.runs`), atomically.

    ``config.json`` (``train``: the recipe plus ``model="opal"``, ``class_names``,
    ``size``, ``versions``), ``history.json`` (one row per epoch),
    ``best.keras`` (the kept weights: the best epoch where they were restored,
    else the last) and ``state.json``; ``eventcnn compare`` reads it like a CMS run.
    ``run_info`` is stored as ``config["opal"]`` (e.g. the label files, for
    ``eventcnn evaluate``).
    """

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.config
    size = int(result.model.input_shape[1]) if getattr(result.model, "input_shape", None) else None
    loop = result.loop or loop_settings(cfg, has_validation=cfg.val_fraction > 0)
    # the recipe as it ran: Adam on every layer (nothing frozen), what the loop monitored and kept
    train_cfg = {**asdict(cfg), "model": "opal", "data_dir": str(data_dir) if data_dir is not None else "",
                 "out": str(out), "freeze": "none", "optimizer": "adam",
                 "lr": cfg.learning_rate, "size": size, "monitor": loop.monitor,
                 "early_stopping_patience": loop.patience, "restore_best": loop.restore_best}
    write_json_atomic(out / "config.json", {"kind": "opal", "train": train_cfg, "class_names": list(CLASS_NAMES),
                                            "image_size": size, "seconds": result.seconds,
                                            "best_epoch": result.best_epoch, "versions": versions(),
                                            "opal": dict(run_info or {})})
    rows = result.history
    write_json_atomic(out / "history.json", rows)
    with atomic_path(out / "best.keras") as tmp:
        keras_tmp = tmp.with_suffix(".keras")
        result.model.save(keras_tmp)
        os.replace(keras_tmp, tmp)
    write_json_atomic(out / "state.json", {**(state or {}), "epoch": len(rows), "best_epoch": result.best_epoch,
                                           "train_seconds": result.seconds, "finished": True})
    (out / "last.keras").unlink(missing_ok=True)  # finished: best.keras is the model (OPAL runs keep one)
    return out


def load_model(path: str | os.PathLike[str]):
    """Load a saved masterclass model (a ``.keras`` file or a run folder: ``best.keras``, or an older ``model.keras``)."""
    path = Path(path)
    if path.is_dir():
        path = next((path / n for n in ("best.keras", "model.keras") if (path / n).is_file()), path / "best.keras")
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}: train one with 'eventcnn opal train'")
    return load_keras_file(path)


def predict(model: Any, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Class probabilities ``(N, 4)`` for ``uint8`` images, in :data:`CLASS_NAMES` order.

    Small batches keep the peak memory low (the first convolution's output of
    one 200x200 image takes 5 MB in float32). The last batch is padded to
    ``batch_size`` so that every call has one shape (XLA compiles once).

    Example::

        probs = predict(result.model, data.images)
        classes = np.array(CLASS_NAMES)[probs.argmax(1)]
    """
    images = np.asarray(images)
    if len(images) == 0:
        return np.zeros((0, len(CLASS_NAMES)), dtype=np.float32)
    chunks = []
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        n = len(chunk)
        if n < batch_size:  # fixed shape: repeat the last image, drop its predictions
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        chunks.append(np.asarray(model.predict_on_batch(chunk))[:n])
    probs = np.concatenate(chunks)
    return probs.astype(np.float32)


def write_predictions(path: str | os.PathLike[str], names: Sequence[str] | np.ndarray,
                      probs: np.ndarray) -> Path:
    """Write ``event,predicted,p_q,p_e,p_m,p_t`` (one row per event) atomically.

    Example::

        unlabelled = ~data.labelled
        write_predictions("runs/opal/predictions.csv", data.names[unlabelled],
                          predict(model, data.images[unlabelled]))
    """
    probs = np.asarray(probs)
    if probs.shape != (len(names), len(CLASS_NAMES)):
        raise UserError(f"probs must have shape ({len(names)}, {len(CLASS_NAMES)}), got {probs.shape}")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["event", "predicted", *(f"p_{c}" for c in CLASS_NAMES)])
        pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
        for name, k, row in zip(names, pred, probs):
            w.writerow([name, CLASS_NAMES[k], *(f"{p:.6f}" for p in row)])
    return Path(path)


def evaluate(model: Any, images: np.ndarray, labels: Sequence[str] | np.ndarray,
             out: str | os.PathLike[str] | None = None, names: Sequence[str] | None = None,
             probs: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of ``model`` on labelled ``images`` (uses :mod:`eventcnn.learn.metrics`).

    Returns :func:`eventcnn.learn.metrics.compute_metrics`' dict plus ``overview``
    (:func:`predicted_overview`). With ``out``: ``metrics.json``,
    ``confusion_matrix.png`` (classes in words, counts in every cell, linear
    colour scale: :func:`eventcnn.opal.pictures.confusion_figure`) and ``misclassified.png``
    (gallery with probabilities), and ``misclassified.csv`` when ``names`` are given.

    Example::

        m = evaluate(result.model, data.images[test], data.labels[test], out="runs/opal")
        m["balanced_accuracy"]
    """

    y = label_indices(labels)
    if probs is None:
        probs = predict(model, images)
    m = metrics.compute_metrics(y, probs, list(CLASS_NAMES))
    pred = np.array(CLASS_NAMES)[probs.argmax(axis=1)]
    m["overview"] = predicted_overview(pred, np.asarray(labels))
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "metrics.json", m)
        classroom.save(classroom.confusion_figure(m["confusion_matrix"]["counts"]),
                       out / "confusion_matrix.png")
        metrics.plot_misclassified(images, y, probs, classroom.words(CLASS_NAMES),
                                   out / "misclassified.png")
        if names is not None:
            wrong = np.flatnonzero(pred != np.asarray(labels))
            write_predictions(out / "misclassified.csv", np.asarray(names)[wrong], probs[wrong])
    return m
