"""Plots a 16-year-old reads: words on the axes, numbers in cells and on bars, linear scales."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import LogNorm, Normalize

from eventcnn import opal
from eventcnn.opal import pictures as classroom

WORDS = ["hadronic", "electron", "muon", "tau"]


def _ticks(labels) -> list[str]:
    return [t.get_text() for t in labels]


def test_confusion_figure_words_counts_linear(tmp_path: Path) -> None:
    cm = np.array([[40, 2, 0, 1], [0, 3, 0, 0], [0, 0, 4, 1], [1, 0, 0, 3]])
    fig = classroom.confusion_figure(cm)
    ax = fig.axes[0]
    assert _ticks(ax.get_xticklabels()) == WORDS and _ticks(ax.get_yticklabels()) == WORDS
    cells = sorted(int(t.get_text()) for t in ax.texts)
    assert cells == sorted(cm.ravel().tolist())  # a count in every cell, zeros included
    norm = ax.images[0].norm
    assert isinstance(norm, Normalize) and not isinstance(norm, LogNorm)
    assert norm.vmin == 0 and norm.vmax == 40
    assert isinstance(classroom.confusion_figure(cm, log=True).axes[0].images[0].norm, LogNorm)
    path = classroom.save(fig, tmp_path / "cm.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        classroom.confusion_figure(cm[:3])


def test_overview_figure_words_numbers_linear() -> None:
    pred = np.array(["q"] * 80 + ["e"] * 6 + ["m"] * 8 + ["t"] * 6)
    ref = np.array(["q"] * 84 + ["e"] * 5 + ["m"] * 6 + ["t"] * 5)
    fig = classroom.overview_figure(opal.predicted_overview(pred, ref))
    ax = fig.axes[0]
    assert _ticks(ax.get_yticklabels()) == WORDS  # one row per class: labels cannot overlap
    assert ax.get_xscale() == "linear"
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 12 and "80.0 %" in texts and "84.0 %" in texts and "87.4 %" in texts
    assert len(ax.get_legend().get_texts()) == 3
    assert classroom.overview_figure(opal.predicted_overview(pred), log=True).axes[0].get_xscale() == "log"


def test_counts_figure_and_hint_card() -> None:
    ax = classroom.counts_figure({"q": 30, "e": 7, "m": 6, "t": 0}).axes[0]
    assert _ticks(ax.get_yticklabels()) == WORDS
    assert [t.get_text() for t in ax.texts] == ["30", "7", "6", "0"]
    card = classroom.hint_card()
    assert all(f"{c} = {w}" in card for c, w in zip("qemt", WORDS))


def test_evaluate_writes_the_readable_confusion_matrix(tmp_path: Path, monkeypatch) -> None:
    keras = pytest.importorskip("keras")
    import eventcnn.learn.metrics as metrics  # opal.evaluate is eventcnn.learn.evaluate.evaluate_images

    saved = {}
    real = metrics.plot_confusion_matrix

    def spy(cm, names, path, *a, **k):
        saved.update(names=list(names), log=k.get("log", False), counts=np.asarray(cm).tolist())
        return real(cm, names, path, *a, **k)

    monkeypatch.setattr(metrics, "plot_confusion_matrix", spy)
    images = np.zeros((4, 16, 16, 3), dtype=np.uint8)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="softmax")])
    probs = np.eye(4)[[0, 1, 2, 2]]
    opal.evaluate(model, images, ["q", "e", "m", "t"], out=tmp_path, probs=probs)
    assert saved["names"] == WORDS and not saved["log"]  # classes in words, a linear scale
    assert saved["counts"][3] == [0, 0, 1, 0]  # counts in the cells (the tau taken for a muon)
    assert (tmp_path / "confusion_matrix.png").is_file()


def test_gallery_captions_never_show_file_names(tmp_path: Path) -> None:
    from PIL import Image

    from eventcnn.images.display import plot_gallery

    for cls, stem in (("electron", "e5293_10479"), ("tau", "t5301_2")):
        (tmp_path / cls).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / cls / f"{stem}.png")
    fig = plot_gallery(tmp_path, per_class=2)
    titles = [t for ax in fig.axes for t in (ax.get_title(), ax.get_title(loc="left")) if t]
    assert titles == ["electron", "tau"]


def test_gallery_has_eta_phi_axes_a_colour_key_and_words(tmp_path: Path) -> None:
    from PIL import Image

    from eventcnn.images.display import plot_gallery

    for cls in ("ttjets", "wjets"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((16, 16, 3), 255, np.uint8)).save(tmp_path / cls / f"{cls}_event_{i}.png")
    fig = plot_gallery(tmp_path, per_class=3)
    rows = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert rows == ["top pair + jets (ttjets)", "W + jets (wjets)"]
    assert {ax.get_xlabel() for ax in fig.axes} == {"", "eta"} and {ax.get_ylabel() for ax in fig.axes} == {"", "phi"}
    assert fig.axes[0].images[0].get_extent() == [-3.0, 3.0, -np.pi, np.pi]
    key = [t.get_text() for t in fig.legends[0].get_texts()]
    assert key == ["jet", "b-jet", "electron", "muon", "MET (missing transverse energy)"]


def test_opal_displays_are_large_with_a_key_of_the_detector_parts() -> None:
    from eventcnn.opal import pictures

    fig = pictures.displays_figure(np.zeros((2, 200, 200, 3), np.uint8), ["event 1 of 2", "event 2 of 2"])
    assert fig.get_size_inches()[0] >= 8  # each display about 4 inches wide
    assert [ax.get_title() for ax in fig.axes[:2]] == ["event 1 of 2", "event 2 of 2"]
    key = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "tracks" in key and "calorimeters" in key and "muon chambers" in key
