"""Draw events as eta-phi images (the representation of arXiv:1708.07034).

Styles:

``"paper"`` (default)
    224x224 RGB on white; eta in [-3, 3] runs left to right, phi in [-pi, pi]
    bottom to top (phi = +pi is the top row). One unfilled ellipse (4 px thick
    at 224 px) per jet, electron, muon and MET; its diameter in pixels is
    log base 1.1 of the pT in GeV (at least 1 px), scaled with the image size.
    Colours: electron blue, muon green, b-tagged jet pure red, other jets light
    red (255, 125, 125), MET black, drawn at eta = 0, phi = MET phi. Unlike
    the original, an ellipse crossing phi = +-pi wraps around (phi is cyclic).

``"channels"``
    A physics-rich alternative: filled discs of fixed angular radius
    (``disc_radius`` in eta-phi units, 0.4 = the jet cone) whose intensity is
    proportional to pT (``min(1, pT / pt_scale)``), added up and saturating,
    one channel per object class: red = light jets, green = b-tagged jets,
    blue = leptons (electrons and muons) and MET (MET at eta = 0). Black
    background. Overlapping objects add instead of hiding each other, and the
    pixel values carry pT directly instead of through the size.

Example::

    >>> from eventcnn.images.etaphi import RenderConfig, render_events
    >>> images = render_events(events, RenderConfig(size=64))    # doctest: +SKIP
    >>> images.shape, images.dtype                               # doctest: +SKIP
    ((865, 64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from eventcnn.errors import UserError
from eventcnn.events import Events
from eventcnn.events.selection import BTAG_WORKING_POINTS
from eventcnn.images.stamps import draw_rings
from eventcnn.limits import check_image_size

__all__ = ["BLOCK_BYTES", "KIND_NAMES", "STYLES", "RenderConfig", "Shapes", "diameters", "draw_image",
           "event_shapes", "render_blocks", "render_event", "render_events"]

STYLES = ("paper", "channels")

#: bytes of images :func:`render_blocks` draws at once (under glibc's 32 MB mmap threshold: buffers are reused)
BLOCK_BYTES = 24 << 20

# Object kinds in drawing order (later kinds are drawn on top).
MET, JET, BJET, ELECTRON, MUON = range(5)
KIND_NAMES = ("met", "jet", "bjet", "electron", "muon")


@dataclass(frozen=True)
class RenderConfig:
    """How events become pixels. Saved as ``render_config.json`` next to the images."""

    style: str = "paper"
    size: int = 224
    eta_max: float = 3.0
    log_base: float = 1.1
    thickness: float = 4.0  # ring thickness in pixels at 224 px (scaled with size)
    size_scale: float = 1.0  # extra factor on every diameter
    btag_csv: float = 0.679
    met_eta: float = 0.0
    wrap_phi: bool = True
    colors: dict[str, tuple[int, int, int]] = field(
        default_factory=lambda: {
            "met": (0, 0, 0),
            "jet": (255, 125, 125),
            "bjet": (255, 0, 0),
            "electron": (0, 0, 255),
            "muon": (0, 255, 0),
        }
    )
    background: tuple[int, int, int] = (255, 255, 255)
    disc_radius: float = 0.4  # channels style: radius in eta-phi units
    pt_scale: float = 200.0  # channels style: pT giving full intensity

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise UserError(f"unknown style {self.style!r}; choose one of {STYLES}")
        check_image_size(self.size)  # 8 to MAX_IMAGE_SIZE pixels
        if self.eta_max <= 0 or self.log_base <= 1 or self.thickness <= 0 or self.size_scale <= 0:
            raise UserError("eta_max, thickness and size_scale must be > 0 and log_base > 1")
        missing = set(KIND_NAMES) - set(self.colors)
        if missing:
            raise UserError(f"colors lacks {sorted(missing)}")

    @property
    def scale(self) -> float:
        """Pixels at this size per pixel of the 224-px reference image."""
        return self.size / 224.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["colors"] = {k: list(v) for k, v in self.colors.items()}
        data["background"] = list(self.background)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderConfig:
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise UserError(f"unknown render settings {unknown}; valid: {sorted(valid)}")
        data = dict(data)
        if "colors" in data:
            data["colors"] = {k: tuple(v) for k, v in data["colors"].items()}
        if "background" in data:
            data["background"] = tuple(data["background"])
        return cls(**data)

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> RenderConfig:
        """From a JSON string or a ``render_config.json`` file."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Shapes:
    """Every object of every event as flat columns, ready to draw."""

    offsets: np.ndarray  # per event, into the flat arrays
    kind: np.ndarray
    x: np.ndarray  # centre column (float pixels)
    y: np.ndarray  # centre row (float pixels)
    pt: np.ndarray


