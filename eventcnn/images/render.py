"""Render event files into image folders (PNGs + manifest, or shards): the driver of a render job.

The stages of a job: the inputs are checked (labels, formats, the output folder,
memory) before anything starts; *scan* tasks read and select
(:mod:`eventcnn.images.render_tasks`), the driver checks what they found (empty
files, classes without events, ``--limit``); *draw* tasks render and write; the
driver writes the manifest / shard index in a fixed order. The tasks run on the
executor the caller passes (:mod:`eventcnn.executor`). Drawing is
:mod:`eventcnn.images.etaphi`, PNG encoding :mod:`eventcnn.images.png`, label rules
:mod:`eventcnn.images.labels`, the folder format :mod:`eventcnn.images.folder`.

Example::

    >>> from eventcnn.images.render import RenderConfig, render_to_dir
    >>> render_to_dir([("TTjets_json.json", "ttjets")], "CreatedImages", RenderConfig(size=64))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import file_lock, write_json_atomic
from eventcnn.errors import UserError, check_output
from eventcnn.events.formats import ReadOptions, count_entries, format_of
from eventcnn.events.selection import CutFlow, Selection, get_selection
from eventcnn.executor import Executor, check_jobs, use_executor
from eventcnn.images.etaphi import RenderConfig, render_event, render_events  # noqa: F401 - the API of a render
from eventcnn.images.folder import (
    LOCK,
    MANIFEST,
    RENDER_CONFIG,
    SELECTION,
    manifest_by_file,
    write_manifest,
)
from eventcnn.images.labels import check_label, label_from_path  # noqa: F401 - as above
from eventcnn.images.png import encode_png, png_looks_complete  # noqa: F401 - as above
from eventcnn.images.render_shards import draw_shards, sweep_temps, write_dropped
from eventcnn.images.render_summary import RenderSummary
from eventcnn.images.render_tasks import (
    ENTRIES_PER_TASK,
    IMAGES_PER_TASK,
    DrawTask,
    Piece,
    RenderedFile,
    Scan,
    ScanTask,
    draw_task,
    image_name,
    render_part_chunks,
    render_part_task,
    scan,
)
from eventcnn.images.shards import INDEX_FILE, SHARD_SIZE
from eventcnn.limits import check_memory, render_memory

__all__ = ["FORMATS", "OutputFolderError", "RenderSummary", "iter_rendered", "render_files", "render_to_dir"]


def _folder_settings(out: Path, config: RenderConfig, sel: Selection | None, claim: bool) -> None:
    """One folder holds images of one render config and one selection.

    Raises when ``render_config.json`` / ``selection.json`` say otherwise; with
    ``claim`` writes them when absent (call under the folder lock).
    """
    config_path, sel_path = out / RENDER_CONFIG, out / SELECTION
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
        if all(e.name == LOCK and e.is_file() for e in entries):
            for e in entries:
                e.unlink()
            out.rmdir()
    except OSError:
        pass


class OutputFolderError(UserError):
    """The output folder cannot be created or written to; the message names it."""


def render_files(
    sources: Sequence[str | os.PathLike[str]],
    config: RenderConfig,
    selection: Selection | str | None = None,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    quiet: bool = False,
    entries_per_task: int = ENTRIES_PER_TASK,
    executor: Executor | None = None,
    absent: str | Iterable[str] | None = None,
) -> list[RenderedFile]:
    """Select and render event files into memory, one :class:`RenderedFile` per source (for ``predict``).

    Tasks (a JSON file, ``entries_per_task`` NanoAOD entries) run on
    ``executor`` (or one opened from ``jobs`` / ``scheduler``) like :func:`render_to_dir`;
    the result does not depend on where they run.

    Example::

        >>> [f.images.shape for f in render_files(["tt.json"], RenderConfig(size=32))]  # doctest: +SKIP
        [(865, 32, 32, 3)]
    """
    sel = get_selection(selection)
    check_jobs(jobs)
    with use_executor(executor, jobs, scheduler, quiet=quiet) as ex:
        options = ReadOptions.make(absent, selection=sel)
        tasks, owner = _scan_tasks(ex, [(s, "x") for s in sources], sel, options, entries_per_task)
        bar = ex.bar(len(tasks), "rendering", unit="task", quiet=quiet)
        try:
            parts = ex.map(render_part_task, [(t, config) for t in tasks], bar=bar, name="render-files")
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


def iter_rendered(
    sources: Sequence[str | os.PathLike[str]],
    config: RenderConfig,
    selection: Selection | str | None = None,
    *,
    chunk: int = 2048,
    executor: Executor | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    quiet: bool = False,
    absent: str | Iterable[str] | None = None,
) -> Iterator[tuple[int, RenderedFile]]:
    """Select and render event files into memory a part at a time: ``(source index, part)`` in order.

    The streaming form of :func:`render_files` (``predict`` scores each part and
    lets it go). In process (``executor.in_process``: ``jobs=1``, no scheduler) a
    part is at most ``chunk`` events: ranged formats (NanoAOD) are read ``chunk``
    entries at a time, a file read whole (JSON) is read once and selected and
    drawn ``chunk`` events at a time, so the memory stays flat in the number of
    events. On a Dask executor the tasks (``chunk`` entries of a ranged file, a
    whole JSON file) run in waves of twice the workers; a JSON file's images come
    back whole. Every registered event format works (:mod:`eventcnn.events.formats`);
    ``absent`` as in :func:`render_to_dir`.

    Example::

        >>> for k, part in iter_rendered(["tt.root"], RenderConfig(size=64), "paper"):  # doctest: +SKIP
        ...     print(k, part.images.shape, len(part.rejected))
    """
    sel = get_selection(selection)
    check_jobs(jobs)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise UserError(f"chunk must be a whole number of at least 1, got {chunk!r}")
    for source in sources:
        format_of(source)  # an input that is no event file: one clear error before anything starts
    with use_executor(executor, jobs, scheduler, quiet=quiet) as ex:
        options = ReadOptions.make(absent, selection=sel)
        tasks, owner = _scan_tasks(ex, [(s, "x") for s in sources], sel, options, chunk)
        bar = ex.bar(len(tasks), "rendering", unit="task", quiet=quiet)
        try:
            if ex.in_process:
                for task, k in zip(tasks, owner):
                    for part in render_part_chunks(task, config, chunk):
                        yield k, part
                    bar.update(1)
                return
            wave = 2 * max(1, ex.workers)
            for start in range(0, len(tasks), wave):
                batch = [(t, config) for t in tasks[start : start + wave]]
                parts = ex.map(render_part_task, batch, bar=bar, name="render-files")
                yield from zip(owner[start : start + wave], parts)
        finally:
            bar.close()


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
    executor: Executor | None = None,
    absent: str | Iterable[str] | None = None,
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
    ``absent``: collections or fields the inputs lack on purpose (``"Electron,Jet,MET"``,
    :class:`~eventcnn.events.formats.ReadOptions`); anything else the drawing or the
    selection needs that an input lacks is an error naming the file.

    ``format="shards"`` writes ``shard-NNNNN.npy`` (``shard_size`` images each)
    and ``shards.csv`` instead (:mod:`eventcnn.images.shards`); the images of other
    classes (other events) already in the folder's index are kept, as with PNGs.

    Work runs as tasks (a JSON file, or ``entries_per_task`` NanoAOD entries;
    ``chunk_size`` PNGs per drawing task) on ``executor`` (:mod:`eventcnn.executor`;
    the caller's, left open), else on one opened for the call: in this process for
    ``jobs=1``, on a local Dask cluster of ``jobs`` worker processes, or on the
    cluster at ``scheduler`` (default ``EVENTCNN_SCHEDULER``). The images, the
    manifest and the index do not depend on where the tasks run.
    ``quiet`` hides the progress bar.

    Example::

        >>> render_to_dir([("TTjets_json.json", "ttjets"), ("Wjets_json.json", "wjets")],
        ...               "CreatedImages", RenderConfig(size=64))       # doctest: +SKIP
    """
    config = config or RenderConfig()
    inputs = [(source, check_label(label)) for source, label in inputs]
    _check_settings(config, limit, format, jobs, executor,
                    {"shard_size": shard_size, "chunk_size": chunk_size, "entries_per_task": entries_per_task})
    sel = get_selection(selection)
    options = ReadOptions.make(absent, selection=sel, skip_bad=skip_bad)
    for source, _ in inputs:
        format_of(source)  # an input that is no event file: one clear error before anything starts
    out = Path(out)
    check_output(out, inputs=[source for source, _ in inputs], folder=True)
    created = not out.exists()
    _prepare_out(out)
    lock = out / LOCK
    summary = RenderSummary(out)
    with use_executor(executor, jobs, scheduler, quiet=quiet) as ex:
        try:
            with file_lock(lock, remove=True):  # fail fast, before reading the inputs
                _folder_settings(out, config, sel, claim=False)
                _check_format(out, format)
                if format == "png":
                    manifest_by_file(out / MANIFEST)
            bar, chosen = _scan_inputs(ex, inputs, sel, options, entries_per_task, limit, summary, quiet)
        except BaseException:
            if created:  # a failed start leaves no empty output folder behind
                _remove_unused(out)
            raise
        try:
            with file_lock(lock, remove=True):
                _folder_settings(out, config, sel, claim=True)
            if format == "png":
                _draw_pngs(ex, bar, inputs, chosen, out, config, sel, options, chunk_size, summary)
            else:
                draw_shards(ex, bar, inputs, chosen, out, config, sel, options, shard_size, summary)
        finally:
            bar.close()
    return summary


