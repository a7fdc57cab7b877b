"""Opaque display ids: re-exported from :mod:`eventcnn.images.display_ids`, their home.

Label files and ``predictions.csv`` name displays by id; the images floor reads
them (so the learning stack can), the masterclass writes and maps them.
"""

from __future__ import annotations

from eventcnn.images import display_ids as _home
from eventcnn.images.display_ids import *  # noqa: F403

__all__ = list(_home.__all__)
