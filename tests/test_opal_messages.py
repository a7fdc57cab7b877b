"""One message per condition, and --help texts that state the real defaults."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventcnn import opal


def _folder(tmp_path: Path, n: int = 4) -> Path:
    d = tmp_path / "displays"
    d.mkdir()
    for i in range(n):
        Image.fromarray(np.full((20, 20, 3), 40 * i, dtype=np.uint8)).save(d / f"ev{i}.png")
    return d


def test_unlabelled_images_are_an_info_line_not_a_warning(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("EVENTCNN_QUIET", raising=False)
    d = _folder(tmp_path)
    labels = tmp_path / "l.csv"
    labels.write_text("ev0.png;q\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        data = opal.load_displays(d, labels, size=16)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "1 labelled, 3 without a label (to classify)" in out
    assert "ev1" not in out  # no list of names (they can give the class away)
    assert data.labelled.sum() == 1
    labels.write_text("ev0.png;q\nev9.png;e\n")  # a label without an image: one warning
    with pytest.warns(UserWarning, match="1 label\\(s\\) without an image") as rec:
        opal.load_displays(d, labels, size=16, quiet=True)
    assert len(rec) == 1


def test_help_states_the_real_defaults(capsys) -> None:
    from eventcnn.cli import main

    with pytest.raises(SystemExit):
        main(["opal", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    cfg = opal.RecipeConfig()
    assert f"up to {cfg.epochs} with early stopping" in text
    assert f"at most {opal.SMALL_SET_EPOCHS} with fewer than {opal.SMALL_SET} labelled" in text
    assert f"default {cfg.lepton_factor}" in text and "default runs/opal" in text
    assert "30 default" not in text
    with pytest.raises(SystemExit):
        main(["opal", "label", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default 50" in text and "default suggest" in text


def test_label_suggest_and_ids_do_not_import_keras(tmp_path: Path) -> None:
    import subprocess
    import sys

    d = _folder(tmp_path, n=6)
    code = (
        "import sys\n"
        "from eventcnn.cli import main\n"
        f"assert main(['opal', 'suggest', '--data', {str(d)!r}, '--n', '2']) == 0\n"
        f"sys.stdin = __import__('io').StringIO('q\\n')\n"
        f"assert main(['opal', 'label', '--data', {str(d)!r}, '--labels', {str(tmp_path / 'l.csv')!r},"
        " '--n', '2', '--size', '40', '--window', 'no']) == 0\n"
        f"assert main(['opal', 'ids', '--data', {str(d)!r}, '--out', {str(tmp_path / 'ids.csv')!r}]) == 0\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'Keras imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr[-1500:]
    assert (tmp_path / "l.csv").read_text().count(";q") == 1
