"""From input files to scores, streamed: the one ``predict`` pipeline of Keras and ONNX Runtime models.

``predict_inputs(score, inputs, ...)`` classifies images (files, folders,
shard folders) and CMS event files (JSON or NanoAOD) with any ``score``
function ``uint8 images (n, s, s, 3) -> probabilities (n, k)``: a Keras
model's ``predict`` or an ONNX Runtime session. Event files are read, selected,
rendered and scored ``chunk_events`` events at a time (NanoAOD read in entry
ranges), and each chunk's rows go to the CSV as they come, so memory stays
flat in the number of events; the rows returned are kept as compact arrays
(:class:`PredictionRows`), not one dict per event. No Keras here.

Rows (CSV columns): ``input``, ``event`` (event files), ``predicted``,
``p_<class>`` per class, ``rejected_by``: the first cut an event failed (its
``predicted`` and probabilities empty: nothing is dropped silently).

Example::

    from eventcnn.learn.scoring import predict_inputs
    rows = predict_inputs(model.predict, ["tt.root"], ["tt", "w"], 64, render_config=cfg, out="p.csv")
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import sayer
from eventcnn._io import atomic_path, write_text_atomic
from eventcnn.errors import UserError, check_output, few_names
from eventcnn.events.cms_json import read_json_events
from eventcnn.events.nanoaod import is_root_path, iter_events
from eventcnn.events.selection import get_selection
from eventcnn.images.folder import IMAGE_SUFFIXES, image_folder_of, open_rgb
from eventcnn.images.render import RenderConfig, render_events
from eventcnn.images.shards import (
    is_shard_folder,
    parse_ref,
    read_index,
    read_shard_image,
    shard_ref,
)

__all__ = ["CHUNK_EVENTS", "FOLDER_METADATA", "JSON_SUFFIXES", "PredictionRows", "expand_inputs",
           "predict_inputs", "read_image", "write_predictions_csv"]

JSON_SUFFIXES = (".json", ".json.gz", ".root")  # event files: CMS JSON or NanoAOD
#: events read, selected, rendered and scored at a time (25 MB of 64 px images: under glibc's 32 MB mmap
#: threshold, so the buffers are reused instead of mapped and faulted in again for every chunk)
CHUNK_EVENTS = 2048
#: files eventcnn writes into image folders (metadata, not inputs): skipped without a word
FOLDER_METADATA = frozenset({"manifest.csv", "render_config.json", "selection.json", "augment_config.json",
                             "skipped.csv", ".eventcnn.lock", ".eventcnn-cache"})

Score = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- inputs


def read_image(path: str | os.PathLike[str], size: int | Sequence[int] | None = None) -> np.ndarray:
    """Decode one image as ``uint8 (H, W, 3)`` RGB, optionally resized (bilinear).

    ``path`` may name an image of a shard folder (``.../shard-00000.npy#17``): its
    row is read from the memory-mapped shard, with no PNG round trip.

    Example::

        img = read_image("CreatedImages/ttbar/ttbar_event_1.png", size=64)
    """
    from PIL import Image

    if parse_ref(path) is not None:  # an image of a shard folder: no decoding
        arr = read_shard_image(path)
        if size is None or arr.shape[:2] == _hw(size):
            return arr
        im = Image.fromarray(arr)
    else:
        im = open_rgb(path)
    if size is not None:
        h, w = _hw(size)
        if im.size != (w, h):
            im = im.resize((w, h), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _scan_folder(folder: Path) -> list[Path]:
    """Images under ``folder``, skipping hidden folders/files; skipped entries are counted in a warning.

    eventcnn's own metadata files (:data:`FOLDER_METADATA`) are not inputs and are not reported.
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
    """``(images, event_files)`` of the inputs: image files, folders, shard folders, event files."""
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
        elif p.name.lower().endswith(JSON_SUFFIXES):
            events.append(p)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        else:
            raise UserError(f"input {p}: expected an image ({'/'.join(IMAGE_SUFFIXES)}), a folder of images "
                            "or an event file (.json/.json.gz/.root)")
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


def _write_rows(fh: Any, rows: Any, class_names: Sequence[str]) -> None:
    w = csv.DictWriter(fh, fieldnames=_csv_columns(class_names), lineterminator="\n", restval="")
    for r in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})


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
        pred = np.asarray(names, dtype=object)[block.prob.argmax(axis=1)] if len(names) else []
        probs = [",".join(f"{v:.6f}" for v in row) for row in block.prob.astype(np.float64).tolist()]
        inputs = ([_field(i) for i in block.inputs] if block.inputs is not None else [_field(block.input)] * n)
        events = [""] * n if block.events is None else [str(e) for e in block.events.tolist()]
        lines = [f"{i},{e},{_field(str(c))},{p}," for i, e, c, p in zip(inputs, events, pred, probs)]
    if block.rejected:
        empty = "," * len(names)
        inp = _field(block.input)
        lines += [f"{inp},{ev},{empty},{_field(str(cut))}" for ev, cut in block.rejected]
    return "".join(line + "\n" for line in lines)


