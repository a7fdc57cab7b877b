"""The tasks of a render job and their processors: pure functions of a task, run on any executor.

A render job runs in two passes of tasks on one executor (:mod:`eventcnn.executor`)::

  scan: one task per JSON file or per NanoAOD entry range reads and selects, and returns
        the positions (entries) and event numbers of the selected events -- small;
  draw: each task reads what it draws again (a NanoAOD task only the span of its entries),
        renders and writes PNGs or one shard, every file atomically.

The driver checks the scan (empty files, classes without events, --limit) before anything
is written, and writes the manifest / shard index in a fixed order after the draws, so the
output does not depend on --jobs, on the task order or on a worker dying (its task reruns).

The drivers (:func:`eventcnn.images.render.render_to_dir`, ``render_files``) make
the tasks and run them on an :class:`~eventcnn.executor.Executor`.

Example::

    from eventcnn.images.render_tasks import ScanTask, scan
    result = scan(ScanTask("tt.root", 0, 100_000, None, ReadOptions()))
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from eventcnn._io import atomic_path
from eventcnn.events import BadEvent, Events
from eventcnn.events.cms_json import EventFormatError
from eventcnn.events.formats import ReadOptions, format_of, read_file
from eventcnn.events.selection import CutFlow, Selection
from eventcnn.images.etaphi import RenderConfig, render_blocks, render_events
from eventcnn.images.png import encode_png

__all__ = ["ENTRIES_PER_TASK", "IMAGES_PER_TASK", "DrawTask", "Piece", "RenderedFile", "Scan", "ScanTask",
           "draw_task", "image_name", "render_part_chunks", "render_part_task", "scan", "selected_events"]

ENTRIES_PER_TASK = 100_000  #: NanoAOD entries read by one scan task
IMAGES_PER_TASK = 1_000  #: PNG images drawn by one draw task

@dataclass(frozen=True)
class ScanTask:
    source: str
    start: int
    stop: int | None  # None: the whole (JSON) file
    selection: Selection | None
    options: ReadOptions


@dataclass
class Scan:
    n_good: int
    bad: list[BadEvent]
    steps: list[tuple[str, int]] | None
    positions: np.ndarray  # int64 positions (entries) in the source of the selected events
    numbers: np.ndarray  # their event numbers


@dataclass(frozen=True)
class Piece:
    """Selected events of one input to draw: their positions in the source, ascending."""

    source: str
    label: str
    positions: np.ndarray
    selection: Selection | None
    options: ReadOptions


@dataclass(frozen=True)
class DrawTask:
    pieces: tuple[Piece, ...]
    config: RenderConfig
    out: str
    shard: str | None = None  # format "shards": this shard's file name; else PNGs into out/<label>/


@lru_cache(maxsize=2)
def _whole_file(path: str, mtime_ns: int, size: int, options: ReadOptions) -> Events:
    """An event file of a format read whole (JSON), parsed once per worker process and file version."""
    return read_file(path, options)


def _load(source: str, start: int, stop: int | None, options: ReadOptions) -> Events:
    """Entries ``[start, stop)`` of a file read in ranges (NanoAOD), else the whole file (JSON)."""
    fmt = format_of(source)
    if fmt.ranged:
        return fmt.read_range(source, start, stop if stop is not None else start, options)  # type: ignore[misc]
    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise FileNotFoundError(f"event file not found: {source}") from None
    return _whole_file(source, st.st_mtime_ns, st.st_size, options)


def scan(task: ScanTask) -> Scan:
    """Scan task (a processor): read one file or entry range, select; the selected positions and event numbers."""
    ev = _load(task.source, task.start, task.stop, task.options)
    steps = None
    if task.selection is None:
        idx = np.arange(len(ev), dtype=np.int64)
    else:
        result = task.selection.select(ev)
        idx = np.flatnonzero(result.passed).astype(np.int64)
        steps = list(result.cutflow.steps)
    return Scan(len(ev), list(ev.bad), steps, idx + task.start, np.asarray(ev.event, dtype=np.int64)[idx])


def selected_events(piece: Piece) -> Events:
    """The events of ``piece`` (selected, in position order), read again from the source."""
    pos = piece.positions
    lo = int(pos[0]) if format_of(piece.source).ranged else 0
    ev = _load(piece.source, lo, int(pos[-1]) + 1, piece.options)
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
    """Render (a block of events at a time) and write the events of ``sub`` as PNGs, each atomically."""
    folder, pid = os.fspath(out / label), os.getpid()
    numbers = sub.event.tolist()
    i = 0
    for block in render_blocks(sub, config):
        for image in block:
            name = f"{label}_event_{numbers[i]}.png"  # == image_name(label, number)
            path, tmp = os.path.join(folder, name), os.path.join(folder, f".{name}.{pid}.tmp")
            data = encode_png(image)
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            i += 1
    return len(sub)


def _write_shard(subs: list[Events], config: RenderConfig, path: Path) -> int:
    """Render ``subs`` in order into one ``uint8 (N, H, W, 3)`` ``.npy``, atomically; returns N."""
    total = sum(len(s) for s in subs)
    with atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(total, config.size, config.size, 3))
        row = 0
        for sub in subs:
            for block in render_blocks(sub, config):
                arr[row : row + len(block)] = block
                row += len(block)
        arr.flush()
        del arr  # close the memory map before the rename
    return total


def draw_task(task: DrawTask) -> int:
    """Draw task (a processor): render the pieces' events into PNGs or one shard; returns images written."""
    out = Path(task.out)
    if task.shard is not None:
        return _write_shard([selected_events(p) for p in task.pieces], task.config, out / task.shard)
    return sum(_write_pngs(selected_events(p), task.config, out, p.label) for p in task.pieces)


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


def _render_selected(source: str, ev: Events, selection: Selection | None, config: RenderConfig) -> RenderedFile:
    """Select ``ev`` and render what passes, in memory; the rejected events with the first cut they failed."""
    rejected: list[tuple[int, str]] = []
    flow = None
    n_read = len(ev)
    if selection is not None and n_read:
        result = selection.select(ev)
        out = ~result.passed
        rejected = list(zip(np.asarray(ev.event)[out].tolist(), result.failed_cut[out].tolist()))
        ev, flow = selection.apply(ev, result)
    images = render_events(ev, config) if len(ev) else np.zeros((0, config.size, config.size, 3), np.uint8)
    return RenderedFile(source, images, np.asarray(ev.event, dtype=np.int64), rejected, n_read, flow)


def _render_part(task: ScanTask, config: RenderConfig) -> RenderedFile:
    return _render_selected(task.source, _load(task.source, task.start, task.stop, task.options), task.selection,
                            config)


def render_part_task(args: tuple[ScanTask, RenderConfig]) -> RenderedFile:
    """Render task (a processor): read one file or entry range, select and render it in memory."""
    return _render_part(*args)


def render_part_chunks(task: ScanTask, config: RenderConfig, chunk: int) -> Iterator[RenderedFile]:
    """:func:`render_part_task` ``chunk`` events at a time, in this process (the streaming of ``predict``).

    A file of a format read whole (CMS JSON) is read once and its events are
    selected and rendered ``chunk`` at a time; an entry range of a ranged format
    (its task is already ``chunk`` entries) gives one part.
    """
    ev = _load(task.source, task.start, task.stop, task.options)
    for start in range(0, max(len(ev), 1), chunk):
        yield _render_selected(task.source, ev[start : start + chunk], task.selection, config)


def image_name(label: str, event: int) -> str:
    """The file of the image of ``event`` of class ``label``, relative to the image folder."""
    return f"{label}/{label}_event_{event}.png"
