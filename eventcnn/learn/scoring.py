"""From input files to scores, streamed: the input -> score pipeline of ``predict``, for Keras and ONNX Runtime.

:func:`eventcnn.learn.predict.predict` (the one entry of ``eventcnn predict``)
expands its inputs here (:func:`expand_inputs`: images, image and shard
folders, event files of any registered format) and scores them with
:func:`predict_inputs`, given any ``score`` function ``uint8 images (n, s, s, 3)
-> probabilities (n, k)``: a Keras model's ``predict`` or an ONNX Runtime session
(:class:`eventcnn.learn.onnx_runtime.OnnxClassifier`). Event files are read,
selected, rendered and scored a part at a time
(:func:`eventcnn.images.render.iter_rendered`) and each part's rows go to the CSV
as they come; the rows returned are kept as compact arrays
(:class:`PredictionRows`), not one dict per event. In process (``--jobs 1``) a part
is :data:`CHUNK_EVENTS` events, so the memory stays flat in the number of events;
on a Dask executor the parts are the executor's tasks. No Keras here.

Rows (CSV columns): ``input``, ``event`` (event files), ``predicted``,
``p_<class>`` per class, ``rejected_by``: the first cut an event failed (its
``predicted`` and probabilities empty: nothing is dropped silently).

Example::

    from eventcnn.learn.scoring import expand_inputs, predict_inputs
    images, events = expand_inputs(["tt.root", "CreatedImages/"])
    rows = predict_inputs(model.predict, images, events, ["tt", "w"], 64, render_config=cfg, out="p.csv")
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import sayer
from eventcnn._io import atomic_path, write_text_atomic
from eventcnn.errors import UserError, few_names
from eventcnn.events.formats import event_suffixes, is_event_file
from eventcnn.executor import Executor
from eventcnn.images.folder import FOLDER_METADATA, IMAGE_SUFFIXES, read_image
from eventcnn.images.render import RenderConfig, iter_rendered
from eventcnn.images.shards import is_shard_folder, read_index, shard_ref

__all__ = ["CHUNK_EVENTS", "PredictionRows", "expand_inputs", "predict_inputs", "write_predictions_csv"]

#: events read, selected, rendered and scored at a time in process (25 MB of 64 px images: under glibc's
#: 32 MB mmap threshold, so the buffers are reused instead of mapped and faulted in again for every chunk)
CHUNK_EVENTS = 2048
#: images decoded and scored at a time
BATCH_IMAGES = 1024

Score = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- inputs


def _scan_folder(folder: Path) -> list[Path]:
    """Images under ``folder``, skipping hidden folders/files; skipped entries are counted in a warning.

    eventcnn's own metadata files (:data:`~eventcnn.images.folder.FOLDER_METADATA`) are not inputs and
    are not reported.
    """
    found: list[Path] = []
    hidden: list[str] = []
    other: list[str] = []
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        hidden += [(rel_root / d).as_posix() + "/" for d in dirs if d.startswith(".") and d not in FOLDER_METADATA]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            rel = (rel_root / name).as_posix()
            if name in FOLDER_METADATA:
                continue
            if name.startswith("."):
                hidden.append(rel)
            elif Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(root) / name)
            else:
                other.append(rel)
    if hidden:
        warnings.warn(f"{folder}: skipped {len(hidden)} hidden folder(s)/file(s): {few_names(hidden)}",
                      UserWarning, stacklevel=3)
    if other:
        warnings.warn(f"{folder}: skipped {len(other)} file(s) that are not images "
                      f"({'/'.join(IMAGE_SUFFIXES)}): {few_names(other)}", UserWarning, stacklevel=3)
    return sorted(found)


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """``(images, event_files)`` of the inputs: image files, folders, shard folders, event files.

    An event file is any file a registered event format reads
    (:func:`eventcnn.events.formats.is_event_file`). A missing input, an empty
    folder or a file of another kind is an error naming it.

    Example::

        images, events = expand_inputs(["CreatedImages/", "tt.json"])
    """
    images: list[Path] = []
    events: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and is_shard_folder(p):  # render --format shards: every row of the index
            images.extend(p / shard_ref(int(r["shard"]), int(r["row"])) for r in read_index(p))
        elif p.is_dir():
            found = _scan_folder(p)
            if not found:
                raise UserError(f"folder {p} holds no images ({'/'.join(IMAGE_SUFFIXES)})")
            images.extend(found)
        elif not p.exists():
            raise FileNotFoundError(f"input {p} not found")
        elif is_event_file(p):
            events.append(p)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        else:
            raise UserError(f"input {p}: expected an image ({'/'.join(IMAGE_SUFFIXES)}), a folder of images "
                            f"or an event file ({'/'.join(event_suffixes())})")
    return images, events


# --------------------------------------------------------------------------- rows


@dataclass
class _Block:
    input: str
    events: np.ndarray | None  # int64 event numbers (None: images)
    prob: np.ndarray  # float32 (n, k)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    inputs: list[str] | None = None  # one input name per row (images)


class PredictionRows(Sequence):
    """The rows of a prediction, kept as arrays; each row is made as a dict when asked for.

    ``len(rows)`` counts scored and rejected events; ``rows[i]`` is
    ``{"input", "event", "predicted", "p_<class>"...}`` or, for an event the
    selection rejected, ``{"input", "event", "predicted": "", "rejected_by"}``.
    """

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self._blocks: list[_Block] = []
        self._starts: list[int] = []
        self._n = 0

    def add(self, block: _Block) -> None:
        self._starts.append(self._n)
        self._blocks.append(block)
        self._n += len(block.prob) + len(block.rejected)

    @property
    def n_rejected(self) -> int:
        """Events the selection rejected (rows with ``rejected_by``)."""
        return sum(len(b.rejected) for b in self._blocks)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]  # type: ignore[return-value]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        b = int(np.searchsorted(self._starts, i, side="right")) - 1
        return _row(self._blocks[b], i - self._starts[b], self.class_names)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for block in self._blocks:
            for j in range(len(block.prob) + len(block.rejected)):
                yield _row(block, j, self.class_names)


def _row(block: _Block, j: int, names: Sequence[str]) -> dict[str, Any]:
    n = len(block.prob)
    if j >= n:
        ev, cut = block.rejected[j - n]
        return {"input": block.input, "event": int(ev), "predicted": "", "rejected_by": cut}
    p = block.prob[j]
    return {"input": block.inputs[j] if block.inputs is not None else block.input,
            "event": int(block.events[j]) if block.events is not None else "",
            "predicted": names[int(np.argmax(p))], **{f"p_{c}": float(p[i]) for i, c in enumerate(names)}}


def _csv_columns(class_names: Sequence[str]) -> list[str]:
    return ["input", "event", "predicted", *[f"p_{c}" for c in class_names], "rejected_by"]


def _field(text: str) -> str:
    """One CSV field, quoted only when it must be (as the csv module writes it)."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _block_text(block: _Block, names: Sequence[str]) -> str:
    """The CSV lines of one block, formatted in bulk (the same text as the csv module's rows)."""
    n = len(block.prob)
    lines: list[str] = []
    if n:
        pred = np.asarray(names, dtype=object)[block.prob.argmax(axis=1)]
        probs = [",".join(f"{v:.6f}" for v in row) for row in block.prob.astype(np.float64).tolist()]
        inputs = ([_field(i) for i in block.inputs] if block.inputs is not None else [_field(block.input)] * n)
        events = [""] * n if block.events is None else [str(e) for e in block.events.tolist()]
        lines = [f"{i},{e},{_field(str(c))},{p}," for i, e, c, p in zip(inputs, events, pred, probs)]
    if block.rejected:
        empty = "," * len(names)
        inp = _field(block.input)
        lines += [f"{inp},{ev},{empty},{_field(str(cut))}" for ev, cut in block.rejected]
    return "".join(line + "\n" for line in lines)


