"""The Manchester OPAL masterclass displays: the files students see, their view, and the CNN's crop.

The Manchester/QuarkNet Z masterclass shows students the original OPAL event
displays: GIFs of about 590 x 590 pixels with a header (yellow text on a blue
box), the OPAL logo, a scale bar, an energy key and the detector, seen along the
beam (an *end view*, concentric circles) or from the side (a *side view*, the
beam horizontal). This module reads them (a zip or a folder of GIF/PNG files,
nothing extracted), tells the view from the pixels, and makes, for end views,
the 200 x 200 crop that the masterclass CNN reads.

The crop reproduces the pipeline of NTW Münster that made the published
``centered-masked-rotated1.zip`` (script ``.ipynb_checkpoints/version_1-checkpoint.py``
of NTW-Muenster/opal-mc-ml at commit b3317a6): the display is scaled to 200 x 200
pixels with the legends cut away (their input ``events-images`` is not
public; its scale, 0.33 of the GIF, and filter were measured against the
published crops), then, as their script does: the detector centre is found from
the grey pixels on row and column 99, the detector's grey circles are masked
(every grey pixel at a radius where a grey pixel crosses row or column 99, +-1),
the event axis is found as the line through the centre with the least summed
distance to the remaining pixels (integer degrees), the image is shifted to the
centre (wrapping around), rotated by OpenCV's ``warpAffine`` rule (bilinear, 1/32
pixel steps) so that the axis is vertical, and flipped upside down when the
lower half holds more lit pixels. How close this comes to the published crops
is measured on every pair available (``bench/opal_crop.py``, docs/opal.md).

Example::

    from eventcnn.images.manchester import load_manchester
    displays = load_manchester("z_displays.zip")
    displays.views[:3], displays.crop("e5293_10479").shape   # ('end', ...), (200, 200, 3)
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from eventcnn.errors import UserError, few_names

__all__ = [
    "CROP_SCALE",
    "CROP_SIZE",
    "DISPLAY_SUFFIXES",
    "MAX_DISPLAY_BYTES",
    "VIEWS",
    "CropError",
    "DisplayLayout",
    "ManchesterDisplays",
    "decode_display_rgb",
    "detect_view",
    "display_layout",
    "iter_display_files",
    "load_manchester",
    "longest_runs",
    "masterclass_crop",
    "scale_bar",
    "view_evidence",
]

#: the two views of an OPAL display: along the beam (circles) and from the side (beam horizontal)
VIEWS: tuple[str, ...] = ("end", "side")

#: side of the masterclass CNN's crop (pixels)
CROP_SIZE = 200

#: display pixels -> crop pixels of the published crops (fitted on the published pairs, both GIF sizes)
CROP_SCALE = 0.33

#: crop pixels beyond this radius from the detector centre are empty in the published crops (legends cut)
CROP_RADIUS = 92.0

#: file types read as displays (GIF as published; PNG/JPEG for converted copies)
DISPLAY_SUFFIXES = (".gif", ".png", ".jpg", ".jpeg")

#: largest display file read (bytes); a display is 5-40 kB
MAX_DISPLAY_BYTES = 8 * 1024 * 1024

#: largest display read (pixels per side); the masterclass displays are about 590
MAX_DISPLAY_SIDE = 4096

#: a row of white pixels longer than this fraction of the width is a side view's beam-line drawing
_SIDE_ROW_FRACTION = 0.25


class CropError(UserError):
    """A display whose masterclass crop cannot be made (not an end view, no detector circles)."""


# --------------------------------------------------------------------------- files


def iter_display_files(source: str | os.PathLike[str]) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]]]:
    """``(name, bytes)`` of every display in a zip or folder, sorted by name, and ``(member, reason)`` skipped.

    ``name`` is the file name without folders and extension (``e5293_10479``).
    Zips are read in memory (nothing extracted); ``__MACOSX`` and hidden files
    are ignored; files that are not displays, or larger than
    :data:`MAX_DISPLAY_BYTES`, are skipped with a reason. Two files of one name
    are an error naming both.

    Example::

        files, skipped = iter_display_files("z_displays.zip")
        files[0][0]          # 'e5293_10479'
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} not found: give a zip or a folder of OPAL displays "
                                "(eventcnn data fetch manchester downloads the masterclass set)")
    found: list[tuple[str, str, bytes]] = []
    skipped: list[tuple[str, str]] = []
    for member, read in _members(source, skipped):
        base = member.rsplit("/", 1)[-1]
        stem, ext = os.path.splitext(base)
        if ext.lower() not in DISPLAY_SUFFIXES:
            skipped.append((member, f"not a display ({'/'.join(DISPLAY_SUFFIXES)})"))
            continue
        data = read()
        if data is None:
            skipped.append((member, f"larger than {MAX_DISPLAY_BYTES} bytes"))
            continue
        found.append((stem, member, data))
    found.sort()
    seen: dict[str, str] = {}
    for stem, member, _ in found:
        if stem in seen:
            raise UserError(f"{source}: {seen[stem]!r} and {member!r} are both display {stem!r}; "
                            "one display per name: remove or rename one")
        seen[stem] = member
    return [(stem, data) for stem, _, data in found], skipped


