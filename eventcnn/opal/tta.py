"""Test-time augmentation of the masterclass: re-exported from :mod:`eventcnn.learn.predict`, its home.

End views may be rotated about the beam axis and mirrored without changing the
physics; :func:`predict_tta` averages the CNN over such copies of each display
(:data:`TTA_COPIES`), the default for a network trained from random weights
(:func:`default_tta`).
"""

from __future__ import annotations

from eventcnn.learn.predict import TTA_COPIES, default_tta, predict_tta

__all__ = ["TTA_COPIES", "default_tta", "predict_tta"]
