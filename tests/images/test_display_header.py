"""Tests of eventcnn.images.display_header: reading the header of OPAL displays from the pixels.

Synthetic displays: glyphs of the shipped font pasted into a blue box, then a
track drawn across a digit (reported hidden, never guessed) or a yellow mark
over one (unreadable). Real displays (../shared/data, skipped when absent): known
headers, and a zoomed display whose header a detector circle crosses.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from eventcnn.errors import UserError
from eventcnn.images import display_header as H
from eventcnn.images.manchester import decode_display_rgb, iter_display_files

LINE1 = "Run:event 5293: 10479     Ctrk(N=  2 Sump= 89.4) Ecal(N=  4 SumE= 93.0)"
LINE2 = "Ebeam 45.600 Vtx (-0.03, 0.04, 0.66) Hcal(N= 2 SumE=  0.3) Muon(N= 0)"


def _glyphs() -> dict[str, np.ndarray]:
    """One bitmap per character from the shipped templates (a 7-column variant where there is one:
    the header's characters are 7.1-7.3 columns apart)."""
    obj = json.loads(H.GLYPHS_FILE.read_text())
    out: dict[str, np.ndarray] = {}
    for g in obj["glyphs"]:
        bm = np.array([[c == "#" for c in r] for r in g["rows"]])
        if g["char"] not in out or (bm.shape[1] == 7 and out[g["char"]].shape[1] != 7):
            out[g["char"]] = bm
    return out


def render(line1: str = LINE1, line2: str = LINE2, scale: int | None = 200) -> np.ndarray:
    """A display with this header (yellow glyphs on the blue box) and, optionally, the scale label."""
    glyphs = _glyphs()
    rgb = np.zeros((590, 590, 3), np.uint8)
    rgb[3:48, 5:523] = 255  # the box's white frame
    rgb[5:46, 7:521] = (0, 0, 255)
    for text, top in ((line1, 5 + 5), (line2, 5 + 25)):
        x = 7 + 9
        for ch in text:
            bm = glyphs[ch] if ch != " " else np.zeros((14, 7), bool)
            region = rgb[top: top + 14, x: x + bm.shape[1]]
            region[bm] = (255, 255, 0)
            x += bm.shape[1]
    if scale is not None:
        obj = json.loads(H.GLYPHS_FILE.read_text())
        label = next(np.array([[c == "#" for c in r] for r in s["rows"]]) for s in obj["scale_labels"]
                     if s["cm"] == scale)
        rgb[573, 250:342] = 255
        rgb[573 - 4 - label.shape[0]: 573 - 4, 270: 270 + label.shape[1]][label] = 255
    return rgb


@pytest.fixture(scope="module")
def font() -> H.Font:
    return H.load_font()


def test_a_clean_header_is_read_exactly(font: H.Font) -> None:
    r = H.read_header(render(), "e5293_10479", font)
    assert (r.run, r.event, r.ctrk_n, r.ctrk_sump, r.ecal_n, r.ecal_sume) == (5293, 10479, 2, 89.4, 4, 93.0)
    assert (r.hcal_n, r.hcal_sume, r.muon_n, r.ebeam) == (2, 0.3, 0, 45.6)
    assert r.vertex == (-0.03, 0.04, 0.66)
    assert r.scale_cm == 200 and r.error == "" and r.hidden == [] and r.matches_name is True
    assert " ".join(r.lines[1].split()) == " ".join(LINE2.split())  # commas told from full stops by the layout


def test_the_other_number_formats(font: H.Font) -> None:
    line1 = "Run:event 5297:206977    Ctrk(N= 24 Sump= 67.3) Ecal(N= 19 SumE= 35.9)"
    line2 = "Ebeam 45.602 Vtx ( -.03,  .07, 1.46) Hcal(N=17 SumE= 29.1) Muon(N= 1)"
    r = H.read_header(render(line1, line2, scale=100), "z5297_206977", font)
    assert (r.run, r.event, r.ctrk_n, r.ecal_n, r.hcal_n, r.muon_n) == (5297, 206977, 24, 19, 17, 1)
    assert r.vertex == (-0.03, 0.07, 1.46) and r.scale_cm == 100 and r.matches_name


def test_a_track_that_leaves_a_digit_readable_does_not_hide_it(font: H.Font) -> None:
    im = Image.fromarray(render())
    ImageDraw.Draw(im).line((150, 0, 164, 60), fill=(255, 255, 255), width=1)  # a thin line across '79'
    r = H.read_header(np.asarray(im), "e5293_10479", font)
    assert r.event == 10479  # the visible pixels still single the digits out


def test_a_track_across_a_digit_is_reported_hidden_never_guessed(font: H.Font) -> None:
    rgb = render()
    im = Image.fromarray(rgb)
    d = ImageDraw.Draw(im)
    d.line((152, 0, 152, 60), fill=(255, 0, 0), width=6)  # a red track down the '7' of the event number
    r = H.read_header(np.asarray(im), "e5293_10479", font)
    assert r.event is None and "hidden by a track" in r.problems["event"]
    assert r.run == 5293 and r.ctrk_n == 2  # the rest is read
    assert any("(event, hidden)" in h for h in r.hidden)
    assert "event: hidden by a track" in r.error and r.matches_name is False


def test_a_yellow_mark_over_a_digit_is_unreadable_not_guessed(font: H.Font) -> None:
    rgb = render()
    rgb[14:22, 495:503] = (255, 255, 0)  # a yellow blob over '93.0' (Ecal SumE)
    r = H.read_header(rgb, "e5293_10479", font)
    assert r.ecal_sume is None and "ecal_sume" in r.problems
    assert r.ctrk_sump == 89.4


def test_no_header_box_is_said_for_every_field(font: H.Font) -> None:
    rgb = render()
    rgb[:50] = 0
    r = H.read_header(rgb, "e5293_10479", font)
    assert r.run is None and "no header box" in r.problems["run"]


def test_scale_without_a_bar_or_label(font: H.Font) -> None:
    assert H.read_scale(render(scale=None), font) == (None, "no scale bar with a label found")


def test_csv_columns_are_exactly_those_promised(tmp_path: Path, font: H.Font) -> None:
    reads = [H.read_header(render(), "e5293_10479", font)]
    path = H.write_header_csv(tmp_path / "h.csv", reads)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:13] == ["display", "view", "run", "event", "ctrk_n", "ctrk_sump", "ecal_n",
                                  "ecal_sume", "hcal_n", "hcal_sume", "muon_n", "ebeam", "error"]
    assert rows[0]["run"] == "5293" and rows[0]["error"] == "" and rows[0]["matches_name"] == "yes"


