"""Tests of eventcnn.opal.displays: a damaged zip and a folder given as label file say what is wrong."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from eventcnn.cli import main
from eventcnn.errors import UserError
from eventcnn.opal.displays import load_displays, read_labels


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
