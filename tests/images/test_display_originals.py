"""The full displays by name (``class serve --originals``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from PIL import Image

from eventcnn.errors import UserError
from eventcnn.images.display_originals import DisplayOriginals


def _gif(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    Image.new("RGB", size, colour).convert("P", palette=Image.Palette.ADAPTIVE).save(path)


def test_a_display_by_name_full_size_and_none_for_others(tmp_path: Path) -> None:
    _gif(tmp_path / "e5293_10479.gif", (59, 61), (0, 0, 255))
    _gif(tmp_path / "z5293_11894.gif", (40, 30), (255, 255, 0))
    (tmp_path / "readme.txt").write_text("not a display")
    originals = DisplayOriginals(tmp_path)
    assert originals.names == {"e5293_10479", "z5293_11894"} and len(originals) == 2
    rgb = originals("e5293_10479")
    assert rgb.shape == (61, 59, 3) and tuple(rgb[0, 0]) == (0, 0, 255)
    assert originals("e5293_99999") is None
    assert [m for m, _ in originals.skipped] == ["readme.txt"]


def test_damaged_displays_are_named_and_counted(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    Image.effect_noise((120, 120), 60).convert("P").save(buf, format="GIF")
    whole = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "full.zip", "w") as zf:
        zf.writestr("full/e1_1.gif", b"GIF89a not really")  # no image header: skipped when opened
        zf.writestr("full/e1_2.gif", whole[: len(whole) // 3])  # a header, cut pixels
        zf.writestr("full/e1_3.gif", whole)
    originals = DisplayOriginals(tmp_path / "full.zip")
    assert originals.names == {"e1_3"} and [m for m, _ in originals.skipped] == ["e1_1", "e1_2"]
    assert originals("e1_3").shape == (120, 120, 3) and originals("e1_2") is None


def test_a_set_without_displays_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "e1_1.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(UserError, match="no readable OPAL display.*e1_1"):
        DisplayOriginals(tmp_path)


def test_the_manchester_set_has_every_labelled_display_in_full(shared_data: Path) -> None:
    from eventcnn.opal.displays import load_displays

    full = shared_data / "opal_manchester" / "z_displays.zip"
    crops = shared_data / "opal" / "centered-masked-rotated1.zip"
    if not (full.exists() and crops.exists()):
        pytest.skip(f"{full} or {crops} not found: the shared OPAL data are needed")
    originals = DisplayOriginals(full)
    names = {str(n) for n in load_displays(crops, None, size=32, quiet=True).names}
    assert len(names) == 497 and names <= originals.names  # the same event names
    assert originals(sorted(names)[0]).shape == (594, 590, 3)
