"""Tests of ``eventcnn opal header`` (eventcnn.cli._opal_manchester): one row per display, exact columns."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from PIL import Image

from eventcnn.cli import main
from tests.images.test_display_header import render


def _zip(path: Path, displays: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in displays.items():
            zf.writestr(name, data)
    return path


def _gif(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "GIF")
    return buf.getvalue()


def test_opal_header_writes_one_row_per_display(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("EVENTCNN_QUIET", raising=False)  # the summary is what this test reads
    z = _zip(tmp_path / "d.zip", {"e5293_10479.gif": _gif(render()), "x1_2.gif": _gif(render()),
                                  "broken.gif": b"GIF89a"})
    out = tmp_path / "h.csv"
    assert main(["opal", "header", str(z), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "run:event equal to the file name: 1 of 3" in captured.err
    with open(out, newline="") as fh:
        rows = {r["display"]: r for r in csv.DictReader(fh)}
    assert list(next(iter(rows.values())))[:13] == ["display", "view", "run", "event", "ctrk_n", "ctrk_sump",
                                                    "ecal_n", "ecal_sume", "hcal_n", "hcal_sume", "muon_n",
                                                    "ebeam", "error"]
    assert rows["e5293_10479"]["error"] == "" and rows["e5293_10479"]["event"] == "10479"
    assert rows["x1_2"]["matches_name"] == "no"  # the header says 5293:10479, the name 1_2
    assert rows["broken"]["run"] == "" and "not a readable image" in rows["broken"]["error"]


def test_opal_header_refuses_to_overwrite_without_the_flag(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "displays"
    folder.mkdir()
    (folder / "e5293_10479.gif").write_bytes(_gif(render()))
    out = tmp_path / "h.csv"
    out.write_text("keep me")
    assert main(["opal", "header", str(folder), "--out", str(out), "-q"]) == 1
    assert out.read_text() == "keep me" and "--overwrite" in capsys.readouterr().err
    assert main(["opal", "header", str(folder), "--out", str(out), "-q", "--overwrite"]) == 0
    assert out.read_text().startswith("display,view,run")
