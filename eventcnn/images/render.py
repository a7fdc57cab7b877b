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

    >>> from eventcnn.images.render import RenderConfig, render_events
    >>> images = render_events(events, RenderConfig(size=64))    # doctest: +SKIP
    >>> images.shape, images.dtype                               # doctest: +SKIP
    ((865, 64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

try:  # ISA-L's deflate: the same format, about 6x faster than zlib at level 1 (eventcnn[scale])
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - depends on the installation
    _deflate = zlib

from eventcnn._dask import Executor, check_jobs, open_executor
from eventcnn._io import atomic_path, file_lock, write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_output
from eventcnn.events import BadEvent, Events
from eventcnn.events.cms_json import EventFormatError, read_json_events
from eventcnn.events.nanoaod import is_root_path, num_entries, read_entries
from eventcnn.events.selection import BTAG_WORKING_POINTS, CutFlow, Selection, get_selection
from eventcnn.images.folder import MANIFEST_COLUMNS, manifest_by_file, read_manifest
from eventcnn.images.shards import INDEX_FILE, SHARD_SIZE, shard_name, write_index
from eventcnn.images.stamps import draw_rings
from eventcnn.limits import check_image_size, check_memory, render_memory

__all__ = [
    "FORMATS",
    "RenderConfig",
    "RenderSummary",
    "RenderedFile",
    "STYLES",
    "OutputFolderError",
    "check_label",
    "encode_png",
    "png_looks_complete",
    "read_manifest",
    "render_event",
    "render_events",
    "render_files",
    "render_to_dir",
]

STYLES = ("paper", "channels")
MANIFEST = "manifest.csv"
CONFIG_FILE = "render_config.json"
SELECTION_FILE = "selection.json"

SKIPPED_FILE = "skipped.csv"
SKIPPED_COLUMNS = ("source", "event", "field", "reason")
LOCK_FILE = ".eventcnn.lock"

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
class _Shapes:
    """Every object of every event as flat columns, ready to draw."""

    offsets: np.ndarray  # per event, into the flat arrays
    kind: np.ndarray
    x: np.ndarray  # centre column (float pixels)
    y: np.ndarray  # centre row (float pixels)
    pt: np.ndarray


def _shapes(events: Events, config: RenderConfig) -> _Shapes:
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
    return _Shapes(offsets, kind.astype(np.int8), x, y, pt)


def diameters(pt: np.ndarray, config: RenderConfig) -> np.ndarray:
    """Ellipse diameter in pixels: log_base(pT) scaled with the image size, at least 1 px.

    pT below 1 GeV (log < 0) and MET near zero give the 1 px minimum, never a
    negative size.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(np.maximum(pt, 1e-12)) / math.log(config.log_base)
    return np.maximum(np.nan_to_num(d, nan=1.0) * config.scale * config.size_scale, 1.0)


# --------------------------------------------------------------------------- drawing


def _draw_paper(shapes: _Shapes, i: int, config: RenderConfig, diam: np.ndarray) -> np.ndarray:
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


def _render_paper(shapes: _Shapes, config: RenderConfig, diam: np.ndarray, n: int) -> np.ndarray:
    """Every event of ``shapes`` in the paper style, vectorised; pixel for pixel :func:`_draw_paper`."""
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


def _draw_channels(shapes: _Shapes, i: int, config: RenderConfig) -> np.ndarray:
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


def _draw(shapes: _Shapes, i: int, config: RenderConfig, diam: np.ndarray) -> np.ndarray:
    if config.style == "paper":
        return _draw_paper(shapes, i, config, diam)
    return _draw_channels(shapes, i, config)


def render_events(events: Events, config: RenderConfig | None = None) -> np.ndarray:
    """All events as one uint8 array ``(n, size, size, 3)``.

    Example::

        >>> render_events(events, RenderConfig(size=32)).shape   # doctest: +SKIP
        (100, 32, 32, 3)
    """
    config = config or RenderConfig()
    shapes = _shapes(events, config)
    diam = diameters(shapes.pt, config)
    if config.style == "paper":  # all events at once, the same pixels as _draw_paper (eventcnn.images.stamps)
        return _render_paper(shapes, config, diam, len(events))
    out = np.empty((len(events), config.size, config.size, 3), dtype=np.uint8)
    for i in range(len(events)):
        out[i] = _draw(shapes, i, config, diam)
    return out


def render_event(events: Events, index: int, config: RenderConfig | None = None) -> np.ndarray:
    """One event (``events[index]``) as a uint8 array ``(size, size, 3)``."""
    return render_events(events[[index]], config)[0]


def encode_png(image: np.ndarray, compress_level: int = 1) -> bytes:
    """Lossless PNG bytes of a uint8 RGB image ``(h, w, 3)``.

    A minimal encoder (filter type 0, deflate level 1): about 4x faster than
    Pillow's for these mostly-white images with zlib, 6x more with ISA-L
    (``isal``, in ``eventcnn[scale]``) when installed; any PNG reader decodes it
    to exactly the same pixels (the bytes depend on which deflate library ran).
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"expected an RGB image of shape (h, w, 3), got {image.shape}")
    h, w, _ = image.shape
    raw = np.zeros((h, w * 3 + 1), dtype=np.uint8)  # first byte per row: filter type 0
    raw[:, 1:] = image.reshape(h, w * 3)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", _deflate.compress(raw.data, compress_level)),
        _chunk(b"IEND", b""),
    ))


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


