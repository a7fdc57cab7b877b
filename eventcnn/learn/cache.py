"""Decoded-image cache: decode an image folder once into a memory-mapped ``uint8`` array.

Decoding PNGs costs a CPU core ~5 ms per 224 px image, so a GPU that trains at
2,000 img/s starves on the streaming :class:`eventcnn.learn.dataset.ImageSequence`.
:func:`ensure_cache` decodes a list of files once (in parallel threads, with a
progress bar) into ``<cache_dir>/<name>_<H>x<W>_<key>.npy`` and later runs only
slice that file (``np.load(mmap_mode="r")``): memory stays bounded for folders
larger than RAM, the operating system's page cache does the rest.

The cache is keyed on the content: the bytes of every image in order (a
BLAKE2 digest per file), the image size and any ``extra`` settings (e.g. the
folder's ``render_config.json``): change, add or remove an image, or ask for
another size, and it is rebuilt, whatever the files' times say; a copied or
touched folder with the same images reuses it.
The array is written to a temporary file and renamed, then a JSON sidecar with
the key, the shape, the byte size and a CRC32 per image is written the same way;
a cache whose sidecar is missing, whose size differs or whose sampled CRCs do
not match (a crash, a truncated copy, a corrupted disk) is rebuilt.

Default location: the user's cache folder, never the image folder
(:func:`default_cache_dir`: ``<cache root>/images/<folder name>-<hash of its path>/``,
the cache root being ``EVENTCNN_CACHE`` or ``~/.cache/eventcnn``, see
:func:`eventcnn._env.cache_root`); ``eventcnn train --cache-dir DIR`` chooses
another folder. When the cache root is not writable the run folder's ``cache/``
is used. Safe to delete at any time.

Example::

    from eventcnn.learn.cache import CachedImageSequence, ensure_cache
    cache = ensure_cache(files, size=224, cache_dir=default_cache_dir("CreatedImages"), name="train")
    seq = CachedImageSequence(cache, labels, batch_size=64, shuffle=True, drop_remainder=True)
    x, y = seq[0]                       # uint8 (64, 224, 224, 3), int32 (64,)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import cache_root, sayer
from eventcnn._io import atomic_path, write_json_atomic
from eventcnn.errors import UserError
from eventcnn.images.folder import RENDER_CONFIG
from eventcnn.images.shards import ShardRows, parse_ref, read_shard_image
from eventcnn.learn.dataset import ImageSequence, _hw, read_image, split_arrays
from eventcnn.limits import ResourceLimitError, format_bytes

__all__ = [
    "CACHE_DIRNAME",
    "cache_key",
    "CACHE_VERSION",
    "CachedImageSequence",
    "CHECK_ROWS",
    "default_cache_dir",
    "ensure_cache",
    "IMAGES_SUBDIR",
    "ImageCache",
    "open_cache",
    "shard_cache",
    "training_sequences",
]


#: the cache folder's name inside image folders in eventcnn <= 0.1 (now skipped as hidden, never written)
CACHE_DIRNAME = ".eventcnn-cache"
#: the decoded-image caches inside the cache root (:func:`eventcnn._env.cache_root`)
IMAGES_SUBDIR = "images"
CACHE_VERSION = 2  # 2: keyed by content
#: rows whose CRC32 is checked when a cache is opened (first, last and evenly spaced ones)
CHECK_ROWS = 16


@dataclass
class ImageCache:
    """A valid decoded-image cache: the ``.npy`` path, its sidecar and the memory-mapped array."""

    path: Path
    meta: dict[str, Any]
    array: np.ndarray  # np.memmap, read-only, uint8 (N, H, W, 3)
    built: bool = False  # True when this call (re)built it

    def __len__(self) -> int:
        return int(self.array.shape[0])


def _digest(path: str | os.PathLike[str]) -> str:
    if parse_ref(path) is not None:  # one image of a shard folder: the bytes of its row
        try:
            return hashlib.blake2b(read_shard_image(path).tobytes(), digest_size=16).hexdigest()
        except FileNotFoundError:
            raise FileNotFoundError(f"image {path} not found") from None
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} not found") from None
    except AttributeError:  # pragma: no cover - Python < 3.11: no hashlib.file_digest
        return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()


def cache_key(
    files: Sequence[str | os.PathLike[str]],
    size: int | Sequence[int] | None,
    extra: Mapping[str, Any] | None = None,
    workers: int | None = None,
) -> str:
    """SHA-256 over the content of the files in order (a BLAKE2 digest each), the image size and ``extra``.

    Names, paths and file times do not count: the same images give the same key.
    ``workers`` threads read the files (default: CPU count).

    Example::

        cache_key(["a.png", "b.png"], 64, {"render_config": {"size": 64}})
    """
    h = hashlib.sha256()
    h.update(json.dumps({"version": CACHE_VERSION, "size": None if size is None else list(_hw(size)),
                         "extra": extra or {}}, sort_keys=True, default=str).encode())
    with ThreadPoolExecutor(max(1, workers or os.cpu_count() or 1)) as pool:
        for digest in pool.map(_digest, files, chunksize=64):
            h.update(digest.encode() + b"\n")
    return h.hexdigest()


def default_cache_dir(data_dir: str | os.PathLike[str], fallback: str | os.PathLike[str] | None = None) -> Path:
    """The decoded-image cache of ``data_dir``: ``<cache root>/images/<name>-<hash of its path>``.

    The cache root is :func:`eventcnn._env.cache_root` (``EVENTCNN_CACHE`` or the user
    cache folder); nothing is written into the image folder. When the cache root cannot
    be written, ``<fallback>/cache`` (the run folder's) when given.

    Example::

        >>> default_cache_dir("CreatedImages")                         # doctest: +SKIP
        PosixPath('/home/me/.cache/eventcnn/images/CreatedImages-1f3a9c0d2b4e')
    """
    folder = Path(os.path.abspath(Path(data_dir).expanduser())).resolve()
    tag = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    where = cache_root() / IMAGES_SUBDIR / f"{folder.name or 'root'}-{tag}"
    if fallback is None or _writable(where):
        return where
    return Path(fallback) / "cache"


def _writable(folder: Path) -> bool:
    """True when ``folder`` exists or can be created, and takes files."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _paths(cache_dir: Path, name: str, hw: tuple[int, int], key: str) -> tuple[Path, Path]:
    stem = f"{name}_{hw[0]}x{hw[1]}_{key[:16]}"
    return cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"


def _crc(row: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(row).data) & 0xFFFFFFFF


def _check_rows(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, num=min(n, CHECK_ROWS)).astype(np.int64))


