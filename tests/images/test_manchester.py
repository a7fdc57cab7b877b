"""Tests of eventcnn.images.manchester: reading the Manchester displays, their view, the masterclass crop.

Small synthetic displays for the files and the geometry; the real displays
(../shared/data/opal_manchester, skipped with a reason when absent) for the
views (against the examples' x/s names) and the crop (against the published crops).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from eventcnn.errors import UserError
from eventcnn.images import manchester as M


def synthetic_display(view: str = "end", size: int = 590) -> np.ndarray:
    """A display drawn like the masterclass ones: blue header box, white detector, scale bar."""
    im = Image.new("RGB", (size, size), (0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rectangle((5, 3, 522, 47), outline=(255, 255, 255))
    d.rectangle((7, 5, 520, 45), fill=(0, 0, 255))
    cx, cy = size // 2 - 2, 304
    if view == "end":
        for r in (87, 112, 150, 232):
            d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(255, 255, 255))
        d.line((cx - 60, cy - 80, cx + 60, cy + 80), fill=(255, 255, 0))  # a track, yellow
        d.rectangle((cx + 70, cy + 95, cx + 80, cy + 110), outline=(0, 255, 0))
    else:
        for y in (150, 190, 420, 460):
            d.line((110, y, 470, y), fill=(255, 255, 255))
        d.line((200, 210, 200, 400), fill=(255, 255, 255))
    d.line((250, size - 18, 340, size - 18), fill=(255, 255, 255))  # scale bar
    return np.asarray(im)


def _gif(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(buf, "GIF")
    return buf.getvalue()


def test_layout_finds_the_header_box_and_the_scale_bar() -> None:
    rgb = synthetic_display()
    layout = M.display_layout(rgb)
    assert layout.header == (5, 45, 7, 520)
    assert layout.legend_top == 590 - 18 - 22
    assert M.scale_bar(rgb) == (572, 250, 340)


def test_views_of_synthetic_displays() -> None:
    assert M.detect_view(synthetic_display("end")) == "end"
    assert M.detect_view(synthetic_display("side")) == "side"
    assert M.view_evidence(synthetic_display("side")) > 0.5


def test_files_from_zip_and_folder_sorted_with_reasons(tmp_path: Path) -> None:
    gif = _gif(synthetic_display())
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("sub/x7575_2.gif", gif)
        zf.writestr("a1_1.gif", gif)
        zf.writestr("notes.txt", b"hello")
        zf.writestr("__MACOSX/._a1_1.gif", b"junk")
    files, skipped = M.iter_display_files(z)
    assert [n for n, _ in files] == ["a1_1", "x7575_2"]
    assert skipped == [("notes.txt", "not a display (.gif/.png/.jpg/.jpeg)")]
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "b.gif").write_bytes(gif)
    (folder / ".hidden.gif").write_bytes(gif)
    assert [n for n, _ in M.iter_display_files(folder)[0]] == ["b"]


def test_two_files_of_one_name_are_an_error(tmp_path: Path) -> None:
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a/e1_1.gif", b"x")
        zf.writestr("b/e1_1.gif", b"y")
    with pytest.raises(UserError, match="both display 'e1_1'"):
        M.iter_display_files(z)


def test_broken_file_is_skipped_with_its_name(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "e1_1.gif").write_bytes(_gif(synthetic_display()))
    (folder / "e2_2.gif").write_bytes(b"GIF89a truncated")
    d = M.load_manchester(folder)
    assert d.names.tolist() == ["e1_1"]
    assert d.skipped[0][0] == "e2_2" and "not a readable image" in d.skipped[0][1]


def test_not_a_zip_or_missing_is_clear(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(UserError, match="neither a folder nor a zip"):
        M.iter_display_files(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match="eventcnn data fetch manchester"):
        M.iter_display_files(tmp_path / "nope.zip")


def test_crop_of_a_synthetic_end_view_is_centred_and_axis_vertical() -> None:
    rgb = synthetic_display("end")
    crop = M.masterclass_crop(rgb)
    assert crop.shape == (200, 200, 3) and crop.dtype == np.uint8
    white = (crop.min(axis=2) > 60) & (np.ptp(crop, axis=2) < 10)
    assert white.sum() < 40  # the grey detector circles are masked
    lit = np.argwhere(crop.max(axis=2) > 40)
    yellow = lit[(crop[lit[:, 0], lit[:, 1], 0] > 40) & (crop[lit[:, 0], lit[:, 1], 2] < 20)]
    assert np.ptp(yellow[:, 1]) < 8 and np.ptp(yellow[:, 0]) > 50  # the track now runs vertically
    assert abs(yellow[:, 1].mean() - 99.5) < 3  # through the centre


def test_crop_of_a_side_view_is_refused() -> None:
    d = M.ManchesterDisplays(np.array(["s1_1"]), [synthetic_display("side")], np.array(["side"]))
    with pytest.raises(M.CropError, match="side view"):
        d.crop("s1_1")


def test_warp_matches_opencv_rule_for_a_quarter_turn() -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    img[50, 120] = 255
    out = M._warp_rotate(img, 90)  # counter-clockwise about (100, 100), as cv2.getRotationMatrix2D
    assert tuple(np.argwhere(out[..., 0] == 255)[0]) == (80, 50)


# --------------------------------------------------------------------------- real displays


@pytest.fixture(scope="module")
def manchester(shared_data: Path) -> Path:
    path = shared_data / "opal_manchester"
    if not (path / "examples.zip").is_file():
        pytest.skip(f"{path} lacks the Manchester displays (examples.zip)")
    return path


@pytest.mark.shared_data
def test_views_agree_with_the_examples_names(manchester: Path) -> None:
    d = M.load_manchester(manchester / "examples.zip")
    with open(manchester / "examples.csv", newline="") as fh:
        names = [Path(r["file_name"]).stem for r in csv.DictReader(fh)]
    by_name = dict(zip(d.names, d.views))
    for n in names:
        if n.startswith("x"):
            assert by_name[n] == "end", n
        elif n.startswith("s"):
            assert by_name[n] == "side", n
    assert len(d) == 43


@pytest.mark.shared_data
def test_crop_is_close_to_the_published_one(manchester: Path, shared_data: Path) -> None:
    names = ["e5293_10479", "z5305_856", "z5293_3267"]
    d = M.load_manchester(manchester / "z_displays.zip", names=names, crops=True)
    with zipfile.ZipFile(shared_data / "opal" / "centered-masked-rotated1.zip") as zf:
        for n in names:
            member = f"centered-masked-rotated1/final/finalcenteredmaskedrotatedopencv{n}.png"
            ref = np.asarray(Image.open(io.BytesIO(zf.read(member))).convert("RGB"), dtype=np.int16)
            ours = d.crop(n).astype(np.int16)
            # a tolerance, not identity: the published input images are not public (bench/opal_crop.py)
            assert np.abs(ours - ref).mean() < 1.5, n
            lit_ref, lit_ours = ref.max(axis=2) > 30, ours.max(axis=2) > 30
            assert (lit_ref & lit_ours).sum() > 0.4 * lit_ref.sum(), n  # the same event, same orientation