# --------------------------------------------------------------------------- writing folders


@dataclass
class RenderSummary:
    """What :func:`render_to_dir` did, per class.

    ``skipped`` counts images already present (kept), ``redrawn`` present but
    broken images drawn again, ``dropped`` lists ``(source, BadEvent)`` of the
    events that ``skip_bad`` dropped (also in ``skipped.csv``).
    """

    out: Path
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    selected: dict[str, int] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    redrawn: dict[str, int] = field(default_factory=dict)
    cutflows: list[str] = field(default_factory=list)
    dropped: list[tuple[str, BadEvent]] = field(default_factory=list)

    def table(self) -> str:
        """Plain-text table: events read, selected, images written and already present."""
        rows = [("class", "read", "bad", "selected", "written", "present")]
        for label in sorted(self.read):
            rows.append((label, *(str(d.get(label, 0)) for d in
                         (self.read, self.bad, self.selected, self.written, self.skipped))))
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = ["  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        redrawn = sum(self.redrawn.values())
        if redrawn:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.redrawn.items()) if v)
            lines.append(f"redrew {redrawn} broken image(s) found on disk ({per})")
        return "\n".join(lines) + f"\nimages in {self.out}"

    def dropped_report(self, first: int = 5) -> str:
        """The dropped bad events: the first ``first`` by source, event and field, then a count."""
        if not self.dropped:
            return ""
        lines = [f"dropped {len(self.dropped)} bad event(s) (--skip-bad); all listed in "
                 f"{self.out / SKIPPED_FILE}:"]
        lines += [f"  {src}: {bad}" for src, bad in self.dropped[:first]]
        if len(self.dropped) > first:
            lines.append(f"  ... and {len(self.dropped) - first} more")
        return "\n".join(lines)


def _image_name(label: str, event: int) -> str:
    return f"{label}/{label}_event_{event}.png"


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_MIN_SIZE = len(_PNG_SIGNATURE) + 25 + 12 + len(_PNG_IEND)  # + IHDR + empty IDAT + IEND


