"""Training on labelled displays held in memory, by a recipe, into a resumable run folder.

:func:`train_arrays` trains the masterclass CNN (``masterclass`` of the model
registry, :mod:`eventcnn.learn.registry`) on ``uint8`` OPAL displays and their
class codes, by the original recipe or ours (:mod:`eventcnn.learn.recipes`,
batches from :mod:`eventcnn.learn.batches`), through the one training loop
(:func:`eventcnn.learn.loop.fit_phase`) as CMS runs do (:mod:`eventcnn.learn.train`
trains from an image folder). With ``out`` it writes the common run folder
(:mod:`eventcnn.learn.runs`, ``kind: "opal"``): ``config.json``,
``history.json``, ``best.keras``, ``state.json``; the same call again resumes an
interrupted training and returns a finished one. Keras is imported only when
training starts; the masterclass (:func:`eventcnn.opal.train`) is this function.

Example::

    from eventcnn.learn.train_arrays import train_arrays
    result = train_arrays(data.images, data.labels, recipe="default", seed=1, out="runs/opal")
    result.history[-1]["val_loss"], result.best_epoch
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import atomic_path, write_json_atomic
from eventcnn.errors import UserError
from eventcnn.images.opal_displays import CLASS_NAMES, label_indices
from eventcnn.learn.batches import recipe_batches, simulated_batch_pool
from eventcnn.learn.loop import LoopSettings, fit_phase, settle_best
from eventcnn.learn.recipes import RecipeConfig, loop_settings, recipe_config
from eventcnn.learn.registry import MASTERCLASS
from eventcnn.learn.runs import load_run_model, versions
from eventcnn.learn.splits import balanced_class_weight
from eventcnn.learn.weights import check_weights_size, resolve_weights

__all__ = ["TrainResult", "train_arrays", "write_run"]


@dataclass
class TrainResult:
    """A trained model with its history (one row per epoch, as in ``history.json``), config and timing."""

    model: Any
    history: list[dict[str, Any]]
    config: RecipeConfig
    seconds: float
    best_epoch: int | None = None  # 1-based; None when the last epoch's weights are kept
    loop: LoopSettings | None = None  # what the shared loop monitored, kept and stopped on

    def curve(self, key: str) -> list[float]:
        """One metric per epoch, e.g. ``result.curve("val_loss")`` (NaN where an epoch lacks it)."""
        return [float(h.get(key, float("nan"))) for h in self.history]


def _checked(images: Any, labels: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``uint8 (N, H, W, 3)`` images and their class indices, or a clear error."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise UserError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    return images, label_indices(labels)


def train_arrays(images: np.ndarray, labels: Sequence[str] | np.ndarray,
                 recipe: str | RecipeConfig = "default", out: str | os.PathLike[str] | None = None,
                 quiet: bool | None = None, data_dir: str | os.PathLike[str] | None = None,
                 run_info: dict[str, Any] | None = None, callbacks: Sequence[Any] = (),
                 **overrides: Any) -> TrainResult:
    """Train the masterclass CNN on labelled ``uint8`` displays (class codes ``q``, ``e``, ``m``, ``t``).

    ``recipe``: ``"original"`` (the masterclass recipe, copies generated lazily)
    or ``"default"`` (ours), or a :class:`~eventcnn.learn.recipes.RecipeConfig`;
    keyword ``overrides`` set its fields (``epochs=3``, ``lepton_factor=60``,
    ``seed=1``, ``weights="sim"`` to start from the simulation-pretrained
    weights), and :func:`~eventcnn.learn.recipes.recipe_config` applies the
    recipe's policy. With ``out`` the run folder is written in the common format
    (:func:`write_run`; ``data_dir`` is recorded as the run's data) and the same
    call resumes. ``quiet``: no Keras progress bar (default: ``EVENTCNN_QUIET``).
    ``callbacks``: extra Keras callbacks (e.g. the classroom's progress bar).

    Example::

        result = train_arrays(data.images[data.labelled], data.labels[data.labelled],
                              recipe="original", epochs=3, lepton_factor=20, seed=1)
        result.history[-1]["val_accuracy"]
    """
    quiet = quiet_from_env() if quiet is None else bool(quiet)
    config = recipe_config(recipe, n_labels=len(labels), **overrides)
    start_from = resolve_weights(config.weights, MASTERCLASS)  # a wrong name or a damaged file fails here
    images, y = _checked(images, labels)
    if start_from is not None:  # before any simulation or training
        check_weights_size(start_from, images.shape[1])
    if len(y) != len(images):
        raise UserError(f"{len(images)} images but {len(y)} labels")
    if len(y) == 0:
        raise UserError("no labelled images to train on: label some events first")
    import keras

    out_path = Path(out) if out is not None else None
    key = _fingerprint(images, y, config)
    state, history = ({}, []) if out_path is None else _resumable(out_path, key, quiet)
    sim = None
    if config.sim_displays and not state.get("finished"):
        sayer(quiet)(f"simulating {config.sim_displays} displays to mix into the training batches")
        sim = simulated_batch_pool(config)
    keras.utils.set_random_seed(config.seed)
    train_ds, val_ds = recipe_batches(images, y, config, sim)
    settings = loop_settings(config, val_ds is not None)
    if state.get("finished"):  # the same command again: the run is done, nothing to train
        return TrainResult(load_run_model(out_path), history, config, float(state.get("train_seconds", 0.0)),
                           state.get("best_epoch") if settings.restore_best else None)
    model, start_epoch = _start_model(keras, images, config, start_from, state, out_path, key, quiet,
                                      (train_ds, val_ds))
    weights = None
    if config.recipe == "default" and config.balance == "weights":
        weights = balanced_class_weight(y, len(CLASS_NAMES))
    start = time.perf_counter()
    if start_epoch < config.epochs and not state.get("stopped_early_phase1"):
        state, history = fit_phase(model, train_ds, val_ds, epochs=config.epochs, initial_epoch=start_epoch,
                                   settings=settings, class_weight=weights, shuffle_batches=True,
                                   quiet=quiet, out=out_path, state=state, history=history,
                                   callbacks=callbacks)
    if start_epoch and settings.restore_best and (out_path / "best.keras").is_file():
        # the best epoch may be from before the interruption: its weights are in best.keras
        model.set_weights(keras.models.load_model(out_path / "best.keras", safe_mode=True).get_weights())
    seconds = float(state.get("train_seconds", time.perf_counter() - start))
    best = state.get("best_epoch") if settings.restore_best else None
    result = TrainResult(model, history, config, seconds, best, loop=settings)
    if out_path is not None:
        write_run(result, out_path, data_dir=data_dir, run_info=run_info, state=state)
    return result


def _start_model(keras: Any, images: np.ndarray, config: RecipeConfig, start_from: Path | None,
                 state: dict[str, Any], out: Path | None, key: str, quiet: bool,
                 datasets: tuple[Any, Any]) -> tuple[Any, int]:
    """The model to train and the epoch it starts after: resumed from ``last.keras``, or new and compiled."""
    from eventcnn.learn.models import (
        build_model,  # deferred: Keras (the masterclass imports this module light)
    )

    start_epoch = int(state.get("epoch", 0))
    if start_epoch:
        sayer(quiet)(f"{out}: resuming after epoch {start_epoch} of {config.epochs} from last.keras")
        settle_best(out, state)
        model = keras.models.load_model(out / "last.keras", safe_mode=True)
        train_ds, val_ds = datasets
        for ds in (train_ds, val_ds):  # batches drawn as in an uninterrupted run
            if hasattr(ds, "epoch"):
                ds.epoch = start_epoch
        if hasattr(train_ds, "on_epoch_end") and hasattr(train_ds, "shuffle_seed"):
            train_ds.epoch = start_epoch - 1
            train_ds.on_epoch_end()
        return model, start_epoch
    model = build_model(MASTERCLASS, len(CLASS_NAMES), images.shape[1:], weights=start_from,
                        augmentation=config.recipe == "default", seed=config.seed)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    state.update({"fingerprint": key, "recipe": config.recipe, "epochs": config.epochs})
    return model, 0


def _fingerprint(images: np.ndarray, y: np.ndarray, config: RecipeConfig) -> str:
    """What makes two trainings the same: the displays, their labels and the recipe."""
    h = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(y, dtype=np.int64).data)
    return h.hexdigest()[:32]


def _resumable(out: Path, key: str, quiet: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The state and history of a run in ``out`` trained by the same call, else fresh ones.

    A run on other displays, labels or settings is replaced, and that is said.
    """
    say = sayer(quiet)
    state_file = out / "state.json"
    if not state_file.is_file():
        return {}, []
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state, history = {}, []
    if state.get("fingerprint") != key:
        if state:
            say(f"{out} holds a run on other displays, labels or settings: training afresh "
                "(its files are replaced; use another --out to keep it)")
        return {}, []
    if state.get("finished") and (out / "best.keras").is_file():
        say(f"{out}: this training finished already ({state.get('epoch')} epochs); not retraining "
            "(delete the folder or use another --out to train again)")
        return state, history[: int(state.get("epoch", 0))]
    if not (out / "last.keras").is_file() or not state.get("epoch"):
        return {}, []
    return state, history[: int(state["epoch"])]


def write_run(result: TrainResult, out: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
              run_info: dict[str, Any] | None = None, state: dict[str, Any] | None = None) -> Path:
    """Write the run folder in the common format (:mod:`eventcnn.learn.runs`), atomically.

    ``config.json`` (``kind: "opal"``; ``train``: the recipe plus ``model="opal"``,
    ``class_names``, ``size``, ``versions``), ``history.json`` (one row per epoch),
    ``best.keras`` (the kept weights: the best epoch where they were restored,
    else the last) and ``state.json``; ``eventcnn compare`` reads it like a CMS run.
    ``run_info`` is stored as ``config["opal"]`` (e.g. the label files, for
    ``eventcnn evaluate``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.config
    size = int(result.model.input_shape[1]) if getattr(result.model, "input_shape", None) else None
    loop = result.loop or loop_settings(cfg, has_validation=cfg.val_fraction > 0)
    # the recipe as it ran: Adam on every layer (nothing frozen), what the loop monitored and kept
    train_cfg = {**asdict(cfg), "model": "opal", "data_dir": str(data_dir) if data_dir is not None else "",
                 "out": str(out), "freeze": "none", "optimizer": "adam",
                 "lr": cfg.learning_rate, "size": size, "monitor": loop.monitor,
                 "early_stopping_patience": loop.patience, "restore_best": loop.restore_best}
    write_json_atomic(out / "config.json", {"kind": "opal", "train": train_cfg, "class_names": list(CLASS_NAMES),
                                            "image_size": size, "seconds": result.seconds,
                                            "best_epoch": result.best_epoch, "versions": versions(),
                                            "opal": dict(run_info or {})})
    rows = result.history
    write_json_atomic(out / "history.json", rows)
    with atomic_path(out / "best.keras") as tmp:
        keras_tmp = tmp.with_suffix(".keras")
        result.model.save(keras_tmp)
        os.replace(keras_tmp, tmp)
    write_json_atomic(out / "state.json", {**(state or {}), "epoch": len(rows), "best_epoch": result.best_epoch,
                                           "train_seconds": result.seconds, "finished": True})
    (out / "last.keras").unlink(missing_ok=True)  # finished: best.keras is the model (OPAL runs keep one)
    return out
