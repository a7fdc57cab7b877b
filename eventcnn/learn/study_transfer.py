"""The study on real CMS events: trained on generated events, scored on real ones; fine-tuned; real only.

The real development sample (``TTjets_json.json``, ``Wjets_json.json``) after
the study's selection, seen the same three ways as the generated events (images
drawn with the same render settings, objects, features). One seeded,
stratified split: half of the events are the real **test** set (never used for a
choice), the other half the pool that fine-tuning and real-only training draw from.

Arms (each representation, each seed; tt+jets vs W+jets, score
``p(tt) / (p(tt) + p(W))`` for models with the generated classes):

- ``generated``: the model of the largest generated training size, unchanged;
- ``fine-tuned``: that model trained on ``per_class`` real events per class
  (networks: all weights, Adam 1e-4, early stopping on ``max(20, per_class // 3)``
  real validation events per class; trees: refitted on the generated events plus the real
  ones, each real class weighted as much as one generated class);
- ``real-<N>``: trained on ``N`` real events per class only, from scratch;
- ``real-all``: trained on the whole real pool (80 % train, 20 % validation).

Predictions are cached as ``preds/real_<arm>_<rep>_s<seed>.npy``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.events import concat_events, read_events
from eventcnn.events.objects import object_arrays
from eventcnn.events.selection import get_selection
from eventcnn.images.render import RenderConfig, render_events
from eventcnn.learn.baseline import DEFAULT_PARAMS, event_features
from eventcnn.learn.representations import (
    Recipe,
    fit_network,
    fit_predict,
    model_inputs,
    predict_rows,
    trees_proba,
)
from eventcnn.learn.study_data import Views

__all__ = ["RealData", "binary_score"]

_FILES = (("TTjets_json.json", "tt"), ("Wjets_json.json", "wjets"))


def binary_score(probs: np.ndarray, class_names: list[str]) -> np.ndarray:
    """tt+jets-vs-W+jets score ``p(tt) / (p(tt) + p(W))`` from probabilities over ``class_names``."""
    p = np.asarray(probs, dtype=np.float64)
    tt, w = p[:, class_names.index("tt")], p[:, class_names.index("wjets")]
    return tt / np.maximum(tt + w, 1e-12)


@dataclass
class RealData:
    """Real events as :class:`Views` (labels in the generated class order), the split and the settings."""

    views: Views
    images: np.ndarray
    pool: list[np.ndarray]
    test: np.ndarray
    gen_classes: list[str]
    selection: Any

    @classmethod
    def load(cls, folder: str | os.PathLike[str], selection: Any, size: int, gen: Views, seed: int = 0) -> RealData:
        """Read, select and draw the real events; split them 50/50 (stratified, ``seed``)."""

        sel = get_selection(selection)
        parts, labels = [], []
        for name, label in _FILES:
            path = Path(folder) / name
            if not path.exists():
                raise UserError(f"{path} not found: pass --cms FOLDER with {_FILES[0][0]} and {_FILES[1][0]} "
                                "(or --no-transfer)")
            ev = read_events(path)
            if sel is not None:
                ev, _ = sel.apply(ev)
            parts.append(ev)
            labels.append(np.full(len(ev), gen.class_names.index(label), dtype=np.int64))
        events = concat_events(parts)
        y = np.concatenate(labels)
        feats, names = event_features(events, sel)
        views = Views(None, object_arrays(events, sel), feats, names, y, np.zeros(len(y), np.int8),
                      list(gen.class_names), np.array([str(events.source)] * len(y)),
                      np.asarray(events.event, dtype=np.int64))
        images = render_events(events, RenderConfig(size=size))
        rng = np.random.default_rng([int(seed), 36])
        pool, test = [], []
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)[rng.permutation(int((y == c).sum()))]
            half = len(rows) // 2
            test.append(np.sort(rows[:half]))
            pool.append(np.sort(rows[half:]))
        return cls(views, images, pool, np.concatenate(test), list(gen.class_names), selection)

    # ------------------------------------------------------------------ bookkeeping

    @property
    def y_test(self) -> np.ndarray:
        """1 for tt+jets, 0 for W+jets, per real test event."""
        return (self.views.labels[self.test] == self.gen_classes.index("tt")).astype(np.int64)

    @staticmethod
    def path(out: Path, arm: str, rep: str, seed: int) -> Path:
        return Path(out) / "preds" / f"real_{arm}_{rep}_s{seed}.npy"

    def has_generated(self, rep: str, seed: int, out: Path) -> bool:
        return all(self.path(out, a, rep, seed).exists() for a in ("generated", "fine-tuned"))

    def finetune_rows(self, seed: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        """``per_class`` training and ``max(20, per_class // 3)`` validation rows per class from the pool."""
        n_val = max(20, per_class // 3)
        train, val = [], []
        for c, rows in enumerate(self.pool):
            perm = rows[np.random.default_rng([int(seed), 21, c]).permutation(len(rows))]
            if len(perm) < per_class + n_val:
                raise UserError(f"only {len(perm)} real events of class {c} in the pool; "
                                f"need {per_class + n_val} (lower --real-per-class)")
            train.append(np.sort(perm[:per_class]))
            val.append(np.sort(perm[per_class:per_class + n_val]))
        return np.concatenate(train), np.concatenate(val)

    def all_rows(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole pool: 80 % training, 20 % validation per class."""
        train, val = [], []
        for c, rows in enumerate(self.pool):
            perm = rows[np.random.default_rng([int(seed), 22, c]).permutation(len(rows))]
            k = int(round(0.8 * len(perm)))
            train.append(np.sort(perm[:k]))
            val.append(np.sort(perm[k:]))
        return np.concatenate(train), np.concatenate(val)

    # ------------------------------------------------------------------ arms

    def after_generated(self, rep: str, model: Any, seed: int, size: int, out: Path, gen: Views,
                        gen_train: np.ndarray, gen_val: np.ndarray, gen_images: np.ndarray | None,
                        per_class: int = 100, recipe: Any = None) -> None:
        """Score a model trained on generated events on the real test set, then fine-tune it and score again."""

        k = len(self.gen_classes)
        if rep == "trees":
            p0 = trees_proba(model, self.views.features[self.test], k)
            p1 = self._trees_mixed(gen, np.concatenate([gen_train, gen_val]), seed, per_class)
        else:
            x = model_inputs(rep, self.views, self.images)
            p0 = predict_rows(model, x, self.test)
            p1 = self._finetune_nn(model, rep, seed, per_class, recipe)
        np.save(self.path(out, "generated", rep, seed), p0)
        np.save(self.path(out, "fine-tuned", rep, seed), p1)

    def _finetune_nn(self, model: Any, rep: str, seed: int, per_class: int, recipe: Any = None) -> np.ndarray:
        import keras


        epochs = min(30, (recipe or Recipe()).max_epochs)

        keras.utils.set_random_seed(int(seed))
        train, val = self.finetune_rows(seed, per_class)
        x = model_inputs(rep, self.views, self.images)
        fit_network(model, x, self.views.labels, train, val, epochs=epochs, lr=1e-4, batch=32, seed=seed, patience=5)
        return predict_rows(model, x, self.test)

    def _trees_mixed(self, gen: Views, gen_rows: np.ndarray, seed: int, per_class: int) -> np.ndarray:
        from sklearn.ensemble import HistGradientBoostingClassifier


        train, val = self.finetune_rows(seed, per_class)
        real = np.concatenate([train, val])
        X = np.concatenate([gen.features[gen_rows], self.views.features[real]])
        y = np.concatenate([gen.labels[gen_rows], self.views.labels[real]])
        per_gen_class = len(gen_rows) / len(self.gen_classes)
        w = np.concatenate([np.ones(len(gen_rows)), np.full(len(real), per_gen_class / (len(real) / 2))])
        model = HistGradientBoostingClassifier(random_state=int(seed), **DEFAULT_PARAMS)
        model.fit(X, y, sample_weight=w)
        return trees_proba(model, self.views.features[self.test], len(self.gen_classes))

    def real_only(self, reps: list[str], seeds: list[int], per_class: int, out: Path, say,
                  whole_pool: bool = True, recipe: Any = None) -> None:
        """Train every representation from scratch on real events only (``real-<N>``; ``real-all`` with ``whole_pool``)."""

        two = self.views  # labels in the generated class order: the networks keep all outputs
        for arm in (f"real-{per_class}", "real-all") if whole_pool else (f"real-{per_class}",):
            for seed in seeds:
                train, val = self.finetune_rows(seed, per_class) if arm != "real-all" else self.all_rows(seed)
                for rep in reps:
                    path = self.path(out, arm, rep, seed)
                    if path.exists():
                        continue
                    probs, info = fit_predict(rep, two, train, val, [(two, self.test, self.images)], seed,
                                              images=self.images, recipe=recipe or Recipe())
                    np.save(path, probs[0])
                    say(f"[real] {arm} {rep} seed {seed}: {info}")
