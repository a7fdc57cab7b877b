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

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._deprecated import renamed_quiet
from eventcnn._io import write_json_atomic
from eventcnn.opal.displays import CLASS_NAMES
from eventcnn.opal.model import SMALL_SET, TrainResult, evaluate, train, write_predictions
from eventcnn.opal.physics import predicted_overview
from eventcnn.runs import plot_run_history

__all__ = ["MasterclassResult", "masterclass"]


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


@renamed_quiet("verbose")
def masterclass(images: np.ndarray, labels: Any, names: Any, *, out: str | os.PathLike[str],
                recipe: str = "default", reference: Any = None,
                data_dir: str | os.PathLike[str] | None = None, quiet: bool | None = None,
                sources: dict[str, Any] | None = None, tta: bool = True,
                self_train: Any = None, weights: str | None = None, **settings: Any) -> MasterclassResult:
    """Train on the events with a label (``""`` = unlabelled), classify the others, compare.

    ``reference``: reference labels of all events (``""`` where unknown); with it
    the rest is evaluated (``metrics.json``, ``confusion_matrix.png``,
    ``misclassified.png``/``.csv`` in ``out``). ``settings`` go to :func:`train`
    (``seed``, ``epochs``, ``lepton_factor``, ...). ``sources`` (e.g. the label
    files) is recorded in ``config.json`` and ``split.json`` lists the events
    trained on and classified, so ``eventcnn evaluate`` can evaluate the run later.
    The rest is predicted with test-time augmentation (``tta=True``, the
    default: :func:`eventcnn.opal.tta.predict_tta`, the mean over 8 rotated/mirrored
    copies; recorded as ``tta_copies`` in ``config.json`` ``opal``) or, with
    ``tta=False``, in one pass (:func:`eventcnn.opal.predict`, ``tta_copies`` 1).

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
    train_mask = labels != ""
    if not train_mask.any():
        raise ValueError("no labelled events to train on: label some events first")
    out = Path(out)
    rest = ~train_mask
    from eventcnn.opal.tta import TTA_COPIES, predict_tta

    semi = self_train is not None and _self_train_applies(recipe, int(train_mask.sum()), bool(rest.any()))
    copies = self_train.copies if semi else (TTA_COPIES if tta else 1)
    sources = {**(sources or {}), "tta_copies": copies}  # how the rest was predicted (eventcnn evaluate)
    st = None
    if semi:
        from eventcnn.opal.semi import self_train as run_self_train

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
    return MasterclassResult(result, out, train_mask, rest, probs, pred, overview, m, history_png, st)


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
    from eventcnn._io import write_text_atomic

    write_text_atomic(path, "event,pseudo_label,probability\n"
                      + "".join(f"{n},{c},{p:.4f}\n" for n, c, p in zip(names, codes, probs)))
