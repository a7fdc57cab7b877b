"""The events of the representation study: generated in cached pieces, drawn as shards, seen three ways.

One event, three views (issue 36, "which representation wins, and when"):

- the eta-phi image of :mod:`eventcnn.images.render` (read from the shards that
  ``render --format shards`` writes),
- the reconstructed objects as a padded set (:mod:`eventcnn.events.objects`),
- the twelve high-level features of :mod:`eventcnn.learn.baseline`.

Generation (:func:`generate_pieces`): each process (``tt``, ``wjets``, ``dy``)
is generated with :func:`eventcnn.events.generate.generate_to_file` in pieces of
``piece_events`` events, piece ``k`` of process ``p`` with the seed
:func:`piece_seed`; pieces are added round-robin to the classes that have fewer
than ``target`` selected events, so a stopped generation leaves a balanced,
usable sample and a rerun continues where it stopped (a finished piece is never
generated again; ``pieces.json`` records events, selected events, seed and
seconds of each). Rendering (:func:`render_shards`) draws every selected event
of every piece into one shard folder, again only when the pieces changed.

Roles are fixed per event, not per run: an event with number ``e`` is a test
event when ``e % 12`` is 0 or 6 (1/6 of the events), a validation event when it
is 1 (1/12), a training event otherwise. A held-out event is therefore never
trained on, however many pieces exist (:func:`role_of`).

Example::

    from eventcnn.learn.study_data import generate_pieces, render_shards, load_views
    generate_pieces("bench/_out/repr/events", target=2000, piece_events=2000, seed=1)
    render_shards("bench/_out/repr/events", "bench/_out/repr/shards_32", size=32)
    views = load_views("bench/_out/repr/events", "bench/_out/repr/shards_32")
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError
from eventcnn.events import Events, read_events
from eventcnn.events.generate import generate_to_file
from eventcnn.events.objects import ObjectArrays, object_arrays
from eventcnn.events.selection import get_selection
from eventcnn.images.render import RenderConfig, render_to_dir
from eventcnn.images.shards import INDEX_FILE, ShardRows, read_index, shard_ref
from eventcnn.learn.baseline import event_features

__all__ = [
    "CLASS_WORDS",
    "PIECES_FILE",
    "PROCESSES",
    "ROLE_TEST",
    "ROLE_TRAIN",
    "ROLE_VAL",
    "Views",
    "generate_pieces",
    "load_views",
    "pools",
    "piece_path",
    "piece_seed",
    "read_pieces",
    "render_shards",
    "role_of",
    "subset",
]

#: the generated processes, in class order
PROCESSES: tuple[str, ...] = ("tt", "wjets", "dy")
#: plain words for plots and tables
CLASS_WORDS: dict[str, str] = {"tt": "tt+jets", "wjets": "W+jets", "dy": "Drell-Yan"}
PIECES_FILE = "pieces.json"
ROLE_TRAIN, ROLE_VAL, ROLE_TEST = 0, 1, 2
_SHARDS_INPUTS = "study_inputs.json"


def piece_path(folder: str | os.PathLike[str], process: str, k: int) -> Path:
    """The event file of piece ``k`` of ``process``: ``<folder>/<process>_<k:03d>.json.gz``."""
    return Path(folder) / f"{process}_{int(k):03d}.json.gz"


def piece_seed(seed: int, process: str, k: int) -> int:
    """The generator seed of piece ``k`` of ``process`` in a study with master ``seed``.

    Example::

        >>> piece_seed(1, "tt", 0), piece_seed(1, "wjets", 3)
        (10000, 11003)
    """
    if not 0 <= int(k) < 1000:
        raise UserError(f"piece index must be 0..999, got {k}")
    return int(seed) * 10_000 + PROCESSES.index(process) * 1000 + int(k)


def role_of(event_numbers: np.ndarray) -> np.ndarray:
    """Train (0), validation (1) or test (2) for each event number: fixed, whatever was generated.

    Example::

        >>> role_of(np.arange(12)).tolist()
        [2, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0]
    """
    r = np.asarray(event_numbers, dtype=np.int64) % 12
    return np.where((r == 0) | (r == 6), ROLE_TEST, np.where(r == 1, ROLE_VAL, ROLE_TRAIN)).astype(np.int8)


def read_pieces(folder: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``pieces.json`` of an event folder (file name -> events, selected, seed, seconds); ``{}`` if none."""
    import json

    path = Path(folder) / PIECES_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}); delete it to recount the pieces") from None


