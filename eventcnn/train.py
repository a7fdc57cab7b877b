"""Training runs: a seeded split, a streaming pipeline, checkpoints, resume, evaluation.

A run folder ``runs/<name>/`` holds:

- ``config.json``: every setting, the data folder's render config, seed, versions;
- ``split.json``: the train/val/test split (re-used when the run resumes);
- ``history.json``: one entry per epoch, appended atomically;
- ``best.keras``: the model of the best epoch on the validation metric
  (``val_accuracy`` by default, or ``val_loss``; never training accuracy);
- ``last.keras`` + ``state.json``: written after every epoch so that a killed
  run resumes where it stopped (re-running a finished run does not retrain);
- ``metrics.json``, ``report.md`` and plots (written by :mod:`eventcnn.evaluate`),
  ``learning_curves.png``.

Two-phase transfer learning: with ``fine_tune_epochs > 0`` the backbone is
frozen for the first ``epochs`` (the head learns), then the ``freeze`` policy
is applied and training continues for ``fine_tune_epochs`` at ``fine_tune_lr``.

Example::

    from eventcnn.train import TrainConfig, train
    run = train(TrainConfig(data_dir="CreatedImages", out_dir="runs/small",
                            model="small", epochs=10, image_size=64))
    print(run.metrics["accuracy"])
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn import __version__
from eventcnn._io import atomic_path, write_json_atomic, write_text_atomic
from eventcnn.errors import UserError, check_writable

#: settings that may change between a run and its resumption
RESUMABLE_CHANGES = {"epochs", "fine_tune_epochs", "patience", "quiet", "workers", "evaluate", "data_dir", "out_dir", "baseline",
                     "cache", "cache_dir", "compile"}
MONITORS = ("val_accuracy", "val_loss")


@dataclass
class TrainConfig:
    """All settings of a training run (saved as ``config.json``).

    Example::

        TrainConfig("CreatedImages", "runs/vgg16", model="vgg16", weights="imagenet",
                    freeze="few", image_size=224, epochs=5, fine_tune_epochs=5)
    """

    data_dir: str
    out_dir: str
    model: str = "small"
    freeze: str | None = None  # None: "none" for small (from scratch), "frozen" for ImageNet backbones
    optimizer: str = "adam"
    epochs: int = 10
    image_size: int | None = None  # None: the size of the images on disk
    batch_size: int = 32
    weights: str | None = "imagenet"  # "imagenet", None or a weights file (ignored for "small")
    lr: float = 1e-3
    schedule: str = "constant"  # constant | cosine | exponential
    head: str | None = None
    pooling: str | None = None  # None: "avg" for ImageNet backbones, "flatten" for small
    dropout: float = 0.5
    seed: int = 42
    class_weight: str | None = None  # None | "balanced"
    oversample: bool = False
    augment: bool = True
    augment_geometry: str = "etaphi"
    fine_tune_epochs: int = 0
    fine_tune_lr: float = 1e-5
    patience: int = 5
    monitor: str = "val_accuracy"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_file: str | None = None
    limit_per_class: int | None = None
    mixed_precision: str = "auto"  # auto | on | off | bfloat16 | float16 (eventcnn.devices)
    workers: int = 2  # threads decoding/prefetching batches
    cache: bool = True  # decode the images once into a memory-mapped cache (eventcnn.cache)
    cache_dir: str | None = None  # None: <data_dir>/.eventcnn-cache (or <out_dir>/cache)
    compile: str = "auto"  # auto | on | off: jit_compile of model.compile
    scale_lr: bool = False  # linear scaling rule: lr x devices in data-parallel runs
    evaluate: bool = True
    baseline: bool = True
    quiet: bool = False

    def __post_init__(self) -> None:
        from eventcnn.models import FREEZE_POLICIES, canonical_backbone

        self.data_dir, self.out_dir = str(self.data_dir), str(self.out_dir)
        self.model = canonical_backbone(self.model)
        if self.freeze is None:
            self.freeze = "none" if self.model == "small" else "frozen"
        if self.freeze not in FREEZE_POLICIES:
            raise ValueError(f"freeze must be one of {FREEZE_POLICIES}, got {self.freeze!r}")
        if self.optimizer not in ("adam", "rmsprop", "sgd"):
            raise ValueError(f"optimizer must be adam, rmsprop or sgd, got {self.optimizer!r}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        if self.epochs < 1 or self.fine_tune_epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1 and fine_tune_epochs >= 0")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        from eventcnn.devices import COMPILE_MODES, PRECISION_MODES

        if self.mixed_precision not in PRECISION_MODES:
            raise ValueError(f"mixed_precision must be one of {PRECISION_MODES}, got {self.mixed_precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {COMPILE_MODES}, got {self.compile!r}")
        if self.weights is not None and str(self.weights).lower() == "none":
            self.weights = None
        if self.model == "small":
            self.weights = None
        self.fractions = tuple(float(f) for f in self.fractions)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Run:
    """A finished (or resumed) run: its folder, config, history and test metrics."""

    out_dir: Path
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def best_model_path(self) -> Path:
        return self.out_dir / "best.keras"

    def load_model(self):
        """Load ``best.keras`` (with the custom eventcnn layers registered)."""
        return load_run_model(self.out_dir)

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> Run:
        """Read a run folder written by :func:`train`."""
        out = Path(out_dir)
        raw = read_run_config(out)
        return cls(
            out,
            TrainConfig.from_dict(raw["train"]),
            _read_json(out / "history.json", []),
            _read_json(out / "metrics.json", None),
            _read_json(out / "state.json", {}),
        )


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); the run folder is damaged: "
                        "delete the file or train into a new --out") from None


#: keys of ``config.json`` that every reader of a run folder relies on
RUN_CONFIG_KEYS = ("train", "class_names", "image_size")


def read_run_config(run_dir: str | os.PathLike[str], keys: Sequence[str] = RUN_CONFIG_KEYS) -> dict[str, Any]:
    """Read and check a run folder's ``config.json``; a clear error when it is missing, not JSON or lacks keys.

    Example::

        cfg = read_run_config("runs/small")
        cfg["class_names"], cfg["image_size"]
    """
    run_dir = Path(run_dir)
    cfg_file = run_dir / "config.json"
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} not found: train one with `eventcnn train --out {run_dir}`")
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.json); train one with `eventcnn train`")
    try:
        raw = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{run_dir} is not a run folder written by eventcnn train "
                        f"(config.json is not JSON: {exc})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{run_dir} is not a run folder written by eventcnn train "
                        f"(config.json holds a {type(raw).__name__}, not an object)")
    for key in keys:
        if key not in raw:
            raise UserError(f"{run_dir} is not a run folder written by eventcnn train (config.json lacks {key!r})")
    if "train" in keys:
        train_cfg = raw["train"]
        if not isinstance(train_cfg, dict):
            raise UserError(f"{run_dir} is not a run folder written by eventcnn train "
                            "(config.json: 'train' is not an object)")
        for key in ("data_dir", "out_dir"):
            if key not in train_cfg:
                raise UserError(f"{run_dir} is not a run folder written by eventcnn train "
                                f"(config.json lacks 'train.{key}')")
    return raw


def load_run_model(run_dir: str | os.PathLike[str], which: str = "best"):
    """Load ``best.keras`` (or ``last.keras``) of a run folder."""
    import keras

    import eventcnn.augment  # noqa: F401 - registers the augmentation layers
    import eventcnn.models  # noqa: F401 - registers BackbonePreprocess
    path = Path(run_dir) / f"{which}.keras"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train the run first (`eventcnn train --out {run_dir}`)")
    return keras.saving.load_model(path)


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that matter for reproducing a run."""
    import keras

    out = {"eventcnn": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "keras": keras.__version__, "backend": keras.backend.backend(), "platform": platform.platform()}
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(keras.backend.backend())
    if backend_module and backend_module in sys.modules:
        out[backend_module] = getattr(sys.modules[backend_module], "__version__", "?")
    return out


