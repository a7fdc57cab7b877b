"""The masterclass's starting weights: re-exported from :mod:`eventcnn.learn.weights`, the one registry.

The simulation-pretrained masterclass CNN ships as ``opal_sim`` among the
weights of every network (``resolve_weights("sim", "masterclass")``);
``eventcnn opal train`` starts from it by default (:data:`DEFAULT_WEIGHTS`,
:func:`default_weights`).
"""

from __future__ import annotations

from eventcnn.learn.weights import (
    DEFAULT_WEIGHTS,
    check_weights_size,
    default_weights,
    resolve_weights,
    weights_image_size,
)

__all__ = ["DEFAULT_WEIGHTS", "check_weights_size", "default_weights", "resolve_weights", "weights_image_size"]
