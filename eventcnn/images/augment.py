"""Augmentation of event images: the on-disk Augmentor recipe and online physics symmetries.

Two kinds of augmentation live here.

**Online physics augmentation (the default for training).** An eta-phi event
image (arXiv:1708.07034) has eta on the horizontal axis and phi on the vertical
axis. Three transformations are *exact* symmetries of that representation:

- a cyclic shift in phi (:class:`RandomPhiShift`): rotating the whole event
  around the beam axis does not change the physics, and phi is periodic, so a
  roll of the image rows with wrap-around is exact (no pixel is invented or
  lost; only the shift quantisation is 2*pi/H);
- a mirror in eta (:class:`RandomEtaFlip`): the pp initial state is symmetric
  under z -> -z, so eta -> -eta gives an equally likely event;
- a mirror in phi (:class:`RandomPhiFlip`): the reflection phi -> -phi, a
  symmetry of these processes up to tiny effects.

None of them creates unphysical pixels. Arbitrary rotations, shears, skews and
zooms of an eta-phi image mix eta with phi and change the relation between the
ellipse sizes and pT: they produce events that cannot occur. They make sense
only for end-view (r-phi) displays such as the OPAL masterclass images, where a
rotation of the image is a rotation around the beam axis
(``physics_augmentation(geometry="endview")``).

**On-disk Augmentor recipe (reproduction of the original work only).**
:func:`augment_folder` runs an Augmentor pipeline (rotate +-5 deg, flips, zoom,
shear, skew) and writes ``N`` new images per class into a *separate* folder with
its own ``manifest.csv``. It is deterministic for a given seed and resumable.

Example::

    from eventcnn.images.augment import AugmentorConfig, augment_folder, physics_augmentation
    augment_folder("CreatedImages", "augmented", AugmentorConfig(samples=200, seed=1))
    aug = physics_augmentation(seed=0)      # a keras layer, active only in training
    batch = aug(images, training=True)

This module imports no Keras: the on-disk path (and ``eventcnn augment``) runs
without TensorFlow. The Keras layers live in :mod:`eventcnn.learn.augment` and
are reachable here by name (``eventcnn.images.augment.physics_augmentation``, loaded on
first use). They are registered with Keras under the package name ``eventcnn``:
``import eventcnn.learn.augment`` before ``keras.saving.load_model`` of a model
that contains them. Augmentor is imported only by the on-disk functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import atomic_path, quiet_stdout, write_json_atomic
from eventcnn.errors import UserError, check_output, check_writable
from eventcnn.images.folder import (
    AUGMENT_CONFIG,
    IMAGE_SUFFIXES,
    MANIFEST,
    class_images,
    manifest_by_file,
    open_rgb,
    write_manifest,
)
from eventcnn.limits import MAX_SAMPLES, check_count
from eventcnn.seeds import DEFAULT_SEED, derive_seed

_EVENT_RE = re.compile(r"_event_(\d+)$")

__all__ = [
    "AugmentorConfig",
    "augment_folder",
    "build_augmentor_pipeline",
    "physics_augment_numpy",
]


# --------------------------------------------------------------------------
# On-disk Augmentor pipeline
# --------------------------------------------------------------------------


@dataclass
class AugmentorConfig:
    """Settings of the on-disk Augmentor pipeline (one probability per operation).

    A probability of 0 removes the operation. ``samples`` is the number of new
    images written *per class*.

    Example::

        AugmentorConfig(samples=500, rotate_probability=0.7, max_rotation=5, seed=3)
    """

    samples: int = 100
    seed: int = DEFAULT_SEED
    rotate_probability: float = 0.7
    max_rotation: int = 5
    flip_left_right_probability: float = 0.5
    flip_top_bottom_probability: float = 0.5
    zoom_probability: float = 0.3
    zoom_min: float = 1.0
    zoom_max: float = 1.1
    shear_probability: float = 0.3
    max_shear: int = 5
    skew_probability: float = 0.3
    skew_magnitude: float = 0.1

    def __post_init__(self) -> None:
        check_count("--samples", self.samples, 1, MAX_SAMPLES, hint="new images per class")
        for f in dataclasses.fields(self):
            if f.name.endswith("_probability"):
                p = float(getattr(self, f.name))
                if not 0.0 <= p <= 1.0:
                    raise UserError(f"{f.name} must be in [0, 1], got {p}")
        if not 0 <= int(self.max_rotation) <= 25:
            raise UserError(
                f"max_rotation must be an integer in [0, 25] degrees, got {self.max_rotation}"
            )
        if not 0 <= int(self.max_shear) <= 25:
            raise UserError(
                f"max_shear must be an integer in [0, 25] degrees, got {self.max_shear}"
            )
        if not 1.0 <= float(self.zoom_min) <= float(self.zoom_max):
            raise UserError(
                f"need 1 <= zoom_min <= zoom_max, got {self.zoom_min}, {self.zoom_max}"
            )
        if not 0.0 < float(self.skew_magnitude) <= 1.0:
            raise UserError(f"skew_magnitude must be in (0, 1], got {self.skew_magnitude}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)


def build_augmentor_pipeline(config: AugmentorConfig | None = None):
    """Return an ``Augmentor.Pipeline`` (no source folder) with the configured operations.

    Example::

        p = build_augmentor_pipeline(AugmentorConfig(rotate_probability=1.0))
        [type(op).__name__ for op in p.operations]   # ['RotateRange', ...]
    """
    try:
        import Augmentor
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise UserError(
            "the on-disk augmentation needs Augmentor: pip install 'eventcnn[augment]'"
        ) from exc
    c = config or AugmentorConfig()
    with quiet_stdout():
        p = Augmentor.Pipeline()
    if c.rotate_probability > 0 and c.max_rotation > 0:
        p.rotate(
            probability=c.rotate_probability,
            max_left_rotation=int(c.max_rotation),
            max_right_rotation=int(c.max_rotation),
        )
    if c.flip_left_right_probability > 0:
        p.flip_left_right(probability=c.flip_left_right_probability)
    if c.flip_top_bottom_probability > 0:
        p.flip_top_bottom(probability=c.flip_top_bottom_probability)
    if c.zoom_probability > 0:
        p.zoom(probability=c.zoom_probability, min_factor=c.zoom_min, max_factor=c.zoom_max)
    if c.shear_probability > 0 and c.max_shear > 0:
        p.shear(
            probability=c.shear_probability,
            max_shear_left=int(c.max_shear),
            max_shear_right=int(c.max_shear),
        )
    if c.skew_probability > 0:
        p.skew(probability=c.skew_probability, magnitude=c.skew_magnitude)
    if not p.operations:
        raise UserError("every augmentation operation is switched off: nothing to do")
    return p


@contextlib.contextmanager
def _preserve_global_rng() -> Iterator[None]:
    """Augmentor draws from the global ``random`` and ``numpy.random``: restore them afterwards."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _sample_seed(seed: int, class_name: str, index: int) -> int:
    """Independent seed for sample ``index`` of ``class_name`` (makes resuming exact)."""
    return derive_seed(seed, class_name, index)