def open_cache(npy: Path, meta_file: Path, key: str, full: bool = False) -> tuple[ImageCache | None, str]:
    """Open and check a cache; ``(cache, "")`` when valid, else ``(None, reason)``.

    ``full=True`` checks the CRC32 of every image instead of a sample.
    """
    if not meta_file.exists() or not npy.exists():
        return None, "missing"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        return None, f"unreadable sidecar ({exc})"
    if meta.get("version") != CACHE_VERSION or meta.get("key") != key:
        return None, "stale (images or settings changed)"
    if npy.stat().st_size != meta.get("nbytes"):
        return None, f"size {npy.stat().st_size} bytes, expected {meta.get('nbytes')} (partial or damaged)"
    try:
        arr = np.load(npy, mmap_mode="r")
    except (OSError, ValueError) as exc:
        return None, f"unreadable array ({exc})"
    if arr.dtype != np.uint8 or list(arr.shape) != meta.get("shape"):
        return None, f"array {arr.dtype} {arr.shape} does not match the sidecar {meta.get('shape')}"
    crcs = meta.get("crc32") or []
    if len(crcs) != arr.shape[0]:
        return None, "sidecar lists the wrong number of checksums"
    rows = np.arange(arr.shape[0]) if full else _check_rows(arr.shape[0])
    for i in rows:
        if _crc(arr[i]) != crcs[i]:
            return None, f"checksum of image {i} does not match (damaged)"
    return ImageCache(npy, meta, arr), ""


