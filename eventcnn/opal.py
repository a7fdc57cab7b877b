"""The OPAL masterclass: classify LEP end-view event displays of Z decays with a CNN.

Students label OPAL event displays as hadronic (``q``), electron (``e``), muon
(``m``) or tau (``t``) Z decays, train a small CNN on their labels and let it
classify the rest. This module holds everything except the hand labeller
(:mod:`eventcnn.labeller`):

- :func:`load_displays`: images from a zip or a folder plus a masterclass label
  file (``<event>.png;<label>``), as one ``uint8`` array, with a report of every
  image or label that could not be matched.
- :func:`build_model`: the masterclass network (204,100 parameters).
- :func:`train`: the original recipe (rotated + mirrored copies, leptons
  multiplied) generated lazily per batch, or our default (on-the-fly augmentation
  inside the model, balanced sampling, early stopping).
- :func:`predict`, :func:`write_predictions`, :func:`expected_fractions`,
  :func:`predicted_overview`.

Keras is imported only inside the functions that need it, and images stay
``uint8`` everywhere (the original notebook needed 8 GB for float64 copies).

Example::

    from eventcnn import opal
    data = opal.load_displays("centered-masked-rotated1.zip", "events_list.csv")
    result = opal.train(data.images, data.labels, recipe="default", seed=1)
    probs = opal.predict(result.model, data.images)
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from eventcnn._io import atomic_path, write_json_atomic
from eventcnn.errors import UserError

CLASS_NAMES: tuple[str, ...] = ("q", "e", "m", "t")
"""Class codes in model-output order: hadronic, electron, muon, tau."""

CLASS_TITLES: dict[str, str] = {
    "q": "hadronic (Z -> q qbar)",
    "e": "electron (Z -> e+ e-)",
    "m": "muon (Z -> mu+ mu-)",
    "t": "tau (Z -> tau+ tau-)",
}

#: Z branching fractions in percent (PDG 2020, Z boson listing), the values the
#: masterclass uses. "invisible" is Z -> neutrinos, which leaves no display.
Z_BRANCHING_PERCENT: dict[str, float] = {
    "q": 69.911,
    "e": 3.3632,
    "m": 3.3662,
    "t": 3.3696,
    "invisible": 20.000,
}

IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg")
#: Prefixes of the masterclass file names, stripped to get the event name.
DEFAULT_PREFIXES = ("finalcenteredmaskedrotatedopencv",)
#: Largest zip member (bytes) that is read; a display is a few kB.
MAX_MEMBER_BYTES = 32 * 1024 * 1024
IMAGE_SIZE = 200
#: the masterclass CNN's feature extractor: (filters, kernel, pool) per stage ("valid" padding)
CONV_STAGES: tuple[tuple[int, int, int], ...] = ((32, 3, 3), (64, 3, 3), (64, 3, 3))


def min_input_size(stages: Sequence[tuple[int, int, int]] = CONV_STAGES) -> int:
    """Smallest image side the masterclass CNN accepts (each conv+pool stage must leave >= 1 pixel).

    Example::

        >>> min_input_size()
        53
    """
    side = 1
    for _, kernel, pool in reversed(stages):
        side = side * pool + kernel - 1  # an unpadded conv k x k, then a k x k max-pool of stride k
    return side


def check_image_size(size: int) -> int:
    """Return ``size`` when the masterclass CNN can take ``size`` x ``size`` images, else a clear error."""
    need = min_input_size()
    if int(size) < need:
        raise UserError(f"image size {size} is too small for the masterclass CNN: its three 3x3 conv + "
                        f"3x3 max-pool stages need at least {need} x {need} pixels; use --size {need} or "
                        f"more (the masterclass uses {IMAGE_SIZE})")
    return int(size)
#: Default recipe with fewer labelled events than SMALL_SET and no explicit
#: ``epochs``: at most SMALL_SET_EPOCHS epochs (< 2 minutes on 2 CPU cores).
SMALL_SET, SMALL_SET_EPOCHS = 100, 12


class LabelFormatError(ValueError):
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
    def ok(self) -> bool:
        """True when every image has a label and every label an image."""
        return not (self.unmatched_images or self.unmatched_labels or self.skipped)

    def summary(self) -> str:
        """One human-readable paragraph; lists at most five names per kind."""

        def few(items: Sequence[Any]) -> str:
            shown = ", ".join(str(i) for i in items[:5])
            return shown + (f", ... ({len(items)} in all)" if len(items) > 5 else "")

        parts = []
        if self.unmatched_images:
            parts.append(f"{len(self.unmatched_images)} image(s) without a label: "
                         f"{few(self.unmatched_images)}")
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


# --------------------------------------------------------------------------- names


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
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} not found (expected '<event>.png;<label>' lines)")
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


# --------------------------------------------------------------------------- images


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
        raise ValueError(f"{source} is neither a folder nor a zip file of event displays")
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


def _read_member(zf: zipfile.ZipFile | None, reader: Any, name: str) -> bytes:
    """Bytes of one image, never more than :data:`MAX_MEMBER_BYTES`."""
    if isinstance(reader, Path):
        if reader.stat().st_size > MAX_MEMBER_BYTES:
            raise ValueError(f"{reader}: file is larger than {MAX_MEMBER_BYTES} bytes")
        return reader.read_bytes()
    assert zf is not None
    if reader.file_size > MAX_MEMBER_BYTES:
        raise ValueError(f"{zf.filename}: member {name!r} declares {reader.file_size} bytes, "
                         f"more than the {MAX_MEMBER_BYTES} allowed for one display")
    with zf.open(reader) as fh:  # read into memory; nothing is extracted to disk
        data = fh.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise ValueError(f"{zf.filename}: member {name!r} is larger than {MAX_MEMBER_BYTES} bytes")
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
            raise ValueError(f"crop box {crop} does not fit into an image of "
                             f"{rgb.width}x{rgb.height} pixels (left, top, right, bottom)")
        rgb = rgb.crop(crop)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def load_displays(source: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None,
                  size: int = IMAGE_SIZE, crop: tuple[int, int, int, int] | None = None,
                  prefixes: Sequence[str] = DEFAULT_PREFIXES, verbose: bool = True) -> OpalData:
    """Load event displays from a zip or a folder, with optional masterclass labels.

    Images (PNG, GIF, JPEG; RGBA and palette converted to RGB) are resized to
    ``size`` x ``size`` and kept as ``uint8``. Zips are read member by member in
    memory (nothing is extracted). Images without a label keep the label "" and,
    like labels without an image, are listed in ``report`` and warned about.

    Example::

        data = load_displays("centered-masked-rotated1.zip", "events_list.csv")
        data.images.shape, data.counts()   # (497, 200, 200, 3), {'q': 431, ...}
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(
            f"{source} not found: give a zip or folder of event displays "
            "(eventcnn.data.fetch('opal') downloads the masterclass set)")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    members, not_images = _iter_members(source)
    report = LoadReport(skipped=not_images)
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
    label_arr: np.ndarray | None = None
    if labels is not None:
        table = read_labels(labels)
        matched = match_names(names, list(table))
        label_arr = np.array([table[m] if m is not None else "" for m in matched], dtype="<U1")
        report.unmatched_images = [n for n, m in zip(names, matched) if m is None]
        used = {m for m in matched if m is not None}
        report.unmatched_labels = [n for n in table if n not in used]
    # one message per condition: images without a label are the events to classify
    # (normal: an info line); labels without an image and unreadable files are warnings
    if report.unmatched_labels or report.skipped:
        warnings.warn(f"load_displays({source.name}): {report.summary()}", stacklevel=2)
    if verbose and not os.environ.get("EVENTCNN_QUIET"):
        info = ""
        if label_arr is not None:
            info = (f": {int((label_arr != '').sum())} labelled, "
                    f"{len(report.unmatched_images)} without a label (to classify)")
        print(f"loaded {len(names)} displays from {source.name}{info}")
    return OpalData(images, np.array(names, dtype=str), label_arr, report)