def event_shapes(events: Events, config: RenderConfig) -> Shapes:
    """Columnar: the pixel centre, kind and pT of every object, grouped by event."""
    n = len(events)
    jets = events.jet
    # config.btag_csv is the 2011-CSV working point; NanoAOD discriminants use their own
    wp = config.btag_csv if events.btag == "csv" else BTAG_WORKING_POINTS[events.btag]
    btag = np.nan_to_num(jets["csv"], nan=-np.inf) > wp
    parts = [
        (np.arange(n), np.full(n, MET), np.full(n, config.met_eta), events.met_phi, events.met),
        (jets.event_index, np.where(btag, BJET, JET), jets["eta"], jets["phi"], jets["pt"]),
        (events.electron.event_index, np.full(events.electron.n_objects, ELECTRON),
         events.electron["eta"], events.electron["phi"], events.electron["pt"]),
        (events.muon.event_index, np.full(events.muon.n_objects, MUON),
         events.muon["eta"], events.muon["phi"], events.muon["pt"]),
    ]
    event_index = np.concatenate([p[0] for p in parts])
    # stable sort by event keeps the drawing order MET, jets, electrons, muons
    order = np.argsort(event_index, kind="stable")
    kind = np.concatenate([p[1] for p in parts])[order]
    eta = np.concatenate([p[2] for p in parts])[order]
    phi = np.concatenate([p[3] for p in parts])[order]
    pt = np.concatenate([p[4] for p in parts])[order]
    size = config.size
    x = (eta + config.eta_max) / (2 * config.eta_max) * size
    phi = (phi + np.pi) % (2 * np.pi) - np.pi  # into [-pi, pi)
    y = (np.pi - phi) / (2 * np.pi) * size  # phi = +pi at the top row
    counts = np.bincount(event_index, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Shapes(offsets, kind.astype(np.int8), x, y, pt)


def diameters(pt: np.ndarray, config: RenderConfig) -> np.ndarray:
    """Ellipse diameter in pixels: log_base(pT) scaled with the image size, at least 1 px.

    pT below 1 GeV (log < 0) and MET near zero give the 1 px minimum, never a
    negative size.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(np.maximum(pt, 1e-12)) / math.log(config.log_base)
    return np.maximum(np.nan_to_num(d, nan=1.0) * config.scale * config.size_scale, 1.0)


# --------------------------------------------------------------------------- drawing


def _draw_paper(shapes: Shapes, i: int, config: RenderConfig, diam: np.ndarray) -> np.ndarray:
    size = config.size
    image = Image.new("RGB", (size, size), config.background)
    draw = ImageDraw.Draw(image)
    width = max(1, round(config.thickness * config.scale))
    colors = [config.colors[name] for name in KIND_NAMES]
    lo, hi = shapes.offsets[i], shapes.offsets[i + 1]
    xs, ys = shapes.x[lo:hi].tolist(), shapes.y[lo:hi].tolist()
    radii, kinds = (diam[lo:hi] / 2.0).tolist(), shapes.kind[lo:hi].tolist()
    for x, y, r, kind in zip(xs, ys, radii, kinds):
        w = min(width, max(1, int(r)))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colors[kind], width=w)
        if config.wrap_phi and (y - r < 0 or y + r > size):  # the part beyond phi = +-pi
            dy = size if y - r < 0 else -size
            draw.ellipse((x - r, y + dy - r, x + r, y + dy + r), outline=colors[kind], width=w)
    return np.asarray(image)


def _render_paper(shapes: Shapes, config: RenderConfig, diam: np.ndarray, n: int) -> np.ndarray:
    """Every event of ``shapes`` in the paper style at once; pixel for pixel :func:`_draw_paper` (:mod:`.stamps`)."""
    width = max(1, round(config.thickness * config.scale))
    radius = diam / 2.0
    line = np.minimum(width, np.maximum(1, radius.astype(np.int64)))  # min(width, max(1, int(r)))
    palette = np.array([config.colors[name] for name in KIND_NAMES], dtype=np.uint8)
    return draw_rings(shapes.offsets[: n + 1], shapes.x, shapes.y, radius, line, palette[shapes.kind],
                      config.size, config.background, config.wrap_phi)


def _disc(radius_px: float) -> tuple[np.ndarray, int]:
    """Boolean disc stamp of the given radius and its half-width."""
    half = int(math.ceil(radius_px))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    return (xx**2 + yy**2) <= radius_px**2, half


def _draw_channels(shapes: Shapes, i: int, config: RenderConfig) -> np.ndarray:
    size = config.size
    canvas = np.zeros((3, size, size), dtype=np.float32)
    radius_px = config.disc_radius / (2 * config.eta_max) * size
    stamp, half = _disc(radius_px)
    stamp = stamp.astype(np.float32)
    channel_of = {JET: 0, BJET: 1, ELECTRON: 2, MUON: 2, MET: 2}
    lo, hi = shapes.offsets[i], shapes.offsets[i + 1]
    cols_all = np.arange(-half, half + 1)
    for j in range(lo, hi):
        weight = min(1.0, float(shapes.pt[j]) / config.pt_scale) * 255.0
        cx, cy = int(round(shapes.x[j])), int(round(shapes.y[j]))
        rows = (cy + cols_all) % size if config.wrap_phi else cy + cols_all
        cols = cx + cols_all
        rkeep = (rows >= 0) & (rows < size)
        ckeep = (cols >= 0) & (cols < size)
        if not rkeep.any() or not ckeep.any():
            continue
        block = stamp[np.ix_(rkeep, ckeep)] * weight
        canvas[channel_of[int(shapes.kind[j])]][np.ix_(rows[rkeep], cols[ckeep])] += block
    return np.clip(canvas, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def draw_image(shapes: Shapes, i: int, config: RenderConfig, diam: np.ndarray) -> np.ndarray:
    """Event ``i`` of ``shapes`` as a uint8 ``(size, size, 3)`` image (``diam``: :func:`diameters` of all)."""
    if config.style == "paper":
        return _draw_paper(shapes, i, config, diam)
    return _draw_channels(shapes, i, config)


def render_events(events: Events, config: RenderConfig | None = None) -> np.ndarray:
    """All events as one uint8 array ``(n, size, size, 3)``.

    The paper style is drawn for all events at once (:mod:`eventcnn.images.stamps`:
    the same pixels as drawing each event with PIL, about 5x faster at 64 px);
    the channels style event by event.

    Example::

        >>> render_events(events, RenderConfig(size=32)).shape   # doctest: +SKIP
        (100, 32, 32, 3)
    """
    config = config or RenderConfig()
    shapes = event_shapes(events, config)
    diam = diameters(shapes.pt, config)
    if config.style == "paper":
        return _render_paper(shapes, config, diam, len(events))
    out = np.empty((len(events), config.size, config.size, 3), dtype=np.uint8)
    for i in range(len(events)):
        out[i] = draw_image(shapes, i, config, diam)
    return out


def render_blocks(events: Events, config: RenderConfig, max_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """:func:`render_events` a block at a time (at most ``max_bytes`` of images each), in event order.

    What the writers of PNGs and shards draw with: the memory stays that of one block
    whatever the number of events.

    Example::

        >>> sum(len(b) for b in render_blocks(events, RenderConfig(size=32)))   # doctest: +SKIP
        100
    """
    step = max(1, max_bytes // (config.size * config.size * 3))
    for start in range(0, len(events), step):
        yield render_events(events[start : start + step], config)


def render_event(events: Events, index: int, config: RenderConfig | None = None) -> np.ndarray:
    """One event (``events[index]``) as a uint8 array ``(size, size, 3)``."""
    return render_events(events[[index]], config)[0]
