"""OPAL end-view event displays on disk: class codes, the masterclass label file, loading (no Keras).

The OPAL masterclass ships its displays as a zip (or a folder) of 200 x 200
PNG end views plus a label file (``<event>.png;<label>``, labels ``q``, ``e``,
``m``, ``t``). :func:`load_displays` reads both into one ``uint8`` array with a
report of every image or label that could not be matched; :func:`check_classes`
says whether a label set is fit to train on (:data:`MIN_LABELS`, two classes).
Label files written for students name displays by opaque id
(:mod:`eventcnn.images.display_ids`); they are read here too.

This is the images floor: the masterclass (:mod:`eventcnn.opal`) and the
learning stack (:mod:`eventcnn.learn`: train, predict, evaluate, explain of
OPAL runs) both read displays through it.

Example::

    from eventcnn.images.opal_displays import load_displays
    data = load_displays("centered-masked-rotated1.zip", "events_list.csv")
    data.images.shape, data.counts()
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from eventcnn._env import quiet_from_env
from eventcnn.errors import UserError
from eventcnn.images import display_ids as _ids
from eventcnn.images.folder import IMAGE_SUFFIXES
from eventcnn.images.opal_display import (
    DISPLAY_SIZE as IMAGE_SIZE,  # the side of a masterclass display (what the masterclass CNN was made for)
)
from eventcnn.limits import check_memory
from eventcnn.names import OPAL_CLASSES as CLASS_NAMES  # class codes in model-output order
from eventcnn.names import OPAL_TITLES as CLASS_TITLES

__all__ = [
    "check_classes",
    "MIN_LABELS",
    "MIN_PER_CLASS",
    "CLASS_NAMES",
    "CLASS_TITLES",
    "decode_display",
    "DEFAULT_PREFIXES",
    "event_name",
    "IMAGE_SIZE",
    "IMAGE_SUFFIXES",
    "label_indices",
    "LabelFormatError",
    "load_displays",
    "LoadReport",
    "match_names",
    "MAX_MEMBER_BYTES",
    "OpalData",
    "read_labels",
    "to_rgb",
]


#: Prefixes of the masterclass file names, stripped to get the event name.
DEFAULT_PREFIXES = ("finalcenteredmaskedrotatedopencv",)


#: Largest zip member (bytes) that is read; a display is a few kB.
MAX_MEMBER_BYTES = 32 * 1024 * 1024


class LabelFormatError(UserError):
    """A label file line that cannot be read (names the file, line and field)."""


@dataclass
class LoadReport:
    """What :func:`load_displays` could not match or read.

    ``unmatched_images``: event names of images without a label (kept, label "").
    ``unmatched_labels``: label-file names without an image (nothing to load).
    ``skipped``: ``(member, reason)`` for files that are not readable displays.
    """

    unmatched_images: list[str] = field(default_factory=list)
    unmatched_labels: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def unreadable(self) -> list[tuple[str, str]]:
        """``(member, reason)`` of image files that could not be read (broken, truncated, too large)."""
        return [(m, r) for m, r in self.skipped
                if not r.startswith(("hidden file", "hidden folder", "not an image ("))]

    def unreadable_message(self, source: str | os.PathLike[str]) -> str:
        """One line naming and counting the unreadable images ("" when there are none)."""
        bad = self.unreadable
        if not bad:
            return ""
        shown = "; ".join(f"{m} ({r})" for m, r in bad[:3]) + (f"; ... ({len(bad)} in all)" if len(bad) > 3 else "")
        return (f"{Path(source).name}: {len(bad)} display file(s) could not be read and are left out: {shown}. "
                "Replace or delete them")

    @property
    def ok(self) -> bool:
        """True when every image has a label and every label an image."""
        return not (self.unmatched_images or self.unmatched_labels or self.skipped)

    def summary(self) -> str:
        """One human-readable paragraph; lists at most five names per kind.

        Displays without a label are counted, never named: their names (``e5293_10479``)
        begin with the class, the answer the class is looking for.
        """

        def few(items: Sequence[Any]) -> str:
            shown = ", ".join(str(i) for i in items[:5])
            return shown + (f", ... ({len(items)} in all)" if len(items) > 5 else "")

        parts = []
        if self.unmatched_images:
            parts.append(f"{len(self.unmatched_images)} image(s) without a label")
        if self.unmatched_labels:
            parts.append(f"{len(self.unmatched_labels)} label(s) without an image: "
                         f"{few(self.unmatched_labels)}")
        if self.skipped:
            parts.append(f"{len(self.skipped)} file(s) skipped: {few(self.skipped)}")
        return "; ".join(parts) if parts else "all images and labels matched"


@dataclass
class OpalData:
    """Event displays in memory.

    ``images``: ``uint8`` array ``(N, size, size, 3)``; ``names``: event names
    (prefix and extension stripped); ``labels``: array of class codes with ""
    for an image without a label, or None when no label file was given;
    ``report``: the :class:`LoadReport`.

    Example::

        data = load_displays("displays/", "labels.csv")
        hadrons = data[data.labels == "q"]
    """

    images: np.ndarray
    names: np.ndarray
    labels: np.ndarray | None
    report: LoadReport = field(default_factory=LoadReport)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: Any) -> OpalData:
        labels = None if self.labels is None else self.labels[index]
        return OpalData(self.images[index], self.names[index], labels, self.report)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the events that carry a label."""
        if self.labels is None:
            return np.zeros(len(self), dtype=bool)
        return self.labels != ""

    def counts(self) -> dict[str, int]:
        """Number of labelled events per class, in :data:`CLASS_NAMES` order."""
        if self.labels is None:
            return {c: 0 for c in CLASS_NAMES}
        return {c: int(np.sum(self.labels == c)) for c in CLASS_NAMES}


