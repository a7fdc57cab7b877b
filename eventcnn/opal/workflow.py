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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._deprecated import renamed_quiet
from eventcnn._io import write_json_atomic
from eventcnn.opal.displays import CLASS_NAMES
from eventcnn.opal.model import TrainResult, evaluate, predict, train, write_predictions
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


@renamed_quiet("verbose")
def masterclass(images: np.ndarray, labels: Any, names: Any, *, out: str | os.PathLike[str],
                recipe: str = "default", reference: Any = None,
                data_dir: str | os.PathLike[str] | None = None, quiet: bool | None = None,
                sources: dict[str, Any] | None = None, predict_fn: Any = None,
                **settings: Any) -> MasterclassResult:
    """Train on the events with a label (``""`` = unlabelled), classify the others, compare.

    ``reference``: reference labels of all events (``""`` where unknown); with it
    the rest is evaluated (``metrics.json``, ``confusion_matrix.png``,
    ``misclassified.png``/``.csv`` in ``out``). ``settings`` go to :func:`train`
    (``seed``, ``epochs``, ``lepton_factor``, ...). ``sources`` (e.g. the label
    files) is recorded in ``config.json`` and ``split.json`` lists the events
    trained on and classified, so ``eventcnn evaluate`` can evaluate the run later.
    ``predict_fn(model, images)`` replaces :func:`predict` (e.g. ``eventcnn.tta.predict_tta``).
    """

    labels = np.asarray(labels)
    names = np.asarray(names)
    train_mask = labels != ""
    if not train_mask.any():
        raise ValueError("no labelled events to train on: label some events first")
    out = Path(out)
    result = train(images[train_mask], labels[train_mask], recipe=recipe, out=out, quiet=quiet,
                   data_dir=data_dir, run_info=sources, **settings)
    write_json_atomic(out / "split.json", {"class_names": list(CLASS_NAMES), "train": names[train_mask].tolist(),
                                           "val": [], "test": names[~train_mask].tolist()})
    history_png = plot_run_history(result.history, out / "learning_curves.png")
    rest = ~train_mask
    probs = (predict_fn or predict)(result.model, images[rest]) if rest.any() else np.zeros((0, len(CLASS_NAMES)), np.float32)
    write_predictions(out / "predictions.csv", names[rest], probs)
    pred = np.array(CLASS_NAMES)[probs.argmax(axis=1)] if len(probs) else np.array([], dtype="<U1")
    ref_rest = None if reference is None else np.asarray(reference)[rest]
    have = None if ref_rest is None else ref_rest != ""
    overview = predicted_overview(pred, ref_rest if have is not None and have.all() else None)
    m = None
    if have is not None and have.any():
        m = evaluate(result.model, images[rest][have], ref_rest[have], out=out, names=names[rest][have],
                     probs=probs[have])
    return MasterclassResult(result, out, train_mask, rest, probs, pred, overview, m, history_png)