def _members(source: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[str, object]]:
    """``(member, read)`` pairs of a folder or zip; ``read()`` gives the bytes or None when too large."""
    if source.is_dir():
        for root, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(root) / name
                rel = path.relative_to(source).as_posix()
                if name.startswith("."):
                    continue
                yield rel, (lambda p=path: p.read_bytes() if p.stat().st_size <= MAX_DISPLAY_BYTES else None)
        return
    if not zipfile.is_zipfile(source):
        raise UserError(f"{source}: neither a folder nor a zip file of OPAL displays")
    with zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or info.filename.startswith("__MACOSX/") or base.startswith("."):
                continue

            def read(info: zipfile.ZipInfo = info) -> bytes | None:
                if info.file_size > MAX_DISPLAY_BYTES:
                    return None
                try:
                    with zf.open(info) as fh:
                        data = fh.read(MAX_DISPLAY_BYTES + 1)
                except (zipfile.BadZipFile, OSError) as exc:
                    raise UserError(f"{source}: member {info.filename!r} is damaged ({exc})") from exc
                return data if len(data) <= MAX_DISPLAY_BYTES else None

            yield info.filename, read


def decode_display_rgb(data: bytes, name: str = "display") -> np.ndarray:
    """One display file as an RGB ``uint8`` array ``(height, width, 3)`` (palette GIFs converted).

    Raises :class:`UserError` naming ``name`` when the bytes are not an image or
    the image is implausibly large.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if max(im.size) > MAX_DISPLAY_SIDE:
                raise UserError(f"{name}: {im.size[0]} x {im.size[1]} pixels is not an OPAL display "
                                f"(at most {MAX_DISPLAY_SIDE} per side)")
            im.seek(0)
            rgb = im.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"{name}: not a readable image ({exc})") from exc
    return np.asarray(rgb, dtype=np.uint8)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class DisplayLayout:
    """Where the parts of a display are: the header box (``top, bottom, left, right``, inclusive,
    or None when there is none) and the first row of the legends at the bottom (scale bar, key)."""

    header: tuple[int, int, int, int] | None
    legend_top: int

    @property
    def detector_top(self) -> int:
        """First row below the header box and its white frame."""
        return 0 if self.header is None else self.header[1] + 4


def _blue(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 2] > 200) & (rgb[..., 0] < 80) & (rgb[..., 1] < 80)


def _white(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] > 200)


def display_layout(rgb: np.ndarray) -> DisplayLayout:
    """Find the header box (blue, at the top) and the legends (scale bar row, at the bottom).

    Example::

        layout = display_layout(decode_display_rgb(data))
        layout.header      # (5, 45, 7, 520)
    """
    h, w = rgb.shape[:2]
    top = _blue(rgb[: max(1, h // 5)])
    rows = np.flatnonzero(top.sum(1) > 0.4 * w)
    header = None
    if rows.size:
        block = rows[: np.searchsorted(rows, rows[0] + 80)]  # the box: one band of rows
        cols = top[block].sum(0) > 0.3 * block.size
        edges = np.diff(np.concatenate([[0], cols.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if starts.size:  # the longest run of blue columns: the box (the OPAL logo beside it is apart)
            black = (rgb[block[0]: block[-1] + 1].max(axis=2) < 40).mean(axis=0)
            runs = [[int(starts[0]), int(ends[0])]]
            for a, b in zip(starts[1:], ends[1:]):  # a track across the box splits the run: join it again
                if a - runs[-1][1] <= 40 and black[runs[-1][1]: a].max() < 0.2:
                    runs[-1][1] = int(b)
                else:
                    runs.append([int(a), int(b)])
            a, b = max(runs, key=lambda r: r[1] - r[0])
            header = (int(block[0]), int(block[-1]), a, b - 1)
    return DisplayLayout(header, _legend_top(rgb))


def longest_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a 2-D boolean array: the length and first column of its longest run of True."""
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    sr, sc = np.nonzero(edges == 1)
    _, ec = np.nonzero(edges == -1)  # same order: each run's end follows its start in its row
    length = np.zeros(mask.shape[0], dtype=np.int64)
    start = np.zeros(mask.shape[0], dtype=np.int64)
    if sr.size:
        runs = ec - sc
        order = np.lexsort((-runs, sr))  # per row, the longest first
        first = order[np.r_[True, sr[order][1:] != sr[order][:-1]]]
        length[sr[first]], start[sr[first]] = runs[first], sc[first]
    return length, start


