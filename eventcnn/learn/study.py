"""Train and score the three representations of the study on the same events (issue 36 item 2).

:func:`fit_predict` trains one representation (``image``: the small CNN on
eta-phi images; ``sets``: the Deep Sets network of :mod:`eventcnn.learn.sets`;
``trees``: the boosted trees of :mod:`eventcnn.learn.baseline`) on given rows of
a :class:`~eventcnn.learn.study_data.Views` and returns its class probabilities
on other rows. The recipe is the same for every training size: Adam with a
cosine decay over the planned steps, early stopping on the validation loss, the
best epoch restored; the number of epochs shrinks as the sample grows
(:func:`epoch_budget`), so a run costs at most about ``passes`` events seen.

:func:`run_study` is the whole study behind ``bench/representations.py``:
learning curves (sizes x seeds x representations, every model's test
probabilities cached in ``preds/``, one line per model in ``runs.jsonl``),
then the transfer to the real CMS events, then the report of
:mod:`eventcnn.learn.study_report`.

Example::

    from eventcnn.learn.study import fit_predict
    p = fit_predict("sets", views, train_rows, val_rows, views_test_rows, seed=1)
"""

from __future__ import annotations

import hashlib
import json
import math
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError
from eventcnn.learn.study_data import ROLE_TEST, ROLE_TRAIN, ROLE_VAL, Views

__all__ = ["REPRESENTATIONS", "Recipe", "StudySettings", "dataset_tag", "epoch_budget", "fit_predict", "pools", "run_study", "subset"]

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


def _inputs(rep: str, views: Views, images: np.ndarray | None) -> Any:
    if rep == "image":
        if images is None:
            raise UserError("the image representation needs the images loaded (images=...)")
        return images
    from eventcnn.learn.sets import set_inputs

    return set_inputs(views.objects.values, views.objects.mask)


def _build(rep: str, views: Views, train: np.ndarray, seed: int, num_classes: int, image_shape: tuple[int, ...]):
    import keras

    keras.utils.set_random_seed(int(seed))
    if rep == "image":
        from eventcnn.learn.augment import physics_augmentation
        from eventcnn.learn.models import build_model

        return build_model("small", num_classes, image_shape, weights=None, freeze="none",
                           augmentation=physics_augmentation(seed=int(seed)))
    from eventcnn.learn.sets import build_set_model, feature_statistics

    obj = views.objects
    mean, var = feature_statistics(obj.values[train], obj.mask[train])
    return build_set_model(num_classes, obj.values.shape[1], obj.values.shape[2], mean=mean, variance=var)


