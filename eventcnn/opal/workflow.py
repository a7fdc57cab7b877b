"""The masterclass in one call: train on the labelled events, classify the rest, compare.

:func:`masterclass` is the workflow that ``eventcnn opal train`` and notebook 04
both run: train (writing the run folder), learning curves, predictions of every
unlabelled event (``predictions.csv``), the overview against the Z expectation,
and, with reference labels, the evaluation (``metrics.json`` and plots).

Example::

    from eventcnn import opal
    data = opal.load_displays("centered-masked-rotated1.zip", "my_labels.csv")
    mc = opal.masterclass(data.images, data.labels, data.names, recipe="default",
                          out="runs/opal", seed=1)
    print(opal.overview_table(mc.overview))
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import file_lock, write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_output, check_writable
from eventcnn.learn.runs import plot_run_history, read_run_config
from eventcnn.opal.displays import CLASS_NAMES, check_classes, load_displays
from eventcnn.opal.ids import display_ids
from eventcnn.opal.model import (
    SMALL_SET,
    TrainResult,
    evaluate,
    load_model,
    train,
    write_predictions,
)
from eventcnn.opal.physics import predicted_overview
from eventcnn.opal.semi import self_train as run_self_train
from eventcnn.opal.tta import TTA_COPIES, default_tta, predict_tta

__all__ = ["LOCK_FILE", "MasterclassResult", "masterclass", "predict_displays", "run_folder"]

#: held in the run folder while ``opal train`` writes it (removed afterwards)
LOCK_FILE = ".eventcnn.lock"


@dataclass
class MasterclassResult:
    """What :func:`masterclass` produced: the training, the predictions of the rest, the comparisons."""

    result: TrainResult
    out: Path
    train_mask: np.ndarray  # events trained on (labelled)
    rest: np.ndarray  # events classified by the CNN (the others)
    probs: np.ndarray  # (n_rest, 4) class probabilities
    pred: np.ndarray  # predicted class code per event of the rest
    overview: list[dict[str, Any]]  # predicted_overview rows (with the reference when given)
    metrics: dict[str, Any] | None = None  # against the reference labels of the rest
    history_png: Path | None = None
    self_train: Any = None  # eventcnn.opal.semi.SelfTrainResult when self-training ran
    tta_copies: int = TTA_COPIES  # copies averaged per display of the rest (1: one pass)


def masterclass(images: np.ndarray, labels: Any, names: Any, *, out: str | os.PathLike[str],
                recipe: str = "default", reference: Any = None,
                data_dir: str | os.PathLike[str] | None = None, quiet: bool | None = None,
                sources: dict[str, Any] | None = None, tta: bool | None = None,
                self_train: Any = None, weights: str | None = None, **settings: Any) -> MasterclassResult:
    """Train on the events with a label (``""`` = unlabelled), classify the others, compare.

    ``reference``: reference labels of all events (``""`` where unknown); with it
    the rest is evaluated (``metrics.json``, ``confusion_matrix.png``,
    ``misclassified.png``/``.csv`` in ``out``). ``settings`` go to :func:`train`
    (``seed``, ``epochs``, ``lepton_factor``, ...). ``sources`` (e.g. the label
    files) is recorded in ``config.json`` and ``split.json`` lists the events
    trained on and classified, so ``eventcnn evaluate`` can evaluate the run later.
    The rest is predicted with test-time augmentation (``tta=True``:
    :func:`eventcnn.opal.tta.predict_tta`, the mean over 8 rotated/mirrored
    copies) or, with ``tta=False``, in one pass (:func:`eventcnn.opal.predict`);
    ``tta=None`` (the default) picks by the starting weights
    (:func:`eventcnn.opal.tta.default_tta`: TTA from random weights, one pass
    when fine-tuned from pretrained ones). Recorded as ``tta_copies`` in
    ``config.json`` ``opal``.

    ``weights``: the starting weights, ``None`` (random) or ``"sim"`` (the shipped
    simulation-pretrained CNN, :mod:`eventcnn.opal.weights`; ``eventcnn opal
    train --weights sim``) or a ``.weights.h5`` from ``eventcnn opal pretrain``.

    ``self_train``: a :class:`eventcnn.opal.semi.SelfTrainConfig` (e.g.
    ``opal.SELF_TRAIN``, what ``eventcnn opal train --self-train`` uses) to
    train twice, the second time with confident pseudo-labels of the unlabelled
    events (:func:`eventcnn.opal.semi.self_train`; only with the default recipe,
    fewer than ``SMALL_SET`` labels and some events unlabelled, else a warning
    says why it was skipped). The run's model is then both networks' average,
    the rest is predicted with the config's TTA copies, and ``config.json``
    ``opal.self_train`` records the settings and the pseudo-labels per class.
    """

    labels = np.asarray(labels)
    names = np.asarray(names)
    if weights is not None:
        settings["weights"] = weights
    if tta is None:
        tta = default_tta(settings.get("weights"))
    train_mask = labels != ""
    if not train_mask.any():
        raise UserError("no labelled events to train on: label some events first")
    check_classes(labels, source=str((sources or {}).get("labels") or "the labels"))
    out = Path(out)
    with run_folder(out):
        return _masterclass(images, labels, names, train_mask, out, recipe, reference, data_dir, quiet,
                            sources, tta, self_train, settings)


@contextlib.contextmanager
def run_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the run folder ``out`` for one training: a lock, and no empty folder after a failed start.

    A second training into the same folder at the same time is refused
    (:class:`UserError`); when the body fails and ``out`` did not exist before
    and holds nothing, the folder is removed. The lock file never stays behind.

    Example::

        with run_folder("runs/opal"):
            ...  # train, write the run
    """
    out = Path(out)
    created = not out.exists()
    lock = out / LOCK_FILE
    try:
        check_writable(out / "config.json")
        try:
            with file_lock(lock, timeout=0):
                try:
                    yield out
                finally:
                    lock.unlink(missing_ok=True)
        except TimeoutError:
            raise UserError(f"{out}: another `eventcnn opal train` is training into this folder now; "
                            "wait for it to finish or choose another --out") from None
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _masterclass(images: np.ndarray, labels: np.ndarray, names: np.ndarray, train_mask: np.ndarray, out: Path,
                 recipe: str, reference: Any, data_dir: Any, quiet: bool | None, sources: dict[str, Any] | None,
                 tta: bool, self_train: Any, settings: dict[str, Any]) -> MasterclassResult:
    rest = ~train_mask

    semi = self_train is not None and _self_train_applies(recipe, int(train_mask.sum()), bool(rest.any()))
    copies = self_train.copies if semi else (TTA_COPIES if tta else 1)
    sources = {**(sources or {}), "tta_copies": copies}  # how the rest was predicted (eventcnn evaluate)
    st = None
    if semi:

        st = run_self_train(images, labels, config=self_train, recipe=recipe, out=out, quiet=quiet,
                            data_dir=data_dir, run_info=sources, **settings)
        result = st.result
    else:
        result = train(images[train_mask], labels[train_mask], recipe=recipe, out=out, quiet=quiet,
                       data_dir=data_dir, run_info=sources, **settings)
    if st is not None:  # which unlabelled events were trained on with the CNN's own answer
        _write_pseudo_labels(out / "pseudo_labels.csv", names[st.pseudo_index], st.pseudo_labels,
                             st.pseudo_confidence)
    write_json_atomic(out / "split.json", {"class_names": list(CLASS_NAMES), "train": names[train_mask].tolist(),
                                           "val": [], "test": names[~train_mask].tolist()})
    history_png = plot_run_history(result.history, out / "learning_curves.png")
    if st is not None:
        probs = st.probs
    elif rest.any():
        probs = predict_tta(result.model, images[rest], copies=copies)
    else:
        probs = np.zeros((0, len(CLASS_NAMES)), np.float32)
    write_predictions(out / "predictions.csv", names[rest], probs)
    pred = np.array(CLASS_NAMES)[probs.argmax(axis=1)] if len(probs) else np.array([], dtype="<U1")
    ref_rest = None if reference is None else np.asarray(reference)[rest]
    have = None if ref_rest is None else ref_rest != ""
    overview = predicted_overview(pred, ref_rest if have is not None and have.all() else None)
    m = None
    if have is not None and have.any():
        m = evaluate(result.model, images[rest][have], ref_rest[have], out=out, names=names[rest][have],
                     probs=probs[have])
    return MasterclassResult(result, out, train_mask, rest, probs, pred, overview, m, history_png, st, copies)


