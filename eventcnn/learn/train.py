"""Training runs: a seeded split, a streaming pipeline, checkpoints, resume, evaluation.

A run folder ``runs/<name>/`` (format and readers: :mod:`eventcnn.learn.runs`) holds:

- ``config.json``: every setting, the data folder's render config, seed, versions;
- ``split.json``: the train/val/test split (re-used when the run resumes);
- ``history.json``: one entry per epoch, appended atomically;
- ``best.keras``: the model of the best epoch on the validation metric
  (``val_accuracy`` by default, or ``val_loss``; never training accuracy);
- ``last.keras`` + ``state.json``: written after every epoch so that a killed
  run resumes where it stopped (re-running a finished run does not retrain);
- ``metrics.json``, ``report.md`` and plots (written by :mod:`eventcnn.learn.evaluate`),
  ``learning_curves.png``.

Two-phase transfer learning: with ``fine_tune_epochs > 0`` the backbone is
frozen for the first ``epochs`` (the head learns), then the ``freeze`` policy
is applied and training continues for ``fine_tune_epochs`` at ``fine_tune_lr``.

Example::

    from eventcnn.learn.train import TrainConfig, train
    run = train(TrainConfig(data_dir="CreatedImages", out="runs/small",
                            model="small", epochs=10, size=64))
    print(run.metrics["accuracy"])
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError, check_output, check_writable
from eventcnn.images.folder import SELECTION, read_render_config
from eventcnn.learn.augment import physics_augmentation
from eventcnn.learn.cache import training_sequences
from eventcnn.learn.comparison import COMPARE_COLUMNS, compare_rows, compare_runs  # noqa: F401 - re-exported
from eventcnn.learn.dataset import (
    get_split,
    list_images,
    load_split,
    make_split,
    read_image,
    save_split,
)
from eventcnn.learn.devices import (
    data_parallel,
    data_parallel_devices,
    jit_compile_setting,
    needs_fixed_shapes,
    precision_policy,
    set_precision,
)
from eventcnn.learn.evaluate import evaluate_run
from eventcnn.learn.loop import LoopSettings, fit_phase, settle_best
from eventcnn.learn.models import build_model, make_optimizer, set_freeze

# the run-folder format lives in eventcnn.learn.runs; re-exported here for existing imports
from eventcnn.learn.runs import (  # noqa: F401
    MONITORS,
    RUN_CONFIG_KEYS,
    Run,
    TrainConfig,
    load_run_model,
    plot_run_history,
    read_json,
    read_run_config,
    versions,
)
from eventcnn.learn.runs import read_json as _read_json  # noqa: F401
from eventcnn.limits import check_image_size, check_memory

__all__ = ["Run", "TrainConfig", "compare_runs", "train"]

#: settings that may change between a run and its resumption
RESUMABLE_CHANGES = {"epochs", "fine_tune_epochs", "patience", "quiet", "workers", "evaluate", "data_dir", "out", "baseline",
                     "cache", "cache_dir", "compile"}


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------


def _limit_split(data_dir: str, cfg: TrainConfig) -> dict[str, Any]:

    items, class_names = list_images(data_dir)
    if cfg.limit_per_class:
        rng = np.random.default_rng(cfg.seed)
        kept = []
        for cls in class_names:
            members = [it for it in items if it.cls == cls]
            pick = rng.permutation(len(members))[: cfg.limit_per_class]
            kept.extend(members[i] for i in sorted(pick))
        items = kept
    return make_split(items, class_names, fractions=cfg.fractions, seed=cfg.seed)


def _prepare_split(cfg: TrainConfig, out: Path) -> dict[str, Any]:

    run_split = out / "split.json"
    if run_split.exists():
        return get_split(cfg.data_dir, run_split)
    if cfg.split_file:
        split = get_split(cfg.data_dir, cfg.split_file)
    elif cfg.limit_per_class:
        split = _limit_split(cfg.data_dir, cfg)
    else:
        split = get_split(cfg.data_dir, None, fractions=cfg.fractions, seed=cfg.seed)
    classes = list(split["class_names"])
    if len(classes) < 2:
        counts = {c: sum(r["class"] == c for r in split["train"] + split["val"] + split["test"]) for c in classes}
        raise UserError(
            f"{cfg.data_dir} holds images of {len(classes)} class ({counts or 'none'}); a classifier needs at "
            "least 2: put each class in its own sub-folder (or manifest class), e.g. "
            f"`eventcnn render OTHER.json --out {cfg.data_dir}` adds another sample"
        )
    for name in ("train", "val"):
        if not split[name]:
            raise UserError(f"the {name} split of {cfg.data_dir} is empty: add images (>= 3 per class) or change fractions")
    save_split(split, run_split)
    return split


def _render_config(data_dir: str) -> dict[str, Any] | None:
    return read_render_config(data_dir)


def _check_resumable(out: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    """Return the saved state when ``out`` holds a compatible run, else None."""
    cfg_file, state_file = out / "config.json", out / "state.json"
    if not cfg_file.exists():
        return None
    new = cfg.to_dict()
    defaults = {f.name: f.default for f in fields(TrainConfig)}  # settings added since the run started
    old = {**{k: v for k, v in defaults.items() if k in new}, **read_run_config(out, keys=("train",))["train"]}
    diff = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k))
    if not state_file.exists():  # no epoch finished yet (e.g. a failed start): start afresh
        if set(diff) & {"seed", "fractions", "split_file", "limit_per_class"} or not _same_folder(
                old.get("data_dir"), cfg.data_dir):
            (out / "split.json").unlink(missing_ok=True)
        return None
    _check_same_data(out, str(old.get("data_dir")), cfg.data_dir)
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise UserError(
            f"run folder {out} holds a run with other settings ({details}); "
            "choose another --out, or delete the folder to start again"
        )
    if not (out / "last.keras").exists():
        return None
    return json.loads(state_file.read_text())


def _same_folder(a: str | None, b: str) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()


def _check_same_data(out: Path, old_data: str, new_data: str) -> None:
    """Refuse to resume or re-use a run with a data folder that does not hold its images.

    Another path to the same images (a moved or copied folder: same classes, every
    file of ``split.json`` present) is accepted.
    """
    if _same_folder(old_data, new_data):
        return

    problem = ""
    split_file = out / "split.json"
    if not Path(new_data).is_dir():
        problem = f"{new_data} does not exist"
    elif split_file.exists():
        split = load_split(split_file)
        _, classes = list_images(new_data)
        missing = [r["file"] for part in ("train", "val", "test") for r in split[part]
                   if not (Path(new_data) / r["file"]).is_file()]
        if classes != list(split["class_names"]):
            problem = f"it holds classes {classes}, the run has {list(split['class_names'])}"
        elif missing:
            problem = f"{len(missing)} image(s) of the run's split.json are not in it, e.g. {missing[0]}"
    else:
        problem = "the run has no split.json to compare with"
    if problem:
        raise UserError(
            f"run {out} was trained on {old_data}; you passed --data {new_data} ({problem}): "
            f"use a new --out for a run on {new_data}, or pass --data {old_data} to resume or re-evaluate {out}"
        )


def _compile(model, cfg: TrainConfig, lr: float, steps: int, quiet: bool) -> None:

    opt = make_optimizer(cfg.optimizer, lr, cfg.schedule, decay_steps=steps)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile_setting(cfg.compile, quiet=quiet))


def _augmentation(cfg: TrainConfig, say):
    if not cfg.augment:
        return None

    return physics_augmentation(geometry=cfg.augment_geometry, seed=cfg.seed)


def train(config: TrainConfig | str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
          callbacks: Sequence[Any] = (), **kwargs: Any) -> Run:
    """Train (or resume, or just return) a run; evaluate it on the test split at the end.

    Call with a :class:`TrainConfig`, or as ``train(data_dir, out, **settings)``.
    A run folder that already holds a compatible run is resumed from
    ``last.keras``; a finished one is returned without retraining.

    Example::

        run = train("CreatedImages", "runs/small", model="small", epochs=5, size=64)
    """
    if isinstance(config, TrainConfig):
        cfg = config
    else:
        if out is None:
            raise UserError("train(data_dir, out, ...): out is missing")
        cfg = TrainConfig(str(config), str(out), **kwargs)
    quiet = cfg.quiet or quiet_from_env()

    say = sayer(quiet)

    out = Path(cfg.out)
    # a run writes its model, plots and split: never into the images it reads (e.g. --out runs/small)
    check_output(out, inputs=[cfg.split_file] if cfg.split_file else [], folder=True,
                 protected=[("the image folder", cfg.data_dir)])
    if cfg.cache and cfg.cache_dir:  # the cache goes anywhere but into the images
        check_output(cfg.cache_dir, folder=True, flag="--cache-dir", protected=[("the image folder", cfg.data_dir)])
        check_writable(Path(cfg.cache_dir) / "cache.npy")
    created = not out.exists()
    try:
        return _train(cfg, out, quiet, say, callbacks)
    except BaseException:
        if created:  # a failed start leaves no empty run folder behind
            _remove_if_empty(out)
        raise


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` when it holds no file at all (only empty sub-folders)."""
    try:
        if any(p.is_file() for p in folder.rglob("*")):
            return
        for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            sub.rmdir()
        folder.rmdir()
    except OSError:
        pass