def scale_bar(rgb: np.ndarray) -> tuple[int, int, int] | None:
    """``(row, first column, last column)`` of the scale bar: the longest white run of 60-130 px
    in the last 60 rows (None when there is none)."""
    y0 = max(0, rgb.shape[0] - 60)
    length, start = longest_runs(_white(rgb[y0:]))
    ok = (length >= 60) & (length <= 130)
    if not ok.any():
        return None
    r = int(np.argmax(np.where(ok, length, -1)))
    return y0 + r, int(start[r]), int(start[r] + length[r] - 1)


def _legend_top(rgb: np.ndarray) -> int:
    """Top row of the legends: 22 rows above the scale bar (40 rows above the bottom without one)."""
    bar = scale_bar(rgb)
    return bar[0] - 22 if bar is not None else rgb.shape[0] - 40


def _detector_mask(rgb: np.ndarray, layout: DisplayLayout) -> np.ndarray:
    """Boolean mask of the detector area: below the header, above the legends."""
    mask = np.zeros(rgb.shape[:2], dtype=bool)
    mask[layout.detector_top: layout.legend_top] = True
    return mask


# --------------------------------------------------------------------------- view


def view_evidence(rgb: np.ndarray, layout: DisplayLayout | None = None) -> float:
    """The longest row of white pixels in the detector area, as a fraction of the width.

    A side view draws the beam-line detectors as long horizontal lines (0.4-0.7
    of the width); an end view draws circles, whose longest row is a short arc
    (below 0.15 on every masterclass display).
    """
    layout = layout or display_layout(rgb)
    white = _white(rgb) & _detector_mask(rgb, layout)
    return float(white.sum(1).max(initial=0)) / rgb.shape[1]


def detect_view(rgb: np.ndarray, layout: DisplayLayout | None = None) -> str:
    """``"end"`` (circles: the beam along the line of sight) or ``"side"`` (the beam horizontal).

    Example::

        detect_view(decode_display_rgb(Path("x7575_13812.gif").read_bytes()))   # 'end'
    """
    return "side" if view_evidence(rgb, layout) > _SIDE_ROW_FRACTION else "end"


# --------------------------------------------------------------------------- crop


