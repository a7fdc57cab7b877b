"""The OPAL masterclass: classify LEP end-view event displays of Z decays with a CNN.

Students label OPAL event displays as hadronic (``q``), electron (``e``), muon
(``m``) or tau (``t``) Z decays, train a small CNN on their labels and let it
classify the rest. This package holds everything except the hand labeller
(:mod:`eventcnn.opal.labeller`), in five modules whose names are all re-exported here
(``from eventcnn import opal; opal.load_displays(...)``):

- :mod:`eventcnn.opal.displays`: class codes, sizes, label files, loading (no Keras);
- :mod:`eventcnn.opal.physics`: Z branching fractions, the predicted overview (no Keras);
- :mod:`eventcnn.opal.model`: the CNN, the training recipes, prediction, evaluation;
- :mod:`eventcnn.opal.tta`: test-time augmentation (the default prediction of the rest from random weights; one pass after fine-tuning from pretrained ones);
- :mod:`eventcnn.opal.semi`: self-training with pseudo-labels of the unlabelled displays;
- :mod:`eventcnn.opal.workflow`: :func:`masterclass`, the whole exercise in one call;
- :mod:`eventcnn.opal.web` (not imported here): the class in the browser, ``eventcnn class``.

Not re-exported (import them by name): :mod:`eventcnn.opal.simulate` (simulated
displays: Pythia 8 + an OPAL-like detector, ``eventcnn opal simulate``),
:mod:`eventcnn.opal.pretrain` (``eventcnn opal pretrain``) and
:mod:`eventcnn.opal.weights` (the shipped simulation-pretrained weights,
sha256-checked; ``train(..., weights="sim")``).

The main functions:

- :func:`load_displays`: images from a zip or a folder plus a masterclass label
  file (``<event>.png;<label>``), as one ``uint8`` array, with a report of every
  image or label that could not be matched.
- :func:`build_model`: the masterclass network (204,100 parameters).
- :func:`train`: the original recipe (rotated + mirrored copies, leptons
  multiplied) generated lazily per batch, or our default (on-the-fly augmentation
  inside the model, balanced sampling, early stopping).
- :func:`predict`, :func:`write_predictions`, :func:`expected_fractions`,
  :func:`predicted_overview`.

Keras is imported only inside the functions that need it, and images stay
``uint8`` everywhere (the original notebook needed 8 GB for float64 copies).

Example::

    from eventcnn import opal
    data = opal.load_displays("centered-masked-rotated1.zip", "events_list.csv")
    result = opal.train(data.images, data.labels, recipe="default", seed=1)
    probs = opal.predict(result.model, data.images)
"""

from __future__ import annotations

from eventcnn.opal import displays, model, physics, semi, tta, workflow
from eventcnn.opal.displays import *  # noqa: F403
from eventcnn.opal.model import *  # noqa: F403
from eventcnn.opal.physics import *  # noqa: F403
from eventcnn.opal.semi import *  # noqa: F403
from eventcnn.opal.tta import *  # noqa: F403
from eventcnn.opal.workflow import *  # noqa: F403

__all__ = [*displays.__all__, *physics.__all__, *model.__all__, *semi.__all__, *tta.__all__, *workflow.__all__]
