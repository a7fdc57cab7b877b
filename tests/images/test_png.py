"""eventcnn.images.png: the PNG encoder and the completeness check."""

from __future__ import annotations

import numpy as np
from PIL import Image

from eventcnn.images.png import encode_png, png_looks_complete


def test_encode_png_is_lossless():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    import io

    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(img)))), img)


def test_png_looks_complete(tmp_path):
    data = encode_png(np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "ok.png").write_bytes(data)
    (tmp_path / "cut.png").write_bytes(data[:-5])
    (tmp_path / "empty.png").write_bytes(b"")
    assert png_looks_complete(tmp_path / "ok.png")
    assert not any(png_looks_complete(tmp_path / n) for n in ("cut.png", "empty.png", "missing.png"))