# --------------------------------------------------------------------------- physics


def expected_fractions(branching: dict[str, float] | None = None) -> dict[str, float]:
    """Expected share of each class among *visible* Z decays (neutrinos excluded).

    ``BR(X) / (BR(q) + BR(e) + BR(m) + BR(t))`` with the PDG values of
    :data:`Z_BRANCHING_PERCENT`.

    Example::

        >>> {k: round(v, 3) for k, v in expected_fractions().items()}
        {'q': 0.874, 'e': 0.042, 'm': 0.042, 't': 0.042}
    """
    br = dict(Z_BRANCHING_PERCENT if branching is None else branching)
    visible = sum(br[c] for c in CLASS_NAMES)
    return {c: br[c] / visible for c in CLASS_NAMES}


def predicted_overview(predicted: Sequence[str] | np.ndarray,
                       reference: Sequence[str] | np.ndarray | None = None) -> list[dict[str, Any]]:
    """Counts and shares per class of predicted (and reference) labels vs the Z expectation.

    Example::

        for row in predicted_overview(pred_labels, data.labels):
            print(row)   # {'class': 'q', 'predicted': 431, 'predicted_share': 0.87, ...}
    """
    predicted = np.asarray(predicted)
    expect = expected_fractions()
    rows = []
    for c in CLASS_NAMES:
        n = int(np.sum(predicted == c))
        row: dict[str, Any] = {"class": c, "predicted": n,
                               "predicted_share": n / max(len(predicted), 1)}
        if reference is not None:
            ref = np.asarray(reference)
            ref = ref[ref != ""]
            m = int(np.sum(ref == c))
            row.update(reference=m, reference_share=m / max(len(ref), 1))
        row["expected_share"] = expect[c]
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- model


