"""Test-time augmentation for OPAL end-view displays: average over rotated and mirrored copies.

End views may be rotated freely about the beam axis and mirrored (symmetries of
the physics: the beams define the only axis), so the CNN's answer should not
depend on the angle. Averaging its probabilities over the display and
``copies - 1`` rotated copies (equal angle steps, every other copy mirrored)
steadies small-label-set models: with 50 suggested labels (5 rounds of 10) the
balanced accuracy on the displays not labelled went from 0.841 to 0.891 on
average over 5 seeds, and from 0.825 +- 0.076 to 0.867 +- 0.027 for one batch of 50
(``bench/opal_active.py``, ``bench/opal_tta.py``, docs/benchmarks.md), at
``copies`` times the prediction time (seconds for 447 displays). It is the
default of ``eventcnn opal train`` and ``eventcnn opal predict`` for a network
trained from random weights. A network fine-tuned from the simulation-pretrained
weights (the default of ``opal train`` for 200 px displays) predicts in one pass
by default: it learned the symmetries from simulation, and TTA cost it there
(50 suggested labels, 5 seeds: 0.954 one pass vs 0.952 TTA; 5-fold
cross-validation on all labels: 0.965 vs 0.932; :func:`default_tta`).
``--tta`` / ``--no-tta`` decide explicitly.

Example::

    from eventcnn.opal import tta
    probs = tta.predict_tta(result.model, data.images, copies=8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.opal.model import predict, rotate_images

__all__ = ['TTA_COPIES', 'default_tta', 'predict_tta']

#: copies in the average (the display and 7 rotations by 45-degree steps)
TTA_COPIES = 8


def default_tta(weights: str | None) -> bool:
    """Whether predictions average :data:`TTA_COPIES` copies when nobody says: the starting ``weights`` decide.

    ``None`` / ``"none"`` (trained from random weights): TTA, which steadied
    small label sets. Pretrained weights (``"sim"`` or a ``.weights.h5``): one
    pass, measured as good or better with the simulation-pretrained CNN
    (docs/benchmarks.md, "Third pass").

    Example::

        default_tta("sim"), default_tta(None)   # (False, True)
    """
    return weights is None or str(weights).lower() == "none"


def predict_tta(model: Any, images: np.ndarray, copies: int = TTA_COPIES,
                batch_size: int = 16) -> np.ndarray:
    """Class probabilities ``(N, 4)`` averaged over ``copies`` rotated/mirrored copies.

    Copy ``k`` (``k = 0 .. copies-1``) is rotated by ``k * 360 / copies``
    degrees and mirrored when ``k`` is odd; ``copies=1`` is
    :func:`eventcnn.opal.predict`.

    Example::

        probs = predict_tta(model, images[:10], copies=4)
    """

    if copies < 1:
        raise UserError(f"copies must be >= 1, got {copies}")
    images = np.asarray(images)
    total = predict(model, images, batch_size=batch_size).astype(np.float64)
    step = 8 * batch_size  # rotated copies made a chunk at a time: a few MB, not a copy of all images
    for k in range(1, copies):
        for i in range(0, len(images), step):
            chunk = images[i:i + step]
            angles = np.full(len(chunk), k * 360.0 / copies)
            mirror = np.full(len(chunk), k % 2 == 1)
            total[i:i + step] += predict(model, rotate_images(chunk, angles, mirror), batch_size=batch_size)
    return (total / copies).astype(np.float32)
