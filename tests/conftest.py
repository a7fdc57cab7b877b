"""Shared fixtures: the real development data in ../shared/data and small helpers."""

from __future__ import annotations

import json
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


# ---- the command line


def cli_commands(parser=None) -> dict:
    """``"opal train" -> its sub-parser`` for every leaf command of the ``eventcnn`` parser (aliases once)."""
    import argparse

    from eventcnn.cli import build_parser

    def leaves(p, prefix=""):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                seen: set[int] = set()
                for name, sub in action.choices.items():
                    if id(sub) in seen:  # an alias (data list / data info)
                        continue
                    seen.add(id(sub))
                    if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                        yield from leaves(sub, f"{prefix}{name} ")
                    else:
                        yield f"{prefix}{name}", sub

    return dict(leaves(parser if parser is not None else build_parser()))


# ---- OPAL displays (images.opal_displays, learn, opal)


def display_image(color: tuple[int, int, int], size: int = 120):
    """A black square display with one coloured square (PIL image)."""
    from PIL import Image

    im = Image.new("RGB", (size, size), (0, 0, 0))
    im.paste(color, (size // 4, size // 4, size // 2, size // 2))
    return im


@pytest.fixture()
def opal_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A folder of six OPAL-like displays (PNG, GIF, JPEG, RGBA, palette; ev6 unlabelled) and a label file."""
    from PIL import Image

    d = tmp_path / "displays"
    (d / "final").mkdir(parents=True)
    display_image((255, 0, 0)).save(d / "final" / "finalcenteredmaskedrotatedopencvev1.png")
    display_image((0, 255, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "ev2.gif")
    display_image((0, 0, 255), size=300).save(d / "ev3.jpg", quality=95)
    rgba = Image.new("RGBA", (200, 200), (255, 0, 0, 0))  # fully transparent red -> black
    rgba.paste((255, 255, 255, 255), (0, 0, 100, 100))
    rgba.save(d / "ev4.png")
    pal = display_image((9, 9, 9)).convert("P")
    pal.save(d / "ev5.png")
    display_image((1, 2, 3)).save(d / "ev6.png")  # no label
    (d / "notes.txt").write_text("not an image")
    labels = tmp_path / "labels.csv"
    labels.write_text("ev1.png;q\nev2.png;e\nev3.png;m\n\nev4.png;t\nev5.PNG;q\nev7.png;e\n")
    return d, labels


@pytest.fixture(scope="module")
def tiny_displays() -> tuple[np.ndarray, np.ndarray]:
    """16 random 64 px uint8 "displays" and their class codes (training smoke tests)."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(16, 64, 64, 3), dtype=np.uint8)
    y = np.array(list("qqqqqqqqeemmttqe"))
    return x, y


# ---- a small CMS run (learn.evaluate, learn.predict)


def event_json(path, n, njet, seed):
    """A small CMS-schema event file: one muon, ``njet`` jets, MET."""
    rng = np.random.default_rng(seed)
    events = {}
    for i in range(n):
        jets = {str(j): {"pt": float(rng.uniform(30, 200)), "eta": float(rng.uniform(-2.3, 2.3)),
                         "phi": float(rng.uniform(-3.1, 3.1)), "CSV": float(rng.uniform(0, 1)), "tightID": True}
                for j in range(njet)}
        phi, pt = float(rng.uniform(-3, 3)), float(rng.uniform(25, 80))
        muon = {"pt": pt, "eta": 0.5, "phi": phi, "px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": 10.0,
                "tightID": True, "tightIso": True}
        events[str(1000 + i)] = {"jet": jets, "muon": {"0": muon}, "met": float(rng.uniform(20, 100)),
                                 "met_phi": 0.3, "sumet": 300.0, "njet": njet, "numel": 0, "nummu": 1,
                                 "xsec": 1.0, "isMC": True, "lumi": 1, "run": 1}
    path.write_text(json.dumps({"Event": events}))
    return path


@pytest.fixture(scope="module")
def cms_run(tmp_path_factory):
    """A folder with two tiny CMS event files (tt.json, w.json), their 32 px images and a 1-epoch run."""
    from eventcnn.images.render import RenderConfig, render_to_dir
    from eventcnn.learn.train import TrainConfig, train

    root = tmp_path_factory.mktemp("ev")
    tt = event_json(root / "tt.json", 20, 5, 0)
    w = event_json(root / "w.json", 20, 1, 1)
    render_to_dir([(tt, "tt"), (w, "w")], root / "images", RenderConfig(size=32), selection="none", quiet=True)
    cfg = TrainConfig(root / "images", root / "run", model="small", epochs=1, batch_size=16, quiet=True,
                      evaluate=False, augment=False)
    train(cfg)
    return root
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