def _scan_inputs(
    ex: Executor, inputs: list[tuple[Any, str]], sel: Selection | None, options: ReadOptions, per_task: int,
    limit: int | None, summary: RenderSummary, quiet: bool,
) -> tuple[Any, list[tuple[np.ndarray, np.ndarray]]]:
    """The scan pass: ``(the job's progress bar, per input the positions and event numbers to draw)``."""
    tasks, owner = _scan_tasks(ex, inputs, sel, options, per_task)
    bar = ex.bar(len(tasks), "reading", unit="task", quiet=quiet)
    try:
        scans = _run_scans(ex, tasks, owner, limit, bar)
        return bar, _collect(inputs, tasks, owner, scans, limit, summary)
    except BaseException:
        bar.close()
        raise


def _check_settings(config: RenderConfig, limit: int | None, format: str, jobs: int, executor: Executor | None,
                    counts: dict[str, Any]) -> None:
    """The options of a render, checked before anything starts (and the memory the drawing needs)."""
    check_jobs(jobs)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"limit (--limit) must be a whole number of at least 1, got {limit!r}")
    if format not in FORMATS:
        raise UserError(f"unknown output format {format!r} (--format); choose one of {', '.join(FORMATS)}")
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a whole number of at least 1, got {value!r}")
    procs = executor.local_workers if executor is not None else jobs
    check_memory(render_memory(config.size, procs, config.style),
                 f"drawing {config.size} x {config.size} px images in {procs} process(es)",
                 hint="use a smaller --size or fewer --jobs")


