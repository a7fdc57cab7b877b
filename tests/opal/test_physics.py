"""Tests of eventcnn.opal.physics: Z branching fractions and the overview of the predictions."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn import opal


def test_expected_fractions() -> None:
    f = opal.expected_fractions()
    assert sum(f.values()) == pytest.approx(1.0)
    assert f["q"] == pytest.approx(0.874, abs=5e-4)
    for c in "emt":
        assert f[c] == pytest.approx(0.042, abs=5e-4)
    rows = opal.predicted_overview(np.array(["q", "q", "e", "t"]), np.array(["q", "e", "e", ""]))
    assert [r["predicted"] for r in rows] == [2, 1, 0, 1]
    assert [r["reference"] for r in rows] == [1, 2, 0, 0]