def label_indices(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """Class codes -> integer indices in :data:`CLASS_NAMES` order (error on unknown codes)."""
    labels = np.asarray(labels)
    out = np.full(len(labels), -1, dtype=np.int64)
    for i, c in enumerate(CLASS_NAMES):
        out[labels == c] = i
    if np.any(out < 0):
        bad = sorted(set(labels[out < 0].tolist()))
        raise ValueError(f"unknown class label(s) {bad}; expected {', '.join(CLASS_NAMES)}")
    return out


def build_model(input_shape: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 3),
                num_classes: int = 4, augment: bool = False, seed: int | None = None):
    """The masterclass CNN, taking ``uint8`` images (rescaled inside the model).

    Conv 32 3x3 -> MaxPool 3x3 -> Conv 64 3x3 -> MaxPool 3x3 -> Conv 64 3x3 ->
    MaxPool 3x3 -> Flatten (2304) -> Dense 64 ReLU -> Dense 4 softmax: 204,100
    parameters. ``augment`` adds a training-only stage (random rotation by any
    angle and random mirror; end-view displays may be rotated freely around the
    beam axis) that is inactive in ``predict``.

    Example::

        model = build_model()
        model.count_params()   # 204100
    """
    import keras
    from keras import layers

    check_image_size(min(input_shape[0], input_shape[1]))
    stages: list[Any] = [keras.Input(shape=input_shape), layers.Rescaling(1.0 / 255.0)]
    if augment:
        from eventcnn.devices import allow_jit

        stages += [
            allow_jit(layers.RandomRotation(1.0, fill_mode="constant", fill_value=0.0, seed=seed)),
            layers.RandomFlip("horizontal", seed=None if seed is None else seed + 1),
        ]
    for filters, kernel, pool in CONV_STAGES:
        stages += [layers.Conv2D(filters, (kernel, kernel), activation="relu"), layers.MaxPooling2D((pool, pool))]
    stages += [
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ]
    return keras.Sequential(stages, name="opal_masterclass_cnn")


