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
  (:mod:`eventcnn.images.display_ids`), with TTA as the run was trained. A
  ``.onnx`` export (``eventcnn export``) is classified the same way on ONNX
  Runtime (:class:`eventcnn.learn.onnx_runtime.OnnxClassifier`: no Keras), its
  model card standing in for the run folder. CMS inputs go through the streamed
  input -> score pipeline :mod:`eventcnn.learn.scoring`.

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
    rows = predict("opal.onnx", ["centered-masked-rotated1.zip"], "opal_predictions.csv")   # no Keras
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env
from eventcnn._io import atomic_path
from eventcnn.errors import UserError, check_output
from eventcnn.events.formats import ReadOptions
from eventcnn.events.selection import get_selection
from eventcnn.executor import Executor
from eventcnn.images.display_ids import display_ids
from eventcnn.images.folder import SELECTION, image_folder_of
from eventcnn.images.opal_displays import CLASS_NAMES, load_displays
from eventcnn.learn.batches import rotate_images
from eventcnn.learn.onnx_runtime import OnnxClassifier, is_onnx_model
from eventcnn.learn.runs import load_run_model, read_run_config, run_kind
from eventcnn.learn.scoring import (
    BATCH_IMAGES,
    expand_inputs,
    predict_inputs,
    write_predictions_csv,
)
from eventcnn.limits import check_batch_size

__all__ = ["BATCH_SIZE", "TTA_COPIES", "default_tta", "predict", "predict_images",
           "predict_tta", "run_selection", "write_predictions", "write_predictions_csv"]


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

    ``model``: a Keras model or an :class:`~eventcnn.learn.onnx_runtime.OnnxClassifier`
    (anything with ``predict_on_batch`` and ``output_shape``).

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
            selection: Any = "auto", jobs: int = 1, scheduler: str | None = None, executor: Executor | None = None,
            absent: str | Sequence[str] | None = None, labels: str | os.PathLike[str] | None = None,
            every: bool = False, size: int | None = None, crop: tuple[int, int, int, int] | None = None,
            tta: bool | None = None, threads: int | None = None, overwrite: bool = False,
            quiet: bool = False) -> Sequence[dict[str, Any]]:
    """Classify ``inputs`` with a trained run (any kind) or its ONNX export; optionally write the rows to ``out``.

    ``run``: a run folder, a ``.keras`` file, or a ``.onnx`` file written by
    ``eventcnn export`` (classified on ONNX Runtime, without Keras or
    TensorFlow; ``threads``: its intra-op threads). ``out`` (CSV) is checked
    before the model is loaded (:func:`eventcnn.errors.check_output`): never an
    input, never inside the run folder or an image folder, and an existing file
    is replaced only with ``overwrite``. ``batch_size``: images per batch
    (default :data:`BATCH_SIZE` of the run's kind).

    ``cms`` runs (``eventcnn train``): images, folders of images, shard folders
    (``render --format shards``) and event files of every registered format
    (``.json``, ``.json.gz``, ``.root``: :mod:`eventcnn.events.formats`), rendered
    with the run's render config after ``selection`` (``"auto"``: the one recorded
    with the run, else ``paper``; ``None`` or ``"none"``: none); ``absent``: what
    the event files lack on purpose (``--absent``). Event files are streamed
    (:mod:`eventcnn.learn.scoring`): in this process ``jobs=1`` a chunk of events
    at a time (flat memory), else as tasks on ``executor`` (or one opened from
    ``jobs`` / ``scheduler``). Rows: ``input``, ``event``, ``predicted``,
    ``p_<class>`` per class, ``rejected_by`` (the first cut an event failed:
    nothing is dropped silently).

    ``opal`` runs (``eventcnn opal train``, or a masterclass ``.keras`` file):
    zips or folders of displays, read at the model's size (``size``, when given,
    must be it) with ``crop`` (default: the one the run recorded); displays
    ``labels`` labels are left out unless ``every``. ``tta``: average
    :data:`TTA_COPIES` rotated/mirrored copies; ``None``: as the run was trained
    (:func:`default_tta` of its starting weights; TTA for a bare model file; an
    export's card says its copies). Rows: ``event`` (an opaque display id, never a
    name that gives the class away), ``predicted``, ``p_<class>``.

    Example::

        rows = predict("runs/small", ["TTjets_json.json"], "predictions.csv")
        rows = predict("small.onnx", ["TTjets_json.json"], "predictions.csv")     # ONNX Runtime
        rows = predict("runs/opal", ["centered-masked-rotated1.zip"], "p.csv", labels="my_labels.csv")
    """
    quiet = quiet or quiet_from_env()
    run_dir = Path(run) if Path(run).is_dir() else None
    if out is not None:  # the rule of every writer, before anything else: never onto an input or the run
        check_output(out, inputs=[*inputs, *([labels] if labels else []), *([run] * (run_dir is None))],
                     protected=[("the run folder", run_dir)] if run_dir else [], overwrite=overwrite)
    onnx = is_onnx_model(run)
    model = OnnxClassifier(run, threads=threads) if onnx else None  # the card says the kind
    kind = model.kind if model is not None else run_kind(run)
    given = {"selection": selection != "auto", "jobs": jobs != 1, "scheduler": scheduler is not None,
             "absent": absent is not None, "labels": labels is not None, "every": every,
             "size": size is not None, "crop": crop is not None, "tta": tta is not None}
    only = {"cms": ("labels", "every", "size", "crop", "tta"),
            "opal": ("selection", "jobs", "scheduler", "absent")}[kind]
    wrong = [k for k in only if given[k]]
    if wrong:
        other = "OPAL display" if kind == "cms" else "CMS image"
        raise UserError(f"{run} is a {kind} run: {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} "
                        f"for {other} runs only")
    if threads is not None and not onnx:
        raise UserError(f"threads (--threads) sets ONNX Runtime's threads: {run} is not an .onnx model")
    batch_size = BATCH_SIZE[kind] if batch_size is None else batch_size
    check_batch_size(batch_size)
    ReadOptions.make(absent)  # a name that is no collection or field: said before the model is loaded
    if kind == "cms" and selection not in ("auto", None):
        get_selection(selection)  # a damaged selection file: said now, even when no event file needs it
    if kind == "opal":
        return _predict_displays(run, model, inputs, out, batch_size=batch_size, labels=labels, every=every,
                                 size=size, crop=crop, tta=tta, quiet=quiet)
    source = _onnx_source(model) if model is not None else _run_source(Path(run), batch_size)
    return _predict_cms(source, inputs, out, batch_size=batch_size, selection=selection, jobs=jobs,
                        scheduler=scheduler, executor=executor, absent=absent, overwrite=overwrite, quiet=quiet)


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


