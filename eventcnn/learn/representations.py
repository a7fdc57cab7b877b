"""Train and score one representation of an event: eta-phi image CNN, Deep Sets on objects, boosted trees.

:func:`fit_predict` trains one representation (``image``: the small CNN of
:mod:`eventcnn.learn.models` on eta-phi images, with the physics augmentation;
``sets``: the Deep Sets network of :mod:`eventcnn.learn.sets`; ``trees``: the
boosted trees of :mod:`eventcnn.learn.baseline`) on given rows of a
:class:`~eventcnn.learn.study_data.Views` and returns its class probabilities on
other rows. The networks share one recipe (:class:`Recipe`): Adam with a cosine
decay over the planned steps, early stopping on the validation loss, the best
epoch restored; the number of epochs shrinks as the sample grows, so a run sees
about a fixed number of events, but never fewer than a minimum of optimizer steps.

Example::

    from eventcnn.learn.representations import fit_predict
    (p_test,), info = fit_predict("sets", views, train_rows, val_rows, [(views, test_rows, None)], seed=1)
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.learn.augment import physics_augmentation
from eventcnn.learn.baseline import train_baseline
from eventcnn.learn.loop import LoopSettings, fit_phase
from eventcnn.learn.models import build_model, make_optimizer
from eventcnn.learn.sets import build_set_model, feature_statistics, set_inputs
from eventcnn.learn.study_data import Views

__all__ = ["REPRESENTATIONS", "Recipe", "cpu_seconds", "epoch_budget", "fit_network", "fit_predict", "model_inputs",
           "predict_rows", "trees_proba"]

REPRESENTATIONS: tuple[str, ...] = ("image", "sets", "trees")


@dataclass(frozen=True)
class Recipe:
    """Training settings of the neural representations (the trees use their own defaults).

    Epochs: ``passes[rep] / n_train`` (about that many events seen per run),
    at least ``min_steps`` optimizer steps, at most ``max_epochs``. Early
    stopping waits ``patience`` epochs, and at least ``patience_steps`` steps,
    without a lower validation loss (a few steps are not enough for the
    BatchNorm statistics of the CNN to settle on small samples).
    """

    lr: float = 1e-3
    passes: tuple[tuple[str, float], ...] = (("image", 6e5), ("sets", 2e6))
    max_epochs: int = 60
    min_steps: int = 500
    patience: int = 4
    patience_steps: int = 150
    batch_small: int = 32  # below small_below training events
    batch_large: int = 128
    small_below: int = 3000

    def plan(self, rep: str, n_train: int) -> tuple[int, int, int]:
        """``(epochs, batch, patience)`` for ``n_train`` training events."""
        if n_train < 1:
            raise UserError("no training events")
        batch = self.batch_small if n_train < self.small_below else self.batch_large
        steps = math.ceil(n_train / batch)
        epochs = epoch_budget(n_train, dict(self.passes)[rep], self.max_epochs,
                              min(self.max_epochs, math.ceil(self.min_steps / steps)))
        return epochs, batch, max(self.patience, math.ceil(self.patience_steps / steps))


def epoch_budget(n_train: int, passes: float, max_epochs: int = 60, min_epochs: int = 2) -> int:
    """Epochs for ``n_train`` events: ``passes / n_train``, between ``min_epochs`` and ``max_epochs``.

    Example::

        >>> epoch_budget(300, 6e5), epoch_budget(300_000, 6e5)
        (60, 2)
    """
    if n_train < 1:
        raise UserError("no training events")
    return int(min(max_epochs, max(min_epochs, math.floor(passes / n_train))))


def _batches_class():
    import keras

    class Batches(keras.utils.PyDataset):
        """Rows ``index`` of in-memory inputs (an array or a dict of arrays), reshuffled every epoch."""

        def __init__(self, x: Any, y: np.ndarray, index: np.ndarray, batch_size: int, seed: int,
                     shuffle: bool) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.x, self.y, self.index = x, y, np.asarray(index, dtype=np.int64)
            self.batch_size, self.seed, self.shuffle, self.epoch = int(batch_size), int(seed), shuffle, 0
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not self.shuffle:
                return self.index
            return self.index[np.random.default_rng([self.seed, self.epoch]).permutation(len(self.index))]

        def __len__(self) -> int:
            return max(1, math.ceil(len(self.index) / self.batch_size))

        def __getitem__(self, i: int):
            rows = self.order[i * self.batch_size:(i + 1) * self.batch_size]
            x = {k: v[rows] for k, v in self.x.items()} if isinstance(self.x, dict) else self.x[rows]
            return x, self.y[rows]

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._order()

    return Batches


def model_inputs(rep: str, views: Views, images: np.ndarray | None) -> Any:
    if rep == "image":
        if images is None:
            raise UserError("the image representation needs the images loaded (images=...)")
        return images

    return set_inputs(views.objects.values, views.objects.mask)


def _build(rep: str, views: Views, train: np.ndarray, seed: int, num_classes: int, image_shape: tuple[int, ...]):
    import keras

    keras.utils.set_random_seed(int(seed))
    if rep == "image":

        return build_model("small", num_classes, image_shape, weights=None, freeze="none",
                           augmentation=physics_augmentation(seed=int(seed)))

    obj = views.objects
    mean, var = feature_statistics(obj.values[train], obj.mask[train])
    return build_set_model(num_classes, obj.values.shape[1], obj.values.shape[2], mean=mean, variance=var)


def fit_network(model: Any, x: Any, y: np.ndarray, train: np.ndarray, val: np.ndarray, *, epochs: int, lr: float,
            batch: int, seed: int, patience: int) -> dict[str, Any]:
    import keras


    Batches = _batches_class()
    tr = Batches(x, y, train, batch, seed, shuffle=True)
    va = Batches(x, y, val, 512, seed, shuffle=False)
    model.compile(make_optimizer("adam", lr, "cosine", decay_steps=epochs * len(tr)),
                  keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    state, history = fit_phase(model, tr, va, epochs=epochs, quiet=True,
                               settings=LoopSettings(monitor="val_loss", patience=patience, restore_best=True))
    return {"epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
            "val_loss": state.get("best")}


def predict_rows(model: Any, x: Any, rows: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Probabilities of rows ``rows`` of ``x``, in fixed-size batches (the last one padded), called eagerly."""
    import keras

    rows = np.asarray(rows, dtype=np.int64)
    out = []
    for i in range(0, len(rows), batch):
        r = rows[i:i + batch]
        rr = np.concatenate([r, np.repeat(r[-1:], batch - len(r))]) if len(r) < batch else r
        xb = {k: v[rr] for k, v in x.items()} if isinstance(x, dict) else x[rr]
        out.append(np.asarray(keras.ops.convert_to_numpy(model(xb, training=False)), dtype=np.float32)[:len(r)])
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def fit_predict(rep: str, views: Views, train: np.ndarray, val: np.ndarray, score: Sequence[tuple[Views, np.ndarray, Any]],
                seed: int, *, images: np.ndarray | None = None, recipe: Recipe = Recipe(),
                return_model: bool = False) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Train ``rep`` on rows ``train`` (early stopping on ``val``) of ``views``; predict each of ``score``.

    ``score``: ``(views, rows, images)`` triples (images only for ``rep="image"``).
    Returns the probabilities ``(len(rows), n_classes)`` for each, and facts of
    the run (epochs, best epoch, seconds, CPU seconds; with ``return_model`` the model under ``"model"``).
    The trees train on ``train`` and ``val`` together (they keep 20 % aside for their own early stopping).
    """
    if rep not in REPRESENTATIONS:
        raise UserError(f"unknown representation {rep!r}; choose one of {REPRESENTATIONS}")
    t0, c0 = time.perf_counter(), cpu_seconds()
    n_classes = len(views.class_names)
    info: dict[str, Any] = {"n_train": int(len(train)), "n_val": int(len(val))}
    if rep == "trees":

        rows = np.concatenate([train, val])
        model = train_baseline(views.features[rows], views.labels[rows], seed=int(seed))
        probs = [trees_proba(model, v.features[r], n_classes) for v, r, _ in score]
        info["iterations"] = int(getattr(model, "n_iter_", 0))
    else:
        x = model_inputs(rep, views, images)
        model = _build(rep, views, train, seed, n_classes, tuple(images.shape[1:]) if images is not None else ())
        epochs, batch, patience = recipe.plan(rep, len(train))
        info.update(fit_network(model, x, views.labels, train, val, epochs=epochs, lr=recipe.lr, batch=batch,
                            seed=seed, patience=patience), max_epochs=epochs, batch=batch, patience=patience)
        probs = [predict_rows(model, model_inputs(rep, v, im), r) for v, r, im in score]
    info.update(seconds=round(time.perf_counter() - t0, 1), cpu_seconds=round(cpu_seconds() - c0, 1))
    if return_model:
        info["model"] = model
    return probs, info


def trees_proba(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Tree probabilities in class-index order (a class absent from training gets 0)."""
    proba = model.predict_proba(np.asarray(X, dtype=np.float32))
    out = np.zeros((len(X), n_classes), dtype=np.float32)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return out


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
