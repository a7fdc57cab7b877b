"""CNN models: ImageNet backbones with their own preprocessing, a configurable head, freeze policies.

Every model takes ``uint8``/``0..255`` RGB images and does its backbone's
preprocessing inside (saved with the model), so callers never preprocess:

=====================  ==========================  ==================
backbone               ``keras.applications``      preprocessing
=====================  ==========================  ==================
``vgg16``/``vgg19``    VGG16 / VGG19               caffe (BGR, mean)
``resnet50``           ResNet50                    caffe (BGR, mean)
``inceptionv3``        InceptionV3                 tf ([-1, 1])
``inceptionresnetv2``  InceptionResNetV2           tf ([-1, 1])
``efficientnetv2b0``   EfficientNetV2B0            built into the net
``convnexttiny``       ConvNeXtTiny                built into the net
``small``              from scratch (4 conv blocks) ``x / 255``
``masterclass``        the OPAL masterclass CNN     ``x / 255``
=====================  ==========================  ==================

The networks and what they need are listed in the one model registry,
:mod:`eventcnn.learn.registry` (no Keras). ``masterclass`` is a whole network,
not a backbone: Conv 32 -> MaxPool -> Conv 64 -> MaxPool -> Conv 64 -> MaxPool
-> Dense 64 -> softmax (204,100 parameters for 4 classes at 200 px), taking the
OPAL end-view displays; it has no head, pooling or freeze options, and its
training-time augmentation (``augmentation=True``) is its own: a rotation by any
angle and a mirror (end views are symmetric about the beam axis).

Freeze policies (``freeze=``): ``frozen`` (backbone not trainable),
``few`` (last 20 % of the backbone's layers trainable), ``many`` (last 70 %),
``none`` (all trainable). With any policy but ``none`` the backbone is called
with ``training=False``, so its BatchNorm layers run in inference mode (moving
statistics), and BatchNorm layers in the unfrozen part stay non-trainable: the
recipe of the Keras transfer-learning guide. The original study trained frozen
ResNet/Inception BatchNorm in training mode, one reason it collapsed to 33 %.

Example::

    from eventcnn.learn.models import build_model
    model = build_model("resnet50", num_classes=3, input_shape=(224, 224, 3),
                        weights="imagenet", freeze="frozen")
    small = build_model("small", num_classes=2, input_shape=(64, 64, 3))
    cnn = build_model("masterclass")        # 4 classes, 200 x 200 displays, 204,100 parameters
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from eventcnn._io import atomic_path
from eventcnn.errors import INTERNAL_ERRORS, EventcnnError, UserError
from eventcnn.learn import augment as _augment  # noqa: F401 - registers the augmentation layers for loading
from eventcnn.learn import weights as shipped
from eventcnn.learn.devices import allow_jit
from eventcnn.learn.registry import (
    BACKBONE_ALIASES,
    BACKBONES,
    FREEZE_POLICIES,
    HEADS,
    MASTERCLASS,
    MASTERCLASS_NAME,
    MASTERCLASS_STAGES,
    TRAINABLE_FRACTION,
    BackboneSpec,
    canonical_backbone,
    check_input_size,
)

__all__ = [
    "BACKBONE_ALIASES",
    "BACKBONE_NAME",
    "BackbonePreprocess",
    "BACKBONES",
    "BackboneSpec",
    "build_backbone",
    "build_model",
    "CAFFE_MEAN",
    "canonical_backbone",
    "count_params",
    "FREEZE_POLICIES",
    "WeightsDownloadError",
    "freeze_table",
    "get_backbone",
    "HEADS",
    "imagenet_error",
    "load_network_weights",
    "make_optimizer",
    "masterclass_network",
    "save_network_weights",
    "set_freeze",
    "TORCH_MEAN",
    "TORCH_STD",
    "TRAINABLE_FRACTION",
    "trainable_fraction",
]


BACKBONE_NAME = "backbone"

CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR order
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="eventcnn")
class BackbonePreprocess(layers.Layer):
    """Cast ``uint8`` 0..255 RGB to float and apply a backbone family's preprocessing.

    Modes reproduce ``keras.applications.<family>.preprocess_input``:
    ``caffe`` (RGB->BGR, minus the ImageNet mean), ``tf`` (scale to [-1, 1]),
    ``torch`` (/255, ImageNet mean/std), ``unit`` (/255) and ``none`` (cast only;
    EfficientNetV2 and ConvNeXt preprocess inside the network). Backend-neutral
    (``keras.ops``) and saved with the model.

    Example::

        x = BackbonePreprocess("caffe")(keras.Input((224, 224, 3)))
    """

    MODES = ("caffe", "tf", "torch", "unit", "none")

    def __init__(self, mode: str = "none", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise UserError(f"preprocessing mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(np.array(TORCH_MEAN) * 255.0, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(np.array(TORCH_STD) * 255.0, dtype=self.compute_dtype)
            return (x - mean) / std
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(np.array(CAFFE_MEAN), dtype=self.compute_dtype)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


def _check_input_shape(key: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise UserError(f"input_shape must be (height, width, 3) RGB, got {tuple(input_shape)}")
    h, w, c = (int(v) for v in input_shape)
    check_input_size(key, min(h, w))  # the registry's smallest input, in its words
    return h, w, c


def _small_backbone(input_shape: tuple[int, int, int], filters: Sequence[int] = (16, 32, 64, 128)) -> keras.Model:
    """A small from-scratch CNN: conv blocks of Conv-BN-ReLU + max-pooling."""
    inp = keras.Input(input_shape, name="small_input")
    x = inp
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i + 1}_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"block{i + 1}_bn")(x)
        x = layers.Activation("relu", name=f"block{i + 1}_relu")(x)
        if min(x.shape[1], x.shape[2]) >= 2:
            x = layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    return keras.Model(inp, x, name=BACKBONE_NAME)


class WeightsDownloadError(EventcnnError, RuntimeError):
    """Pretrained weights could not be fetched (offline); the message says how to get them."""


def imagenet_error(backbone: str, exc: BaseException) -> WeightsDownloadError:
    """The error raised when ImageNet weights cannot be fetched (offline)."""
    app = BACKBONES[backbone].app
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    return WeightsDownloadError(
        f"could not download the ImageNet weights of {app} ({type(exc).__name__}: {exc}). "
        f"Offline? Pre-download them once on a machine with internet by running "
        f"`python -c \"import keras; keras.applications.{app}(include_top=False, weights='imagenet')\"` "
        f"and copy the file into the Keras cache {cache}, or pass a local weights file "
        f"(weights='path/to/file.h5' or '.weights.h5', CLI --weights FILE), or weights=None to train from scratch."
    )


def build_backbone(
    backbone: str,
    input_shape: Sequence[int] = (224, 224, 3),
    weights: str | os.PathLike[str] | None = None,
) -> keras.Model:
    """Build a backbone without its classifier (``include_top=False``).

    ``weights``: ``"imagenet"`` (downloaded into ``~/.keras/models`` when online),
    ``None`` (random), ``"sim"`` (the simulation-pretrained backbone shipped in
    :mod:`eventcnn.learn.weights`, sha256-checked) or a local ``.h5``/``.weights.h5`` file of this backbone.

    Example::

        bb = build_backbone("vgg16", (64, 64, 3), weights=None)
        bb.save_weights("vgg16_notop.weights.h5")
        bb2 = build_backbone("vgg16", (64, 64, 3), weights="vgg16_notop.weights.h5")
    """
    key = canonical_backbone(backbone)
    spec = BACKBONES[key]
    if spec.network:
        raise UserError(f"{key!r} is a whole network, not a backbone: build it with build_model({key!r})")
    shape = _check_input_shape(key, input_shape)
    if weights is not None and str(weights).lower() == "none":
        weights = None
    if shipped.is_shipped(weights):  # "sim"/"sim:<name>": the verified shipped file
        weights = shipped.resolve_weights(weights, key, shape)
    path: Path | None = None
    if weights is not None and str(weights) != "imagenet":
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(
                f"weights file {path} not found; pass weights='imagenet', None or an existing .h5/.weights.h5 file"
            )
        if not (path.name.endswith(".h5") or path.name.endswith(".keras")):
            raise UserError(f"weights file {path} must end in .h5, .weights.h5 or .keras")
    if spec.app is None:
        if weights == "imagenet":
            raise UserError(f"backbone {key!r} is trained from scratch: it has no ImageNet weights (use weights=None)")
        model = _small_backbone(shape)
    else:
        ctor = getattr(keras.applications, spec.app)
        kwargs = dict(spec.extra)
        try:
            model = ctor(include_top=False, weights="imagenet" if weights == "imagenet" else None, input_shape=shape, **kwargs)
        except ValueError as exc:
            # keras.utils.get_file reports a corrupted/incomplete download (proxy, captive
            # portal) as a ValueError about the file hash: same advice as offline
            text = str(exc).lower()
            if weights == "imagenet" and ("hash" in text or "corrupt" in text or "incomplete" in text):
                raise imagenet_error(key, exc) from exc
            raise
        except Exception as exc:  # noqa: BLE001 - download failures come as Exception/URLError/OSError
            if weights == "imagenet" and not isinstance(exc, INTERNAL_ERRORS):  # a bug stays a bug
                raise imagenet_error(key, exc) from exc
            raise
        model.name = BACKBONE_NAME
    if path is not None:
        try:
            if path.name.endswith(".keras"):
                src = keras.saving.load_model(path, compile=False)
                model.set_weights(src.get_weights())
            else:
                model.load_weights(path)
        except Exception as exc:  # noqa: BLE001 - h5py/keras report a bad file in many ways
            if isinstance(exc, INTERNAL_ERRORS):
                raise
            raise UserError(f"weights file {path} does not fit backbone {key!r} with input {shape}: {exc}") from exc
    return model


def _head(x, num_classes: int, head: str, dropout: float):
    if head == "paper":  # the original study: three Dense-512 + Dropout blocks
        for i in range(3):
            x = layers.Dense(512, activation="relu", name=f"head_dense{i + 1}")(x)
            x = layers.Dropout(dropout, name=f"head_dropout{i + 1}")(x)
    elif head == "simple":
        x = layers.Dense(128, activation="relu", name="head_dense1")(x)
        x = layers.Dropout(dropout, name="head_dropout1")(x)
    elif head == "linear":
        x = layers.Dropout(dropout, name="head_dropout1")(x)
    else:
        raise UserError(f"head must be one of {HEADS}, got {head!r}")
    # float32 softmax also under the mixed_float16 policy
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


def build_model(
    backbone: str,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    weights: str | os.PathLike[str] | None = "imagenet",
    freeze: str | None = None,
    head: str | None = None,
    dropout: float = 0.5,
    augmentation: keras.layers.Layer | bool | None = None,
    pooling: str | None = None,
    seed: int | None = None,
) -> keras.Model:
    """Build a classifier of the registry (:mod:`eventcnn.learn.registry`) taking ``uint8`` images.

    Backbones: uint8 input -> [augmentation] -> preprocessing -> backbone -> head.
    ``masterclass``: the OPAL masterclass CNN, a whole network (:func:`masterclass_network`).

    Parameters
    ----------
    backbone:
        ``vgg16``, ``vgg19``, ``resnet50``, ``inceptionv3``, ``inceptionresnetv2``,
        ``efficientnetv2b0``, ``convnexttiny``, ``small`` (from scratch) or
        ``masterclass`` (the OPAL masterclass CNN).
    num_classes, input_shape:
        Outputs and input; a network's own by default (the masterclass: 4 and
        200 x 200 x 3), ``input_shape`` 224 x 224 x 3 for the backbones.
    weights:
        ``"imagenet"``, ``None``, ``"sim"`` (shipped simulation-pretrained
        weights of :mod:`eventcnn.learn.weights`: ``small`` at 64 px, the
        masterclass CNN at 200 px) or a local weights file (``small`` and the
        masterclass have no ImageNet weights: ``"imagenet"`` means random for them).
    freeze:
        ``frozen`` (the default for backbones), ``few`` (last 20 % trainable),
        ``many`` (last 70 %) or ``none`` (the only policy of the masterclass).
    head:
        ``paper`` (GAP + 3 x Dense-512 + Dropout + softmax), ``simple`` (Dense-128)
        or ``linear``; default ``paper`` for ImageNet backbones, ``simple`` for ``small``.
    pooling:
        ``avg`` (global average pooling, the paper's) or ``flatten`` (keeps where
        objects are, e.g. the MET at eta = 0); default ``avg`` for ImageNet
        backbones, ``flatten`` for ``small``.
    augmentation:
        An optional layer applied to the uint8 images at training time only
        (e.g. :func:`eventcnn.learn.augment.physics_augmentation`); for the
        masterclass ``True``: its own random rotation and mirror, seeded by ``seed``.

    Example::

        model = build_model("inceptionv3", 3, (75, 75, 3), weights=None, freeze="few")
        cnn = build_model("masterclass", augmentation=True, seed=1)
    """
    key = canonical_backbone(backbone)
    spec = BACKBONES[key]
    if spec.network:
        return _build_network(key, spec, num_classes, input_shape, weights, freeze, head, pooling,
                              augmentation, seed)
    return _build_backbone_model(key, spec, num_classes, input_shape, weights, freeze, head, dropout,
                                 augmentation, pooling)


def _build_backbone_model(key: str, spec: BackboneSpec, num_classes: int | None, input_shape: Sequence[int] | None,
                          weights: Any, freeze: str | None, head: str | None, dropout: float, augmentation: Any,
                          pooling: str | None) -> keras.Model:
    """A backbone of the registry with its preprocessing and a classifier head (see :func:`build_model`)."""
    if num_classes is None:
        raise UserError(f"num_classes is needed for backbone {key!r}")
    input_shape = (224, 224, 3) if input_shape is None else input_shape
    freeze = "frozen" if freeze is None else freeze
    if num_classes < 2:
        raise UserError(f"num_classes must be >= 2, got {num_classes}")
    if freeze not in FREEZE_POLICIES:
        raise UserError(f"freeze must be one of {FREEZE_POLICIES}, got {freeze!r}")
    if not 0 <= dropout < 1:
        raise UserError(f"dropout must be in [0, 1), got {dropout}")
    if augmentation is True or augmentation is False:
        raise UserError(f"augmentation of backbone {key!r} is a Keras layer (or None), got {augmentation}")
    if key == "small" and weights == "imagenet":
        weights = None
    head = head or ("simple" if key == "small" else "paper")
    pooling = pooling or ("flatten" if key == "small" else "avg")
    if pooling not in ("avg", "flatten"):
        raise UserError(f"pooling must be 'avg' or 'flatten', got {pooling!r}")
    base = build_backbone(key, input_shape, weights)
    inputs = keras.Input(tuple(int(v) for v in input_shape), name="image")
    x = inputs
    if augmentation is not None:
        x = augmentation(x)
    x = BackbonePreprocess(spec.preprocess, name="preprocess")(x)
    x = base(x, training=False) if freeze != "none" else base(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x) if pooling == "avg" else layers.Flatten(name="flatten")(x)
    outputs = _head(x, num_classes, head, dropout)
    model = keras.Model(inputs, outputs, name=f"eventcnn_{key}")
    set_freeze(model, freeze)
    return model


def _build_network(key: str, spec: BackboneSpec, num_classes: int | None, input_shape: Sequence[int] | None,
                   weights: Any, freeze: str | None, head: str | None, pooling: str | None,
                   augmentation: Any, seed: int | None) -> keras.Model:
    """A whole network of the registry (no backbone + head), with its starting weights."""
    for option, value in (("head", head), ("pooling", pooling)):
        if value is not None:
            raise UserError(f"the {key} network has its own layers: no {option} option (got {value!r})")
    if freeze not in (None, "none"):
        raise UserError(f"the {key} network trains every layer: freeze must be 'none', got {freeze!r}")
    shape = (spec.size, spec.size, 3) if input_shape is None else tuple(int(v) for v in input_shape)
    own = augmentation is True or augmentation is False or augmentation is None
    model = masterclass_network(shape, spec.classes if num_classes is None else num_classes,
                                augment=augmentation is True, seed=seed)
    if not own:  # a given layer (e.g. eventcnn train's physics augmentation) goes first, on the uint8 images
        inputs = keras.Input(shape, name="image")
        model = keras.Model(inputs, model(augmentation(inputs)), name=MASTERCLASS_NAME)
    start = None if weights is None or str(weights).lower() in ("imagenet", "none") else weights
    if start is not None:
        load_network_weights(model, shipped.resolve_weights(start, key, shape))
    return model


def masterclass_network(input_shape: Sequence[int] = (200, 200, 3), num_classes: int = 4,
                        augment: bool = False, seed: int | None = None) -> keras.Model:
    """The OPAL masterclass CNN, taking ``uint8`` images (rescaled inside the model).

    Conv 32 3x3 -> MaxPool 3x3 -> Conv 64 3x3 -> MaxPool 3x3 -> Conv 64 3x3 ->
    MaxPool 3x3 -> Flatten (2304 at 200 px) -> Dense 64 ReLU -> Dense softmax:
    204,100 parameters for 4 classes. ``augment`` adds a training-only stage
    (random rotation by any angle and random mirror; end-view displays may be
    rotated freely around the beam axis) that is inactive in ``predict``. The
    layers are made in this order whatever the caller, so a seed gives the same
    weights (:func:`keras.utils.set_random_seed`).

    Example::

        model = masterclass_network()
        model.count_params()   # 204100
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise UserError(f"input_shape must be (height, width, 3) RGB, got {shape}")
    check_input_size(MASTERCLASS, min(shape[0], shape[1]))
    stages: list[Any] = [keras.Input(shape=shape), layers.Rescaling(1.0 / 255.0)]
    if augment:
        stages += [
            allow_jit(layers.RandomRotation(1.0, fill_mode="constant", fill_value=0.0, seed=seed)),
            layers.RandomFlip("horizontal", seed=None if seed is None else seed + 1),
        ]
    for filters, kernel, pool in MASTERCLASS_STAGES:
        stages += [layers.Conv2D(filters, (kernel, kernel), activation="relu"), layers.MaxPooling2D((pool, pool))]
    stages += [
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ]
    return keras.Sequential(stages, name=MASTERCLASS_NAME)