# ---------------------------------------------------------------------------
# devices
# ---------------------------------------------------------------------------


def num_gpus() -> int:
    """Number of GPUs visible to the active Keras backend."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return len(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return len([d for d in jax.devices() if d.platform == "gpu"])
        if backend == "torch":
            import torch

            return int(torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - no GPU runtime: treat as CPU
        return 0
    return 0


def setup_mixed_precision(mode: str = "auto", say=print) -> bool:
    """Set the dtype policy of :func:`eventcnn.devices.precision_policy` (bf16 on Ampere+ GPUs)."""
    import keras

    from eventcnn.devices import precision_policy

    policy = precision_policy(mode)
    keras.mixed_precision.set_global_policy(policy)
    if policy != "float32":
        say(f"mixed precision: {policy} (softmax in float32)")
    return policy != "float32"


@contextlib.contextmanager
def distribution_scope(say=print) -> Iterator[None]:
    """Data-parallel training over all GPUs when there are several.

    TensorFlow: ``tf.distribute.MirroredStrategy``; JAX:
    ``keras.distribution.DataParallel``. The torch backend trains on one GPU.
    """
    import keras

    n = num_gpus()
    backend = keras.backend.backend()
    if n > 1 and backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        say(f"MirroredStrategy over {strategy.num_replicas_in_sync} GPUs")
        with strategy.scope():
            yield
        return
    if n > 1 and backend == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        say(f"keras.distribution.DataParallel over {n} GPUs")
    elif n > 1:
        say(f"{n} GPUs found, but multi-GPU training is not supported with the {backend} backend: using one")
    yield


# ---------------------------------------------------------------------------
# the checkpoint callback
# ---------------------------------------------------------------------------


def _save_model_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


BEST_PENDING = ".best.pending.keras"


def _settle_best(out: Path, state: dict[str, Any]) -> None:
    """Finish a best-model update that a kill interrupted (state.json already names it)."""
    pending = out / BEST_PENDING
    if state.pop("best_pending", None) and pending.exists():
        os.replace(pending, out / "best.keras")
    pending.unlink(missing_ok=True)


def _make_checkpoint_callback():
    import keras

    class RunCheckpoint(keras.callbacks.Callback):
        """History, best/last model, state and early stopping, all resumable."""

        def __init__(self, out: Path, cfg: TrainConfig, state: dict[str, Any], history: list[dict[str, Any]],
                     phase: int, stop_at: int) -> None:
            super().__init__()
            self.out, self.cfg, self.state, self.history = out, cfg, state, history
            self.phase, self.stop_at = phase, stop_at
            self._t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            seconds = time.perf_counter() - self._t0
            lr = self.model.optimizer.learning_rate
            with contextlib.suppress(Exception):
                lr = float(keras.ops.convert_to_numpy(lr))
            entry = {"epoch": epoch + 1, "phase": self.phase, **logs, "lr": lr, "seconds": round(seconds, 3)}
            self.history.append(entry)
            write_json_atomic(self.out / "history.json", self.history)
            st = self.state
            value = logs.get(self.cfg.monitor)
            if value is None or not math.isfinite(value):
                raise RuntimeError(f"validation metric {self.cfg.monitor} missing or not finite at epoch {epoch + 1}: {logs}")
            better = st.get("best") is None or (
                value > st["best"] if self.cfg.monitor == "val_accuracy" else value < st["best"]
            )
            if better:
                # best.keras and state.json change together: model to a pending file, state
                # names it, then rename (a resume finishes the rename, see _settle_best)
                self.model.save(self.out / BEST_PENDING)
                st["best"], st["best_epoch"], st["best_pending"] = value, epoch + 1, True
                write_json_atomic(self.out / "state.json", st)
                _settle_best(self.out, st)
            val_loss = logs.get("val_loss", float("inf"))
            if st.get("best_val_loss") is None or val_loss < st["best_val_loss"] - 1e-6:
                st["best_val_loss"], st["wait"] = val_loss, 0
            else:
                st["wait"] = st.get("wait", 0) + 1
            st["epoch"] = epoch + 1
            st["phase"] = self.phase
            st["train_seconds"] = round(st.get("train_seconds", 0.0) + seconds, 3)
            if st["wait"] >= self.cfg.patience and epoch + 1 < self.stop_at:
                st[f"stopped_early_phase{self.phase}"] = epoch + 1
                self.model.stop_training = True
            _save_model_atomic(self.model, self.out / "last.keras")
            write_json_atomic(self.out / "state.json", st)

    return RunCheckpoint


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------


def _limit_split(data_dir: str, cfg: TrainConfig) -> dict[str, Any]:
    from eventcnn.dataset import list_images, make_split

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
    from eventcnn.dataset import get_split, save_split

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
            raise ValueError(f"the {name} split of {cfg.data_dir} is empty: add images (>= 3 per class) or change fractions")
    save_split(split, run_split)
    return split


def _render_config(data_dir: str) -> dict[str, Any] | None:
    path = Path(data_dir) / "render_config.json"
    return json.loads(path.read_text()) if path.exists() else None


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
        raise ValueError(
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
    from eventcnn.dataset import list_images, load_split

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


def _compile(model, cfg: TrainConfig, lr: float, steps: int, say=print) -> None:
    from eventcnn.devices import jit_compile_setting
    from eventcnn.models import make_optimizer

    opt = make_optimizer(cfg.optimizer, lr, cfg.schedule, decay_steps=steps)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile_setting(cfg.compile, say))


def _augmentation(cfg: TrainConfig, say):
    if not cfg.augment:
        return None
    from eventcnn.augment import physics_augmentation

    return physics_augmentation(geometry=cfg.augment_geometry, seed=cfg.seed)


def train(config: TrainConfig | str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None,
          callbacks: Sequence[Any] = (), **kwargs: Any) -> Run:
    """Train (or resume, or just return) a run; evaluate it on the test split at the end.

    Call with a :class:`TrainConfig`, or as ``train(data_dir, out_dir, **settings)``.
    A run folder that already holds a compatible run is resumed from
    ``last.keras``; a finished one is returned without retraining.

    Example::

        run = train("CreatedImages", "runs/small", model="small", epochs=5, image_size=64)
    """
    if isinstance(config, TrainConfig):
        cfg = config
    else:
        if out_dir is None:
            raise ValueError("train(data_dir, out_dir, ...): out_dir is missing")
        cfg = TrainConfig(str(config), str(out_dir), **kwargs)
    quiet = cfg.quiet or os.environ.get("EVENTCNN_QUIET") == "1"

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    out = Path(cfg.out_dir)
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

    from eventcnn.dataset import read_image
    from eventcnn.devices import (
        data_parallel,
        data_parallel_devices,
        needs_fixed_shapes,
        precision_policy,
    )

    split = _prepare_split(cfg, out)
    num_classes = len(split["class_names"])
    image_size = cfg.image_size or read_image(Path(cfg.data_dir) / split["train"][0]["file"]).shape[0]
    render_cfg = _render_config(cfg.data_dir)
    run_config = {
        "train": cfg.to_dict(), "class_names": split["class_names"], "image_size": int(image_size),
        "input_shape": [int(image_size), int(image_size), 3], "render_config": render_cfg,
        "split_counts": {k: len(split[k]) for k in ("train", "val", "test")}, "versions": versions(),
        "devices": _device_record(cfg, data_parallel_devices(), precision_policy(cfg.mixed_precision)),
    }
    selection_file = Path(cfg.data_dir) / "selection.json"
    if selection_file.exists():  # the selection of the images (null = none), kept with the run
        run_config["selection"] = json.loads(selection_file.read_text())
    write_json_atomic(out / "config.json", run_config)
    keras.utils.set_random_seed(cfg.seed)
    setup_mixed_precision(cfg.mixed_precision, say)

    from eventcnn.cache import training_sequences

    devices = run_config["devices"]
    train_seq, val_seq = training_sequences(
        split, cfg.data_dir, int(image_size), devices["global_batch_size"], seed=cfg.seed,
        oversample=cfg.oversample, class_weight=cfg.class_weight, workers=cfg.workers, cache=cfg.cache,
        cache_dir=cfg.cache_dir, out_dir=out, quiet=quiet, say=say,
        fixed_shapes=needs_fixed_shapes(devices["count"], {"on": True}.get(cfg.compile, False)),
    )
    steps = len(train_seq)
    phase1_end = cfg.epochs if cfg.fine_tune_epochs else total
    start = state.get("epoch", 0) if state else 0
    state = state or {}
    _settle_best(out, state)
    state.setdefault("run_started", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    from eventcnn.models import build_model, set_freeze

    lr_scale = devices["lr_scale"]
    with data_parallel(say):
        if start > 0:
            say(f"{out}: resuming after epoch {start} from last.keras")
            model = load_run_model(out, "last")
        else:
            first_freeze = "frozen" if cfg.fine_tune_epochs else cfg.freeze
            model = build_model(cfg.model, num_classes, (int(image_size), int(image_size), 3), weights=cfg.weights,
                                freeze=cfg.freeze,
                                head=cfg.head, pooling=cfg.pooling, dropout=cfg.dropout, augmentation=_augmentation(cfg, say))
            set_freeze(model, first_freeze)
            _compile(model, cfg, cfg.lr * lr_scale, steps * phase1_end, say)
        Checkpoint = _make_checkpoint_callback()
        verbose = 0 if quiet else "auto"
        t0 = time.perf_counter()
        if start < phase1_end and not state.get("stopped_early_phase1"):
            train_seq.set_epoch(start)
            cb = Checkpoint(out, cfg, state, history, 1, phase1_end)
            model.fit(train_seq, validation_data=val_seq, epochs=phase1_end, initial_epoch=start,
                      callbacks=[cb, *callbacks], verbose=verbose, shuffle=False)  # ImageSequence shuffles
            start = state["epoch"]
        if cfg.fine_tune_epochs and start < total:
            if state.get("phase", 1) == 1:  # entering phase 2: unfreeze, new optimizer at the low rate
                say(f"fine-tuning: freeze={cfg.freeze}, lr={cfg.fine_tune_lr}")
                set_freeze(model, cfg.freeze)
                _compile(model, cfg, cfg.fine_tune_lr * lr_scale, steps * cfg.fine_tune_epochs, say)
                state["phase"] = 2
                state["wait"], state["best_val_loss"] = 0, None
                # exactly fine_tune_epochs more, also when phase 1 stopped early
                state["phase2_end"] = start + cfg.fine_tune_epochs
            end2 = state.get("phase2_end", total)
            train_seq.set_epoch(start)
            cb = Checkpoint(out, cfg, state, history, 2, end2)
            model.fit(train_seq, validation_data=val_seq, epochs=end2, initial_epoch=start,
                      callbacks=[cb, *callbacks], verbose=verbose, shuffle=False)  # ImageSequence shuffles
        state["finished"] = True
        state["finished_epochs"] = state.get("epoch", 0)
        write_json_atomic(out / "state.json", state)
    say(f"trained {state.get('epoch')} epochs in {time.perf_counter() - t0:.1f} s; best {cfg.monitor} "
        f"{state.get('best'):.4f} at epoch {state.get('best_epoch')}")
    plot_history(history, out / "learning_curves.png")
    metrics = _evaluate(out, cfg, quiet) if cfg.evaluate else None
    return Run(out, cfg, history, metrics, state)


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
    from eventcnn.evaluate import evaluate_run

    return evaluate_run(out, data_dir=cfg.data_dir, baseline=cfg.baseline, quiet=quiet)


def plot_history(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path | None:
    """Learning curves of a run's per-epoch records (``history.json``) as a PNG."""
    if not history:
        return None
    from eventcnn.metrics import plot_history as plot

    keys = {k for h in history for k in h if k not in ("epoch", "phase", "lr", "seconds")}
    curves = {k: [h.get(k, float("nan")) for h in history] for k in sorted(keys)}
    phase2 = [i for i, h in enumerate(history, start=1) if h.get("phase") == 2]
    return plot(curves, path, phase_start=phase2[0] if phase2 else None)


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------