def png_looks_complete(path: str | os.PathLike[str]) -> bool:
    """Cheap check of a PNG on disk: plausible size, PNG signature, ``IEND`` trailer.

    Reads 8 + 12 bytes, so a re-run can check thousands of images quickly; a
    0-byte, truncated or foreign file gives ``False``.

    Example::

        >>> png_looks_complete("CreatedImages/ttjets/ttjets_event_1.png")  # doctest: +SKIP
        True
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < _PNG_MIN_SIZE or fh.read(8) != _PNG_SIGNATURE:
                return False
            fh.seek(size - len(_PNG_IEND))
            return fh.read(len(_PNG_IEND)) == _PNG_IEND
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False


def label_from_path(path: str | os.PathLike[str]) -> str:
    """Default class label of an event file: ``TTjets_json.json.gz`` -> ``ttjets``."""
    name = Path(path).name
    for suffix in (".gz", ".json", ".root"):
        name = name.removesuffix(suffix)
    name = name.removesuffix("_json").lower()
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "events"
    return f"{label}_events" if label.upper() in _WINDOWS_RESERVED else label  # con.json -> con_events


_FORBIDDEN_LABEL_CHARS = set('/\\:') | {chr(c) for c in range(32)} | {chr(127)}
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def check_label(label: str) -> str:
    """``label`` if it is a safe class name (one folder name inside the output folder).

    Allowed: any non-empty name other than ``.`` and ``..`` without ``/``,
    ``\\``, ``:`` or control characters (NUL, newline, ...), not a Windows
    device name (``CON``, ``NUL``, ``COM1``, ...) and not ending in a space or a
    dot, so that the same image folder works on every system. Anything else is a
    ``ValueError`` saying so; this is what keeps every image inside ``out``.

    Example::

        >>> check_label("ttjets")
        'ttjets'
    """
    problem = None
    if not isinstance(label, str):
        problem = f"must be a string, got {type(label).__name__}"
    elif not label.strip():
        problem = "is empty"
    elif label in (".", ".."):
        problem = "is a relative folder reference"
    elif bad := sorted(set(label) & _FORBIDDEN_LABEL_CHARS):
        problem = f"contains {', '.join(repr(c) for c in bad)}"
    elif label.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        problem = "is a reserved device name on Windows (a folder of that name cannot be created there)"
    elif label != label.rstrip(" ."):
        problem = "ends with a space or a dot (Windows drops those, so two labels could share one folder)"
    if problem:
        raise UserError(
            f"class label {label!r} {problem}: a label becomes one folder name, so use a non-empty "
            "name without '/', '\\', ':' or control characters, other than '.' and '..', not a Windows "
            "device name and not ending in a space or dot (e.g. ttjets, w_jets)"
        )
    return label


def _folder_settings(out: Path, config: RenderConfig, sel: Selection | None, claim: bool) -> None:
    """One folder holds images of one render config and one selection.

    Raises when ``render_config.json`` / ``selection.json`` say otherwise; with
    ``claim`` writes them when absent (call under the folder lock).
    """
    config_path, sel_path = out / CONFIG_FILE, out / SELECTION_FILE
    if config_path.exists():
        old = RenderConfig.from_json(config_path)
        if old != config:
            raise UserError(
                f"{out} already holds images drawn with other settings ({config_path}); "
                "use another --out folder or delete the old images"
            )
    elif claim:
        write_json_atomic(config_path, config.to_dict())
    wanted = sel.to_dict() if sel is not None else None
    if sel_path.exists():
        old = json.loads(sel_path.read_text())
        if isinstance(old, dict):  # a file from before newer settings existed: fill their defaults
            old = Selection.from_dict(old).to_dict()
        if old != wanted:
            raise UserError(
                f"{out} already holds images of another selection ({sel_path}); "
                "use another --out folder or the same --selection"
            )
    elif claim:
        write_json_atomic(sel_path, wanted)


def _prepare_out(out: Path) -> None:
    """Create ``out`` and make sure files can be written in it (one clear error if not)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), out)
        raise OutputFolderError(
            f"cannot use {out} as output folder: {blocker} is a file, not a folder; choose another --out"
        ) from None
    except PermissionError:
        raise OutputFolderError(
            f"cannot create output folder {out}: permission denied; choose a --out folder you can write to"
        ) from None
    if not out.is_dir():
        raise OutputFolderError(f"cannot use {out} as output folder: it is not a folder; choose another --out")
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputFolderError(
            f"output folder {out} is not writable; fix its permissions or choose another --out"
        )


def _remove_unused(out: Path) -> None:
    """Remove ``out`` when it holds nothing but the lock file (made by this call, nothing drawn)."""
    try:
        entries = list(out.iterdir())
        if all(e.name == LOCK_FILE and e.is_file() for e in entries):
            for e in entries:
                e.unlink()
            out.rmdir()
    except OSError:
        pass


class OutputFolderError(UserError):
    """The output folder cannot be created or written to; the message names it."""


# --------------------------------------------------------------------------- parallel tasks
#
# A render job runs in two passes of tasks on one executor (eventcnn._dask):
#   scan: one task per JSON file or per NanoAOD entry range reads and selects, and returns
#         the positions (entries) and event numbers of the selected events -- small;
#   draw: each task reads what it draws again (a NanoAOD task only the span of its entries),
#         renders and writes PNGs or one shard, every file atomically.
# The driver checks the scan (empty files, classes without events, --limit) before anything
# is written, and writes the manifest / shard index in a fixed order after the draws, so the
# output does not depend on --jobs, on the task order or on a worker dying (its task reruns).

ENTRIES_PER_TASK = 100_000  #: NanoAOD entries read by one scan task
IMAGES_PER_TASK = 1_000  #: PNG images drawn by one draw task


@dataclass(frozen=True)
class _ScanTask:
    source: str
    start: int
    stop: int | None  # None: the whole (JSON) file
    selection: Selection | None
    skip_bad: bool


@dataclass
class _Scan:
    n_good: int
    bad: list[BadEvent]
    steps: list[tuple[str, int]] | None
    positions: np.ndarray  # int64 positions (entries) in the source of the selected events
    numbers: np.ndarray  # their event numbers