def _radial_peak(xs: np.ndarray, ys: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """For each candidate centre, the white pixels in its three most populated 1-px rings."""
    r = np.hypot(xs[None, :] - cx[:, None], ys[None, :] - cy[:, None]).astype(np.int64)
    span = int(r.max()) + 1
    counts = np.bincount((r + span * np.arange(cx.size)[:, None]).ravel(), minlength=span * cx.size)
    return np.partition(counts.reshape(cx.size, span), span - 3, axis=1)[:, -3:].sum(axis=1)


def detector_centre(rgb: np.ndarray, layout: DisplayLayout | None = None) -> tuple[float, float]:
    """Centre ``(x, y)`` of the detector circles of an end view (pixels, half-pixel steps).

    The centre whose radial histogram of white pixels is most peaked (the
    circles), searched near the middle of the display, coarse then fine.
    """
    layout = layout or display_layout(rgb)
    white = _white(rgb) & _detector_mask(rgb, layout)
    ys, xs = np.nonzero(white)
    if xs.size < 50:
        raise CropError("no detector circles found (fewer than 50 white pixels)")
    if xs.size > 3000:  # enough to find the rings, bounded time
        keep = np.linspace(0, xs.size - 1, 3000).astype(np.int64)
        xs, ys = xs[keep], ys[keep]
    w = rgb.shape[1]
    bx, by = w / 2, (layout.detector_top + layout.legend_top) / 2
    for half, step in ((48, 8.0), (8, 2.0), (2, 0.5)):  # coarse to fine
        gx, gy = np.meshgrid(np.arange(bx - half, bx + half + 0.1, step), np.arange(by - half, by + half + 0.1, step))
        score = _radial_peak(xs, ys, gx.ravel(), gy.ravel())
        bx, by = float(gx.ravel()[score.argmax()]), float(gy.ravel()[score.argmax()])
    return bx, by


def _events_image(rgb: np.ndarray, layout: DisplayLayout) -> np.ndarray:
    """The 200 x 200 input of the published pipeline: legends cut, scaled by :data:`CROP_SCALE`, centred."""
    cx, cy = detector_centre(rgb, layout)
    keep = _detector_mask(rgb, layout)
    yy, xx = np.mgrid[0: rgb.shape[0], 0: rgb.shape[1]]
    keep &= np.hypot(xx - cx, yy - cy) <= CROP_RADIUS / CROP_SCALE
    half = CROP_SIZE / 2 / CROP_SCALE
    pad = int(math.ceil(half)) + 2  # the source box may reach beyond the display: black there
    padded = np.zeros((rgb.shape[0] + 2 * pad, rgb.shape[1] + 2 * pad, 3), np.uint8)
    padded[pad:-pad, pad:-pad] = np.where(keep[..., None], rgb, 0)
    c0 = 99.5 / CROP_SCALE  # the centre lands on pixel (99.5, 99.5), as the published script wants it
    box = (cx + pad - c0, cy + pad - c0, cx + pad - c0 + 2 * half, cy + pad - c0 + 2 * half)
    out = Image.fromarray(padded).resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BILINEAR, box=box)
    return np.asarray(out, dtype=np.uint8)