def _train(cfg: TrainConfig, out: Path, quiet: bool, say: Any, callbacks: Sequence[Any]) -> Run:
    """The body of :func:`train` after the output checks."""
    check_writable(out / "config.json")  # creates the folder; fails early and clearly when read-only
    state = _check_resumable(out, cfg)
    total = cfg.epochs + cfg.fine_tune_epochs
    history: list[dict[str, Any]] = _read_json(out / "history.json", []) if state else []
    if state:
        history = history[: state.get("epoch", 0)]  # drop an entry written after the last state
        if _finished(state, cfg):
            say(f"{out}: run already finished ({state['epoch']} epochs); not retraining")
            run = Run(out, cfg, history, _read_json(out / "metrics.json", None), state)
            if cfg.evaluate and run.metrics is None:
                run.metrics = _evaluate(out, cfg, quiet)
            return run

    import keras

    split = _prepare_split(cfg, out)
    num_classes = len(split["class_names"])
    size = cfg.size or read_image(Path(cfg.data_dir) / split["train"][0]["file"]).shape[0]
    check_image_size(int(size), "image size (--size)")
    # the input batches in float32, queued by the workers (a lower bound: the model adds its own)
    check_memory(4 * 3 * int(size) ** 2 * cfg.batch_size * (cfg.workers + 2),
                 f"batches of {cfg.batch_size} images of {size} px",
                 hint="use a smaller --batch-size or --size")
    render_cfg = _render_config(cfg.data_dir)
    run_config = {
        "kind": "cms", "train": cfg.to_dict(), "class_names": split["class_names"], "image_size": int(size),
        "input_shape": [int(size), int(size), 3], "render_config": render_cfg,
        "split_counts": {k: len(split[k]) for k in ("train", "val", "test")}, "versions": versions(),
        "devices": _device_record(cfg, data_parallel_devices(), precision_policy(cfg.mixed_precision)),
    }
    selection_file = Path(cfg.data_dir) / SELECTION
    if selection_file.exists():  # the selection of the images (null = none), kept with the run
        run_config["selection"] = json.loads(selection_file.read_text())
    write_json_atomic(out / "config.json", run_config)
    keras.utils.set_random_seed(cfg.seed)
    set_precision(cfg.mixed_precision, quiet=quiet)


    devices = run_config["devices"]
    train_seq, val_seq = training_sequences(
        split, cfg.data_dir, int(size), devices["global_batch_size"], seed=cfg.seed,
        oversample=cfg.oversample, class_weight=cfg.class_weight, workers=cfg.workers, cache=cfg.cache,
        cache_dir=cfg.cache_dir, out=out, quiet=quiet,
        fixed_shapes=needs_fixed_shapes(devices["count"], {"on": True}.get(cfg.compile, False)),
    )
    steps = len(train_seq)
    phase1_end = cfg.epochs if cfg.fine_tune_epochs else total
    start = state.get("epoch", 0) if state else 0
    state = state or {}
    settle_best(out, state)
    state.setdefault("run_started", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


    lr_scale = devices["lr_scale"]
    with data_parallel(quiet=quiet):
        if start > 0:
            say(f"{out}: resuming after epoch {start} from last.keras")
            model = load_run_model(out, "last")
        else:
            first_freeze = "frozen" if cfg.fine_tune_epochs else cfg.freeze
            model = build_model(cfg.model, num_classes, (int(size), int(size), 3), weights=cfg.weights,
                                freeze=cfg.freeze,
                                head=cfg.head, pooling=cfg.pooling, dropout=cfg.dropout, augmentation=_augmentation(cfg, say))
            set_freeze(model, first_freeze)
            _compile(model, cfg, cfg.lr * lr_scale, steps * phase1_end, quiet)
        t0 = time.perf_counter()
        _fit_phases(model, cfg, (train_seq, val_seq), state, history, start, lr_scale, out, quiet, say, callbacks)
        state["finished"] = True
        state["finished_epochs"] = state.get("epoch", 0)
        write_json_atomic(out / "state.json", state)
    say(f"trained {state.get('epoch')} epochs in {time.perf_counter() - t0:.1f} s; best {cfg.monitor} "
        f"{state.get('best'):.4f} at epoch {state.get('best_epoch')}")
    plot_run_history(history, out / "learning_curves.png")
    metrics = _evaluate(out, cfg, quiet) if cfg.evaluate else None
    return Run(out, cfg, history, metrics, state)


def _fit_phases(model: Any, cfg: TrainConfig, data: tuple[Any, Any], state: dict[str, Any],
                history: list[dict[str, Any]], start: int, lr_scale: float, out: Path, quiet: bool, say: Any,
                callbacks: Sequence[Any]) -> None:
    """Phase 1 (the head, or everything without fine-tuning) and phase 2 (the freeze policy) from epoch ``start``."""
    train_seq, val_seq = data
    total = cfg.epochs + cfg.fine_tune_epochs
    phase1_end = cfg.epochs if cfg.fine_tune_epochs else total
    steps = len(train_seq)
    loop = LoopSettings(monitor=cfg.monitor, patience=cfg.patience)
    if start < phase1_end and not state.get("stopped_early_phase1"):
        train_seq.set_epoch(start)
        fit_phase(model, train_seq, val_seq, epochs=phase1_end, initial_epoch=start, settings=loop, phase=1,
                  out=out, state=state, history=history, callbacks=callbacks, quiet=quiet)
        start = state["epoch"]
    if cfg.fine_tune_epochs and start < total:
        if state.get("phase", 1) == 1:  # entering phase 2: unfreeze, new optimizer at the low rate
            say(f"fine-tuning: freeze={cfg.freeze}, lr={cfg.fine_tune_lr}")
            set_freeze(model, cfg.freeze)
            _compile(model, cfg, cfg.fine_tune_lr * lr_scale, steps * cfg.fine_tune_epochs, quiet)
            state["phase"] = 2
            state["wait"], state["best_val_loss"] = 0, None
            # exactly fine_tune_epochs more, also when phase 1 stopped early
            state["phase2_end"] = start + cfg.fine_tune_epochs
        end2 = state.get("phase2_end", total)
        train_seq.set_epoch(start)
        fit_phase(model, train_seq, val_seq, epochs=end2, initial_epoch=start, settings=loop, phase=2,
                  out=out, state=state, history=history, callbacks=callbacks, quiet=quiet)


def _device_record(cfg: TrainConfig, n: int, policy: str) -> dict[str, Any]:
    """What the run trains on: device count, global batch (per-device x devices), lr scale."""
    import keras

    return {"backend": keras.backend.backend(), "count": n, "per_device_batch_size": cfg.batch_size,
            "global_batch_size": cfg.batch_size * n, "lr_scale": float(n if cfg.scale_lr else 1),
            "precision": policy, "compile": cfg.compile, "cache": cfg.cache}


def _finished(state: dict[str, Any], cfg: TrainConfig) -> bool:
    if not state.get("finished"):
        return False
    total = state.get("phase2_end", cfg.epochs + cfg.fine_tune_epochs)
    if state.get("epoch", 0) >= total:
        return True
    # stopped early in the last phase: more epochs would not help
    last_phase = 2 if cfg.fine_tune_epochs else 1
    return bool(state.get(f"stopped_early_phase{last_phase}"))


def _evaluate(out: Path, cfg: TrainConfig, quiet: bool) -> dict[str, Any] | None:

    return evaluate_run(out, data_dir=cfg.data_dir, baseline=cfg.baseline, quiet=quiet)