def event_name(path: str, prefixes: Sequence[str] = DEFAULT_PREFIXES) -> str:
    """The event name of a file: folders, extension and a known prefix stripped.

    Example::

        >>> event_name("final/finalcenteredmaskedrotatedopencvz5299_24147.png")
        'z5299_24147'
    """
    stem = path.replace("\\", "/").rsplit("/", 1)[-1]
    root, ext = os.path.splitext(stem)
    if ext.lower() in IMAGE_SUFFIXES:
        stem = root
    for prefix in prefixes:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix):]
    return stem


def match_names(image_names: Sequence[str], label_names: Sequence[str]) -> list[str | None]:
    """For each image name, the label name it matches, or None.

    An image matches the label whose name equals it or is the longest trailing
    part of it (``opencvz5299_24147`` matches ``z5299_24147``). Extensions are
    ignored on both sides, case-insensitively.

    Example::

        >>> match_names(["xx_e1", "e2"], ["e1.png", "e3.png"])
        ['e1.png', None]
    """
    keys: dict[str, str] = {}
    for label in label_names:
        keys[event_name(label, prefixes=()).lower()] = label
    out: list[str | None] = []
    for name in image_names:
        stem = event_name(name, prefixes=()).lower()
        found = None
        for i in range(len(stem)):
            if stem[i:] in keys:
                found = keys[stem[i:]]
                break
        out.append(found)
    return out


def read_labels(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a masterclass label file: ``<event>.png;<label>`` per line, no header.

    Labels are ``q``, ``e``, ``m`` or ``t`` (case-insensitive; spaces around
    fields ignored; blank lines skipped). Raises :class:`LabelFormatError` naming
    the file, the line and the field for a bad line or a repeated event.

    Example::

        labels = read_labels("events_list.csv")   # {"e5293_10479.png": "e", ...}
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"label file {path} is a folder, not a file: give the label file itself "
                        "('<event>.png;<label>' lines)")
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} not found (expected '<event>.png;<label>' lines)")
    try:
        return _read_label_lines(path)
    except UnicodeDecodeError as exc:
        raise LabelFormatError(f"{path}: not a text label file (byte {exc.start} is not UTF-8 text): give the "
                               "'<event>.png;<label>' file") from None


