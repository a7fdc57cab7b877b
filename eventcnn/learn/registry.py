"""The one model registry: every network eventcnn trains, by name, and what it needs (no Keras).

Each entry is a :class:`BackboneSpec`. Most are backbones that
:func:`eventcnn.learn.models.build_model` tops with a classifier head (the
``keras.applications`` networks and ``small``); ``masterclass`` is a whole
network of its own, the OPAL masterclass CNN (204,100 parameters, 4 classes,
200 px end-view displays). ``eventcnn train --model``, ``eventcnn pretrain
--model``, the shipped weights (:mod:`eventcnn.learn.weights`) and the run
folders name networks by these keys.

Adding a backbone: one line in :data:`BACKBONES` (a ``keras.applications``
class, its preprocessing, its smallest input); a network with its own layers:
one line here with ``network=True`` and its builder in
:mod:`eventcnn.learn.models`.

This module imports no Keras, so the command line lists the networks in its
help and checks ``--size`` before Keras starts.

Example::

    from eventcnn.learn.registry import BACKBONES, check_input_size
    sorted(BACKBONES)                       # ['convnexttiny', ..., 'masterclass', ..., 'vgg19']
    check_input_size("masterclass", 200)    # 200; 40 would be refused (at least 53 x 53)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventcnn.errors import UserError
from eventcnn.limits import check_image_size

__all__ = [
    "BACKBONE_ALIASES",
    "BACKBONES",
    "BackboneSpec",
    "canonical_backbone",
    "check_input_size",
    "FREEZE_POLICIES",
    "HEADS",
    "MASTERCLASS",
    "MASTERCLASS_NAME",
    "MASTERCLASS_STAGES",
    "min_input_size",
    "TRAINABLE_FRACTION",
]

FREEZE_POLICIES = ("frozen", "few", "many", "none")
HEADS = ("paper", "simple", "linear")
#: fraction of backbone layers left trainable per freeze policy
TRAINABLE_FRACTION = {"frozen": 0.0, "few": 0.2, "many": 0.7, "none": 1.0}

#: the masterclass CNN's feature extractor: (filters, kernel, pool) per stage ("valid" padding)
MASTERCLASS_STAGES: tuple[tuple[int, int, int], ...] = ((32, 3, 3), (64, 3, 3), (64, 3, 3))
#: the registry key of the OPAL masterclass CNN
MASTERCLASS = "masterclass"
#: the name of the masterclass network inside its ``.keras`` files (how a bare model file is recognised)
MASTERCLASS_NAME = "opal_masterclass_cnn"


def min_input_size(stages: Sequence[tuple[int, int, int]] = MASTERCLASS_STAGES) -> int:
    """Smallest image side a stack of unpadded conv + max-pool stages accepts (each must leave >= 1 pixel).

    Example::

        >>> min_input_size()
        53
    """
    side = 1
    for _, kernel, pool in reversed(stages):
        side = side * pool + kernel - 1  # an unpadded conv k x k, then a k x k max-pool of stride k
    return side


@dataclass(frozen=True)
class BackboneSpec:
    """One network of the registry.

    ``app``: the ``keras.applications`` class (None: built by eventcnn);
    ``preprocess``: the preprocessing inside the model
    (:class:`eventcnn.learn.models.BackbonePreprocess` modes; ``rescale`` is the
    masterclass's ``Rescaling(1/255)`` layer); ``min_size``: the smallest input
    side; ``extra``: keyword arguments of the application. ``network``: a whole
    classifier with its own head (no backbone + head, no freeze policy), with
    its default number of ``classes`` and input ``size``; ``title`` names it in
    messages.
    """

    app: str | None
    preprocess: str
    min_size: int
    extra: tuple[tuple[str, Any], ...] = ()
    network: bool = False
    classes: int | None = None
    size: int | None = None
    title: str = ""


BACKBONES: dict[str, BackboneSpec] = {
    "vgg16": BackboneSpec("VGG16", "caffe", 32),
    "vgg19": BackboneSpec("VGG19", "caffe", 32),
    "resnet50": BackboneSpec("ResNet50", "caffe", 32),
    "inceptionv3": BackboneSpec("InceptionV3", "tf", 75),
    "inceptionresnetv2": BackboneSpec("InceptionResNetV2", "tf", 75),
    "efficientnetv2b0": BackboneSpec("EfficientNetV2B0", "none", 32, (("include_preprocessing", True),)),
    "convnexttiny": BackboneSpec("ConvNeXtTiny", "none", 32, (("include_preprocessing", True),)),
    "small": BackboneSpec(None, "unit", 16),
    MASTERCLASS: BackboneSpec(None, "rescale", min_input_size(), network=True, classes=4, size=200,
                              title="the masterclass CNN: its three 3x3 conv + 3x3 max-pool stages"),
}
#: other spellings of registry keys
BACKBONE_ALIASES = {"simple": "small", "efficientnet": "efficientnetv2b0", "convnext": "convnexttiny",
                    "opal": MASTERCLASS}


def canonical_backbone(name: str) -> str:
    """Normalise a network name (``"ResNet50"`` -> ``"resnet50"``, ``"opal"`` -> ``"masterclass"``), with a clear error.

    Example::

        >>> canonical_backbone("ResNet-50")
        'resnet50'
    """
    key = str(name).lower().replace("_", "").replace("-", "")
    key = BACKBONE_ALIASES.get(key, key)
    if key not in BACKBONES:
        raise UserError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)} (or 'simple')")
    return key


def check_input_size(backbone: str, size: int, name: str = "--size") -> int:
    """``size`` when the network ``backbone`` takes ``size`` x ``size`` images, else one clear error.

    Example::

        >>> check_input_size("masterclass", 53)
        53
    """
    key = canonical_backbone(backbone)
    spec = BACKBONES[key]
    need = spec.min_size
    if isinstance(size, int) and size < need:
        if spec.network:
            raise UserError(f"image size {size} is too small for {spec.title} need at least {need} x {need} "
                            f"pixels; use {name} {need} or more (the {key} uses {spec.size})")
        raise UserError(f"backbone {key!r} needs images of at least {need}x{need} pixels, got {size}x{size}: "
                        f"render larger images or pass {name} {need} (or more)")
    return check_image_size(size, name)  # a whole number, at most MAX_IMAGE_SIZE pixels