def rotate_images(images: np.ndarray, angles: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Rotate (degrees, about the centre) and optionally mirror ``uint8`` images.

    Returns a new ``uint8`` array of the same shape; corners are filled black.

    Example::

        out = rotate_images(batch, np.array([90.0]), np.array([True]))
    """
    out = np.empty_like(images)
    for i in range(len(images)):  # one small PIL call per image (C speed, uint8)
        im = Image.fromarray(images[i]).rotate(float(angles[i]), resample=Image.Resampling.BILINEAR)
        arr = np.asarray(im)
        out[i] = arr[:, ::-1] if mirror[i] else arr
    return out


# --------------------------------------------------------------------------- recipes


@dataclass
class RecipeConfig:
    """Training settings; ``recipe`` is ``"original"`` or ``"default"``.

    original: every training image is copied ``copies`` times with a random
    rotation (0-360 deg) and a random mirror, leptonic classes (e, m, t)
    ``lepton_factor`` times more (the masterclass used 20, its later solution 60),
    the copies shuffled and split ``val_fraction`` for validation, then trained
    for ``epochs`` epochs in batches of 32 (Keras' default, as in the masterclass). The copies are generated lazily per batch from the
    ``uint8`` originals (same numbers as materialising them, a fraction of the
    memory).

    default: a stratified ``val_fraction`` of the originals is held out;
    training batches are drawn class-balanced (``balance="sampling"``) or with
    class weights (``balance="weights"``), rotated and mirrored on the fly
    inside the model, ``steps_per_epoch`` batches of 16 per epoch, early stopping on
    the validation loss with ``patience``, best weights restored. The validation
    loss is class-balanced (sample weights), like the training batches, so that
    the few leptons count as much as the many hadrons.
    """

    recipe: str = "default"
    epochs: int = 40
    batch_size: int | None = None
    seed: int = 42
    val_fraction: float = 0.2
    copies: int = 3
    lepton_factor: int = 20
    balance: str = "sampling"
    steps_per_epoch: int = 32
    patience: int = 8
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.batch_size is None:  # Keras' 32 as in the masterclass; 16 keeps ours < 1.5 GB
            self.batch_size = 32 if self.recipe == "original" else 16
        if self.recipe not in ("original", "default"):
            raise ValueError(f"recipe must be 'original' or 'default', got {self.recipe!r}")
        if self.balance not in ("sampling", "weights", "none"):
            raise ValueError(f"balance must be 'sampling', 'weights' or 'none', got {self.balance!r}")
        for name in ("epochs", "batch_size", "copies", "lepton_factor", "steps_per_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def factors(self) -> dict[str, int]:
        """Copies per original image and class under the original recipe."""
        return {c: self.copies * (1 if c == "q" else self.lepton_factor) for c in CLASS_NAMES}


def recipe_copies(y: np.ndarray, config: RecipeConfig) -> dict[str, np.ndarray]:
    """The original recipe's copies, as index arrays: source image, angle, mirror, split.

    Returns ``source`` (int, index of the original image), ``angle`` (degrees,
    integers 0-359 as in the masterclass), ``mirror`` (bool), ``train`` (bool;
    False for the validation share). The copies are shuffled; nothing is
    materialised, and the same seed gives the same copies.

    Example::

        copies = recipe_copies(np.array([0, 1, 0]), RecipeConfig(recipe="original"))
        np.bincount(copies["source"])   # [3, 60, 3]
    """
    rng = np.random.default_rng(config.seed)
    per_class = np.array([config.factors()[c] for c in CLASS_NAMES])
    source = np.repeat(np.arange(len(y)), per_class[y])
    source = source[rng.permutation(len(source))]
    angle = rng.integers(0, 360, size=len(source)).astype(np.float32)
    mirror = rng.integers(0, 2, size=len(source)).astype(bool)
    n_val = int(round(config.val_fraction * len(source)))
    train = np.ones(len(source), dtype=bool)
    train[len(source) - n_val:] = False
    return {"source": source, "angle": angle, "mirror": mirror, "train": train}


def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a stratified validation share (at least one per class with >= 2)."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), dtype=bool)
    if fraction <= 0:
        return val
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = int(round(fraction * len(idx)))
        n = min(max(n, 1), len(idx) - 1) if len(idx) >= 2 else 0
        val[rng.choice(idx, size=n, replace=False)] = True
    return val


def _make_datasets(images: np.ndarray, y: np.ndarray, config: RecipeConfig):
    """Keras PyDatasets (train, validation or None) for a recipe; defined lazily (imports keras)."""
    import keras

    class CopiesDataset(keras.utils.PyDataset):
        """Batches of rotated/mirrored copies generated on the fly from uint8 originals."""

        def __init__(self, source, angle, mirror, shuffle_seed=None):
            super().__init__()
            self.source, self.angle, self.mirror = source, angle, mirror
            self.shuffle_seed = shuffle_seed
            self.order = np.arange(len(source))
            self.epoch = 0

        def __len__(self):
            return math.ceil(len(self.source) / config.batch_size)

        def __getitem__(self, i):
            sel = self.order[i * config.batch_size:(i + 1) * config.batch_size]
            x = rotate_images(images[self.source[sel]], self.angle[sel], self.mirror[sel])
            return x, y[self.source[sel]]

        def on_epoch_end(self):
            self.epoch += 1
            if self.shuffle_seed is not None:  # Keras' shuffle per epoch, seeded
                rng = np.random.default_rng([self.shuffle_seed, self.epoch])
                self.order = rng.permutation(len(self.source))

    class BalancedDataset(keras.utils.PyDataset):
        """Class-balanced batches of uint8 originals; index draws seeded per (epoch, batch)."""

        def __init__(self, idx):
            super().__init__()
            self.idx = idx
            self.epoch = 0
            classes = y[idx]
            if config.balance == "sampling":
                freq = np.bincount(classes, minlength=len(CLASS_NAMES)).astype(float)
                w = 1.0 / freq[classes]
            else:
                w = np.ones(len(idx))
            self.p = w / w.sum()

        def __len__(self):
            return config.steps_per_epoch

        def __getitem__(self, i):
            rng = np.random.default_rng([config.seed, self.epoch, i])
            sel = rng.choice(self.idx, size=config.batch_size, p=self.p)
            return images[sel], y[sel]

        def on_epoch_end(self):
            self.epoch += 1

    class PlainDataset(keras.utils.PyDataset):
        """Fixed batches of uint8 originals (validation), with class-balancing sample weights."""

        def __init__(self, idx):
            super().__init__()
            self.idx = idx
            freq = np.bincount(y[idx], minlength=len(CLASS_NAMES)).astype(float)
            present = freq > 0
            self.w = np.zeros(len(CLASS_NAMES), dtype=np.float32)
            self.w[present] = len(idx) / (present.sum() * freq[present])

        def __len__(self):
            return math.ceil(len(self.idx) / config.batch_size)

        def __getitem__(self, i):
            sel = self.idx[i * config.batch_size:(i + 1) * config.batch_size]
            return images[sel], y[sel], self.w[y[sel]]

    if config.recipe == "original":
        cp = recipe_copies(y, config)
        t, v = cp["train"], ~cp["train"]
        train = CopiesDataset(cp["source"][t], cp["angle"][t], cp["mirror"][t],
                              shuffle_seed=config.seed)
        val = CopiesDataset(cp["source"][v], cp["angle"][v], cp["mirror"][v]) if v.any() else None
        return train, val
    val_mask = stratified_holdout(y, config.val_fraction, config.seed)
    train = BalancedDataset(np.flatnonzero(~val_mask))
    val = PlainDataset(np.flatnonzero(val_mask)) if val_mask.any() else None
    return train, val


@dataclass
class TrainResult:
    """A trained model with its history (dict of lists), config and timing."""

    model: Any
    history: dict[str, list[float]]
    config: RecipeConfig
    seconds: float
    best_epoch: int | None = None  # 1-based; None when the last epoch's weights are kept


def _class_weights(y: np.ndarray) -> dict[int, float]:
    freq = np.bincount(y, minlength=len(CLASS_NAMES)).astype(float)
    return {i: (len(y) / (len(CLASS_NAMES) * f) if f else 0.0) for i, f in enumerate(freq)}


def train(images: np.ndarray, labels: Sequence[str] | np.ndarray,
          recipe: str | RecipeConfig = "default", out: str | os.PathLike[str] | None = None,
          verbose: int | None = None, **overrides: Any) -> TrainResult:
    """Train the masterclass CNN on labelled ``uint8`` displays.

    ``recipe``: ``"original"`` (the masterclass recipe, copies generated lazily)
    or ``"default"`` (our recipe), or a :class:`RecipeConfig`; keyword
    ``overrides`` set its fields (``epochs=3``, ``lepton_factor=60``, ``seed=1``).
    With ``out`` the run folder gets ``config.json``, ``history.json`` and
    ``model.keras`` (written atomically). ``verbose``: Keras verbosity (default 2,
    0 when ``EVENTCNN_QUIET`` is set).

    Example::

        result = train(data.images[data.labelled], data.labels[data.labelled],
                       recipe="original", epochs=3, lepton_factor=20, seed=1)
        result.history["val_accuracy"][-1]
    """
    config = recipe if isinstance(recipe, RecipeConfig) else RecipeConfig(recipe=recipe)
    if overrides:
        config = RecipeConfig(**{**asdict(config), **overrides})
    if (config.recipe == "default" and not isinstance(recipe, RecipeConfig) and "epochs" not in overrides
            and len(labels) < SMALL_SET):  # tiny validation set: early stopping rarely fires
        config.epochs = min(config.epochs, SMALL_SET_EPOCHS)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    y = label_indices(labels)
    if len(y) != len(images):
        raise ValueError(f"{len(images)} images but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("no labelled images to train on: label some events first")
    import keras

    keras.utils.set_random_seed(config.seed)
    if verbose is None:
        verbose = 0 if os.environ.get("EVENTCNN_QUIET") else 2
    model = build_model(images.shape[1:], augment=config.recipe == "default", seed=config.seed)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ds, val_ds = _make_datasets(images, y, config)
    callbacks: list[Any] = []
    fit_kwargs: dict[str, Any] = {}
    if config.recipe == "default":
        if val_ds is not None:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.patience, restore_best_weights=True))
        if config.balance == "weights":
            fit_kwargs["class_weight"] = _class_weights(y)
    start = time.perf_counter()
    hist = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                     callbacks=callbacks, verbose=verbose, **fit_kwargs)
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    best = None  # 1-based epoch of the kept weights; only when the best weights were restored
    restored = any(getattr(cb, "restore_best_weights", False) for cb in callbacks)
    if restored and history.get("val_loss"):
        best = int(np.argmin(history["val_loss"])) + 1
    result = TrainResult(model, history, config, seconds, best)
    if out is not None:
        save_run(result, out)
    return result


def save_run(result: TrainResult, out: str | os.PathLike[str]) -> Path:
    """Write ``config.json``, ``history.json`` and ``model.keras`` into ``out`` (atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", {**asdict(result.config), "seconds": result.seconds,
                                            "best_epoch": result.best_epoch,
                                            "class_names": list(CLASS_NAMES)})
    write_json_atomic(out / "history.json", result.history)
    with atomic_path(out / "model.keras") as tmp:
        keras_tmp = tmp.with_suffix(".keras")
        result.model.save(keras_tmp)
        os.replace(keras_tmp, tmp)
    return out


def load_model(path: str | os.PathLike[str]):
    """Load a saved masterclass model (a ``.keras`` file or a run folder)."""
    import keras

    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}: train one with 'eventcnn opal train'")
    return keras.models.load_model(path, safe_mode=True)