def _read_label_lines(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    seen_line: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            fields = [f.strip() for f in line.split(";")]
            if len(fields) != 2:
                raise LabelFormatError(
                    f"{path}:{lineno}: expected 2 fields '<event>.png;<label>' separated by ';', "
                    f"got {len(fields)} in {line!r}")
            name, label = fields
            if not name:
                raise LabelFormatError(f"{path}:{lineno}: field 'event' is empty in {line!r}")
            label = label.lower()
            if label not in CLASS_NAMES:
                raise LabelFormatError(
                    f"{path}:{lineno}: field 'label' of event {name!r} is {fields[1]!r}; "
                    f"expected one of {', '.join(CLASS_NAMES)}")
            key = event_name(name, prefixes=()).lower()
            if key in seen_line:
                raise LabelFormatError(
                    f"{path}:{lineno}: field 'event' {name!r} repeats line {seen_line[key]}")
            seen_line[key] = lineno
            out[name] = label
    return out


def _iter_members(source: Path) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    """(name, reader) pairs of the image files in a zip or folder, sorted by name, and the skipped entries.

    Skipped, with a reason: files that are not images, and in a folder hidden
    files and folders (``.ipynb_checkpoints`` holds copies of the displays).
    Zip metadata (``__MACOSX/``, ``._*``) is ignored.
    """
    items: list[tuple[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    if source.is_dir():
        for root, dirs, files in os.walk(source):
            rel_root = Path(root).relative_to(source)
            skipped += [((rel_root / d).as_posix() + "/", "hidden folder") for d in sorted(dirs) if d.startswith(".")]
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                rel = (rel_root / name).as_posix()
                if name.startswith("."):
                    skipped.append((rel, "hidden file"))
                elif os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                    items.append((rel, Path(root) / name))
                else:
                    skipped.append((rel, f"not an image ({'/'.join(IMAGE_SUFFIXES)})"))
        return sorted(items, key=lambda x: x[0]), skipped
    if not zipfile.is_zipfile(source):
        raise UserError(f"{source}: {_not_a_zip_reason(source)}")
    with zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            base = info.filename.rsplit("/", 1)[-1]
            if info.filename.startswith("__MACOSX/") or base.startswith("._"):
                continue
            if os.path.splitext(base)[1].lower() in IMAGE_SUFFIXES:
                items.append((info.filename, info))
            else:
                skipped.append((info.filename, f"not an image ({'/'.join(IMAGE_SUFFIXES)})"))
    return sorted(items, key=lambda x: x[0]), skipped


def _nothing_usable(source: Path, members: Sequence[Any], skipped: Sequence[tuple[str, str]]) -> str:
    """Why ``source`` gave no display: empty, only other files, or only unreadable images."""
    what = "zip" if source.is_file() else "folder"
    if members:
        bad = "; ".join(f"{m} ({r})" for m, r in skipped[:3]) + (f"; ... ({len(skipped)} in all)"
                                                                  if len(skipped) > 3 else "")
        return (f"{source}: none of its {len(members)} display file(s) could be read: {bad}; replace them "
                "or fetch the displays again (eventcnn data fetch opal)")
    if skipped:
        return (f"{source}: the {what} holds no event displays (PNG/GIF/JPEG), only {len(skipped)} other "
                f"file(s): {', '.join(m for m, _ in skipped[:3])}{', ...' if len(skipped) > 3 else ''}; "
                "give the zip or folder of the displays")
    return (f"{source}: the {what} is empty (no event displays); give the zip or folder of the displays "
            "(eventcnn data fetch opal downloads the masterclass set)")


def _not_a_zip_reason(source: Path) -> str:
    """Why a file that should be a zip of displays is not one (truncated, empty, another format)."""
    with open(source, "rb") as fh:
        head = fh.read(8)
    if not head:
        return "the file is empty (an interrupted download or copy?); fetch it again"
    if head.startswith(b"PK"):
        return ("truncated or corrupt zip file (its table of contents, at the end, is missing or "
                "damaged: an interrupted download or copy?); fetch it again (eventcnn data fetch opal)")
    if head.startswith(b"\x89PNG") or head[:3] == b"GIF" or head[:2] == b"\xff\xd8":
        return "one image, not a zip or folder of event displays: give the zip or the folder"
    return "neither a folder nor a zip file of event displays"


def _read_member(zf: zipfile.ZipFile | None, reader: Any, name: str) -> bytes:
    """Bytes of one image, never more than :data:`MAX_MEMBER_BYTES`."""
    if isinstance(reader, Path):
        if reader.stat().st_size > MAX_MEMBER_BYTES:
            raise UserError(f"{reader}: file is larger than {MAX_MEMBER_BYTES} bytes")
        return reader.read_bytes()
    assert zf is not None
    if reader.file_size > MAX_MEMBER_BYTES:
        raise UserError(f"{zf.filename}: member {name!r} declares {reader.file_size} bytes, "
                         f"more than the {MAX_MEMBER_BYTES} allowed for one display")
    with zf.open(reader) as fh:  # read into memory; nothing is extracted to disk
        data = fh.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise UserError(f"{zf.filename}: member {name!r} is larger than {MAX_MEMBER_BYTES} bytes")
    return data


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Convert any PIL image (RGBA, palette, grey, ...) to RGB.

    Transparent parts are composited onto ``background`` (black, like the
    masterclass displays).

    Example::

        rgb = to_rgb(Image.open("display.gif"))
    """
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return image.convert("RGB")


def decode_display(data: bytes, size: int = IMAGE_SIZE,
                   crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Decode one display into a ``uint8`` array ``(size, size, 3)``.

    ``crop`` is ``(left, top, right, bottom)`` in pixels of the original image,
    applied before resizing (for raw displays that still carry logos and
    read-outs).

    Example::

        arr = decode_display(Path("event.png").read_bytes(), crop=(100, 50, 700, 650))
    """
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        rgb = to_rgb(im)
    if crop is not None:
        left, top, right, bottom = crop
        if not (0 <= left < right <= rgb.width and 0 <= top < bottom <= rgb.height):
            raise UserError(f"crop box {crop} does not fit into an image of "
                             f"{rgb.width}x{rgb.height} pixels (left, top, right, bottom)")
        rgb = rgb.crop(crop)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def load_displays(source: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None,
                  size: int = IMAGE_SIZE, crop: tuple[int, int, int, int] | None = None,
                  prefixes: Sequence[str] = DEFAULT_PREFIXES, *, quiet: bool = False) -> OpalData:
    """Load event displays from a zip or a folder, with optional masterclass labels.

    Images (PNG, GIF, JPEG; RGBA and palette converted to RGB) are resized to
    ``size`` x ``size`` and kept as ``uint8``. Zips are read member by member in
    memory (nothing is extracted). Images without a label keep the label "" and,
    like labels without an image, are listed in ``report`` and warned about.
    ``quiet`` (or ``EVENTCNN_QUIET``) drops the one-line summary (``verbose=``
    is its deprecated old name).

    Example::

        data = load_displays("centered-masked-rotated1.zip", "events_list.csv")
        data.images.shape, data.counts()   # (497, 200, 200, 3), {'q': 431, ...}
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(
            f"{source} not found: give a zip or folder of event displays "
            "(`eventcnn data fetch opal` downloads the masterclass set)")
    if size < 8:
        raise UserError(f"size must be at least 8 pixels, got {size}")
    members, not_images = _iter_members(source)
    report = LoadReport(skipped=not_images)
    check_memory(len(members) * size * size * 3, f"{len(members)} displays of {size} x {size} px",
                 hint="use a smaller --size")
    images = np.empty((len(members), size, size, 3), dtype=np.uint8)
    names: list[str] = []
    member_of: dict[str, str] = {}
    zf = zipfile.ZipFile(source) if not source.is_dir() else None
    try:
        for member, reader in members:
            try:
                data = _read_member(zf, reader, member)
            except (ValueError, zipfile.BadZipFile) as exc:  # too large, or corrupt in the zip
                report.skipped.append((member, str(exc)))
                continue
            try:
                images[len(names)] = decode_display(data, size=size, crop=crop)
            except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
                report.skipped.append((member, f"not a readable image: {exc}"))
                continue
            name = event_name(member, prefixes)
            if name in member_of:
                raise UserError(
                    f"{source}: members {member_of[name]!r} and {member!r} are both event {name!r}; "
                    "one event per name: remove or rename one of them")
            member_of[name] = member
            names.append(name)
    finally:
        if zf is not None:
            zf.close()
    images = images[: len(names)]
    if not names:  # nothing usable is an error, never an empty success
        raise UserError(_nothing_usable(source, members, report.skipped))
    label_arr: np.ndarray | None = None
    if labels is not None:
        table = _ids.resolve(read_labels(labels), names)  # opaque ids (students' files) -> names
        matched = match_names(names, list(table))
        label_arr = np.array([table[m] if m is not None else "" for m in matched], dtype="<U1")
        report.unmatched_images = [n for n, m in zip(names, matched) if m is None]
        used = {m for m in matched if m is not None}
        report.unmatched_labels = [n for n in table if n not in used]
    # one message per condition: images without a label are the events to classify
    # (normal: an info line); labels without an image and unreadable files are warnings
    if report.unmatched_labels or report.skipped:
        warnings.warn(f"load_displays({source.name}): {report.summary()}", stacklevel=2)
    if not quiet and not quiet_from_env():
        info = ""
        if label_arr is not None:
            info = (f": {int((label_arr != '').sum())} labelled, "
                    f"{len(report.unmatched_images)} without a label (to classify)")
        print(f"loaded {len(names)} displays from {source.name}{info}")
    return OpalData(images, np.array(names, dtype=str), label_arr, report)


#: fewer labelled displays of a class than this and ``opal train`` warns loudly
MIN_PER_CLASS = 3

#: fewest labelled displays a masterclass training starts from (``opal train``, the classroom's "Train now")
MIN_LABELS = 4


def check_classes(labels: Sequence[str] | np.ndarray, source: str = "the labels",
                  min_per_class: int = MIN_PER_CLASS, min_labels: int = MIN_LABELS) -> list[str]:
    """Refuse labels of one class or fewer than ``min_labels``; warn loudly about classes with no or few labels.

    A CNN trained on one class calls everything that class, and one trained
    without a class can never predict it. Raises :class:`UserError` when fewer
    than two classes, or fewer than ``min_labels`` displays, are labelled;
    otherwise warns (``UserWarning``) once naming, in words, the classes with no
    label or fewer than ``min_per_class``, and returns those warnings.

    Example::

        check_classes(["q", "q", "q", "e"])   # warns: no muon, no tau; electron only 1
    """
    labels = np.asarray(labels)
    labels = labels[labels != ""]
    counts = {c: int(np.sum(labels == c)) for c in CLASS_NAMES}
    present = [c for c in CLASS_NAMES if counts[c]]
    words = {c: CLASS_TITLES[c].split(" (")[0] for c in CLASS_NAMES}
    if len(present) < 2:
        what = f"only {words[present[0]]} ({present[0]}) displays" if present else "no labelled display"
        raise UserError(
            f"{source}: {len(labels)} labels, {what}: a CNN trained on one class calls every display "
            f"that class. Label displays of at least two classes first (ideally all four: "
            f"{', '.join(f'{words[c]} ({c})' for c in CLASS_NAMES)})")
    if len(labels) < min_labels:
        raise UserError(f"{source}: only {len(labels)} labelled displays; at least {min_labels} are needed: "
                        "label more first")
    out = []
    missing = [c for c in CLASS_NAMES if not counts[c]]
    few = [c for c in present if counts[c] < min_per_class]
    if missing:
        out.append(f"NO {' and no '.join(f'{words[c]} ({c})' for c in missing)} display is labelled in "
                   f"{source}: the CNN can never answer {' or '.join(words[c] for c in missing)}; "
                   "label some first")
    if few:
        out.append(f"very few labels in {source}: "
                   + ", ".join(f"{words[c]} ({c}) only {counts[c]}" for c in few)
                   + f"; fewer than {min_per_class} examples of a class are hardly learnt")
    for msg in out:
        warnings.warn(msg, UserWarning, stacklevel=2)
    return out


def label_indices(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """Class codes -> integer indices in :data:`CLASS_NAMES` order (error on unknown codes)."""
    labels = np.asarray(labels)
    out = np.full(len(labels), -1, dtype=np.int64)
    for i, c in enumerate(CLASS_NAMES):
        out[labels == c] = i
    if np.any(out < 0):
        bad = sorted(set(labels[out < 0].tolist()))
        raise UserError(f"unknown class label(s) {bad}; expected {', '.join(CLASS_NAMES)}")
    return out