def _check_format(out: Path, format: str) -> None:
    """One folder holds PNGs (``manifest.csv``) or shards (``shards.csv``), never both."""
    other = out / (INDEX_FILE if format == "png" else MANIFEST)
    if other.exists():
        what = "image shards" if format == "png" else "PNG images"
        raise OutputFolderError(
            f"{out} already holds {what} ({other}); use another --out folder for --format {format}"
        )


def _scan_tasks(
    ex: Executor, inputs: list[tuple[Any, str]], sel: Selection | None, options: ReadOptions, per_task: int,
) -> tuple[list[ScanTask], list[int]]:
    """Scan tasks in input order (NanoAOD: entry ranges, their sizes read by tasks too) and their input."""
    sources = [str(src) for src, _ in inputs]
    ranged = [s for s in sources if format_of(s).ranged]
    sizes = dict(zip(ranged, ex.map(count_entries, ranged, name="entries"))) if ranged else {}
    tasks: list[ScanTask] = []
    owner: list[int] = []
    for k, source in enumerate(sources):
        if source in sizes:
            for start in range(0, sizes[source], per_task):
                tasks.append(ScanTask(source, start, min(start + per_task, sizes[source]), sel, options))
                owner.append(k)
        else:
            tasks.append(ScanTask(source, 0, None, sel, options))
            owner.append(k)
    return tasks, owner


def _run_scans(
    ex: Executor, tasks: list[ScanTask], owner: list[int], limit: int | None, bar: Any,
) -> list[Scan | None]:
    """The scan results in task order; with ``limit`` an input's entry ranges go in waves and stop early.

    A wave is as many ranges as there are workers; once an input has ``limit``
    selected events its remaining ranges are not read (``None``). The first
    ``limit`` selected events are the same as after a full scan.
    """
    if limit is None:
        return ex.map(scan, tasks, bar=bar, name="scan")
    results: list[Scan | None] = [None] * len(tasks)
    wave = max(1, ex.workers)
    for k in dict.fromkeys(owner):
        mine = [i for i, o in enumerate(owner) if o == k]
        selected = 0
        for start in range(0, len(mine), wave):
            if selected >= limit:
                bar.update(len(mine) - start)  # not needed: counted as done
                break
            batch = mine[start : start + wave]
            for i, r in zip(batch, ex.map(scan, [tasks[i] for i in batch], bar=bar, name="scan")):
                results[i] = r
                selected += len(r.positions)
    return results


def _collect(
    inputs: list[tuple[Any, str]], tasks: list[ScanTask], owner: list[int], scans: list[Scan | None],
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
    out: Path, config: RenderConfig, sel: Selection | None, options: ReadOptions, chunk_size: int,
    summary: RenderSummary,
) -> None:
    rows: dict[str, dict[str, str]] = {}
    tasks: list[DrawTask] = []
    for (source, label), (positions, numbers) in zip(inputs, chosen):
        (out / label).mkdir(exist_ok=True)
        _prepare_out(out / label)
        todo = []
        for i, number in enumerate(numbers.tolist()):
            name = image_name(label, number)
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
            piece = Piece(str(source), label, todo_pos[k : k + chunk_size], sel, options)
            tasks.append(DrawTask((piece,), config, str(out)))
    bar.reset(total=sum(len(t.pieces[0].positions) for t in tasks))
    bar.set_description("rendering")
    bar.unit = "img"
    lock = out / LOCK
    try:
        done = ex.map(draw_task, tasks, bar=bar, weight=lambda _t, n: n, name="render")
        for task, n in zip(tasks, done):
            summary.written[task.pieces[0].label] += n
    finally:
        with file_lock(lock, remove=True):  # read-merge-write: concurrent runs into one folder add up
            sweep_temps(out, {label for _, label in inputs})
            manifest = manifest_by_file(out / MANIFEST)
            manifest.update(rows)  # the rows whose image exists: an interrupted run stays consistent
            write_manifest(out / MANIFEST, [manifest[n] for n in sorted(manifest) if (out / n).exists()])
            write_dropped(out, summary.dropped, inputs)


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
