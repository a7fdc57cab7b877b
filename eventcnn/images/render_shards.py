"""Drawing a render job's events into shards, and the files every render job tidies (temporaries, skipped.csv).

The shard half of :func:`eventcnn.images.render.render_to_dir`: the chosen events of
each input are cut into shards of ``shard_size`` images (:mod:`eventcnn.images.shards`
is the format), drawn on the executor, and merged into the folder's index.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import file_lock
from eventcnn.events import BadEvent
from eventcnn.events.formats import ReadOptions
from eventcnn.events.selection import Selection
from eventcnn.executor import Executor
from eventcnn.images.etaphi import RenderConfig
from eventcnn.images.folder import LOCK, SKIPPED, write_skipped
from eventcnn.images.render_summary import RenderSummary
from eventcnn.images.render_tasks import DrawTask, Piece, draw_task
from eventcnn.images.shards import INDEX_FILE, read_index, shard_name, write_index

__all__ = ["draw_shards", "sweep_temps", "write_dropped"]


def draw_shards(
    ex: Executor, bar: Any, inputs: list[tuple[Any, str]], chosen: list[tuple[np.ndarray, np.ndarray]],
    out: Path, config: RenderConfig, sel: Selection | None, options: ReadOptions, shard_size: int,
    summary: RenderSummary,
) -> None:
    """Draw the chosen events into new shards and merge them into the folder's index.

    The rows of the folder's index whose (class, event) this run does not draw are
    kept (a second class rendered into a shard folder adds to it, as with PNGs); the
    new shards are numbered after the existing ones, so the old index stays true
    until the merged one replaces it (a failed run leaves the folder as it was).
    Shard files no row refers to any more are removed. When nothing is kept the
    shards are numbered from 0 again. The lock is held throughout: shard renders into
    one folder run one after the other.
    """
    lock = out / LOCK
    with file_lock(lock, remove=True):
        new_keys = {(label, str(int(n))) for (_, label), (_, numbers) in zip(inputs, chosen) for n in numbers}
        old = read_index(out) if (out / INDEX_FILE).is_file() else []
        kept = [r for r in old if (r["class"], r["event"]) not in new_keys]
        if kept:
            base = 1 + max([int(r["shard"]) for r in old] + _shard_numbers(out))
        else:  # everything is redrawn: numbered from 0, the old index goes first (it would promise old shards)
            base = 0
            (out / INDEX_FILE).unlink(missing_ok=True)
        tasks, index = _shard_tasks(inputs, chosen, out, config, sel, options, shard_size, base, summary)
        total = sum(len(p) for p, _ in chosen)
        bar.reset(total=total)
        bar.set_description("rendering")
        bar.unit = "img"
        try:
            ex.map(draw_task, tasks, bar=bar, weight=lambda _t, n: n, name="shard")
            merged = kept + index
            write_index(out / INDEX_FILE, merged)
            used = {int(r["shard"]) for r in merged}
            for k in _shard_numbers(out):
                if k not in used:
                    (out / shard_name(k)).unlink()
            for r in kept:
                summary.kept[r["class"]] = summary.kept.get(r["class"], 0) + 1
        finally:
            sweep_temps(out, set())
            write_dropped(out, summary.dropped, inputs)


def _shard_numbers(out: Path) -> list[int]:
    """The numbers of the shard files in ``out``."""
    return [int(m[1]) for f in out.glob("shard-*.npy") if (m := re.fullmatch(r"shard-(\d+)\.npy", f.name))]


def _shard_tasks(
    inputs: list[tuple[Any, str]], chosen: list[tuple[np.ndarray, np.ndarray]], out: Path, config: RenderConfig,
    sel: Selection | None, options: ReadOptions, shard_size: int, base: int, summary: RenderSummary,
) -> tuple[list[DrawTask], list[dict[str, str]]]:
    """The drawing tasks of shards ``base``, ``base + 1``, ... and their index rows (input order, then entry order)."""
    total = sum(len(p) for p, _ in chosen)
    pieces: list[list[Piece]] = [[] for _ in range(-(-total // shard_size))]
    index: list[dict[str, str]] = []
    g = 0  # row of the whole job
    for (source, label), (positions, numbers) in zip(inputs, chosen):
        summary.written[label] = summary.written.get(label, 0) + len(positions)
        start = 0
        while start < len(positions):
            k, row = divmod(g, shard_size)
            take = min(shard_size - row, len(positions) - start)
            pieces[k].append(Piece(str(source), label, positions[start : start + take], sel, options))
            for j in range(take):
                index.append({"event": str(int(numbers[start + j])), "class": label, "source": str(source),
                              "entry": str(int(positions[start + j])), "shard": str(base + k),
                              "row": str(row + j)})
            start += take
            g += take
    return [DrawTask(tuple(p), config, str(out), shard_name(base + k)) for k, p in enumerate(pieces)], index


def sweep_temps(out: Path, labels: set[str]) -> None:
    """Remove the temporary files a killed worker may have left (ours only: PNGs of ``labels``, shards)."""
    for tmp in out.glob(".shard-*.npy.*.tmp"):
        tmp.unlink(missing_ok=True)
    for label in labels:
        for tmp in (out / label).glob(f".{label}_event_*.png.*.tmp"):
            tmp.unlink(missing_ok=True)


def write_dropped(out: Path, dropped: list[tuple[str, BadEvent]], inputs: list[tuple[Any, str]]) -> None:
    """This run's dropped events into ``skipped.csv`` (rows of re-read sources are replaced)."""
    write_skipped(out / SKIPPED, [{"source": src, "event": b.event, "field": b.field, "reason": b.reason}
                                  for src, b in dropped], {str(src) for src, _ in inputs})