def _weighted(model: keras.Model) -> list[Any]:
    return [layer for layer in model.layers if layer.weights]


def load_network_weights(model: keras.Model, path: str | os.PathLike[str]) -> keras.Model:
    """Copy weights from ``path`` (a masterclass ``.weights.h5``) into ``model``'s layers; returns ``model``.

    Works whether or not ``model`` has its augmentation stage (the file holds
    the network without it). Weights made for displays of another size (as the
    ``.json`` beside them records) are refused in words.

    Example::

        model = build_model("masterclass", augmentation=True)
        load_network_weights(model, resolve_weights("sim", "masterclass", (200, 200, 3)))
    """
    shape = tuple(model.input_shape[1:])
    shipped.check_weights_size(path, shape[0])
    base = masterclass_network(shape, int(model.output_shape[-1]))
    try:
        base.load_weights(str(path))
    except Exception as exc:  # noqa: BLE001 - Keras raises several types for a wrong file
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise UserError(f"{path}: not masterclass-CNN weights for input {shape} "
                        f"({type(exc).__name__}: {detail})") from exc
    src, dst = _weighted(base), _weighted(model)
    if len(src) != len(dst):
        raise UserError(f"{path}: {len(src)} weighted layers, the model has {len(dst)}")
    for a, b in zip(src, dst):
        b.set_weights(a.get_weights())
    return model