@dataclass(frozen=True)
class _Piece:
    """Selected events of one input to draw: their positions in the source, ascending."""

    source: str
    label: str
    positions: np.ndarray
    selection: Selection | None
    skip_bad: bool


@dataclass(frozen=True)
class _DrawTask:
    pieces: tuple[_Piece, ...]
    config: RenderConfig
    out: str
    shard: str | None = None  # format "shards": this shard's file name; else PNGs into out/<label>/


@lru_cache(maxsize=2)
def _json_events(path: str, mtime_ns: int, size: int, skip_bad: bool) -> Events:
    """A JSON event file, parsed once per worker process and file version."""
    return read_json_events(path, skip_bad=skip_bad)


def _load(source: str, start: int, stop: int | None, skip_bad: bool) -> Events:
    if is_root_path(source):
        return read_entries(source, start, stop if stop is not None else start)
    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise FileNotFoundError(f"event file not found: {source}") from None
    return _json_events(source, st.st_mtime_ns, st.st_size, skip_bad)


def _count_entries(source: str) -> int:
    return num_entries(source)


def _scan(task: _ScanTask) -> _Scan:
    """Scan task: read one file or entry range, select; the selected positions and event numbers."""
    ev = _load(task.source, task.start, task.stop, task.skip_bad)
    steps = None
    if task.selection is None:
        idx = np.arange(len(ev), dtype=np.int64)
    else:
        result = task.selection.select(ev)
        idx = np.flatnonzero(result.passed).astype(np.int64)
        steps = list(result.cutflow.steps)
    return _Scan(len(ev), list(ev.bad), steps, idx + task.start, np.asarray(ev.event, dtype=np.int64)[idx])


def _selected(piece: _Piece) -> Events:
    """The events of ``piece`` (selected, in position order), read again from the source."""
    pos = piece.positions
    lo = int(pos[0]) if is_root_path(piece.source) else 0
    ev = _load(piece.source, lo, int(pos[-1]) + 1, piece.skip_bad)
    if piece.selection is None:
        have = np.arange(len(ev), dtype=np.int64) + lo
    else:
        result = piece.selection.select(ev)
        ev, _ = piece.selection.apply(ev, result)
        have = np.flatnonzero(result.passed).astype(np.int64) + lo
    where = np.searchsorted(have, pos)
    if len(have) == 0 or (where >= len(have)).any() or (have[np.minimum(where, len(have) - 1)] != pos).any():
        raise EventFormatError(
            f"{piece.source}: the file changed while rendering (entries {int(pos[0])}-{int(pos[-1])} "
            "no longer select the same events); render again"
        )
    return ev[where]


def _write_pngs(sub: Events, config: RenderConfig, out: Path, label: str) -> int:
    """Render and write the events of ``sub`` as PNGs, each atomically; returns images written."""
    shapes = _shapes(sub, config)
    diam = diameters(shapes.pt, config)
    folder, pid = os.fspath(out / label), os.getpid()
    for i, number in enumerate(sub.event.tolist()):
        name = f"{label}_event_{number}.png"  # == _image_name(label, number)
        path, tmp = os.path.join(folder, name), os.path.join(folder, f".{name}.{pid}.tmp")
        data = encode_png(_draw(shapes, i, config, diam))
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return len(sub)


def _write_shard(subs: list[Events], config: RenderConfig, path: Path) -> int:
    """Render ``subs`` in order into one ``uint8 (N, H, W, 3)`` ``.npy``, atomically; returns N."""
    total = sum(len(s) for s in subs)
    with atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(total, config.size, config.size, 3))
        row = 0
        for sub in subs:
            shapes = _shapes(sub, config)
            diam = diameters(shapes.pt, config)
            for i in range(len(sub)):
                arr[row] = _draw(shapes, i, config, diam)
                row += 1
        arr.flush()
        del arr  # close the memory map before the rename
    return total


def _draw_task(task: _DrawTask) -> int:
    """Draw task: render the pieces' events into PNGs or one shard; returns images written."""
    out = Path(task.out)
    if task.shard is not None:
        return _write_shard([_selected(p) for p in task.pieces], task.config, out / task.shard)
    return sum(_write_pngs(_selected(p), task.config, out, p.label) for p in task.pieces)


@dataclass
class RenderedFile:
    """Events of one file rendered in memory (:func:`render_files`): images and what the selection did.

    ``rejected`` lists ``(event number, first cut failed)`` of the events the
    selection rejected; ``n_read`` counts the events read.
    """

    source: str
    images: np.ndarray  # uint8 (n, size, size, 3)
    numbers: np.ndarray  # int64 event numbers of the images
    rejected: list[tuple[int, str]]
    n_read: int
    cutflow: CutFlow | None = None