def _self_train_applies(recipe: str, n_labels: int, any_unlabelled: bool) -> bool:
    """Whether self-training can run; a warning names the reason when it cannot."""
    reason = ("it needs the default recipe" if recipe != "default"
              else f"it is for fewer than {SMALL_SET} labels ({n_labels} given)" if n_labels >= SMALL_SET
              else "no event is unlabelled" if not any_unlabelled else "")
    if reason:
        warnings.warn(f"self-training skipped: {reason}; trained once", UserWarning, stacklevel=3)
    return not reason


def _write_pseudo_labels(path: Path, names: np.ndarray, codes: np.ndarray, probs: np.ndarray) -> None:
    """``event,pseudo_label,probability`` per pseudo-labelled event, atomically."""

    write_text_atomic(path, "event,pseudo_label,probability\n"
                      + "".join(f"{n},{c},{p:.4f}\n" for n, c, p in zip(names, codes, probs)))


def predict_displays(run: str | os.PathLike[str], data: str | os.PathLike[str], out: str | os.PathLike[str],
                     labels: str | os.PathLike[str] | None = None, *, every: bool = False,
                     size: int | None = None, crop: tuple[int, int, int, int] | None = None,
                     tta: bool | None = None, overwrite: bool = False, quiet: bool = False) -> int:
    """Classify the displays of ``data`` (a zip or folder) with a trained run into a CSV; returns how many.

    ``run``: an ``opal train`` run folder or a masterclass ``.keras`` file. Without
    ``every``, displays that ``labels`` already label are left out. Rows name
    displays by opaque id (:mod:`eventcnn.opal.ids`), never by file name; ``tta``
    averages 8 rotated/mirrored copies (:mod:`eventcnn.opal.tta`); ``None``: as the
    run was trained (its ``config.json``: one pass when it started from pretrained
    weights, :func:`eventcnn.opal.tta.default_tta`; TTA for a bare model file). ``out`` is checked
    before the model is loaded (never an input, never inside the run folder).

    Example::

        predict_displays("runs/opal", "centered-masked-rotated1.zip", "predictions.csv",
                         labels="my_labels.csv")
    """
    from eventcnn.opal.tta import (  # deferred: tta imports opal.model (a cycle)
        TTA_COPIES,
        predict_tta,
    )

    run_dir = Path(run) if Path(run).is_dir() else None
    check_output(out, inputs=[p for p in (data, labels) if p] + [run] * (run_dir is None),
                 protected=[("the run folder", run_dir)] if run_dir else [], overwrite=overwrite)
    if tta is None:  # as the run was trained; a damaged config.json fails before loading
        tta = default_tta(_run_weights(run))
    model = load_model(run)
    shape = tuple(model.input_shape[1:3])
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] is None:
        raise UserError(f"{run}: the model takes inputs of shape {model.input_shape}, "
                        "not square images: is it a model written by `eventcnn opal train`?")
    model_size = int(shape[0])
    if size is not None and size != model_size:
        raise UserError(f"--size {size} does not match the model {run}, which takes "
                        f"{model_size} x {model_size} images: leave out --size (the model's size is used)")
    displays = load_displays(data, labels, size=model_size, crop=crop, quiet=quiet)
    sel = slice(None) if every or labels is None else ~displays.labelled
    probs = predict_tta(model, displays.images[sel], copies=TTA_COPIES if tta else 1)
    write_predictions(out, display_ids(displays.names[sel]), probs)  # ids, never names
    return len(probs)


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
