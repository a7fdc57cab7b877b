"""Tests of eventcnn.images.opal_displays: loading displays and label files, what is reported, label checks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import display_image
from PIL import Image

from eventcnn.cli import main
from eventcnn.errors import UserError
from eventcnn.images import opal_displays as od
from eventcnn.images.opal_displays import load_displays, read_labels


@pytest.fixture()
def zip_of_displays(tmp_path):
    path = tmp_path / "displays.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(6):
            buf = io.BytesIO()
            Image.new("RGB", (40, 40), (i * 40, 0, 0)).save(buf, format="PNG")
            zf.writestr(f"final/z{i}.png", buf.getvalue())
    return path


def test_truncated_empty_and_wrong_zips(zip_of_displays, tmp_path, capsys):
    blob = zip_of_displays.read_bytes()
    (tmp_path / "cut.zip").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(UserError, match=r"cut.zip: truncated or corrupt zip file .* fetch it again"):
        load_displays(tmp_path / "cut.zip", size=32)
    (tmp_path / "empty.zip").write_bytes(b"")
    with pytest.raises(UserError, match="empty.zip: the file is empty"):
        load_displays(tmp_path / "empty.zip", size=32)
    Image.new("RGB", (8, 8)).save(tmp_path / "one.png")
    with pytest.raises(UserError, match="one image, not a zip or folder"):
        load_displays(tmp_path / "one.png", size=32)
    assert main(["opal", "suggest", "--data", str(tmp_path / "cut.zip")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "truncated or corrupt zip file" in err and "neither" not in err


def test_a_folder_given_as_label_file(zip_of_displays, tmp_path, capsys):
    folder = tmp_path / "labels"
    folder.mkdir()
    with pytest.raises(UserError, match="label file .*labels is a folder, not a file"):
        read_labels(folder)
    for argv in (["opal", "suggest", "--data", str(zip_of_displays), "--labels", str(folder)],
                 ["opal", "train", "--data", str(zip_of_displays), "--labels", str(folder),
                  "--out", str(tmp_path / "run"), "--size", "64"],
                 ["opal", "label", "--data", str(zip_of_displays), "--labels", str(folder)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is a folder" in err and "not found" not in err, err


def test_load_real_zip(opal_zip: Path, opal_labels: Path) -> None:
    data = od.load_displays(opal_zip, opal_labels, quiet=True)
    assert data.images.shape == (497, 200, 200, 3)
    assert data.images.dtype == np.uint8
    assert data.counts() == {"q": 431, "e": 18, "m": 26, "t": 22}
    assert data.report.ok, data.report.summary()
    # the zip names carry the prefix; the event names do not
    assert not any(n.startswith("final") or n.endswith(".png") for n in data.names)
    labels = od.read_labels(opal_labels)
    table = {k[:-4]: v for k, v in labels.items()}
    assert all(table[n] == lab for n, lab in zip(data.names, data.labels))


def test_load_folder_formats_and_report(opal_folder: tuple[Path, Path]) -> None:
    d, labels = opal_folder
    with pytest.warns(UserWarning, match="without a label"):
        data = od.load_displays(d, labels, quiet=True)
    assert data.images.shape == (6, 200, 200, 3) and data.images.dtype == np.uint8
    assert sorted(data.names) == ["ev1", "ev2", "ev3", "ev4", "ev5", "ev6"]
    got = dict(zip(data.names, data.labels))
    assert got == {"ev1": "q", "ev2": "e", "ev3": "m", "ev4": "t", "ev5": "q", "ev6": ""}
    assert data.report.unmatched_images == ["ev6"]
    assert data.report.unmatched_labels == ["ev7.png"]
    assert data.labelled.sum() == 5 and data.counts() == {"q": 2, "e": 1, "m": 1, "t": 1}
    ev4 = data.images[list(data.names).index("ev4")]
    assert ev4[150, 150].tolist() == [0, 0, 0]  # transparent part composited on black
    assert ev4[20, 20].tolist() == [255, 255, 255]
    ev2 = data.images[list(data.names).index("ev2")]
    assert ev2[:, :, 1].max() > 200 and ev2[:, :, 0].max() < 50  # palette GIF decoded to green


def test_load_zip_skips_dirs_and_rejects_huge(tmp_path: Path, monkeypatch) -> None:
    z = tmp_path / "d.zip"
    buf = tmp_path / "a.png"
    display_image((255, 0, 0)).save(buf)
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("top/", "")
        zf.write(buf, "top/final/finalcenteredmaskedrotatedopencvz1_2.png")
        zf.writestr("__MACOSX/._x.png", b"junk")
        zf.writestr("top/broken.png", b"not a png")
    with pytest.warns(UserWarning, match="skipped"):
        data = od.load_displays(z, quiet=True)
    assert list(data.names) == ["z1_2"] and data.labels is None
    assert data.report.skipped[0][0] == "top/broken.png"
    assert not (tmp_path / "top").exists()  # nothing extracted
    monkeypatch.setattr(od, "MAX_MEMBER_BYTES", 100)
    # nothing readable is left: an error naming every reason (the oversized display is not read, not dropped
    # silently, and no empty set of displays is returned as if the zip held none)
    with pytest.raises(UserError, match=r"none of its 2 display file\(s\) could be read: .*z1_2\.png.* more than"):
        od.load_displays(z, quiet=True)


def test_corrupt_zip_member_is_reported(tmp_path: Path) -> None:
    z = tmp_path / "c.zip"
    buf = tmp_path / "a.png"
    display_image((0, 255, 0)).save(buf)
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.write(buf, "ev1.png")
        zf.write(buf, "ev2.png")
    raw = bytearray(z.read_bytes())
    at = raw.index(b"IDAT") + 8  # flip a byte inside the second member's data: CRC fails
    at = raw.index(b"IDAT", at) + 8
    raw[at] ^= 0xFF
    z.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="skipped"):
        data = od.load_displays(z, quiet=True)
    assert list(data.names) == ["ev1"]
    assert data.report.skipped[0][0] == "ev2.png"


def test_crop_box(tmp_path: Path) -> None:
    im = Image.new("RGB", (400, 300), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 200, 300))  # left half white ("logo")
    im.save(tmp_path / "raw1.png")
    full = od.load_displays(tmp_path, quiet=True)
    cropped = od.load_displays(tmp_path, crop=(200, 0, 400, 300), quiet=True)
    assert full.images.max() == 255 and cropped.images.max() == 0
    with pytest.raises(ValueError, match="crop box"):
        od.load_displays(tmp_path, crop=(0, 0, 500, 300), quiet=True)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a.png;q\nb.png;q\nc.png;x\n", r"labels\.csv:3: field 'label'"),
        ("a.png;q\nb.png q\n", r"labels\.csv:2: expected 2 fields"),
        ("a.png;q\n;e\n", r"labels\.csv:2: field 'event' is empty"),
        ("a.png;q\na.png;e\n", r"labels\.csv:2: field 'event' 'a.png' repeats line 1"),
    ],
)
def test_bad_label_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(od.LabelFormatError, match=match):
        od.read_labels(path)


def test_missing_source_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fetch"):
        od.load_displays(tmp_path / "nope.zip")


def test_match_names_longest_suffix() -> None:
    got = od.match_names(["opencvz5_11", "x1", "y"], ["z5_11.png", "5_11.png", "1.png"])
    assert got == ["z5_11.png", "1.png", None]


def test_zip_members_with_the_same_event_name_are_refused(tmp_path: Path) -> None:
    z = tmp_path / "d.zip"
    buf = tmp_path / "a.png"
    display_image((255, 0, 0)).save(buf)
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(buf, "set1/ev1.png")
        zf.write(buf, "set2/finalcenteredmaskedrotatedopencvev1.png")
    with pytest.raises(ValueError, match=r"members 'set1/ev1.png' and 'set2/finalcenteredmaskedrotatedopencvev1.png'"
                                         r" are both event 'ev1'"):
        od.load_displays(z, quiet=True)


def test_folder_skips_hidden_copies_and_names_other_files(opal_folder: tuple[Path, Path]) -> None:
    d, _ = opal_folder
    (d / ".ipynb_checkpoints").mkdir()
    display_image((255, 0, 0)).save(d / ".ipynb_checkpoints" / "ev1.png")  # would duplicate ev1
    with pytest.warns(UserWarning, match=r"2 file\(s\) skipped"):
        data = od.load_displays(d, quiet=True)
    assert sorted(data.names) == ["ev1", "ev2", "ev3", "ev4", "ev5", "ev6"]
    assert dict(data.report.skipped) == {".ipynb_checkpoints/": "hidden folder",
                                         "notes.txt": "not an image (.png/.jpg/.jpeg/.gif/.bmp/.webp/.tif/.tiff)"}


def test_missing_and_rare_classes_are_warned_in_words() -> None:
    with pytest.warns(UserWarning) as rec:
        msgs = od.check_classes(["q"] * 10 + ["e"] * 2, source="my_labels.csv")
    text = " | ".join(str(w.message) for w in rec)
    assert len(msgs) == 2 and len(rec) == 2
    assert "NO muon (m) and no tau (t) display is labelled in my_labels.csv" in text
    assert "can never answer muon or tau" in text
    assert "electron (e) only 2" in text and "hadronic" not in text.split("|")[1]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert od.check_classes(list("qqqeeemmmttt")) == []  # 3 each: nothing to say


def test_too_few_labels_are_refused_by_the_one_rule() -> None:
    """MIN_LABELS lives in one place: check_classes refuses fewer (opal train, the classroom, masterclass)."""
    with pytest.raises(UserError, match=f"only 3 labelled displays; at least {od.MIN_LABELS} are needed"):
        od.check_classes(["q", "q", "e", ""], source="mine.csv")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert od.check_classes(["q", "q", "e", "e"], min_labels=4)  # enough: only warnings (no m, no t)
