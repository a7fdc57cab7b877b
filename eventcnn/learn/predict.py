"""Predictions of a trained network: images in memory, and the inputs given to a run of any kind.

- :func:`predict_images`: class probabilities of ``uint8`` images in batches of
  one shape (the last padded: XLA compiles once);
- :func:`predict_tta`: the same averaged over rotated and mirrored copies
  (test-time augmentation for end-view displays, which may be turned about the
  beam axis and mirrored without changing the physics); :func:`default_tta`
  says when it is the default;
- :func:`predict`: the one prediction of ``eventcnn predict`` and ``eventcnn
  opal predict``. A ``cms`` run classifies images, image folders, shard folders
  and event files (rendered with the run's own render config after its
  selection); an ``opal`` run (or a masterclass ``.keras`` file) classifies
  the displays of zips or folders, named by opaque id
  (:mod:`eventcnn.images.display_ids`), with TTA as the run was trained.

TTA with 8 copies steadied small-label-set models trained from random weights
(50 suggested labels: balanced accuracy 0.841 -> 0.891 on average over 5 seeds,
``bench/opal_active.py``, ``bench/opal_tta.py``); a network fine-tuned from the
simulation-pretrained weights predicts in one pass by default (it learnt the
symmetries from simulation, and TTA cost it there: 0.954 one pass vs 0.952 TTA;
docs/benchmarks.md).

Example::

    from eventcnn.learn.predict import predict, predict_images
    probs = predict_images(model, images)                         # (N, classes)
    rows = predict("runs/small", ["new_events.json", "images/"], "predictions.csv")
    rows = predict("runs/opal", ["centered-masked-rotated1.zip"], "opal_predictions.csv")
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import atomic_path, write_text_atomic
from eventcnn.errors import UserError, check_output, few_names
from eventcnn.events.formats import ReadOptions, is_event_file
from eventcnn.events.selection import get_selection
from eventcnn.images.display_ids import display_ids
from eventcnn.images.folder import FOLDER_METADATA, IMAGE_SUFFIXES, SELECTION, image_folder_of
from eventcnn.images.opal_displays import CLASS_NAMES, load_displays
from eventcnn.images.render import RenderConfig, render_files
from eventcnn.images.shards import is_shard_folder, read_index, shard_ref
from eventcnn.learn.batches import rotate_images
from eventcnn.learn.runs import load_run_model, read_run_config, run_kind
from eventcnn.limits import check_batch_size

__all__ = ["BATCH_SIZE", "TTA_COPIES", "default_tta", "predict", "predict_images",
           "predict_tta", "write_predictions", "write_predictions_csv"]


#: images per prediction batch by run kind (OPAL displays: small fixed-shape batches keep the memory low)
BATCH_SIZE = {"cms": 64, "opal": 16}

#: copies in a test-time-augmentation average (the display and 7 rotations by 45-degree steps)
TTA_COPIES = 8


def default_tta(weights: str | None) -> bool:
    """Whether predictions average :data:`TTA_COPIES` copies when nobody says: the starting ``weights`` decide.

    ``None`` / ``"none"`` (trained from random weights): TTA, which steadied
    small label sets. Pretrained weights (``"sim"`` or a ``.weights.h5``): one
    pass, measured as good or better with the simulation-pretrained CNN
    (docs/benchmarks.md, "Third pass").

    Example::

        default_tta("sim"), default_tta(None)   # (False, True)
    """
    return weights is None or str(weights).lower() == "none"


def predict_images(model: Any, images: np.ndarray, batch_size: int = BATCH_SIZE["opal"]) -> np.ndarray:
    """Class probabilities ``(N, classes)`` (float32) of ``uint8`` images, in the model's output order.

    Small batches keep the peak memory low (the first convolution's output of
    one 200x200 image takes 5 MB in float32). The last batch is padded to
    ``batch_size`` so that every call has one shape (XLA compiles once).

    Example::

        probs = predict_images(result.model, data.images)
        classes = np.array(CLASS_NAMES)[probs.argmax(1)]
    """
    images = np.asarray(images)
    if len(images) == 0:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    chunks = []
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        n = len(chunk)
        if n < batch_size:  # fixed shape: repeat the last image, drop its predictions
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        chunks.append(np.asarray(model.predict_on_batch(chunk))[:n])
    probs = np.concatenate(chunks)
    return probs.astype(np.float32)


def predict_tta(model: Any, images: np.ndarray, copies: int = TTA_COPIES,
                batch_size: int = BATCH_SIZE["opal"]) -> np.ndarray:
    """Class probabilities averaged over ``copies`` rotated/mirrored copies of end-view images.

    Copy ``k`` (``k = 0 .. copies-1``) is rotated by ``k * 360 / copies``
    degrees and mirrored when ``k`` is odd; ``copies=1`` is :func:`predict_images`.

    Example::

        probs = predict_tta(model, images[:10], copies=4)
    """
    if copies < 1:
        raise UserError(f"copies must be >= 1, got {copies}")
    images = np.asarray(images)
    total = predict_images(model, images, batch_size=batch_size).astype(np.float64)
    step = 8 * batch_size  # rotated copies made a chunk at a time: a few MB, not a copy of all images
    for k in range(1, copies):
        for i in range(0, len(images), step):
            chunk = images[i:i + step]
            angles = np.full(len(chunk), k * 360.0 / copies)
            mirror = np.full(len(chunk), k % 2 == 1)
            total[i:i + step] += predict_images(model, rotate_images(chunk, angles, mirror),
                                                batch_size=batch_size)
    return (total / copies).astype(np.float32)


def write_predictions(path: str | os.PathLike[str], names: Sequence[str] | np.ndarray, probs: np.ndarray,
                      class_names: Sequence[str] = CLASS_NAMES) -> Path:
    """Write ``event,predicted,p_<class>...`` (one row per display) atomically; OPAL's codes by default.

    Example::

        unlabelled = ~data.labelled
        write_predictions("runs/opal/predictions.csv", display_ids(data.names[unlabelled]),
                          predict_images(model, data.images[unlabelled]))
    """
    probs = np.asarray(probs)
    if probs.shape != (len(names), len(class_names)):
        raise UserError(f"probs must have shape ({len(names)}, {len(class_names)}), got {probs.shape}")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["event", "predicted", *(f"p_{c}" for c in class_names)])
        pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
        for name, k, row in zip(names, pred, probs):
            w.writerow([name, class_names[k], *(f"{p:.6f}" for p in row)])
    return Path(path)


def predict(run: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]],
            out: str | os.PathLike[str] | None = None, *, batch_size: int | None = None,
            selection: Any = "auto", jobs: int = 1, scheduler: str | None = None,
            labels: str | os.PathLike[str] | None = None, every: bool = False, size: int | None = None,
            crop: tuple[int, int, int, int] | None = None, tta: bool | None = None,
            overwrite: bool = False, quiet: bool = False, absent: str | Sequence[str] | None = None,
            ) -> list[dict[str, Any]]:
    """Classify ``inputs`` with a trained run (any kind); optionally write the rows to ``out`` (CSV).

    ``out`` is checked before the model is loaded (:func:`eventcnn.errors.check_output`):
    never an input, never inside the run folder or an image folder, and an existing
    file is replaced only with ``overwrite``. ``batch_size``: images per batch
    (default :data:`BATCH_SIZE` of the run's kind).

    ``cms`` runs (``eventcnn train``): images, folders of images, shard folders
    (``render --format shards``) and event files (``.json``, ``.json.gz``,
    ``.root``), rendered with the run's render config after ``selection``
    (``"auto"``: the one recorded with the run, else ``paper``; ``None`` or
    ``"none"``: none) in parallel tasks (``jobs`` worker processes or the Dask
    cluster at ``scheduler``); ``absent`` names the collections or fields the event
    files lack on purpose (``"Electron,Jet"``: read as none, as ``render --absent``). Rows: ``input``, ``event``, ``predicted``,
    ``p_<class>`` per class, ``rejected_by`` (the first cut an event failed:
    nothing is dropped silently).

    ``opal`` runs (``eventcnn opal train``, or a masterclass ``.keras`` file):
    zips or folders of displays, read at the model's size (``size``, when given,
    must be it) with ``crop``; displays ``labels`` labels are left out unless
    ``every``. ``tta``: average :data:`TTA_COPIES` rotated/mirrored copies;
    ``None``: as the run was trained (:func:`default_tta` of its starting
    weights; TTA for a bare model file). Rows: ``event`` (an opaque display id,
    never a name that gives the class away), ``predicted``, ``p_<class>``.

    Example::

        rows = predict("runs/small", ["TTjets_json.json"], "predictions.csv")
        rows = predict("runs/opal", ["centered-masked-rotated1.zip"], "p.csv", labels="my_labels.csv")
    """
    quiet = quiet or quiet_from_env()
    run_dir = Path(run) if Path(run).is_dir() else None
    if out is not None:  # the rule of every writer, before anything else: never onto an input or the run
        check_output(out, inputs=[*inputs, *([labels] if labels else []), *([run] * (run_dir is None))],
                     protected=[("the run folder", run_dir)] if run_dir else [], overwrite=overwrite)
    kind = run_kind(run)
    given = {"selection": selection != "auto", "jobs": jobs != 1, "scheduler": scheduler is not None,
             "labels": labels is not None, "every": every, "size": size is not None,
             "crop": crop is not None, "tta": tta is not None, "absent": bool(absent)}
    only = {"cms": ("labels", "every", "size", "crop", "tta"),
            "opal": ("selection", "jobs", "scheduler", "absent")}[kind]
    wrong = [k for k in only if given[k]]
    if wrong:
        other = "OPAL display" if kind == "cms" else "CMS image"
        raise UserError(f"{run} is a {kind} run: {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} "
                        f"for {other} runs only")
    batch_size = BATCH_SIZE[kind] if batch_size is None else batch_size
    check_batch_size(batch_size)
    ReadOptions.make(absent)  # a name that is no collection or field: said before the model is loaded
    if kind == "cms" and selection not in ("auto", None):
        get_selection(selection)  # a damaged selection file: said now, even when no event file needs it
    if kind == "opal":
        return _predict_displays(run, inputs, out, batch_size=batch_size, labels=labels, every=every, size=size,
                                 crop=crop, tta=tta, quiet=quiet)
    return _predict_cms(Path(run), inputs, out, batch_size=batch_size, selection=selection, jobs=jobs,
                        scheduler=scheduler, overwrite=overwrite, quiet=quiet, absent=absent)


def _run_weights(run: str | os.PathLike[str]) -> str | None:
    """The starting weights a run was trained from (its ``config.json``); ``None`` for a bare model file.

    A damaged ``config.json`` is a clear error (:func:`eventcnn.learn.runs.read_run_config`).
    """
    run = Path(run)
    folder = run if run.is_dir() else run.parent
    if not (folder / "config.json").is_file():
        return None
    weights = read_run_config(folder, keys=("train",))["train"].get("weights")
    return weights if isinstance(weights, str) else None


def _model_size(model: Any, run: str | os.PathLike[str], size: int | None) -> int:
    """The square input size of a display model; ``size``, when given, must be it."""
    shape = tuple(model.input_shape[1:3])
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] is None:
        raise UserError(f"{run}: the model takes inputs of shape {model.input_shape}, "
                        "not square images: is it a model written by `eventcnn opal train`?")
    if size is not None and size != int(shape[0]):
        raise UserError(f"--size {size} does not match the model {run}, which takes "
                        f"{shape[0]} x {shape[0]} images: leave out --size (the model's size is used)")
    return int(shape[0])


def _predict_displays(run: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]],
                      out: str | os.PathLike[str] | None, *, batch_size: int,
                      labels: str | os.PathLike[str] | None, every: bool, size: int | None,
                      crop: tuple[int, int, int, int] | None, tta: bool | None,
                      quiet: bool) -> list[dict[str, Any]]:
    """The OPAL branch of :func:`predict`: displays of zips or folders, named by id."""
    if not inputs:
        raise UserError("no displays to predict: give a zip or folder of event displays")
    if tta is None:  # as the run was trained; a damaged config.json fails before loading
        tta = default_tta(_run_weights(run))
    model = load_run_model(run)
    model_size = _model_size(model, run, size)
    names, probs = [], []
    for source in inputs:
        displays = load_displays(source, labels, size=model_size, crop=crop, quiet=quiet)
        sel = slice(None) if every or labels is None else ~displays.labelled
        names += list(displays.names[sel])
        probs.append(predict_tta(model, displays.images[sel], copies=TTA_COPIES if tta else 1,
                                 batch_size=batch_size))
    if not names:  # nothing to classify is an error, never "0 events classified" and an empty file
        raise UserError(f"every display of {', '.join(map(str, inputs))} has a label in {labels}: nothing to "
                        "classify; pass --all (every=True) to predict the labelled displays too")
    probs_all = np.concatenate(probs)
    shown = display_ids(names)  # ids, never names
    if out is not None:
        write_predictions(out, shown, probs_all)
    pred = probs_all.argmax(axis=1) if len(probs_all) else np.zeros(0, dtype=int)
    return [{"event": i, "predicted": CLASS_NAMES[k], **{f"p_{c}": float(p[j]) for j, c in enumerate(CLASS_NAMES)}}
            for i, k, p in zip(shown, pred, probs_all)]




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


def _expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
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
                            "or an event file (.json/.json.gz/.root)")
    return images, events


def _render_event_files(paths: Sequence[Path], render_cfg: dict[str, Any] | None, selection: Any, size: int,
                        jobs: int, scheduler: str | None, quiet: bool,
                        absent: str | Sequence[str] | None = None) -> list[Any]:
    """Render event files like the run's training images (in parallel tasks: ``jobs`` / ``scheduler``).

    One :class:`eventcnn.images.render.RenderedFile` per file, images resized to ``size``;
    a warning per file names how many events the selection rejected.
    """
    from PIL import Image


    if render_cfg is None:
        raise UserError(
            f"cannot render {paths[0]}: the run has no render config (its data folder had no render_config.json); "
            "render the events with `eventcnn render` and predict the PNG files instead"
        )
    config = RenderConfig.from_dict(render_cfg)
    done = render_files(paths, config, selection, jobs=jobs, scheduler=scheduler, quiet=quiet, absent=absent)
    for part in done:
        if part.rejected and part.cutflow is not None:
            steps = "; ".join(f"{name}: {count}" for name, count in part.cutflow.steps)
            warnings.warn(f"{part.source}: the selection rejected {len(part.rejected)} of {part.n_read} events, "
                          f"which get no prediction (rows with the cut in 'rejected_by'; cut flow: {steps}); "
                          "pass --selection none to classify every event", UserWarning, stacklevel=3)
        if len(part.images) and part.images.shape[1:3] != (size, size):
            part.images = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                                    for im in part.images])
    return done


def _run_selection(run_dir: Path, cfg_all: dict[str, Any], selection: Any) -> Any:
    """The selection for event files: given, else the one recorded with the run (null = none)."""
    if selection != "auto":
        return selection
    if "selection" in cfg_all:
        return cfg_all["selection"]
    data_sel = Path(cfg_all["train"]["data_dir"]) / SELECTION
    if data_sel.exists():
        return str(data_sel)
    warnings.warn(
        f"{run_dir} records no event selection and {data_sel} is missing: using the 'paper' "
        "selection for event files (pass --selection to choose)",
        stacklevel=3,
    )
    return "paper"


def _predict_cms(run_dir: Path, inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None,
                 *, batch_size: int, selection: Any, jobs: int, scheduler: str | None, overwrite: bool,
                 quiet: bool, absent: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The CMS branch of :func:`predict`: images, image and shard folders, event files."""
    from eventcnn.learn.dataset import (
        ImageSequence,  # deferred: Keras (this module stays light for OPAL)
    )

    say = sayer(quiet)
    cfg_all = read_run_config(run_dir)
    names = list(cfg_all["class_names"])
    size = int(cfg_all["image_size"])
    if out is not None:
        image_folders = [f for f in dict.fromkeys(map(image_folder_of, inputs)) if f is not None]
        check_output(out, inputs=list(inputs), overwrite=overwrite,
                     protected=[("the run folder", run_dir),
                                ("the image folder of the run", cfg_all["train"]["data_dir"]),
                                *[("the image folder", f) for f in image_folders]])
    images, event_files = _expand_inputs(inputs)
    if not images and not event_files:
        raise UserError("no inputs to predict")
    model = load_run_model(run_dir)
    rows: list[dict[str, Any]] = []

    def add(prob: np.ndarray, inputs_: Sequence[str], events_: Sequence[Any]) -> None:
        for p, src, ev in zip(prob, inputs_, events_):
            rows.append({"input": src, "event": ev, "predicted": names[int(np.argmax(p))],
                         **{f"p_{c}": float(p[i]) for i, c in enumerate(names)}})

    if images:
        seq = ImageSequence(images, None, batch_size=batch_size, size=size)
        add(np.asarray(model.predict(seq, verbose=0)), [str(f) for f in images], [""] * len(images))
    sel = _run_selection(run_dir, cfg_all, selection)
    rendered = (_render_event_files(event_files, cfg_all.get("render_config"), sel, size, jobs, scheduler, quiet,
                                    absent) if event_files else [])
    for f, part in zip(event_files, rendered):
        x, numbers = part.images, part.numbers
        say(f"{f}: {len(numbers)} events (selection {sel if isinstance(sel, str) else 'custom'})")
        if len(numbers):
            add(np.asarray(model.predict(x, batch_size=batch_size, verbose=0)), [str(f)] * len(numbers), [int(n) for n in numbers])
        rows.extend({"input": str(f), "event": int(ev), "predicted": "", "rejected_by": cut}
                    for ev, cut in part.rejected)
    if out is not None:
        write_predictions_csv(rows, names, out)
        n_rej = sum(1 for r in rows if r.get("rejected_by"))
        extra = f" ({n_rej} of them rejected by the selection, with the cut in 'rejected_by')" if n_rej else ""
        say(f"wrote {len(rows)} rows to {out}{extra}")
    return rows


def write_predictions_csv(rows: Sequence[dict[str, Any]], class_names: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """Write prediction rows atomically as CSV (columns input, event, predicted, p_<class>..., rejected_by)."""
    buf = io.StringIO()
    cols = ["input", "event", "predicted", *[f"p_{c}" for c in class_names], "rejected_by"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", restval="")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    return write_text_atomic(path, buf.getvalue())