def _run_crop(run: str | os.PathLike[str]) -> tuple[int, int, int, int] | None:
    """The crop an OPAL run's displays were read with (its ``config.json``); ``None`` for a bare model file."""
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    if not (folder / "config.json").is_file():
        return None
    crop = (read_run_config(folder, keys=("train",)).get("opal") or {}).get("crop")
    return tuple(crop) if crop else None


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


def _predict_displays(run: str | os.PathLike[str], onnx: OnnxClassifier | None,
                      inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None, *,
                      batch_size: int, labels: str | os.PathLike[str] | None, every: bool, size: int | None,
                      crop: tuple[int, int, int, int] | None, tta: bool | None,
                      quiet: bool) -> list[dict[str, Any]]:
    """The OPAL branch of :func:`predict`: displays of zips or folders, named by id (Keras or ONNX Runtime)."""
    if not inputs:
        raise UserError("no displays to predict: give a zip or folder of event displays")
    if onnx is not None:  # an export: its card says how the displays were prepared and averaged
        if list(onnx.class_names) != list(CLASS_NAMES):
            raise UserError(f"{run}: classes {onnx.class_names}, expected the masterclass's {list(CLASS_NAMES)}")
        card_crop = ((onnx.card.get("preprocessing") or {}).get("display") or {}).get("crop")
        crop = crop if crop is not None else (tuple(card_crop) if card_crop else None)
        copies = int((onnx.card.get("tta") or {}).get("copies") or 1) if tta is None else (TTA_COPIES if tta else 1)
        model = onnx
    else:  # as the run was trained; a damaged config.json fails before loading
        crop = crop if crop is not None else _run_crop(run)
        copies = TTA_COPIES if (default_tta(_run_weights(run)) if tta is None else tta) else 1
        model = load_run_model(run)
    model_size = _model_size(model, run, size)
    names, probs = [], []
    for source in inputs:
        displays = load_displays(source, labels, size=model_size, crop=crop, quiet=quiet)
        sel = slice(None) if every or labels is None else ~displays.labelled
        names += list(displays.names[sel])
        probs.append(predict_tta(model, displays.images[sel], copies=copies, batch_size=batch_size))
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


