"""Self-training with the unlabelled displays: confident pseudo-labels, then train again.

With 30-50 labels the CNN sees few taus and electrons. The hundreds of displays
the class did not label might still carry information: :func:`self_train`
trains on the labels (round 1), classifies the unlabelled displays with
test-time augmentation (:func:`eventcnn.learn.predict.predict_tta`: end views are
symmetric under rotation about the beam axis and mirroring, so the averaged
answer is steadier), takes the confident ones as pseudo-labels
(:func:`select_pseudo_labels`: probability >= ``threshold``, at most
``per_class`` per class, the most confident first, so the many hadrons cannot
swamp the leptons) and trains a fresh network (seed + 1) on labels +
pseudo-labels (round 2). Only the labels the class gave are used: the
pseudo-labels are the CNN's own answers. The run's model is the average of both
networks (:func:`average_model`, saved as one ``.keras``), and so are the
predictions of the rest.

It is an option (``eventcnn opal train --self-train``, :data:`SELF_TRAIN`), not
the default: with 50 suggested labels (``bench/opal_active.py --arms
self_train``, 5 seeds, docs/benchmarks.md) it gave a balanced accuracy of 0.844
+- 0.035 against 0.891 +- 0.038 for one training with TTA (the default), lower
on every seed. The confident pseudo-labels are easy hadrons and muons (q/e/m/t
25 / 0-7 / 9-14 / 0-3, 207 of 210 right) and move the boundary the wrong way
for taus. Each round trains :data:`SELF_TRAIN_EPOCHS` epochs (83-105 s for
both on 2 cores with 50 labels).

Example::

    from eventcnn import opal
    st = opal.self_train(data.images, labels, seed=1)   # labels: "" = unlabelled
    st.probs          # (n_unlabelled, 4), both rounds' TTA mean
    st.pseudo_counts  # {"q": 20, "e": 7, "m": 12, "t": 3}
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eventcnn import DEFAULT_SEED
from eventcnn.errors import UserError
from eventcnn.images.opal_displays import CLASS_NAMES
from eventcnn.learn.predict import TTA_COPIES, predict_tta
from eventcnn.learn.recipes import SMALL_SET
from eventcnn.learn.train_arrays import TrainResult, train_arrays, write_run

__all__ = ["average_model", "SELF_TRAIN", "SELF_TRAIN_EPOCHS", "SelfTrainConfig", "SelfTrainResult", "select_pseudo_labels",
           "self_train"]

#: epochs of each round of the default self-training with fewer than SMALL_SET labels
SELF_TRAIN_EPOCHS = 8


@dataclass(frozen=True)
class SelfTrainConfig:
    """Settings of :func:`self_train`.

    ``threshold``: least TTA probability of the predicted class for a pseudo-label;
    ``per_class``: at most this many pseudo-labels per class (the most confident);
    ``epochs``: epochs of each round (``None``: the recipe's own choice);
    ``copies``: TTA copies when choosing the pseudo-labels and predicting;
    ``ensemble``: predict with the mean of both rounds (else round 2 alone).
    """

    threshold: float = 0.9
    per_class: int = 25
    epochs: int | None = SELF_TRAIN_EPOCHS
    copies: int = TTA_COPIES
    ensemble: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.per_class < 0:
            raise UserError(f"per_class must be >= 0, got {self.per_class}")
        if self.epochs is not None and self.epochs < 1:
            raise UserError(f"epochs must be >= 1, got {self.epochs}")
        if self.copies < 1:
            raise UserError(f"copies must be >= 1, got {self.copies}")


#: the settings of ``eventcnn opal train --self-train``
SELF_TRAIN = SelfTrainConfig()


@dataclass
class SelfTrainResult:
    """Both rounds' training results, the pseudo-labels, the predictions of the unlabelled displays."""

    first: Any  # TrainResult of round 1 (labels only)
    second: Any  # TrainResult of round 2 (labels + pseudo-labels)
    result: Any  # TrainResult of the run: both networks' average (ensemble) or round 2, history of round 2
    probs: np.ndarray  # (n_unlabelled, 4): predictions of the unlabelled displays
    pseudo_index: np.ndarray  # indices (into all images) that got a pseudo-label
    pseudo_labels: np.ndarray  # their pseudo-labels (class codes)
    pseudo_confidence: np.ndarray  # round 1's (TTA) probability of each pseudo-label
    pseudo_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # both trainings and the predictions

    def info(self, config: SelfTrainConfig) -> dict[str, Any]:
        """What was used, for the run's ``config.json``."""
        return {**asdict(config), "pseudo_counts": self.pseudo_counts,
                "n_pseudo": int(len(self.pseudo_index)),
                "first_round_seconds": float(self.first.seconds),
                "second_round_seconds": float(self.second.seconds), "seconds": float(self.seconds)}


def select_pseudo_labels(probs: np.ndarray, threshold: float = SELF_TRAIN.threshold,
                         per_class: int = SELF_TRAIN.per_class) -> tuple[np.ndarray, np.ndarray]:
    """Confident predictions as pseudo-labels: ``(rows, class codes)``.

    A row qualifies when its highest probability is at least ``threshold``; per
    predicted class at most ``per_class`` rows, the most confident first (ties
    by row). Rows are indices into ``probs``, sorted.

    Example::

        rows, codes = select_pseudo_labels(np.array([[0.95, 0.05, 0, 0], [0.5, 0.5, 0, 0]]))
        # rows [0], codes ["q"]
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(CLASS_NAMES):
        raise UserError(f"probs must have shape (N, {len(CLASS_NAMES)}), got {probs.shape}")
    best, conf = probs.argmax(axis=1), probs.max(axis=1)
    rows: list[np.ndarray] = []
    for k in range(len(CLASS_NAMES)):
        cand = np.flatnonzero((best == k) & (conf >= threshold))
        order = np.lexsort((cand, -conf[cand]))  # most confident first, then by row
        rows.append(cand[order][:per_class])
    sel = np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=int)
    return sel, np.array(CLASS_NAMES)[best[sel]]


def self_train(images: np.ndarray, labels: Any, *, config: SelfTrainConfig = SELF_TRAIN,
               recipe: str = "default", out: str | os.PathLike[str] | None = None,
               quiet: bool | None = None, data_dir: str | os.PathLike[str] | None = None,
               run_info: dict[str, Any] | None = None, **settings: Any) -> SelfTrainResult:
    """Train on the labels, pseudo-label the confident unlabelled displays, train again.

    ``labels``: one per image, ``""`` = unlabelled. ``settings`` go to
    :func:`eventcnn.learn.train_arrays.train_arrays` (``opal.train``) in both rounds (``seed``, ...; round 2 uses
    ``seed + 1``). With ``config.epochs`` and fewer than ``SMALL_SET`` labels each
    round trains that many epochs (unless ``epochs`` is given). With ``out`` the
    run folder holds the run's model (both networks' average,
    :func:`average_model`, or round 2 alone) with round 2's history;
    ``config.json`` ``opal.self_train`` records the settings and the
    pseudo-labels per class.
    """

    start = time.perf_counter()
    labels = np.asarray(labels)
    lab = labels != ""
    if not lab.any():
        raise UserError("no labelled events to train on: label some events first")
    rest = np.flatnonzero(~lab)
    if config.epochs is not None and "epochs" not in settings and lab.sum() < SMALL_SET:
        settings = {**settings, "epochs": config.epochs}
    seed = int(settings.pop("seed", DEFAULT_SEED))
    first = train_arrays(images[lab], labels[lab], recipe=recipe, quiet=quiet, seed=seed, **settings)
    probs1 = predict_tta(first.model, images[rest], copies=config.copies)
    rows, codes = select_pseudo_labels(probs1, config.threshold, config.per_class)
    counts = {c: int(np.sum(codes == c)) for c in CLASS_NAMES}
    idx = np.concatenate([np.flatnonzero(lab), rest[rows]])
    y2 = np.concatenate([labels[lab], codes])
    second = train_arrays(images[idx], y2, recipe=recipe, quiet=quiet, seed=seed + 1, **settings)
    probs2 = predict_tta(second.model, images[rest], copies=config.copies)
    if config.ensemble:
        model, probs = average_model([first.model, second.model]), (probs1 + probs2) / 2
    else:
        model, probs = second.model, probs2
    result = TrainResult(model, second.history, second.config, first.seconds + second.seconds,
                         second.best_epoch)
    st = SelfTrainResult(first, second, result, probs.astype(np.float32), rest[rows], codes,
                         probs1[rows].max(axis=1), counts, time.perf_counter() - start)
    if out is not None:
        write_run(result, out, data_dir=data_dir, run_info={**(run_info or {}), "self_train": st.info(config)})
    return st


def average_model(models: list[Any]):
    """One Keras model whose output is the mean of ``models``' outputs (saved and loaded as one).

    Example::

        both = average_model([first.model, second.model])
        predict(both, images)   # == (predict(first.model, images) + predict(second.model, images)) / 2
    """
    import keras

    inp = keras.Input(shape=models[0].input_shape[1:])
    # each network wrapped under its own name: both are called "opal_masterclass_cnn"
    outs = [keras.Sequential([m], name=f"network_{i + 1}")(inp) for i, m in enumerate(models)]
    return keras.Model(inp, keras.layers.Average()(outs), name="opal_self_trained_average")