def _saturation_value(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hsv = np.asarray(Image.fromarray(img).convert("HSV"), dtype=np.int32)
    return hsv[..., 1], hsv[..., 2]


def _grey_extent(grey: np.ndarray) -> float | None:
    hits = np.flatnonzero(grey)
    return None if hits.size == 0 else (hits[0] + hits[-1]) / 2


def _published_centre(s: np.ndarray, v: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """The centre as the published script finds it: grey pixels (s == 0, v > 0) on row and column 99."""
    lo = 2
    row_hits = np.flatnonzero((s[99, lo:198] == 0) & (v[99, lo:198] != 0)) + lo
    col_hits = np.flatnonzero((s[lo:199, 99] == 0) & (v[lo:199, 99] != 0)) + lo
    if row_hits.size == 0 or col_hits.size == 0:
        raise CropError("no detector circle crosses the middle row/column of the scaled display")
    mx = (row_hits[0] + row_hits[-1]) / 2
    my = (col_hits[0] + col_hits[-1]) / 2
    step = 5  # the script's fallback: other rows / columns, 5 px apart, until the centre is plausible
    while int(abs(99.5 - mx)) > 6:
        r = 60 + step
        if r >= CROP_SIZE:
            raise CropError("the detector centre is not near the middle of the display")
        m = _grey_extent((s[r, lo:198] == 0) & (v[r, lo:198] != 0))
        mx = int(m + lo) if m is not None else mx
        step += 5
    step = 5
    while int(abs(99.5 - my)) > 6:
        c = 60 + step
        if c >= CROP_SIZE:
            raise CropError("the detector centre is not near the middle of the display")
        m = _grey_extent((s[lo:199, c] < 10) & (v[lo:199, c] != 0))
        my = int(m + lo) if m is not None else my
        step += 5
    return mx, my, row_hits, col_hits


def _mask_rings(img: np.ndarray, s: np.ndarray, mx: float, my: float,
                row_hits: np.ndarray, col_hits: np.ndarray) -> np.ndarray:
    """Black out the grey pixels at every radius where a grey pixel crosses row/column 99 (+-1 px)."""
    radii = np.concatenate([np.abs(row_hits - int(mx)), np.abs(col_hits - int(my))]).astype(np.int64)
    rings = np.unique(np.concatenate([radii, radii + 1, np.abs(radii - 1)]))
    yy, xx = np.mgrid[0:CROP_SIZE, 0:CROP_SIZE]
    dist = np.sqrt((mx - xx) ** 2 + (my - yy) ** 2).astype(np.int64)
    out = img.copy()
    out[np.isin(dist, rings) & (s < 10)] = 0
    return out


def _axis_angle(img: np.ndarray, mx: float, my: float) -> int:
    """Integer angle (0-180 deg) of the line through the centre with the least summed distance to lit pixels."""
    lit = img[2:197, 2:197].any(axis=2)
    py, px = np.nonzero(lit)
    px, py = px + 2.0, py + 2.0
    slope = np.tan(np.radians(np.arange(181) + 0.1))
    # distance of (px, py) to the line through (mx, my) and (mx + 10, my + 10 slope)
    dy, dx = 10 * slope[:, None], 10.0
    num = np.abs(dy * px - dx * py + (mx + 10) * my - (my + 10 * slope[:, None]) * mx)
    total = (num / np.sqrt(dy ** 2 + dx ** 2)).sum(axis=1)
    return int(np.argmin(total))  # the first minimum, as the script's strict '<'


def _warp_rotate(img: np.ndarray, angle: float) -> np.ndarray:
    """``cv2.warpAffine(img, cv2.getRotationMatrix2D((w/2, h/2), angle, 1), (w, h))``: bilinear,
    source positions in 1/32 px, weights in 1/32768, black outside (OpenCV's fixed-point rule)."""
    h, w = img.shape[:2]
    a, b = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cx, cy = w / 2, h / 2
    # inverse of [[a, b, (1-a)cx - b cy], [-b, a, b cx + (1-a)cy]]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    sx = a * (xx - cx) - b * (yy - cy) + cx
    sy = b * (xx - cx) + a * (yy - cy) + cy
    X, Y = np.round(sx * 32).astype(np.int64), np.round(sy * 32).astype(np.int64)
    x0, y0, fx, fy = X >> 5, Y >> 5, (X & 31) / 32.0, (Y & 31) / 32.0
    src = img.astype(np.float64)
    out = np.zeros(img.shape, np.float64)
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + ox, y0 + oy
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            weight = np.round(wx * wy * 32768) / 32768 * inside
            out += src[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)] * weight[..., None]
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def masterclass_crop(rgb: np.ndarray, layout: DisplayLayout | None = None) -> np.ndarray:
    """The 200 x 200 crop the masterclass CNN reads: centred, circles masked, event axis vertical.

    Reproduces the published pipeline (module docstring); the difference to the
    published crops is measured in ``bench/opal_crop.py``. Raises
    :class:`CropError` for a display without detector circles (a side view).

    Example::

        crop = masterclass_crop(decode_display_rgb(Path("e5293_10479.gif").read_bytes()))
        crop.shape, crop.dtype      # (200, 200, 3), uint8
    """
    layout = layout or display_layout(rgb)
    img = _events_image(rgb, layout)
    s, v = _saturation_value(img)
    mx, my, row_hits, col_hits = _published_centre(s, v)
    img = _mask_rings(img, s, mx, my, row_hits, col_hits)
    angle = _axis_angle(img, mx, my)
    img = np.roll(img, (int(99.5 - my), int(99.5 - mx)), axis=(0, 1))  # ImageChops.offset wraps around
    img = _warp_rotate(img, 90 + angle)
    lit = img.any(axis=2)
    if lit[100:].sum() > lit[:100].sum():
        img = img[::-1]
    return np.ascontiguousarray(img)


# --------------------------------------------------------------------------- the set


@dataclass
class ManchesterDisplays:
    """Displays in memory: ``names``, full ``images`` (a list: sizes differ), ``views``
    (``"end"``/``"side"``), and the masterclass ``crops`` of the end views (by name; empty
    when loaded with ``crops=False``); ``skipped``: ``(member, reason)`` of unreadable files;
    ``crop_errors``: ``(name, reason)`` of end views whose crop could not be made.

    Example::

        d = load_manchester("z_displays.zip")
        end = d.names[d.views == "end"]
        x = np.stack([d.crop(n) for n in end])
    """

    names: np.ndarray
    images: list[np.ndarray]
    views: np.ndarray
    crops: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    crop_errors: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of display ``name`` (error naming it when absent)."""
        hits = np.flatnonzero(self.names == name)
        if hits.size == 0:
            raise UserError(f"display {name!r} is not in this set ({len(self)} displays)")
        return int(hits[0])

    def image(self, name: str) -> np.ndarray:
        """The full display ``name`` (RGB, as published)."""
        return self.images[self.index(name)]

    def crop(self, name: str) -> np.ndarray:
        """The masterclass crop of end view ``name`` (made now when not loaded)."""
        if name not in self.crops:
            i = self.index(name)
            if self.views[i] != "end":
                raise CropError(f"{name} is a {self.views[i]} view: the masterclass CNN reads end views only")
            self.crops[name] = masterclass_crop(self.images[i])
        return self.crops[name]

    def counts(self) -> dict[str, int]:
        """Displays per view."""
        return {v: int((self.views == v).sum()) for v in VIEWS}


def load_manchester(source: str | os.PathLike[str], *, crops: bool = False, names: Sequence[str] | None = None,
                    quiet: bool = True) -> ManchesterDisplays:
    """Read the displays of a zip or folder: full images, views, and (``crops=True``) the end views' crops.

    ``names`` keeps only those displays (an unknown name is an error). An
    unreadable file is skipped and listed in ``skipped``; an end view whose crop
    fails is listed in ``crop_errors`` (nothing is dropped without a name).
    ``quiet=False`` shows a progress bar.

    Example::

        d = load_manchester("z_displays.zip", crops=True)
        d.counts()     # {'end': 622, 'side': 375}
    """
    files, skipped = iter_display_files(source)
    if names is not None:
        wanted = set(names)
        missing = sorted(wanted - {n for n, _ in files})
        if missing:
            raise UserError(f"{source}: no display named {few_names(missing)}")
        files = [(n, d) for n, d in files if n in wanted]
    out_names, images, views = [], [], []
    crop_map: dict[str, np.ndarray] = {}
    crop_errors: list[tuple[str, str]] = []
    from tqdm.auto import tqdm  # light; only for the bar

    for name, data in tqdm(files, desc="displays", unit="display", disable=quiet):
        try:
            rgb = decode_display_rgb(data, name)
        except UserError as exc:
            skipped.append((name, str(exc)))
            continue
        layout = display_layout(rgb)
        view = detect_view(rgb, layout)
        out_names.append(name)
        images.append(rgb)
        views.append(view)
        if crops and view == "end":
            try:
                crop_map[name] = masterclass_crop(rgb, layout)
            except CropError as exc:
                crop_errors.append((name, str(exc)))
    return ManchesterDisplays(np.array(out_names, dtype=str), images, np.array(views, dtype=str),
                              crop_map, skipped, crop_errors)
