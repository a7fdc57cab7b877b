"""PNG files of drawn images: a fast lossless encoder and a cheap completeness check.

Example::

    >>> from eventcnn.images.png import encode_png
    >>> encode_png(np.zeros((2, 2, 3), np.uint8))[:8]          # doctest: +SKIP
    b'\\x89PNG\\r\\n\\x1a\\n'
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

try:  # ISA-L's deflate: the same format, about 6x faster than zlib at level 1 (eventcnn[scale])
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - depends on the installation
    _deflate = zlib

from eventcnn.errors import UserError

__all__ = ["encode_png", "png_looks_complete"]


def encode_png(image: np.ndarray, compress_level: int = 1) -> bytes:
    """Lossless PNG bytes of a uint8 RGB image ``(h, w, 3)``.

    A minimal encoder (filter type 0, deflate level 1): about 4x faster than
    Pillow's for these mostly-white images with zlib, 6x more with ISA-L
    (``isal``, in ``eventcnn[scale]``) when installed; any PNG reader decodes it
    to exactly the same pixels (the bytes depend on which deflate library ran).
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"expected an RGB image of shape (h, w, 3), got {image.shape}")
    h, w, _ = image.shape
    raw = np.zeros((h, w * 3 + 1), dtype=np.uint8)  # first byte per row: filter type 0
    raw[:, 1:] = image.reshape(h, w * 3)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", _deflate.compress(raw.data, compress_level)),
        _chunk(b"IEND", b""),
    ))


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_MIN_SIZE = len(_PNG_SIGNATURE) + 25 + 12 + len(_PNG_IEND)  # + IHDR + empty IDAT + IEND


def png_looks_complete(path: str | os.PathLike[str]) -> bool:
    """Cheap check of a PNG on disk: plausible size, PNG signature, ``IEND`` trailer.

    Reads 8 + 12 bytes, so a re-run can check thousands of images quickly; a
    0-byte, truncated or foreign file gives ``False``.

    Example::

        >>> png_looks_complete("CreatedImages/ttjets/ttjets_event_1.png")  # doctest: +SKIP
        True
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < _PNG_MIN_SIZE or fh.read(8) != _PNG_SIGNATURE:
                return False
            fh.seek(size - len(_PNG_IEND))
            return fh.read(len(_PNG_IEND)) == _PNG_IEND
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False