def _apply_operations(pipeline, image) -> Any:
    """Apply the pipeline's operations like ``Augmentor.Pipeline._execute`` does.

    (Augmentor 0.2.12's public ``sample_with_array`` is broken and ``sample``
    names files with random UUIDs, so the three-line loop is repeated here.)
    """
    images = [image]
    for operation in pipeline.operations:
        r = round(random.uniform(0, 1), 1)
        if r <= operation.probability:
            images = operation.perform_operation(images)
    return images[0]


def _list_classes(source: Path) -> dict[str, list[Path]]:

    found, skipped = class_images(source)
    if skipped:
        warnings.warn(f"{source}: skipped {len(skipped)} file(s) that are not images "
                      f"({'/'.join(IMAGE_SUFFIXES)}): {', '.join(skipped[:5])}"
                      + (f", ... ({len(skipped)} in all)" if len(skipped) > 5 else ""), UserWarning, stacklevel=3)
    classes: dict[str, list[Path]] = {}
    for rel in found:
        classes.setdefault(rel.split("/", 1)[0], []).append(source / rel)
    return classes


def _check_folders(source: Path, out: Path) -> None:
    if not source.is_dir():
        raise FileNotFoundError(
            f"image folder {source} does not exist (render images first: eventcnn render)"
        )
    # augmented images go to a separate folder (e.g. --out augmented), never into the source
    check_output(out, inputs=[source], folder=True, hint="augmented images go to a separate folder, "
                 "e.g. --out augmented")


def augment_folder(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] = "augmented",
    config: AugmentorConfig | None = None,
    *,
    classes: Sequence[str] | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> Path:
    """Write ``config.samples`` Augmentor-augmented images per class into ``out``.

    ``source`` holds one sub-folder per class (``CreatedImages/<class>/*.png``).
    The output mirrors it: ``out/<class>/<class>_aug_<i>_<original stem>.png``
    plus ``out/manifest.csv`` (``file,class,source,event``; ``source`` is the
    original image, ``event`` its event number when known) and
    ``out/augment_config.json``. The source folder is never written to.

    Each sample ``i`` draws from its own seed derived from ``(seed, class, i)``,
    so a run is reproducible byte for byte and an interrupted run resumes
    exactly: existing files are kept (unless ``overwrite``). A re-run with
    another ``samples`` adds or removes images; any other configuration change
    is refused (use ``overwrite=True`` or another folder).

    Returns the path of the written manifest.

    Example::

        augment_folder("CreatedImages", "augmented", AugmentorConfig(samples=50, seed=7))
    """
    from tqdm.auto import tqdm

    cfg = config or AugmentorConfig()
    source, out = Path(source), Path(out)
    _check_folders(source, out)
    found = _list_classes(source)
    if classes is not None:
        missing = [c for c in classes if c not in found]
        if missing:
            raise UserError(f"{source}: no images for class(es) {missing}; found {sorted(found)}")
        found = {c: found[c] for c in classes}
    if not found:
        raise UserError(f"{source}: no class sub-folders with images (expected <class>/*.png)")

    _claim_folder(out, source, cfg, overwrite)

    src_manifest = manifest_by_file(source / MANIFEST, required=("file",))
    pipeline = build_augmentor_pipeline(cfg)
    rows: list[dict[str, str]] = []
    total = cfg.samples * len(found)
    with (
        _preserve_global_rng(),
        tqdm(total=total, desc="augment", unit="img", disable=quiet) as bar,
    ):
        for class_name, files in found.items():
            (out / class_name).mkdir(parents=True, exist_ok=True)
            for i in range(cfg.samples):
                pick, name = _augment_one(pipeline, cfg.seed, class_name, i, files, out, overwrite)
                meta = src_manifest.get(pick.relative_to(source).as_posix(), {})
                event = meta.get("event") or _event_from_name(pick.stem)
                rows.append({"file": f"{class_name}/{name}", "class": class_name, "source": str(pick.resolve()),
                             "event": event})
                bar.update(1)
            names = {Path(r["file"]).name for r in rows if r["class"] == class_name}
            _remove_stale(out / class_name, class_name, names)
    return write_manifest(out / MANIFEST, rows)