def write_predictions_csv(rows: Iterable[dict[str, Any]], class_names: Sequence[str],
                          path: str | os.PathLike[str]) -> Path:
    """Write prediction rows atomically as CSV (columns input, event, predicted, p_<class>..., rejected_by).

    Example::

        write_predictions_csv(rows, ["tt", "w"], "predictions.csv")
    """
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_csv_columns(class_names), lineterminator="\n", restval="")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    return write_text_atomic(path, buf.getvalue())


class _Sink:
    """The CSV being written: a temporary file renamed over ``out`` when everything went well."""

    def __init__(self, out: str | os.PathLike[str] | None, names: Sequence[str]) -> None:
        self.out, self.names, self._ctx, self._fh = out, list(names), None, None

    def __enter__(self) -> _Sink:
        if self.out is not None:
            self._ctx = atomic_path(self.out)
            tmp = self._ctx.__enter__()
            self._fh = open(tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
            self._fh.write(",".join(_csv_columns(self.names)) + "\n")
        return self

    def write(self, block: _Block) -> None:
        if self._fh is not None:
            self._fh.write(_block_text(block, self.names))

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self._fh.close()
            self._ctx.__exit__(*exc)


# --------------------------------------------------------------------------- scoring


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images])


@dataclass
class _FileTally:
    """What the selection did to one event file, summed over its parts."""

    n_read: int = 0
    n_rejected: int = 0
    steps: list[tuple[str, int]] | None = None

    def add(self, part: Any) -> None:
        self.n_read += part.n_read
        self.n_rejected += len(part.rejected)
        if part.cutflow is not None and part.n_read:
            new = list(part.cutflow.steps)
            self.steps = new if self.steps is None else [(n, c + new[i][1]) for i, (n, c) in enumerate(self.steps)]