def _render_part(task: _ScanTask, config: RenderConfig) -> RenderedFile:
    ev = _load(task.source, task.start, task.stop, task.skip_bad)
    rejected: list[tuple[int, str]] = []
    flow = None
    n_read = len(ev)
    if task.selection is not None:
        result = task.selection.select(ev)
        out = ~result.passed
        rejected = list(zip(np.asarray(ev.event)[out].tolist(), result.failed_cut[out].tolist()))
        ev, flow = task.selection.apply(ev, result)
    images = render_events(ev, config) if len(ev) else np.zeros((0, config.size, config.size, 3), np.uint8)
    return RenderedFile(task.source, images, np.asarray(ev.event, dtype=np.int64), rejected, n_read, flow)


def _render_part_task(args: tuple[_ScanTask, RenderConfig]) -> RenderedFile:
    return _render_part(*args)


def render_files(
    sources: Sequence[str | os.PathLike[str]],
    config: RenderConfig,
    selection: Selection | str | None = None,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    quiet: bool = False,
    entries_per_task: int = ENTRIES_PER_TASK,
) -> list[RenderedFile]:
    """Select and render event files into memory, one :class:`RenderedFile` per source (for ``predict``).

    Tasks (a JSON file, ``entries_per_task`` NanoAOD entries) run on
    :func:`eventcnn._dask.open_executor` like :func:`render_to_dir`; the result
    does not depend on ``jobs``.

    Example::

        >>> [f.images.shape for f in render_files(["tt.json"], RenderConfig(size=32))]  # doctest: +SKIP
        [(865, 32, 32, 3)]
    """
    sel = get_selection(selection)
    check_jobs(jobs)
    with open_executor(jobs, scheduler, quiet=quiet) as ex:
        tasks, owner = _scan_tasks(ex, [(s, "x") for s in sources], sel, False, entries_per_task)
        bar = ex.bar(len(tasks), "rendering", unit="task")
        try:
            parts = ex.map(_render_part_task, [(t, config) for t in tasks], bar=bar, name="render-files")
        finally:
            bar.close()
    out = []
    for k, source in enumerate(sources):
        mine = [p for p, o in zip(parts, owner) if o == k]
        flows = [p.cutflow for p in mine if p.cutflow is not None and p.n_read]
        flow = None
        if flows:
            names = [name for name, _ in flows[0].steps]
            flow = CutFlow([(n, sum(f.steps[i][1] for f in flows)) for i, n in enumerate(names)], str(source))
        images = (np.concatenate([p.images for p in mine]) if mine
                  else np.zeros((0, config.size, config.size, 3), np.uint8))
        numbers = np.concatenate([p.numbers for p in mine]) if mine else np.zeros(0, np.int64)
        out.append(RenderedFile(str(source), images, numbers, [r for p in mine for r in p.rejected],
                                sum(p.n_read for p in mine), flow))
    return out


FORMATS = ("png", "shards")


