"""Image shards: rendered events as ``uint8`` arrays, about 10,000 images per ``.npy`` file, one index.

``eventcnn render --format shards`` writes, instead of one PNG per event::

    OUT/shard-00000.npy      uint8 (N, H, W, 3), N = shard_size except in the last shard
    OUT/shard-00001.npy
    OUT/shards.csv           event,class,source,entry,shard,row  (one row per image, in order)
    OUT/render_config.json, OUT/selection.json

``entry`` is the event's position in its source file (the NanoAOD entry
number; for JSON the position among the events read). The rows are in input
order, then entry order; image ``g`` of the job is row ``g % shard_size`` of
shard ``g // shard_size``, whatever ``--jobs`` was.

Training and prediction read shards directly, memory-mapped
(``np.load(mmap_mode="r")``): an image of a shard folder is named
``shard-00003.npy#17`` (:func:`shard_ref`) wherever a data folder lists
files (the split, the decoded-image cache), and :class:`ShardRows` gathers
rows of many shards as one array without copying the shards.

Example::

    >>> from eventcnn.images.shards import parse_ref, shard_ref
    >>> shard_ref(3, 17)
    'shard-00003.npy#17'
    >>> parse_ref("CreatedImages/shard-00003.npy#17")
    ('CreatedImages/shard-00003.npy', 17)
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from eventcnn._io import write_text_atomic
from eventcnn.errors import UserError

__all__ = [
    "INDEX_COLUMNS",
    "INDEX_FILE",
    "SHARD_SIZE",
    "ShardRows",
    "is_shard_folder",
    "open_shard",
    "parse_ref",
    "read_index",
    "read_shard_image",
    "shard_name",
    "shard_ref",
    "write_index",
]

SHARD_SIZE = 10_000  #: images per shard file
INDEX_FILE = "shards.csv"
INDEX_COLUMNS = ("event", "class", "source", "entry", "shard", "row")
_REF = re.compile(r"^(?P<path>.*shard-\d+\.npy)#(?P<row>\d+)$")


def shard_name(k: int) -> str:
    """File name of shard ``k``: ``shard-00000.npy``."""
    return f"shard-{int(k):05d}.npy"


def shard_ref(k: int, row: int) -> str:
    """The name of one image of a shard folder, relative to the folder: ``shard-00003.npy#17``."""
    return f"{shard_name(k)}#{int(row)}"


def parse_ref(path: str | os.PathLike[str]) -> tuple[str, int] | None:
    """``(shard file, row)`` of a shard image name, ``None`` for an ordinary file."""
    m = _REF.match(os.fspath(path))
    return (m["path"], int(m["row"])) if m else None


def is_shard_folder(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds a shard index (``shards.csv``)."""
    return (Path(folder) / INDEX_FILE).is_file()


@lru_cache(maxsize=64)
def _open(path: str, mtime_ns: int) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # truncated (mmap longer than the file), not .npy, pickled
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            npy = fh.read(6) == b"\x93NUMPY"
        why = ("not a .npy array file" if not npy else "truncated: shorter than its header says"
               if "mmap length" in str(exc) else str(exc))
        raise UserError(f"{path}: a damaged image shard ({why}; {size} bytes): an interrupted render or copy? "
                        f"render the events again into a new folder (eventcnn render ... --format shards)") from None
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise UserError(f"{path}: not an image shard (expected uint8 (N, H, W, 3), got {arr.dtype} {arr.shape})")
    return arr


def open_shard(path: str | os.PathLike[str]) -> np.ndarray:
    """The shard's images, memory-mapped read-only (opened once per file version)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"image shard {path} not found") from None
    return _open(path, st.st_mtime_ns)


def read_shard_image(ref: str | os.PathLike[str]) -> np.ndarray:
    """One image ``uint8 (H, W, 3)`` of a shard, by its name ``.../shard-00003.npy#17``."""
    parsed = parse_ref(ref)
    if parsed is None:
        raise UserError(f"{ref} is not a shard image name (shard-NNNNN.npy#ROW)")
    arr = open_shard(parsed[0])
    if parsed[1] >= arr.shape[0]:
        raise UserError(f"{ref}: the shard has only {arr.shape[0]} images")
    return np.asarray(arr[parsed[1]])


class ShardRows:
    """Rows of many shards as one read-only array-like ``(len(refs), H, W, 3)`` (no copy of the shards).

    ``rows[idx]`` (an int or an integer array) gathers from the memory maps.

    Example::

        >>> rows = ShardRows(["out/shard-00000.npy#3", "out/shard-00001.npy#0"])   # doctest: +SKIP
        >>> rows[np.array([1, 0])].shape                                           # doctest: +SKIP
        (2, 64, 64, 3)
    """

    def __init__(self, refs: Sequence[str | os.PathLike[str]]) -> None:
        parsed = [parse_ref(r) for r in refs]
        bad = [str(r) for r, p in zip(refs, parsed) if p is None]
        if bad:
            raise UserError(f"not shard image names: {bad[:3]}")
        names = sorted({p[0] for p in parsed})  # type: ignore[index]
        code = {n: i for i, n in enumerate(names)}
        self._arrays = [open_shard(n) for n in names]
        self._shard = np.array([code[p[0]] for p in parsed], dtype=np.int64)  # type: ignore[index]
        self._row = np.array([p[1] for p in parsed], dtype=np.int64)  # type: ignore[index]
        shapes = {a.shape[1:] for a in self._arrays}
        if len(shapes) > 1:
            raise UserError(f"shards of different image shapes: {sorted(shapes)}")
        self.shape = (len(parsed), *(shapes.pop() if shapes else (0, 0, 3)))
        self.dtype = np.dtype(np.uint8)
        for k, a in enumerate(self._arrays):
            rows = self._row[self._shard == k]
            if len(rows) and rows.max() >= a.shape[0]:
                raise UserError(f"{names[k]}: row {int(rows.max())} listed but the shard has {a.shape[0]} images")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx: int | np.ndarray) -> np.ndarray:
        if np.isscalar(idx):
            i = int(idx)  # type: ignore[arg-type]
            return np.asarray(self._arrays[self._shard[i]][self._row[i]])
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), *self.shape[1:]), dtype=np.uint8)
        shard, row = self._shard[idx], self._row[idx]
        for k in np.unique(shard):
            sel = shard == k
            out[sel] = self._arrays[int(k)][row[sel]]
        return out


def write_index(path: str | os.PathLike[str], rows: Sequence[dict[str, str]]) -> Path:
    """Write the shard index atomically (columns :data:`INDEX_COLUMNS`, rows in the given order)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


def read_index(folder: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of ``folder/shards.csv``, checked for its columns.

    Example::

        >>> read_index("CreatedImages")[0]["shard"]                      # doctest: +SKIP
        '0'
    """
    path = Path(folder) / INDEX_FILE
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: not a shard index, missing column(s) {missing}")
        return list(reader)