@dataclass
class _Source:
    """What a CMS prediction needs of its model: classes, input size, how its images were drawn, its score."""

    name: str
    class_names: list[str]
    size: int
    render_config: dict[str, Any] | None
    selection: Callable[[Any], Any]  # the selection asked for ("auto", a preset, ...) -> the one to apply
    protected: list[tuple[str, Any]]
    load: Callable[[], Callable[[np.ndarray], np.ndarray]]  # loads the model: its score function


def _run_source(run_dir: Path, batch_size: int) -> _Source:
    """A ``cms`` run folder (Keras): its config, and ``best.keras`` loaded when scoring starts."""
    cfg_all = read_run_config(run_dir)

    def load() -> Callable[[np.ndarray], np.ndarray]:
        model = load_run_model(run_dir)
        return lambda x: model.predict(x, batch_size=batch_size, verbose=0)

    return _Source(str(run_dir), list(cfg_all["class_names"]), int(cfg_all["image_size"]),
                   cfg_all.get("render_config"), lambda sel: run_selection(run_dir, cfg_all, sel)[0],
                   [("the run folder", run_dir), ("the image folder of the run", cfg_all["train"]["data_dir"])], load)


def _onnx_source(clf: OnnxClassifier) -> _Source:
    """A ``cms`` export: the card says the classes, the size, the render config and the selection."""
    pre = clf.card.get("preprocessing") or {}

    def selection(sel: Any) -> Any:
        return pre.get("selection", "paper") if sel == "auto" else sel

    return _Source(str(clf.path), clf.class_names, clf.size, pre.get("render_config"), selection,
                   [("the model file", clf.path)], lambda: clf.predict)


def run_selection(run_dir: Path, cfg_all: dict[str, Any], selection: Any = "auto") -> tuple[Any, str]:
    """The selection for a run's event files and where it comes from: given, else the one recorded with it.

    ``"auto"``: the run's ``selection`` (null = none), else its image folder's
    ``selection.json``, else ``paper`` (the default of ``eventcnn render``) with a
    warning. The one rule of ``predict`` and of the export's model card.

    Example::

        sel, note = run_selection(Path("runs/small"), read_run_config("runs/small"))
    """
    if selection != "auto":
        return selection, "given"
    if "selection" in cfg_all:
        return cfg_all["selection"], "recorded with the run"
    data_sel = Path(cfg_all["train"]["data_dir"]) / SELECTION
    if data_sel.exists():
        return str(data_sel), f"from {data_sel}"
    warnings.warn(
        f"{run_dir} records no event selection and {data_sel} is missing: using the 'paper' "
        "selection for event files (pass --selection to choose)",
        stacklevel=3,
    )
    return "paper", "the run records no selection: the 'paper' preset, the default of eventcnn render"


def _predict_cms(source: _Source, inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None,
                 *, batch_size: int, selection: Any, jobs: int, scheduler: str | None, executor: Executor | None,
                 absent: Any, overwrite: bool, quiet: bool) -> Sequence[dict[str, Any]]:
    """The CMS branch of :func:`predict`: images, image and shard folders, event files (streamed)."""
    if out is not None:
        image_folders = [f for f in dict.fromkeys(map(image_folder_of, inputs)) if f is not None]
        check_output(out, inputs=list(inputs), overwrite=overwrite,
                     protected=[*source.protected, *[("the image folder", f) for f in image_folders]])
    images, event_files = expand_inputs(inputs)
    if not images and not event_files:
        raise UserError("no inputs to predict")
    sel = source.selection(selection) if event_files else None
    score = source.load()
    return predict_inputs(score, images, event_files, source.class_names, source.size,
                          render_config=source.render_config, selection=sel, absent=absent, executor=executor,
                          jobs=jobs, scheduler=scheduler, out=out, batch_images=max(batch_size, BATCH_IMAGES),
                          quiet=quiet)