def _fit_nn(model: Any, x: Any, y: np.ndarray, train: np.ndarray, val: np.ndarray, *, epochs: int, lr: float,
            batch: int, seed: int, patience: int) -> dict[str, Any]:
    import keras

    from eventcnn.learn.loop import LoopSettings, fit_phase
    from eventcnn.learn.models import make_optimizer

    Batches = _batches_class()
    tr = Batches(x, y, train, batch, seed, shuffle=True)
    va = Batches(x, y, val, 512, seed, shuffle=False)
    model.compile(make_optimizer("adam", lr, "cosine", decay_steps=epochs * len(tr)),
                  keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    state, history = fit_phase(model, tr, va, epochs=epochs, quiet=True,
                               settings=LoopSettings(monitor="val_loss", patience=patience, restore_best=True))
    return {"epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
            "val_loss": state.get("best")}


def _predict_nn(model: Any, x: Any, rows: np.ndarray, batch: int = 1024) -> np.ndarray:
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
    t0, c0 = time.perf_counter(), _cpu()
    n_classes = len(views.class_names)
    info: dict[str, Any] = {"n_train": int(len(train)), "n_val": int(len(val))}
    if rep == "trees":
        from eventcnn.learn.baseline import train_baseline

        rows = np.concatenate([train, val])
        model = train_baseline(views.features[rows], views.labels[rows], seed=int(seed))
        probs = [_trees_proba(model, v.features[r], n_classes) for v, r, _ in score]
        info["iterations"] = int(getattr(model, "n_iter_", 0))
    else:
        x = _inputs(rep, views, images)
        model = _build(rep, views, train, seed, n_classes, tuple(images.shape[1:]) if images is not None else ())
        epochs, batch, patience = recipe.plan(rep, len(train))
        info.update(_fit_nn(model, x, views.labels, train, val, epochs=epochs, lr=recipe.lr, batch=batch,
                            seed=seed, patience=patience), max_epochs=epochs, batch=batch, patience=patience)
        probs = [_predict_nn(model, _inputs(rep, v, im), r) for v, r, im in score]
    info.update(seconds=round(time.perf_counter() - t0, 1), cpu_seconds=round(_cpu() - c0, 1))
    if return_model:
        info["model"] = model
    return probs, info


def _trees_proba(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Tree probabilities in class-index order (a class absent from training gets 0)."""
    proba = model.predict_proba(np.asarray(X, dtype=np.float32))
    out = np.zeros((len(X), n_classes), dtype=np.float32)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# --------------------------------------------------------------------------- pools and subsets


def pools(views: Views) -> dict[str, list[np.ndarray]]:
    """Per class, the rows of each role; test and validation cut to the same count per class (balanced)."""
    out: dict[str, list[np.ndarray]] = {}
    for name, role in (("train", ROLE_TRAIN), ("val", ROLE_VAL), ("test", ROLE_TEST)):
        rows = [np.flatnonzero((views.roles == role) & (views.labels == c)) for c in range(len(views.class_names))]
        if name != "train":
            n = min(len(r) for r in rows)
            rows = [r[:n] for r in rows]
        out[name] = rows
    return out


def subset(pool: dict[str, list[np.ndarray]], size: int, seed: int, min_val: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """``size`` training rows per class (the first of a per-seed permutation: nested in ``size``) and
    ``max(min_val, size // 4)`` validation rows per class (capped by the pools)."""
    train, val = [], []
    for c, rows in enumerate(pool["train"]):
        perm = rows[np.random.default_rng([int(seed), 7, c]).permutation(len(rows))]
        train.append(np.sort(perm[:size]))
    n_val = max(min_val, size // 4)
    for c, rows in enumerate(pool["val"]):
        perm = rows[np.random.default_rng([int(seed), 8, c]).permutation(len(rows))]
        val.append(np.sort(perm[:n_val]))
    return np.concatenate(train), np.concatenate(val)


# --------------------------------------------------------------------------- the study


def dataset_tag(shards: Path) -> str:
    """A short hash of the pieces drawn into ``shards`` (their ``study_inputs.json``)."""
    stamp = Path(shards) / "study_inputs.json"
    text = stamp.read_text() if stamp.exists() else str(Path(shards).resolve())
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _done(log: Path) -> dict[str, dict[str, Any]]:
    if not log.exists():
        return {}
    return {r["key"]: r for r in (json.loads(line) for line in log.read_text().splitlines() if line.strip())}


def _append(log: Path, row: dict[str, Any]) -> None:
    with open(log, "a") as fh:
        fh.write(json.dumps(row) + "\n")


@dataclass(frozen=True)
class StudySettings:
    """What :func:`run_study` does; the defaults are the full study of docs/representations.md."""

    sizes: tuple[int, ...] = (100, 300, 1000, 3000, 10_000, 30_000, 100_000)  # training events per class
    seeds: tuple[int, ...] = (1, 2, 3)
    reps: tuple[str, ...] = REPRESENTATIONS
    size: int = 32  # image size in pixels (as drawn into the shards)
    selection: str = "lepton"
    cms: str | None = "../shared/data/cms"  # real CMS files; None: no transfer part
    real_per_class: int = 100
    real_all: bool = True
    n_boot: int = 1000
    quiet: bool = False
    recipe: Recipe = Recipe()
    train: bool = True  # False: train nothing, report what the cache holds (e.g. of a stopped run)

    def __post_init__(self) -> None:
        bad = [r for r in self.reps if r not in REPRESENTATIONS]
        if bad or not self.reps:
            raise UserError(f"unknown representation(s) {bad}; choose from {REPRESENTATIONS}")
        if not self.sizes or min(self.sizes) < 1 or not self.seeds:
            raise UserError("sizes must be positive training sizes and seeds not empty")

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def run_study(settings: StudySettings, events_dir: str | Path, shards: str | Path, out: str | Path) -> dict[str, Any]:
    """The learning curves, the transfer to real CMS events and the report (see the module docstring).

    Writes ``out/results.json``, ``out/summary.md`` and the figures; the trained
    models' predictions are cached in ``out/study_<tag>/`` (:func:`dataset_tag`).

    Example::

        report = run_study(StudySettings(sizes=(100, 1000), seeds=(1,)), "out/events", "out/shards_32", "out")
    """
    events_dir, shards, out = Path(events_dir), Path(shards), Path(out)
    from eventcnn.learn.study_data import load_views
    from eventcnn.learn.study_report import write_report

    t0, c0 = time.perf_counter(), _cpu()
    say = (lambda *a: None) if settings.quiet else (lambda *a: print(*a, flush=True))
    views = load_views(events_dir, shards, settings.selection)
    images = np.asarray(views.images[np.arange(len(views))]) if "image" in settings.reps else None
    pool = pools(views)
    test = np.concatenate(pool["test"])
    n_train_max = min(len(r) for r in pool["train"])
    sizes = sorted({min(s, n_train_max) for s in settings.sizes})
    say(f"[study] {len(views):,} events; train pool per class {[len(r) for r in pool['train']]}, "
        f"validation {len(pool['val'][0])}/class, test {len(test):,}; sizes {sizes}; "
        f"objects cut off: {views.objects.truncated}")
    # the cache of this sample and recipe: another sample or recipe trains new models
    recipe_tag = hashlib.sha256(repr(settings.recipe).encode()).hexdigest()[:6]
    work = out / f"study_{dataset_tag(shards)}_{recipe_tag}"
    (work / "preds").mkdir(parents=True, exist_ok=True)
    log = work / "runs.jsonl"
    done = _done(log)
    recipe = settings.recipe
    transfer = None
    if settings.cms:
        from eventcnn.learn.study_transfer import RealData

        transfer = RealData.load(settings.cms, settings.selection, settings.size, views, seed=0)
    for size in sizes:
        for seed in settings.seeds:
            train, val = subset(pool, size, seed)
            for rep in settings.reps:
                key = f"{rep}_n{size}_s{seed}"
                keep = transfer is not None and size == sizes[-1]
                if key in done and (work / "preds" / f"{key}.npy").exists() and not (
                        keep and not transfer.has_generated(rep, seed, work)):
                    continue
                if not settings.train:
                    say(f"[study] {key}: not trained (report only)")
                    continue
                score = [(views, test, images)]
                probs, info = fit_predict(rep, views, train, val, score, seed, images=images, recipe=recipe,
                                          return_model=keep)
                np.save(work / "preds" / f"{key}.npy", probs[0])
                model = info.pop("model", None)
                if keep:
                    transfer.after_generated(rep, model, seed, size, work, views, train, val, images,
                                             settings.real_per_class, recipe)
                row = {"key": key, "rep": rep, "size": size, "seed": seed, **info}
                _append(log, row)
                say(f"[train] {json.dumps(row)}")
    if transfer is not None and settings.train:
        transfer.real_only(settings.reps, settings.seeds, settings.real_per_class, work, say, settings.real_all,
                           recipe)
    report = write_report(out, work, views, pool, sizes, settings, log, transfer)
    report["timing"] = {"study_wall_seconds": round(time.perf_counter() - t0, 1),
                        "study_cpu_seconds": round(_cpu() - c0, 1)}
    write_json_atomic(out / "results.json", report)
    return report
