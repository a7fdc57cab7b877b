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
from eventcnn.errors import UserError, check_writable
from eventcnn.images.folder import LOCK as LOCK_FILE  # the one lock-file name of an output folder
from eventcnn.images.opal_displays import CLASS_NAMES, check_classes
from eventcnn.learn.evaluate import evaluate_images
from eventcnn.learn.predict import TTA_COPIES, default_tta, predict_tta, write_predictions
from eventcnn.learn.recipes import SMALL_SET
from eventcnn.learn.runs import plot_run_history
from eventcnn.learn.train_arrays import TrainResult, train_arrays
from eventcnn.opal.physics import predicted_overview
from eventcnn.opal.self_training import self_train as run_self_train

__all__ = ["LOCK_FILE", "MasterclassResult", "masterclass", "run_folder"]


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
    self_train: Any = None  # eventcnn.opal.self_training.SelfTrainResult when self-training ran
    tta_copies: int = TTA_COPIES  # copies averaged per display of the rest (1: one pass)


def masterclass(images: np.ndarray, labels: Any, names: Any, *, out: str | os.PathLike[str],
                recipe: str = "default", reference: Any = None,
                data_dir: str | os.PathLike[str] | None = None, quiet: bool | None = None,
                sources: dict[str, Any] | None = None, tta: bool | None = None,
                self_train: Any = None, weights: str | None = None, **settings: Any) -> MasterclassResult:
    """Train on the events with a label (``""`` = unlabelled), classify the others, compare.

    ``reference``: reference labels of all events (``""`` where unknown); with it
    the rest is evaluated (``metrics.json``, ``confusion_matrix.png``,
    ``misclassified.png``/``.csv`` in ``out``). ``settings`` go to :func:`eventcnn.learn.train_arrays.train_arrays`
    (``seed``, ``epochs``, ``lepton_factor``, ...). ``sources`` (e.g. the label
    files) is recorded in ``config.json`` and ``split.json`` lists the events
    trained on and classified, so ``eventcnn evaluate`` can evaluate the run later.
    The rest is predicted with test-time augmentation (``tta=True``:
    :func:`eventcnn.learn.predict.predict_tta`, the mean over 8 rotated/mirrored
    copies) or, with ``tta=False``, in one pass (:func:`eventcnn.opal.predict`);
    ``tta=None`` (the default) picks by the starting weights
    (:func:`eventcnn.learn.predict.default_tta`: TTA from random weights, one pass
    when fine-tuned from pretrained ones). Recorded as ``tta_copies`` in
    ``config.json`` ``opal``.

    ``weights``: the starting weights, ``None`` (random) or ``"sim"`` (the shipped
    simulation-pretrained CNN, :mod:`eventcnn.learn.weights`; ``eventcnn opal
    train --weights sim``) or a ``.weights.h5`` from ``eventcnn opal pretrain``.

    ``self_train``: a :class:`eventcnn.opal.self_training.SelfTrainConfig` (e.g.
    ``opal.SELF_TRAIN``, what ``eventcnn opal train --self-train`` uses) to
    train twice, the second time with confident pseudo-labels of the unlabelled
    events (:func:`eventcnn.opal.self_training.self_train`; only with the default recipe,
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
        result = train_arrays(images[train_mask], labels[train_mask], recipe=recipe, out=out, quiet=quiet,
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
        m = evaluate_images(result.model, images[rest][have], ref_rest[have], out=out, names=names[rest][have],
                            probs=probs[have], extra={"overview": predicted_overview(pred[have], ref_rest[have])})
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