def ensure_cache(
    files: Sequence[str | os.PathLike[str]],
    size: int | Sequence[int] | None,
    cache_dir: str | os.PathLike[str],
    name: str = "images",
    extra: Mapping[str, Any] | None = None,
    workers: int | None = None,
    quiet: bool = False,
) -> ImageCache:
    """Return the valid cache of ``files`` at ``size``, (re)building it when needed.

    Decoding uses :func:`eventcnn.learn.dataset.read_image`, so cached batches equal
    the streamed ones bit for bit. ``workers`` threads decode (default: CPU
    count); ``quiet`` hides the progress bar. Older caches of the same ``name``
    and size in ``cache_dir`` are removed after a rebuild.

    Example::

        cache = ensure_cache(files, 64, default_cache_dir("CreatedImages"), name="train")
        cache.array[0]                  # uint8 (64, 64, 3), memory-mapped
    """
    if not len(files):
        raise UserError("ensure_cache: no files")
    say = sayer(quiet)
    cache_dir = Path(cache_dir)
    hw = _hw(size) if size is not None else read_image(files[0]).shape[:2]
    key = cache_key(files, hw, extra, workers)
    npy, meta_file = _paths(cache_dir, name, hw, key)
    cache, reason = open_cache(npy, meta_file, key)
    if cache is not None:
        return cache
    if reason != "missing":
        say(f"image cache {npy} {reason}: rebuilding")
    _check_disk(cache_dir, len(files) * hw[0] * hw[1] * 3)
    _build(files, hw, npy, meta_file, key, workers, quiet)
    for old in cache_dir.glob(f"{name}_{hw[0]}x{hw[1]}_*"):
        if old not in (npy, meta_file) and not old.name.startswith("."):
            with contextlib.suppress(OSError):
                old.unlink()
    cache, reason = open_cache(npy, meta_file, key)
    if cache is None:  # pragma: no cover - only if the disk changes under us
        raise RuntimeError(f"image cache {npy} is invalid right after building it: {reason}")
    cache.built = True
    return cache


def _check_disk(cache_dir: Path, need: int) -> None:
    """Refuse, before decoding, a cache larger than the free disk space where it goes."""
    where = next((p for p in (cache_dir, *cache_dir.parents) if p.exists()), cache_dir)
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if need > free:
        raise ResourceLimitError(
            f"the decoded-image cache needs about {format_bytes(need)} of disk in {cache_dir}, but only "
            f"{format_bytes(free)} is free there; use --cache-dir on a larger disk, a smaller --size, "
            "or --no-cache (decode every epoch, slower)")


def _build(files: Sequence[str | os.PathLike[str]], hw: tuple[int, int], npy: Path, meta_file: Path,
           key: str, workers: int | None, quiet: bool) -> None:
    from tqdm.auto import tqdm

    n = len(files)
    shape = (n, hw[0], hw[1], 3)
    crcs = [0] * n
    workers = max(1, workers or os.cpu_count() or 1)
    meta_file.unlink(missing_ok=True)  # an old sidecar must never vouch for a new array
    with atomic_path(npy) as tmp:
        out = [np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)]

        def decode(i: int) -> int:
            img = read_image(files[i], hw)
            out[0][i] = img
            crcs[i] = _crc(img)
            return i

        with ThreadPoolExecutor(workers) as pool, tqdm(total=n, desc=f"caching {npy.name}", unit="img",
                                                       disable=quiet, leave=False) as bar:
            for _ in pool.map(decode, range(n), chunksize=64):
                bar.update(1)
        out[0].flush()
        out.clear()  # close the memory map before the rename
        nbytes = tmp.stat().st_size
    write_json_atomic(meta_file, {"version": CACHE_VERSION, "key": key, "shape": list(shape), "dtype": "uint8",
                                  "nbytes": nbytes, "files": n, "crc32": crcs}, indent=0)


def shard_cache(files: Sequence[str | os.PathLike[str]], size: int | Sequence[int] | None) -> ImageCache | None:
    """The images of a shard folder as an :class:`ImageCache` over the shards themselves, or ``None``.

    ``None`` unless every file names a shard row (``shard-NNNNN.npy#ROW``) and the
    shards hold images of ``size``: the memory-mapped shards then are the
    decoded-image cache (no copy, no PNG); otherwise :func:`ensure_cache` builds one.

    Example::

        cache = shard_cache(["CreatedImages/shard-00000.npy#0"], 64)   # ImageCache or None
    """
    if not len(files) or any(parse_ref(f) is None for f in files):
        return None
    rows = ShardRows(files)
    if size is not None and tuple(rows.shape[1:3]) != _hw(size):
        return None
    first = parse_ref(files[0])
    return ImageCache(Path(first[0]), {"shape": list(rows.shape), "shards": True}, rows)  # type: ignore[arg-type,index]


