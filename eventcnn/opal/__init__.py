"""The OPAL masterclass: classify LEP end-view event displays of Z decays with a CNN.

Students label OPAL event displays as hadronic (``q``), electron (``e``), muon
(``m``) or tau (``t``) Z decays, train a small CNN on their labels and let it
classify the rest. OPAL is a dataset, a network and a recipe of the shared
stack; this package is the lesson on top of it, in the masterclass's words:

- the displays are read on the images floor (:mod:`eventcnn.images.opal_displays`,
  opaque ids :mod:`eventcnn.images.display_ids`);
- the network is ``masterclass`` of the one model registry
  (:mod:`eventcnn.learn.registry`, built by :mod:`eventcnn.learn.models`), its
  shipped simulation-pretrained weights are in :mod:`eventcnn.learn.weights`;
- the recipes, training, prediction (with TTA) and evaluation are those of
  every run (:mod:`eventcnn.learn.recipes`, :mod:`eventcnn.learn.train_arrays`,
  :mod:`eventcnn.learn.predict`, :mod:`eventcnn.learn.evaluate`);
- here: :func:`masterclass` (:mod:`eventcnn.opal.workflow`, the whole exercise
  in one call), self-training (:mod:`eventcnn.opal.self_training`), Z physics
  (:mod:`eventcnn.opal.physics`), the labeller, suggestions, classroom
  pictures and the class in the browser (:mod:`eventcnn.opal.web`, not
  imported here).

The names below are re-exported under the masterclass's words
(``from eventcnn import opal; opal.load_displays(...)``): :func:`load_displays`,
:func:`train` (:func:`eventcnn.learn.train_arrays.train_arrays`), :func:`predict`
(:func:`eventcnn.learn.predict.predict_images`), :func:`predict_tta`,
:func:`evaluate` (:func:`eventcnn.learn.evaluate.evaluate_images`),
:func:`load_model`, :func:`masterclass`, :data:`CLASS_NAMES`, ...
:func:`build_model` (the masterclass network,
:func:`eventcnn.learn.models.masterclass_network`) and :func:`load_pretrained`
import Keras when first used; everything else here imports no Keras.

Example::

    from eventcnn import opal
    data = opal.load_displays("centered-masked-rotated1.zip", "events_list.csv")
    result = opal.train(data.images, data.labels, recipe="default", seed=1)
    probs = opal.predict(result.model, data.images)
"""

from __future__ import annotations

import importlib
from typing import Any

from eventcnn.images import opal_displays
from eventcnn.images.opal_displays import *  # noqa: F403
from eventcnn.learn.batches import rotate_images
from eventcnn.learn.evaluate import evaluate_images as evaluate
from eventcnn.learn.predict import TTA_COPIES, default_tta, predict_tta, write_predictions
from eventcnn.learn.predict import predict_images as predict
from eventcnn.learn.recipes import (
    FINE_TUNE,
    RECIPE_EPOCHS,
    SMALL_SET,
    SMALL_SET_EPOCHS,
    RecipeConfig,
    recipe_copies,
)
from eventcnn.learn.runs import load_run_model as load_model
from eventcnn.learn.train_arrays import TrainResult
from eventcnn.learn.train_arrays import train_arrays as train
from eventcnn.opal import physics, self_training, workflow
from eventcnn.opal.physics import *  # noqa: F403
from eventcnn.opal.self_training import *  # noqa: F403
from eventcnn.opal.workflow import *  # noqa: F403

#: re-exports that import Keras, made when first used: name -> (module, name there)
_KERAS_NAMES = {"build_model": ("eventcnn.learn.models", "masterclass_network"),
                "load_pretrained": ("eventcnn.learn.models", "load_network_weights")}

# build_model and load_pretrained are made by __getattr__ (they import Keras)
__all__ = [*opal_displays.__all__, *physics.__all__, *self_training.__all__, *workflow.__all__,  # noqa: F405
           "FINE_TUNE", "RECIPE_EPOCHS", "RecipeConfig", "SMALL_SET", "SMALL_SET_EPOCHS", "TTA_COPIES",
           "TrainResult", "build_model", "default_tta", "evaluate", "load_model", "load_pretrained", "predict",
           "predict_tta", "recipe_copies", "rotate_images", "train", "write_predictions"]


def __getattr__(name: str) -> Any:
    """The Keras-importing re-exports (:data:`_KERAS_NAMES`), imported on first use."""
    if name in _KERAS_NAMES:
        module, attr = _KERAS_NAMES[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