def predict(model: Any, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Class probabilities ``(N, 4)`` for ``uint8`` images, in :data:`CLASS_NAMES` order.

    Small batches keep the peak memory low (the first convolution's output of
    one 200x200 image takes 5 MB in float32). The last batch is padded to
    ``batch_size`` so that every call has one shape (XLA compiles once).

    Example::

        probs = predict(result.model, data.images)
        classes = np.array(CLASS_NAMES)[probs.argmax(1)]
    """
    images = np.asarray(images)
    if len(images) == 0:
        return np.zeros((0, len(CLASS_NAMES)), dtype=np.float32)
    chunks = []
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        n = len(chunk)
        if n < batch_size:  # fixed shape: repeat the last image, drop its predictions
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        chunks.append(np.asarray(model.predict_on_batch(chunk))[:n])
    probs = np.concatenate(chunks)
    return probs.astype(np.float32)


def write_predictions(path: str | os.PathLike[str], names: Sequence[str] | np.ndarray,
                      probs: np.ndarray) -> Path:
    """Write ``event,predicted,p_q,p_e,p_m,p_t`` (one row per event) atomically.

    Example::

        unlabelled = ~data.labelled
        write_predictions("runs/opal/predictions.csv", data.names[unlabelled],
                          predict(model, data.images[unlabelled]))
    """
    probs = np.asarray(probs)
    if probs.shape != (len(names), len(CLASS_NAMES)):
        raise ValueError(f"probs must have shape ({len(names)}, {len(CLASS_NAMES)}), got {probs.shape}")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["event", "predicted", *(f"p_{c}" for c in CLASS_NAMES)])
        pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
        for name, k, row in zip(names, pred, probs):
            w.writerow([name, CLASS_NAMES[k], *(f"{p:.6f}" for p in row)])
    return Path(path)


def evaluate(model: Any, images: np.ndarray, labels: Sequence[str] | np.ndarray,
             out: str | os.PathLike[str] | None = None, names: Sequence[str] | None = None,
             probs: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of ``model`` on labelled ``images`` (uses :mod:`eventcnn.metrics`).

    Returns :func:`eventcnn.metrics.compute_metrics`' dict plus ``overview``
    (:func:`predicted_overview`). With ``out``: ``metrics.json``,
    ``confusion_matrix.png`` (classes in words, counts in every cell, linear
    colour scale: :func:`eventcnn.classroom.confusion_figure`) and ``misclassified.png``
    (gallery with probabilities), and ``misclassified.csv`` when ``names`` are given.

    Example::

        m = evaluate(result.model, data.images[test], data.labels[test], out="runs/opal")
        m["balanced_accuracy"]
    """
    from eventcnn import metrics

    y = label_indices(labels)
    if probs is None:
        probs = predict(model, images)
    m = metrics.compute_metrics(y, probs, list(CLASS_NAMES))
    pred = np.array(CLASS_NAMES)[probs.argmax(axis=1)]
    m["overview"] = predicted_overview(pred, np.asarray(labels))
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "metrics.json", m)
        from eventcnn import classroom  # class names in words, linear scale, counts in cells

        classroom.save(classroom.confusion_figure(m["confusion_matrix"]["counts"]),
                       out / "confusion_matrix.png")
        metrics.plot_misclassified(images, y, probs, classroom.words(CLASS_NAMES),
                                   out / "misclassified.png")
        if names is not None:
            wrong = np.flatnonzero(pred != np.asarray(labels))
            write_predictions(out / "misclassified.csv", np.asarray(names)[wrong], probs[wrong])
    return m


def overview_table(rows: list[dict[str, Any]]) -> str:
    """:func:`predicted_overview` rows as a small Markdown table.

    Example::

        print(overview_table(predicted_overview(pred, data.labels)))
    """
    has_ref = "reference" in rows[0]
    head = "| class | predicted | share |" + (" reference | share |" if has_ref else "") + " expected (Z) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = f"| {r['class']} | {r['predicted']} | {r['predicted_share']:.3f} |"
        if has_ref:
            line += f" {r['reference']} | {r['reference_share']:.3f} |"
        lines.append(line + f" {r['expected_share']:.3f} |")
    return "\n".join(lines)