def _count_selected(path: Path, selection: Any) -> int:
    events = read_events(path)
    sel = get_selection(selection)
    return len(events) if sel is None else int(sel.select(events).passed.sum())


def generate_pieces(
    folder: str | os.PathLike[str],
    target: int,
    piece_events: int = 10_000,
    seed: int = 1,
    *,
    processes: Sequence[str] = PROCESSES,
    selection: Any = "lepton",
    jobs: int = 1,
    fast: bool = False,
    max_pieces: int | None = None,
    quiet: bool = False,
) -> dict[str, dict[str, Any]]:
    """Generate pieces round-robin until every process has ``target`` selected events; return ``pieces.json``.

    Existing pieces (listed in ``pieces.json`` with the same size and seed) are
    kept. ``max_pieces`` stops after that many new pieces (a time box). Progress
    lines go to standard output (one per piece) unless ``quiet``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    pieces = read_pieces(folder)
    made = 0
    while True:
        counts = {p: sum(v["selected"] for v in pieces.values() if v["process"] == p) for p in processes}
        short = [p for p in processes if counts[p] < target]
        if not short or (max_pieces is not None and made >= max_pieces):
            return pieces
        for p in short:
            k = sum(1 for v in pieces.values() if v["process"] == p)
            path = piece_path(folder, p, k)
            s = piece_seed(seed, p, k)
            t0 = time.perf_counter()
            c0 = time.process_time()
            if not path.exists():
                generate_to_file(p, piece_events, path, seed=s, jobs=jobs, quiet=True, fast=fast)
            n_sel = _count_selected(path, selection)
            pieces[path.name] = {"process": p, "piece": k, "seed": s, "events": piece_events,
                                 "selected": n_sel, "fast": fast, "selection": str(selection),
                                 "seconds": round(time.perf_counter() - t0, 1),
                                 "cpu_seconds_driver": round(time.process_time() - c0, 1)}
            write_json_atomic(folder / PIECES_FILE, pieces)
            made += 1
            if not quiet:
                print(f"[generate] {path.name}: {piece_events} events, {n_sel} selected, "
                      f"{time.perf_counter() - t0:.0f} s; {p} now {counts[p] + n_sel} of {target}",
                      file=sys.stdout, flush=True)
            if max_pieces is not None and made >= max_pieces:
                return pieces


def _piece_files(folder: Path) -> list[tuple[Path, str]]:
    pieces = read_pieces(folder)
    rows = sorted((v["process"], v["piece"], name) for name, v in pieces.items())
    order = {p: i for i, p in enumerate(PROCESSES)}
    rows.sort(key=lambda r: (order.get(r[0], 99), r[1]))
    return [(folder / name, p) for p, _, name in rows]


def render_shards(
    events_folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    size: int = 32,
    selection: Any = "lepton",
    jobs: int = 1,
    quiet: bool = False,
) -> Path:
    """Draw the selected events of every piece into one shard folder (skipped when already drawn).

    Uses :func:`eventcnn.images.render.render_to_dir` with ``format="shards"``
    (paper style, ``size`` px); ``out/study_inputs.json`` records the pieces drawn.
    """
    import json


    events_folder, out = Path(events_folder), Path(out)
    inputs = _piece_files(events_folder)
    if not inputs:
        raise UserError(f"{events_folder}: no generated pieces ({PIECES_FILE} missing or empty)")
    record = {"pieces": [f.name for f, _ in inputs], "size": int(size), "selection": str(selection)}
    stamp = out / _SHARDS_INPUTS
    if stamp.exists() and json.loads(stamp.read_text()) == record and (out / INDEX_FILE).exists():
        return out
    render_to_dir([(str(f), label) for f, label in inputs], out, RenderConfig(size=size),
                  selection=selection, jobs=jobs, quiet=quiet, format="shards")
    write_json_atomic(stamp, record)
    return out


@dataclass
class Views:
    """The same events three ways, row-aligned: ``images`` (array-like), ``objects``, ``features``.

    ``labels`` are class indices into ``class_names``; ``roles`` train/val/test
    (:func:`role_of`); ``source``/``event`` identify each event.
    """

    images: Any
    objects: ObjectArrays
    features: np.ndarray
    feature_names: list[str]
    labels: np.ndarray
    roles: np.ndarray
    class_names: list[str]
    source: np.ndarray
    event: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _events_views(events: Events, selection: Any) -> tuple[ObjectArrays, np.ndarray, list[str]]:

    sel = get_selection(selection)
    feats, names = event_features(events, sel)
    return object_arrays(events, sel), feats, names


def load_views(events_folder: str | os.PathLike[str], shards: str | os.PathLike[str],
               selection: Any = "lepton", class_names: Sequence[str] = PROCESSES) -> Views:
    """Read the shard index and the pieces; return the three aligned views of every drawn event.

    Every source file is read once; the events are matched to the index by
    their position in the file (``entry``), and their event numbers are checked
    against it (a mismatch names the file and the row).
    """

    shards = Path(shards)
    rows = read_index(shards)
    if not rows:
        raise UserError(f"{shards / INDEX_FILE} lists no image")
    names = list(class_names)
    src = np.array([r["source"] for r in rows])
    entry = np.array([int(r["entry"]) for r in rows], dtype=np.int64)
    event = np.array([int(r["event"]) for r in rows], dtype=np.int64)
    unknown = sorted({r["class"] for r in rows} - set(names))
    if unknown:
        raise UserError(f"{shards}: classes {unknown} are not among {names}")
    labels = np.array([names.index(r["class"]) for r in rows], dtype=np.int64)
    parts_obj, parts_feat = [], []
    feature_names: list[str] = []
    for source in dict.fromkeys(src.tolist()):
        idx = np.flatnonzero(src == source)
        path = Path(source) if Path(source).exists() else Path(events_folder) / Path(source).name
        events = read_events(path)
        sub = events[entry[idx]]
        bad = np.flatnonzero(np.asarray(sub.event, dtype=np.int64) != event[idx])
        if len(bad):
            raise UserError(f"{shards / INDEX_FILE} row {int(idx[bad[0]]) + 2}: event {int(event[idx[bad[0]]])} "
                            f"is not entry {int(entry[idx[bad[0]]])} of {path}")
        sel = get_selection(selection)
        if sel is not None:
            sub, _ = sel.apply(sub)  # the selected objects, as drawn (every event here passed)
            if len(sub) != len(idx):
                raise UserError(f"{path}: {len(idx) - len(sub)} drawn events fail the selection {selection!r}")
        obj, feats, feature_names = _events_views(sub, None if sel is None else sel)
        parts_obj.append((idx, obj))
        parts_feat.append((idx, feats))
    objects = ObjectArrays.concat([o for _, o in parts_obj])
    order = np.concatenate([i for i, _ in parts_obj])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    objects = objects.take(inverse)
    features = np.concatenate([f for _, f in parts_feat])[inverse]
    refs = [str(shards / shard_ref(int(r["shard"]), int(r["row"]))) for r in rows]
    return Views(ShardRows(refs), objects, features, feature_names, labels, role_of(event), names,
                 src, event)


def pools(views: Views) -> dict[str, list[np.ndarray]]:
    """Per class, the rows of each role; test and validation cut to the same count per class (balanced)."""
    out: dict[str, list[np.ndarray]] = {}
    for name, role in (("train", ROLE_TRAIN), ("val", ROLE_VAL), ("test", ROLE_TEST)):
        rows = [np.flatnonzero((views.roles == role) & (views.labels == c)) for c in range(len(views.class_names))]
        if name != "train":
            n = min(len(r) for r in rows)
            rows = [r[:n] for r in rows]
        out[name] = rows
    return out


def subset(pool: dict[str, list[np.ndarray]], size: int, seed: int, min_val: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """``size`` training rows per class (the first of a per-seed permutation: nested in ``size``) and
    ``max(min_val, size // 4)`` validation rows per class (capped by the pools)."""
    train, val = [], []
    for c, rows in enumerate(pool["train"]):
        perm = rows[np.random.default_rng([int(seed), 7, c]).permutation(len(rows))]
        train.append(np.sort(perm[:size]))
    n_val = max(min_val, size // 4)
    for c, rows in enumerate(pool["val"]):
        perm = rows[np.random.default_rng([int(seed), 8, c]).permutation(len(rows))]
        val.append(np.sort(perm[:n_val]))
    return np.concatenate(train), np.concatenate(val)