def test_name_numbers() -> None:
    assert H.name_numbers("z5293_10479") == (5293, 10479)
    assert H.name_numbers("sj7639_62338.gif") == (7639, 62338)
    assert H.name_numbers("picture") is None


def test_malformed_glyph_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "g.json"
    bad.write_text(json.dumps({"height": 14, "glyphs": [{"char": "ab", "rows": ["#"]}]}))
    with pytest.raises(UserError, match="malformed"):
        H.load_font(str(bad))


# --------------------------------------------------------------------------- real displays


@pytest.fixture(scope="module")
def displays(shared_data: Path) -> dict[str, bytes]:
    path = shared_data / "opal_manchester" / "z_displays.zip"
    if not path.is_file():
        pytest.skip(f"{path} not found: the Manchester displays are part of the shared development data")
    wanted = {"e5293_10479", "z5305_856", "z5293_34932", "z5293_6126"}
    return {n: d for n, d in iter_display_files(path)[0] if n in wanted}


@pytest.mark.shared_data
def test_real_headers_read_as_a_person_reads_them(displays: dict[str, bytes], font: H.Font) -> None:
    r = H.read_header(decode_display_rgb(displays["z5305_856"]), "z5305_856", font)
    assert (r.run, r.event, r.ctrk_n, r.ctrk_sump, r.ecal_n, r.ecal_sume) == (5305, 856, 34, 63.5, 47, 48.5)
    assert (r.hcal_n, r.hcal_sume, r.muon_n, r.ebeam, r.vertex) == (19, 22.4, 1, 45.595, (-0.02, 0.05, 0.55))
    assert r.scale_cm == 200 and r.view == "end"
    z = H.read_header(decode_display_rgb(displays["z5293_34932"]), "z5293_34932", font)
    assert z.scale_cm == 100  # the zoomed display
    assert (z.ctrk_n, z.ctrk_sump, z.ecal_n) == (33, 45.7, 45)


@pytest.mark.shared_data
def test_real_decimal_points_are_read_not_taken_for_blanks(displays: dict[str, bytes], font: H.Font) -> None:
    # e5293_10479, read by a person: 'Ebeam 45.600 Vtx (-0.03, 0.04, 0.66) Hcal(N= 2 SumE=  0.3)'; its 3-pixel
    # decimal points differ from the '.' template by 2 pixels and from a blank by 3
    r = H.read_header(decode_display_rgb(displays["e5293_10479"]), "e5293_10479", font)
    assert (r.ebeam, r.vertex, r.hcal_n, r.hcal_sume) == (45.6, (-0.03, 0.04, 0.66), 2, 0.3)


@pytest.mark.shared_data
def test_a_real_track_over_the_header(displays: dict[str, bytes], font: H.Font) -> None:
    # z5293_6126: red muon-chamber hits are drawn over 'Ctrk(N=' in line 1
    r = H.read_header(decode_display_rgb(displays["z5293_6126"]), "z5293_6126", font)
    assert r.run == 5293 and r.event == 6126
    assert r.ctrk_n == 2 or "ctrk_n" in r.problems  # read where the pixels allow it, else said
