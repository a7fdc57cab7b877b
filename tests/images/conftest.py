"""Fixtures shared by the image tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def manchester_zip(shared_data: Path) -> Path:
    """The Manchester OPAL displays (``opal_manchester/z_displays.zip``), or a skip that says where they were looked for."""
    path = shared_data / "opal_manchester" / "z_displays.zip"
    if not path.is_file():
        pytest.skip(f"{path} not found: the Manchester displays are part of the shared development data")
    return path