COMPARE_COLUMNS = ("run", "model", "freeze", "optimizer", "weights", "image_size", "epochs", "best_epoch",
                   "val_accuracy", "test_accuracy", "balanced_accuracy", "auc", "baseline_accuracy",
                   "baseline_auc", "train_seconds")


def compare_rows(run_dirs: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """One row per run folder (folders without ``config.json`` are an error naming them).

    Example::

        rows = compare_rows(["runs/small", "runs/vgg16"])
    """
    rows = []
    for d in run_dirs:
        d = Path(d)
        raw = read_run_config(d, keys=("train",))
        t = raw["train"]
        state = _read_json(d / "state.json", {})
        hist = _read_json(d / "history.json", [])
        m = _read_json(d / "metrics.json", {}) or {}
        b = m.get("baseline") or {}
        rows.append({
            "run": d.name, "model": t.get("model"), "freeze": t.get("freeze"), "optimizer": t.get("optimizer"),
            "weights": Path(str(t.get("weights"))).name if t.get("weights") else "none",
            "image_size": raw.get("image_size"), "epochs": state.get("epoch", len(hist)),
            "best_epoch": state.get("best_epoch"),
            "val_accuracy": max((h.get("val_accuracy", float("nan")) for h in hist), default=None),
            "test_accuracy": m.get("accuracy"), "balanced_accuracy": m.get("balanced_accuracy"),
            "auc": (m.get("roc_auc") or {}).get("macro"),
            "baseline_accuracy": b.get("accuracy"), "baseline_auc": (b.get("roc_auc") or {}).get("macro"),
            "train_seconds": state.get("train_seconds"),
        })
    return rows


def compare_runs(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None = None,
                 plot: str | os.PathLike[str] | None = None) -> str:
    """Markdown table over run folders; with ``out`` also writes it and a CSV (same stem).

    Example::

        print(compare_runs(glob.glob("runs/*"), out="compare.md"))
    """
    import csv
    import io

    from eventcnn.metrics import comparison_table

    rows = compare_rows(run_dirs)
    table = comparison_table(rows, COMPARE_COLUMNS, digits=4)
    if out is not None:
        out = Path(out)
        write_text_atomic(out, table + "\n")
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COMPARE_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text_atomic(out.with_suffix(".csv"), buf.getvalue())
    if plot is not None:
        _plot_compare(rows, plot)
    return table


def _plot_compare(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    from matplotlib.figure import Figure

    x = np.arange(len(rows))
    fig = Figure(figsize=(max(5, len(rows) * 0.8 + 2), 4))
    ax = fig.subplots()
    acc = [r["test_accuracy"] if r["test_accuracy"] is not None else np.nan for r in rows]
    auc = [r["auc"] if r["auc"] is not None else np.nan for r in rows]
    ax.bar(x - 0.2, acc, 0.4, label="test accuracy")
    ax.bar(x + 0.2, auc, 0.4, label="macro ROC AUC")
    ax.set_xticks(x, [r["run"] for r in rows], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
