"""Shared fixtures: the real development data in ../shared/data and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"real data not found at {path}: this test needs the shared development "
            "data (../shared/data beside the checkout, or EVENTCNN_SHARED_DATA)"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real development data (skips when absent)."""
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def cms_ttjets() -> Path:
    return _need(SHARED_DATA / "cms" / "TTjets_json.json")


@pytest.fixture(scope="session")
def cms_wjets() -> Path:
    return _need(SHARED_DATA / "cms" / "Wjets_json.json")


@pytest.fixture(scope="session")
def opal_zip() -> Path:
    return _need(SHARED_DATA / "opal" / "centered-masked-rotated1.zip")


@pytest.fixture(scope="session")
def opal_labels() -> Path:
    return _need(SHARED_DATA / "opal" / "events_list.csv")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path_factory):
    """Tests never write into the user's cache folder (~/.cache/eventcnn)."""
    monkeypatch.setenv("EVENTCNN_CACHE", str(tmp_path_factory.getbasetemp() / "eventcnn-cache"))


@pytest.fixture(autouse=True)
def _quiet_keras(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("EVENTCNN_QUIET", "1")