def write_predictions_csv(rows: Sequence[dict[str, Any]], class_names: Sequence[str],
                          path: str | os.PathLike[str]) -> Path:
    """Write prediction rows atomically as CSV (columns input, event, predicted, p_<class>..., rejected_by)."""
    buf = io.StringIO()
    buf.write(",".join(_csv_columns(class_names)) + "\n")
    _write_rows(buf, rows, class_names)
    return write_text_atomic(path, buf.getvalue())


# --------------------------------------------------------------------------- events


def _chunks_of(path: Path, chunk: int) -> Iterator[Any]:
    """The events of one file, ``chunk`` at a time (NanoAOD in entry ranges, JSON parsed once)."""
    if is_root_path(str(path)):
        yield from iter_events(path, step_size=chunk, quiet=True)
        return
    events = read_json_events(path)
    for i in range(0, max(len(events), 1), chunk):
        yield events[i:i + chunk]


def _score_event_file(path: Path, score: Score, config: Any, sel: Any, size: int, chunk: int,
                      emit: Callable[[_Block], None]) -> tuple[int, int, list[tuple[str, int]] | None]:
    """Read, select, render and score one event file chunk by chunk; returns (read, rejected, cut flow)."""
    n_read = n_rejected = 0
    steps: list[tuple[str, int]] | None = None
    for ev in _chunks_of(path, chunk):
        n_read += len(ev)
        rejected: list[tuple[int, str]] = []
        if sel is not None and len(ev):
            result = sel.select(ev)
            out = ~result.passed
            rejected = list(zip(np.asarray(ev.event)[out].tolist(), result.failed_cut[out].tolist()))
            ev, flow = sel.apply(ev, result)
            steps = list(flow.steps) if steps is None else [(n, c + flow.steps[i][1]) for i, (n, c) in enumerate(steps)]
        n_rejected += len(rejected)
        images = render_events(ev, config) if len(ev) else np.zeros((0, size, size, 3), np.uint8)
        if len(images) and images.shape[1:3] != (size, size):
            images = _resize(images, size)
        prob = np.asarray(score(images), dtype=np.float32) if len(images) else np.zeros((0, 0), np.float32)
        emit(_Block(str(path), np.asarray(ev.event, dtype=np.int64), prob, rejected))
    return n_read, n_rejected, steps


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images])


def predict_inputs(score: Score, inputs: Sequence[str | os.PathLike[str]], class_names: Sequence[str], size: int,
                   *, render_config: dict[str, Any] | None = None, selection: Any = "paper",
                   out: str | os.PathLike[str] | None = None, batch_images: int = 1024,
                   chunk_events: int | None = None, overwrite: bool = False, quiet: bool = False,
                   protected: Sequence[tuple[str, str | os.PathLike[str]]] = ()) -> PredictionRows:
    """Classify images and event files with ``score``; stream the rows to ``out`` (CSV) as they come.

    ``render_config``: how the model's training images were drawn (event files
    are rendered the same way); ``selection``: a preset, a JSON file, a dict or
    ``None`` (every event). ``out`` is checked before any work (never an input
    or a ``protected`` folder; replaced only with ``overwrite``) and written
    atomically: a failed run leaves an earlier file intact.
    """
    say = sayer(quiet)
    names = list(class_names)
    if out is not None:
        folders = [f for f in dict.fromkeys(map(image_folder_of, inputs)) if f is not None]
        check_output(out, inputs=list(inputs), overwrite=overwrite,
                     protected=[*protected, *[("the image folder", f) for f in folders]])
    images, event_files = expand_inputs(inputs)
    if not images and not event_files:
        raise UserError("no inputs to predict")
    if event_files and render_config is None:
        raise UserError(f"cannot render {event_files[0]}: the model has no render config (its data folder had no "
                        "render_config.json); render the events with `eventcnn render` and predict the PNG files")
    rows = PredictionRows(names)
    with _Sink(out, names) as sink:
        def emit(block: _Block) -> None:
            rows.add(block)
            sink.write(block)

        for i in range(0, len(images), batch_images):
            part = images[i:i + batch_images]
            x = np.stack([read_image(f, size) for f in part])
            emit(_Block("", None, np.asarray(score(x), dtype=np.float32), inputs=[str(f) for f in part]))
        if event_files:
            config = RenderConfig.from_dict(render_config)
            sel = get_selection(None if selection == "none" else selection)
            for f in event_files:
                n_read, n_rej, steps = _score_event_file(f, score, config, sel, size, chunk_events or CHUNK_EVENTS, emit)
                say(f"{f}: {n_read - n_rej} of {n_read} events scored")
                if n_rej:
                    flow = "; ".join(f"{n}: {c}" for n, c in steps or [])
                    warnings.warn(f"{f}: the selection rejected {n_rej} of {n_read} events, which get no prediction "
                                  f"(rows with the cut in 'rejected_by'; cut flow: {flow}); pass --selection none "
                                  "to classify every event", UserWarning, stacklevel=2)
    if out is not None:
        n_rej = sum(len(b.rejected) for b in rows._blocks)
        extra = f" ({n_rej} of them rejected by the selection, with the cut in 'rejected_by')" if n_rej else ""
        say(f"wrote {len(rows)} rows to {out}{extra}")
    return rows


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