class CachedImageSequence(ImageSequence):
    """:class:`~eventcnn.learn.dataset.ImageSequence` whose batches are slices of an :class:`ImageCache`.

    Same ordering, oversampling and sample weights as the streaming sequence
    (``seq[i]`` is identical for the same files and seed); in addition

    * ``drop_remainder=True`` yields only full batches (fixed shapes: XLA and
      ``torch.compile`` compile once; needed for data-parallel sharding);
      the epoch's permutation changes every epoch, so no image is always left out;
    * ``pad_to_batch=True`` pads the last batch to ``batch_size`` with copies of
      image 0 and sample weight 0 (for validation with fixed shapes).

    Example::

        seq = CachedImageSequence(cache, labels, batch_size=64, shuffle=True, seed=1, drop_remainder=True)
    """

    def __init__(self, cache: ImageCache, labels: Sequence[int] | np.ndarray | None = None,
                 drop_remainder: bool = False, pad_to_batch: bool = False, **kwargs: Any) -> None:
        self.cache = cache
        kwargs.pop("size", None)
        super().__init__([str(cache.path)] * len(cache), labels, **kwargs)
        self.drop_remainder = bool(drop_remainder) and self.num_samples >= self.batch_size
        self.pad_to_batch = bool(pad_to_batch)

    def __len__(self) -> int:
        if self.drop_remainder:
            return len(self._order) // self.batch_size
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int):
        if index < 0 or index >= len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        order = np.argsort(idx, kind="stable")  # read the memory map in file order
        x = np.empty((len(idx), *self.cache.array.shape[1:]), dtype=np.uint8)
        x[order] = self.cache.array[idx[order]]
        n_real = len(idx)
        weights = self._sample_weights(self.labels[idx]) if self.labels is not None else None
        if self.pad_to_batch and n_real < self.batch_size:
            pad = self.batch_size - n_real
            x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
            idx = np.concatenate([idx, np.repeat(idx[:1], pad)])
            weights = np.concatenate([weights if weights is not None else np.ones(n_real, np.float32),
                                      np.zeros(pad, np.float32)])
        if self.labels is None:
            return (x,)
        y = self.labels[idx]
        if weights is not None or self.pad_to_batch:
            if weights is None:
                weights = np.ones(len(idx), np.float32)
            return x, y, weights
        return x, y


def training_sequences(
    split: Mapping[str, Any],
    data_dir: str | os.PathLike[str],
    size: int,
    batch_size: int,
    seed: int = 42,
    oversample: bool = False,
    class_weight: str | None = None,
    workers: int = 2,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    fixed_shapes: bool = False,
    quiet: bool = False,
) -> tuple[ImageSequence, ImageSequence]:
    """Train and validation sequences of a split: cached (default) or streamed from the images.

    With ``cache`` the train and val parts are decoded once into
    ``cache_dir`` (default :func:`default_cache_dir`); with ``fixed_shapes``
    training yields only full batches and validation pads its last one (weight 0).

    Example::

        train_seq, val_seq = training_sequences(split, "CreatedImages", 64, batch_size=32)
    """

    extra: dict[str, Any] = {}
    rc = Path(data_dir) / RENDER_CONFIG
    if rc.exists():
        extra["render_config"] = rc.read_text()
    common = {"batch_size": batch_size, "workers": workers, "num_classes": len(split["class_names"])}
    train_kw = {"shuffle": True, "seed": seed, "oversample": "balanced" if oversample else None,
                "class_weight": class_weight}
    seqs = []
    for part in ("train", "val"):
        files, labels = split_arrays(split, part, data_dir)
        if not files:
            raise UserError(f"split part {part!r} is empty: use more images or other fractions")
        kw = {**common, **(train_kw if part == "train" else {})}
        if not cache:
            seqs.append(ImageSequence(files, labels, size=size, **kw))
            continue
        shards = shard_cache(files, size)
        if shards is not None:  # a shard folder at the trained size: the shards are the cache
            seqs.append(CachedImageSequence(shards, labels, **({"drop_remainder": fixed_shapes} if part == "train"
                                                               else {"pad_to_batch": fixed_shapes}), **kw))
            continue
        where = Path(cache_dir) if cache_dir else default_cache_dir(data_dir, out)
        c = ensure_cache(files, size, where, name=part, extra=extra, quiet=quiet)
        if c.built:
            sayer(quiet)(f"decoded {len(c)} {part} images once into {c.path}")
        shape_kw = {"drop_remainder": fixed_shapes} if part == "train" else {"pad_to_batch": fixed_shapes}
        seqs.append(CachedImageSequence(c, labels, **shape_kw, **kw))
    return seqs[0], seqs[1]