def render_to_dir(
    inputs: Iterable[tuple[str | os.PathLike[str], str]],
    out: str | os.PathLike[str] = "CreatedImages",
    config: RenderConfig | None = None,
    selection: Selection | str | None = "paper",
    jobs: int = 1,
    limit: int | None = None,
    skip_bad: bool = False,
    *,
    quiet: bool = False,
    chunk_size: int = IMAGES_PER_TASK,
    format: str = "png",
    scheduler: str | None = None,
    shard_size: int = SHARD_SIZE,
    entries_per_task: int = ENTRIES_PER_TASK,
) -> RenderSummary:
    """Render event files into ``out/<class>/<class>_event_<n>.png`` with a manifest, or into shards.

    ``inputs`` pairs each event file with its class label (:func:`check_label`:
    one folder name). Images already on disk are kept when they look complete
    (:func:`png_looks_complete`; broken ones are redrawn), every PNG is written
    atomically, and ``manifest.csv`` is merged with what is there under a lock,
    so several processes may render (different classes) into one folder at
    once. ``skip_bad`` drops bad events and lists them in ``skipped.csv``. A
    file without events, or a class without selected events, is an error
    raised before any image is written. With ``limit`` a NanoAOD file is read
    only until ``limit`` events are selected (the first ones in entry order).

    ``format="shards"`` writes ``shard-NNNNN.npy`` (``shard_size`` images each)
    and ``shards.csv`` instead (:mod:`eventcnn.images.shards`); the folder is
    rewritten as a whole.

    Work runs as tasks (a JSON file, or ``entries_per_task`` NanoAOD entries;
    ``chunk_size`` PNGs per drawing task) on :func:`eventcnn._dask.open_executor`:
    in this process for ``jobs=1``, on a local Dask cluster of ``jobs`` worker
    processes, or on the cluster at ``scheduler`` (default ``EVENTCNN_SCHEDULER``).
    The images, the manifest and the index do not depend on ``jobs``.
    ``quiet`` hides the progress bar.

    Example::

        >>> render_to_dir([("TTjets_json.json", "ttjets"), ("Wjets_json.json", "wjets")],
        ...               "CreatedImages", RenderConfig(size=64))       # doctest: +SKIP
    """
    config = config or RenderConfig()
    inputs = [(source, check_label(label)) for source, label in inputs]
    check_jobs(jobs)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"limit (--limit) must be a whole number of at least 1, got {limit!r}")
    if format not in FORMATS:
        raise UserError(f"unknown output format {format!r} (--format); choose one of {', '.join(FORMATS)}")
    for name, value in (("shard_size", shard_size), ("chunk_size", chunk_size), ("entries_per_task", entries_per_task)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a whole number of at least 1, got {value!r}")
    check_memory(render_memory(config.size, jobs, config.style),
                 f"drawing {config.size} x {config.size} px images in {jobs} process(es)",
                 hint="use a smaller --size or fewer --jobs")
    sel = get_selection(selection)
    out = Path(out)
    check_output(out, inputs=[source for source, _ in inputs], folder=True)
    created = not out.exists()
    _prepare_out(out)
    lock = out / LOCK_FILE
    summary = RenderSummary(out)
    with open_executor(jobs, scheduler, quiet=quiet) as ex:
        bar = None
        try:
            with file_lock(lock, remove=True):  # fail fast, before reading the inputs
                _folder_settings(out, config, sel, claim=False)
                _check_format(out, format)
                if format == "png":
                    manifest_by_file(out / MANIFEST)
            tasks, owner = _scan_tasks(ex, inputs, sel, skip_bad, entries_per_task)
            bar = ex.bar(len(tasks), "reading", unit="task")
            scans = _run_scans(ex, tasks, owner, limit, bar)
            chosen = _collect(inputs, tasks, owner, scans, limit, summary)
        except BaseException:
            if bar is not None:
                bar.close()
            if created:  # a failed start leaves no empty output folder behind
                _remove_unused(out)
            raise
        try:
            with file_lock(lock, remove=True):
                _folder_settings(out, config, sel, claim=True)
            if format == "png":
                _draw_pngs(ex, bar, inputs, chosen, out, config, sel, skip_bad, chunk_size, summary)
            else:
                _draw_shards(ex, bar, inputs, chosen, out, config, sel, skip_bad, shard_size, summary)
        finally:
            bar.close()
    return summary


def _check_format(out: Path, format: str) -> None:
    """One folder holds PNGs (``manifest.csv``) or shards (``shards.csv``), never both."""
    other = out / (INDEX_FILE if format == "png" else MANIFEST)
    if other.exists():
        what = "image shards" if format == "png" else "PNG images"
        raise OutputFolderError(
            f"{out} already holds {what} ({other}); use another --out folder for --format {format}"
        )


def _scan_tasks(
    ex: Executor, inputs: list[tuple[Any, str]], sel: Selection | None, skip_bad: bool, per_task: int,
) -> tuple[list[_ScanTask], list[int]]:
    """Scan tasks in input order (NanoAOD: entry ranges, their sizes read by tasks too) and their input."""
    sources = [str(src) for src, _ in inputs]
    roots = [s for s in sources if is_root_path(s)]
    sizes = dict(zip(roots, ex.map(_count_entries, roots, name="entries"))) if roots else {}
    tasks: list[_ScanTask] = []
    owner: list[int] = []
    for k, source in enumerate(sources):
        if source in sizes:
            for start in range(0, sizes[source], per_task):
                tasks.append(_ScanTask(source, start, min(start + per_task, sizes[source]), sel, skip_bad))
                owner.append(k)
        else:
            tasks.append(_ScanTask(source, 0, None, sel, skip_bad))
            owner.append(k)
    return tasks, owner


def _run_scans(
    ex: Executor, tasks: list[_ScanTask], owner: list[int], limit: int | None, bar: Any,
) -> list[_Scan | None]:
    """The scan results in task order; with ``limit`` an input's entry ranges go in waves and stop early.

    A wave is as many ranges as there are workers; once an input has ``limit``
    selected events its remaining ranges are not read (``None``). The first
    ``limit`` selected events are the same as after a full scan.
    """
    if limit is None:
        return ex.map(_scan, tasks, bar=bar, name="scan")
    results: list[_Scan | None] = [None] * len(tasks)
    wave = max(1, ex.workers)
    for k in dict.fromkeys(owner):
        mine = [i for i, o in enumerate(owner) if o == k]
        selected = 0
        for start in range(0, len(mine), wave):
            if selected >= limit:
                bar.update(len(mine) - start)  # not needed: counted as done
                break
            batch = mine[start : start + wave]
            for i, r in zip(batch, ex.map(_scan, [tasks[i] for i in batch], bar=bar, name="scan")):
                results[i] = r
                selected += len(r.positions)
    return results


def _collect(
    inputs: list[tuple[Any, str]], tasks: list[_ScanTask], owner: list[int], scans: list[_Scan | None],
    limit: int | None, summary: RenderSummary,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per input: the positions and event numbers to draw; counts, cut flows and errors into ``summary``."""
    chosen: list[tuple[np.ndarray, np.ndarray]] = []
    flows: list[CutFlow | None] = []
    for k, (source, label) in enumerate(inputs):
        mine = [s for s, o in zip(scans, owner) if o == k and s is not None]
        n_good = sum(s.n_good for s in mine)
        bad = [b for s in mine for b in s.bad]
        n_read = n_good + len(bad)
        if n_read == 0:
            raise UserError(f"{source}: the file holds no events; nothing to render")
        if n_good == 0:
            raise UserError(
                f"{source}: all {n_read} events are bad and were dropped (first: {bad[0]}); fix the file"
            )
        summary.read[label] = summary.read.get(label, 0) + n_read
        summary.bad[label] = summary.bad.get(label, 0) + len(bad)
        summary.dropped += [(str(source), b) for b in bad]
        flow = None
        with_steps = [s.steps for s in mine if s.steps is not None and s.n_good]
        if with_steps:
            names = [name for name, _ in with_steps[0]]
            counts = [sum(step[i][1] for step in with_steps) for i in range(len(names))]
            flow = CutFlow(list(zip(names, counts)), str(source))
            summary.cutflows.append(flow.table(f"{Path(str(source)).name} -> {label}"))
        flows.append(flow)
        positions = np.concatenate([s.positions for s in mine]).astype(np.int64)
        numbers = np.concatenate([s.numbers for s in mine]).astype(np.int64)
        if limit is not None:
            positions, numbers = positions[:limit], numbers[:limit]
        summary.selected[label] = summary.selected.get(label, 0) + len(positions)
        chosen.append((positions, numbers))
    _require_selected(summary, inputs, flows)
    return chosen


def _draw_pngs(
    ex: Executor, bar: Any, inputs: list[tuple[Any, str]], chosen: list[tuple[np.ndarray, np.ndarray]],
    out: Path, config: RenderConfig, sel: Selection | None, skip_bad: bool, chunk_size: int,
    summary: RenderSummary,
) -> None:
    rows: dict[str, dict[str, str]] = {}
    tasks: list[_DrawTask] = []
    for (source, label), (positions, numbers) in zip(inputs, chosen):
        (out / label).mkdir(exist_ok=True)
        _prepare_out(out / label)
        todo = []
        for i, number in enumerate(numbers.tolist()):
            name = _image_name(label, number)
            rows[name] = {"file": name, "class": label, "source": str(source), "event": str(number)}
            path = out / name
            if png_looks_complete(path):
                summary.skipped[label] = summary.skipped.get(label, 0) + 1
            else:
                if path.exists():
                    summary.redrawn[label] = summary.redrawn.get(label, 0) + 1
                todo.append(i)
        summary.written.setdefault(label, 0)
        todo_pos = positions[np.asarray(todo, dtype=np.int64)]
        for k in range(0, len(todo_pos), chunk_size):
            piece = _Piece(str(source), label, todo_pos[k : k + chunk_size], sel, skip_bad)
            tasks.append(_DrawTask((piece,), config, str(out)))
    bar.reset(total=sum(len(t.pieces[0].positions) for t in tasks))
    bar.set_description("rendering")
    bar.unit = "img"
    lock = out / LOCK_FILE
    try:
        done = ex.map(_draw_task, tasks, bar=bar, weight=lambda _t, n: n, name="render")
        for task, n in zip(tasks, done):
            summary.written[task.pieces[0].label] += n
    finally:
        with file_lock(lock, remove=True):  # read-merge-write: concurrent runs into one folder add up
            _sweep_temps(out, {label for _, label in inputs})
            manifest = manifest_by_file(out / MANIFEST)
            manifest.update(rows)
            _write_manifest(out / MANIFEST, manifest, out)
            _write_skipped(out / SKIPPED_FILE, summary.dropped, {str(src) for src, _ in inputs})


def _draw_shards(
    ex: Executor, bar: Any, inputs: list[tuple[Any, str]], chosen: list[tuple[np.ndarray, np.ndarray]],
    out: Path, config: RenderConfig, sel: Selection | None, skip_bad: bool, shard_size: int,
    summary: RenderSummary,
) -> None:
    total = sum(len(p) for p, _ in chosen)
    n_shards = -(-total // shard_size)
    pieces: list[list[_Piece]] = [[] for _ in range(n_shards)]
    index: list[dict[str, str]] = []
    g = 0  # row of the whole job
    for (source, label), (positions, numbers) in zip(inputs, chosen):
        summary.written[label] = summary.written.get(label, 0) + len(positions)
        start = 0
        while start < len(positions):
            k, row = divmod(g, shard_size)
            take = min(shard_size - row, len(positions) - start)
            pieces[k].append(_Piece(str(source), label, positions[start : start + take], sel, skip_bad))
            for j in range(take):
                index.append({"event": str(int(numbers[start + j])), "class": label, "source": str(source),
                              "entry": str(int(positions[start + j])), "shard": str(k), "row": str(row + j)})
            start += take
            g += take
    tasks = [_DrawTask(tuple(p), config, str(out), shard_name(k)) for k, p in enumerate(pieces)]
    lock = out / LOCK_FILE
    with file_lock(lock, remove=True):  # the old index goes first: a failed run leaves no index promising shards
        (out / INDEX_FILE).unlink(missing_ok=True)
    bar.reset(total=total)
    bar.set_description("rendering")
    bar.unit = "img"
    try:
        ex.map(_draw_task, tasks, bar=bar, weight=lambda _t, n: n, name="shard")
        with file_lock(lock, remove=True):
            for old in out.glob("shard-*.npy"):
                m = re.fullmatch(r"shard-(\d+)\.npy", old.name)
                if m and int(m[1]) >= n_shards:
                    old.unlink()
            write_index(out / INDEX_FILE, index)
    finally:
        with file_lock(lock, remove=True):
            _sweep_temps(out, set())
            _write_skipped(out / SKIPPED_FILE, summary.dropped, {str(src) for src, _ in inputs})


def _sweep_temps(out: Path, labels: set[str]) -> None:
    """Remove the temporary files a killed worker may have left (ours only: PNGs of ``labels``, shards)."""
    for tmp in out.glob(".shard-*.npy.*.tmp"):
        tmp.unlink(missing_ok=True)
    for label in labels:
        for tmp in (out / label).glob(f".{label}_event_*.png.*.tmp"):
            tmp.unlink(missing_ok=True)


def _require_selected(
    summary: RenderSummary, inputs: list[tuple[str | os.PathLike[str], str]], flows: list[CutFlow | None]
) -> None:
    """A class without any selected event is an error (training would silently lack it)."""
    for label, n in summary.selected.items():
        if n == 0:
            files = ", ".join(str(src) for src, lab in inputs if lab == label)
            steps = "; ".join(
                " -> ".join(f"{name}: {count}" for name, count in flow.steps)
                for (_, lab), flow in zip(inputs, flows) if lab == label and flow is not None
            )
            raise UserError(
                f"class {label!r}: no event of {files} passes the selection (cut flow: {steps}); "
                "check the input or use a looser --selection (e.g. lepton or none)"
            )



def _write_manifest(path: Path, manifest: dict[str, dict[str, str]], out: Path) -> None:
    """Atomically write the rows whose image exists (an interrupted run stays consistent)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for name in sorted(manifest):
        if (out / name).exists():
            writer.writerow(manifest[name])
    write_text_atomic(path, buf.getvalue())


def _write_skipped(path: Path, dropped: list[tuple[str, BadEvent]], sources: set[str]) -> None:
    """Merge this run's dropped events into ``skipped.csv`` (rows of re-read sources are replaced)."""
    rows: list[dict[str, str]] = []
    if path.exists():
        with path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("source") not in sources]
    rows += [{"source": src, "event": b.event, "field": b.field, "reason": b.reason} for src, b in dropped]
    if not rows and not path.exists():
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SKIPPED_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["source"], r["event"])))
    write_text_atomic(path, buf.getvalue())
