"""The full OPAL displays by name, for people to look at while the CNN reads its crops.

``eventcnn class serve --originals z_displays.zip`` shows students the original
display (full resolution, header included) wherever the set has one of the same
name as a display of the class (the Manchester displays and the masterclass's
crops share their event names).
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from eventcnn.errors import UserError, few_names
from eventcnn.images.manchester import MAX_DISPLAY_SIDE, decode_display_rgb, iter_display_files

__all__ = ["DisplayOriginals"]


class DisplayOriginals:
    """The full displays of a zip or folder, by name: checked when opened, decoded when asked for.

    Calling it with a display's name gives the RGB array, or None when the set
    has no display of that name. Every file is decoded once when the set is
    opened (about 1 s for the 997 Manchester displays): files that are not
    readable displays are listed in :attr:`skipped` with the reason, and a set
    with none is refused.

    Example::

        originals = DisplayOriginals("z_displays.zip")
        originals("e5293_10479").shape      # (594, 590, 3)
        originals("no-such-display")        # None
    """

    def __init__(self, source: str | os.PathLike[str]) -> None:
        files, self.skipped = iter_display_files(source)
        self._files: dict[str, bytes] = {}
        for name, data in files:
            reason = _unreadable(data)
            if reason:
                self.skipped.append((name, reason))
            else:
                self._files[name] = data
        if not self._files:
            why = f": {few_names([f'{m} ({r})' for m, r in self.skipped])}" if self.skipped else ""
            raise UserError(f"{source}: no readable OPAL display in it{why}; give the zip or folder of the full "
                            "displays (eventcnn data fetch manchester downloads them)")
        self.source = str(source)

    @property
    def names(self) -> frozenset[str]:
        """The names of the displays in the set."""
        return frozenset(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __call__(self, name: str) -> np.ndarray | None:
        data = self._files.get(name)
        if data is None:
            return None
        return decode_display_rgb(data, f"{self.source}: {name}")  # decoded once already when opened


def _unreadable(data: bytes) -> str:
    """Why ``data`` is not a readable display (its pixels are decoded), or ``""``."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if max(im.size) > MAX_DISPLAY_SIDE:
                return f"{im.size[0]} x {im.size[1]} pixels is not an OPAL display"
            im.load()
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"not a readable image ({exc})"
    return ""
