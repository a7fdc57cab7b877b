"""Shared fixtures: the real development data in ../shared/data and small helpers."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
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


def make_class_displays(folder: Path, n: int = 32, size: int = 64, seed: int = 0) -> tuple[Path, dict[str, str]]:
    """A zip of ``n`` small synthetic OPAL-like displays (names say nothing) and their classes.

    Hadronic: many short tracks; electron: two tracks ending in red blobs; muon:
    two long tracks; tau: three tracks, unbalanced. For the `eventcnn class` tests.
    """
    import zipfile

    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    classes = {}
    path = folder / "displays.zip"
    c = size / 2
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            code = "qemt"[i % 4]
            img = Image.new("RGB", (size, size))
            d = ImageDraw.Draw(img)
            angles = {"q": rng.uniform(0, 6.3, 12), "e": np.array([0.3, 3.44]),
                      "m": np.array([1.2, 4.34]), "t": rng.uniform(0, 3.0, 3)}[code] + rng.uniform(0, 0.3)
            length = {"q": 0.3, "e": 0.35, "m": 0.48, "t": 0.4}[code] * size
            for a in angles:
                x, y = c + length * np.cos(a), c + length * np.sin(a)
                d.line([(c, c), (x, y)], fill=(255, 255, 0), width=1)
                if code == "e":
                    d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(255, 0, 0))
            name = f"ev{i:03d}_{int(rng.integers(1000, 9999))}"
            classes[name] = code
            from io import BytesIO

            buf = BytesIO()
            img.save(buf, format="PNG")
            zf.writestr(f"final/{name}.png", buf.getvalue())
    return path, classes


@pytest.fixture()
def class_displays(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A zip of 32 synthetic 64-px displays and their classes (see :func:`make_class_displays`)."""
    return make_class_displays(tmp_path)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """16 random uint8 eta-phi images (24 phi rows x 10 eta columns), for the augmentation tests."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(16, 24, 10, 3), dtype=np.uint8)


def shift_of(out: np.ndarray, img: np.ndarray) -> int | None:
    """The k with out == roll(img, -k) along phi, or None."""
    for k in range(img.shape[0]):
        if np.array_equal(out, np.roll(img, -k, axis=0)):
            return k
    return None


# --------------------------------------------------------------------------- events drawn in the image tests

#: the paper style's background
WHITE = (255, 255, 255)


def one(objects=None, met=(0.5, 2.5), **kw):
    """Events with one event holding the given objects (MET tiny by default)."""
    rec = {"met": met[0], "met_phi": met[1]}
    rec.update(objects or {})
    rec.update(kw)
    from eventcnn.events import events_from_records

    return events_from_records({"Event": {"1": rec}})


def jet(pt, eta, phi, csv=-100.0):
    return {"pt": pt, "eta": eta, "phi": phi, "CSV": csv, "tightID": True}


def lep(pt, eta, phi):
    return {"pt": pt, "eta": eta, "phi": phi, "px": pt * math.cos(phi), "py": pt * math.sin(phi),
            "pz": 0.0, "tightID": True, "tightIso": True}


def colored(image, color):
    return np.all(image == np.array(color, dtype=np.uint8), axis=-1)


def centroid(mask):
    rows, cols = np.nonzero(mask)
    return rows.mean(), cols.mean()
