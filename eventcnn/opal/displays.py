"""The masterclass's displays: re-exported from :mod:`eventcnn.images.opal_displays`, where they are read.

Reading the display files and label files is the images floor's job (the
learning stack reads OPAL runs' displays too); the masterclass and its
classroom import these names from here or from :mod:`eventcnn.opal`.
"""

from __future__ import annotations

from eventcnn.images import opal_displays
from eventcnn.images.opal_displays import *  # noqa: F403

__all__ = list(opal_displays.__all__)
