"""Tests of eventcnn.images.display: galleries, kinematics and the before/after picture."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eventcnn.errors import UserError
from eventcnn.images.display import plot_before_after


def test_plot_before_after_shows_source_over_augmented(tmp_path):
    src, aug = tmp_path / "src", tmp_path / "aug"
    (aug / "w").mkdir(parents=True)
    src.mkdir()
    rows = ["file,class,source,event"]
    for i in range(3):
        Image.new("RGB", (8, 8), (200, 0, 0)).save(src / f"e{i}.png")
        Image.new("RGB", (8, 8), (0, 0, 200)).save(aug / "w" / f"a{i}.png")
        rows.append(f"w/a{i}.png,w,{src / f'e{i}.png'},{i}")
    (aug / "manifest.csv").write_text("\n".join(rows) + "\n")
    fig = plot_before_after(aug, n=2, seed=0, path=tmp_path / "ba.png")
    axes = np.array(fig.axes).reshape(2, 2)
    assert axes[0, 0].get_images()[0].get_array()[0, 0, 0] == 200  # the source on top
    assert axes[1, 0].get_images()[0].get_array()[0, 0, 2] == 200  # the augmented image below
    assert axes[1, 0].get_title() == "Augmentor" and (tmp_path / "ba.png").stat().st_size > 0
    (aug / "manifest.csv").write_text("file,class,source,event\n")
    with pytest.raises(UserError, match="no augmented images"):
        plot_before_after(aug)