def _score_images(score: Score, images: Sequence[Path], size: int, batch: int,
                  emit: Callable[[_Block], None]) -> None:
    for i in range(0, len(images), batch):
        part = images[i:i + batch]
        x = np.stack([read_image(f, size) for f in part])
        emit(_Block("", None, np.asarray(score(x), dtype=np.float32), inputs=[str(f) for f in part]))


def _score_events(score: Score, event_files: Sequence[Path], size: int, config: RenderConfig, selection: Any,
                  emit: Callable[[_Block], None], *, absent: Any, executor: Executor | None, jobs: int,
                  scheduler: str | None, chunk: int, quiet: bool) -> list[_FileTally]:
    tallies = [_FileTally() for _ in event_files]
    for k, part in iter_rendered(event_files, config, selection, chunk=chunk, executor=executor, jobs=jobs,
                                 scheduler=scheduler, quiet=quiet, absent=absent):
        tallies[k].add(part)
        images = part.images
        if len(images) and images.shape[1:3] != (size, size):
            images = _resize(images, size)
        prob = np.asarray(score(images), dtype=np.float32) if len(images) else np.zeros((0, 0), np.float32)
        emit(_Block(str(event_files[k]), np.asarray(part.numbers, dtype=np.int64), prob, part.rejected))
    return tallies


def predict_inputs(score: Score, images: Sequence[Path], event_files: Sequence[Path], class_names: Sequence[str],
                   size: int, *, render_config: dict[str, Any] | None = None, selection: Any = None,
                   absent: str | Iterable[str] | None = None, executor: Executor | None = None, jobs: int = 1,
                   scheduler: str | None = None, out: str | os.PathLike[str] | None = None,
                   batch_images: int = BATCH_IMAGES, chunk_events: int | None = None,
                   quiet: bool = False) -> PredictionRows:
    """Score images and event files (:func:`expand_inputs`) with ``score``; stream the rows to ``out`` (CSV).

    ``render_config``: how the model's training images were drawn (event files
    are rendered the same way and resized to ``size``); ``selection``: a preset,
    a JSON file, a dict or ``None`` (every event); ``absent``: collections or
    fields the event files lack on purpose (``--absent``). Event files run on
    ``executor`` (or one opened from ``jobs`` / ``scheduler``): in process
    ``chunk_events`` (default :data:`CHUNK_EVENTS`) at a time (flat memory), on Dask as tasks. ``out`` (checked
    by the caller before any work) is written as the rows come, atomically at the
    end: a failed run leaves an earlier file intact.
    """
    say = sayer(quiet)
    names = list(class_names)
    if event_files and render_config is None:
        raise UserError(f"cannot render {event_files[0]}: the model has no render config (its data folder had no "
                        "render_config.json); render the events with `eventcnn render` and predict the PNG files")
    rows = PredictionRows(names)
    with _Sink(out, names) as sink:
        def emit(block: _Block) -> None:
            rows.add(block)
            sink.write(block)

        _score_images(score, images, size, batch_images, emit)
        if event_files:
            tallies = _score_events(score, event_files, size, RenderConfig.from_dict(render_config), selection,
                                    emit, absent=absent, executor=executor, jobs=jobs, scheduler=scheduler,
                                    chunk=chunk_events or CHUNK_EVENTS, quiet=quiet)
            for f, t in zip(event_files, tallies):
                say(f"{f}: {t.n_read - t.n_rejected} of {t.n_read} events scored")
                if t.n_rejected:
                    flow = "; ".join(f"{n}: {c}" for n, c in t.steps or [])
                    warnings.warn(f"{f}: the selection rejected {t.n_rejected} of {t.n_read} events, which get no "
                                  f"prediction (rows with the cut in 'rejected_by'; cut flow: {flow}); pass "
                                  "--selection none to classify every event", UserWarning, stacklevel=2)
    if out is not None:
        n_rej = rows.n_rejected
        extra = f" ({n_rej} of them rejected by the selection, with the cut in 'rejected_by')" if n_rej else ""
        say(f"wrote {len(rows)} rows to {out}{extra}")
    return rows