def save_network_weights(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save a masterclass ``model``'s weights without its augmentation stage as ``.weights.h5`` (atomic).

    The file loads into any masterclass model of the same input size
    (:func:`load_network_weights`).

    Example::

        save_network_weights(result.model, "my.weights.h5")
    """
    base = masterclass_network(tuple(model.input_shape[1:]), int(model.output_shape[-1]))
    for a, b in zip(_weighted(model), _weighted(base)):
        b.set_weights(a.get_weights())
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp_h5 = tmp.with_name(tmp.name + ".weights.h5")
        base.save_weights(str(tmp_h5))
        os.replace(tmp_h5, tmp)
    return path


def get_backbone(model: keras.Model) -> keras.Model:
    """The backbone sub-model of a model built by :func:`build_model`."""
    try:
        return model.get_layer(BACKBONE_NAME)
    except ValueError:
        raise UserError(f"model {model.name!r} has no layer named {BACKBONE_NAME!r}: not built by build_model") from None


def set_freeze(model: keras.Model, freeze: str) -> keras.Model:
    """Apply a freeze policy to the backbone of ``model`` (in place; recompile afterwards).

    The last ``TRAINABLE_FRACTION[freeze]`` of the backbone's layers (all layers
    but the input, counted in order: 20 % for ``few``, 70 % for ``many``) become
    trainable; BatchNorm layers stay frozen unless ``freeze="none"``.

    Example::

        set_freeze(model, "few")
        model.compile(keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy")
    """
    if freeze not in FREEZE_POLICIES:
        raise UserError(f"freeze must be one of {FREEZE_POLICIES}, got {freeze!r}")
    if freeze == "none" and model.name == MASTERCLASS_NAME:  # a whole network: every layer trains already
        return model
    base = get_backbone(model)
    if freeze == "frozen":
        base.trainable = False
        return model
    base.trainable = True
    inner = [layer for layer in base.layers if not isinstance(layer, keras.layers.InputLayer)]
    n_train = int(round(TRAINABLE_FRACTION[freeze] * len(inner)))
    first = len(inner) - n_train
    for i, layer in enumerate(inner):
        trainable = i >= first
        if isinstance(layer, keras.layers.BatchNormalization) and freeze != "none":
            trainable = False
        layer.trainable = trainable
    return model


def trainable_fraction(model: keras.Model) -> float:
    """Fraction of the backbone's (non-input) layers that are trainable."""
    base = get_backbone(model)
    inner = [layer for layer in base.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not base.trainable:
        return 0.0
    return sum(layer.trainable for layer in inner) / max(len(inner), 1)


def count_params(weights: Sequence[Any]) -> int:
    """Number of scalars in a list of weights."""
    return int(sum(int(np.prod(w.shape)) for w in weights))


def freeze_table(backbone: str, size: int, num_classes: int = 2) -> list[dict[str, Any]]:
    """Trainable backbone layers and parameters for each freeze policy (random weights, no download).

    Example::

        rows = freeze_table("vgg16", 64)
        print(comparison_table(rows))   # eventcnn.learn.metrics.comparison_table
    """
    model = build_model(backbone, num_classes, (size, size, 3), weights=None)
    rows = []
    for policy in FREEZE_POLICIES:
        set_freeze(model, policy)
        rows.append({"freeze": policy, "trainable backbone layers": f"{trainable_fraction(model):.0%}",
                     "trainable parameters": count_params(model.trainable_weights),
                     "backbone parameters": count_params(get_backbone(model).weights)})
    return rows


def make_optimizer(
    name: str = "adam",
    learning_rate: float = 1e-3,
    schedule: str = "constant",
    decay_steps: int = 1000,
    momentum: float = 0.9,
) -> keras.optimizers.Optimizer:
    """Optimizer ``adam``/``rmsprop``/``sgd`` (momentum) with a ``constant``/``cosine``/``exponential`` schedule.

    Example::

        opt = make_optimizer("sgd", 1e-2, schedule="cosine", decay_steps=500)
    """
    if learning_rate <= 0:
        raise UserError(f"learning rate must be > 0, got {learning_rate}")
    decay_steps = max(int(decay_steps), 1)
    if schedule == "constant":
        lr: Any = learning_rate
    elif schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps, alpha=0.01)
    elif schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps, decay_rate=0.1)
    else:
        raise UserError(f"schedule must be constant, cosine or exponential, got {schedule!r}")
    name = name.lower()
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=momentum, nesterov=True)
    raise UserError(f"optimizer must be adam, rmsprop or sgd, got {name!r}")