def _claim_folder(out: Path, source: Path, cfg: AugmentorConfig, overwrite: bool) -> None:
    """Write ``augment_config.json``; an output of another configuration is refused (unless ``overwrite``)."""
    cfg_path = out / AUGMENT_CONFIG
    wanted = {"source": str(source.resolve()), **cfg.to_dict()}
    if cfg_path.exists() and not overwrite:
        previous = json.loads(cfg_path.read_text())
        previous.pop("samples", None)  # sample i does not depend on N: more or fewer is fine
        if previous != {k: v for k, v in wanted.items() if k != "samples"}:
            raise UserError(
                f"{out} holds augmented images made with another configuration "
                f"({cfg_path}); use another --out folder or --overwrite"
            )
    check_writable(cfg_path)  # creates the folder; fails early and clearly when read-only
    write_json_atomic(cfg_path, wanted)


def _augment_one(pipeline: Any, seed: int, class_name: str, i: int, files: list[Path], out: Path,
                 overwrite: bool) -> tuple[Path, str]:
    """Sample ``i`` of ``class_name``: its source image and file name (written unless present)."""
    s = _sample_seed(seed, class_name, i)
    pick = files[int(np.random.default_rng(s).integers(len(files)))]
    name = f"{class_name}_aug_{i:05d}_{pick.stem}.png"
    target = out / class_name / name
    if overwrite or not target.exists():
        random.seed(s)
        np.random.seed(s)
        rgb = open_rgb(pick)
        with warnings.catch_warnings():
            # Augmentor's skew uses numpy.matrix (PendingDeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            result = _apply_operations(pipeline, rgb)
        with atomic_path(target) as tmp:
            result.save(tmp, format="PNG")
    return pick, name


def _remove_stale(folder: Path, class_name: str, keep: set[str]) -> None:
    """Delete augmented images of an earlier run that this run does not list.

    (A larger earlier ``samples``, or a source folder that has changed since.)
    Keeps the folder and the manifest in agreement.
    """
    for f in folder.glob(f"{class_name}_aug_*.png"):
        if f.name not in keep:
            f.unlink()


def _event_from_name(stem: str) -> str:
    m = _EVENT_RE.search(stem)
    return m.group(1) if m else ""


# --------------------------------------------------------------------------
# Online physics augmentation: numpy version
# --------------------------------------------------------------------------


def physics_augment_numpy(
    images: np.ndarray,
    rng: np.random.Generator | int | None = None,
    *,
    phi_shift: bool = True,
    eta_flip: bool = True,
    phi_flip: bool = True,
) -> np.ndarray:
    """Numpy version of the eta-phi symmetries, per sample, for a PyDataset or tf.data map.

    ``images`` is an NHWC (or a single HWC) array of any dtype; the result has
    the same shape and dtype. Each image gets its own cyclic phi shift (rows
    rolled with wrap-around) and, with probability 0.5 each, an eta mirror
    (columns reversed) and a phi mirror (rows reversed).

    Example::

        rng = np.random.default_rng(0)
        batch = physics_augment_numpy(batch, rng)
    """
    x = np.asarray(images)
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4:
        raise UserError(f"expected images of shape (N, H, W, C) or (H, W, C), got {x.shape}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n, h, w = x.shape[:3]
    rows = np.broadcast_to(np.arange(h), (n, h))
    cols = np.broadcast_to(np.arange(w), (n, w))
    if phi_shift:
        rows = (rows + rng.integers(0, h, size=(n, 1))) % h
    if phi_flip:
        rows = np.where(rng.random((n, 1)) < 0.5, rows[:, ::-1], rows)
    if eta_flip:
        cols = np.where(rng.random((n, 1)) < 0.5, cols[:, ::-1], cols)
    out = x[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out[0] if single else out
