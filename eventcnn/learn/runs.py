"""Run folders: the one on-disk format of a training run, and reading it back.

A run folder ``runs/<name>/`` holds:

- ``config.json``: ``{"train": TrainConfig, "class_names", "image_size", "versions", ...}``;
- ``split.json``: the train/val/test split;
- ``history.json``: a list of per-epoch rows (``{"epoch", "phase", "loss", "val_loss", ...}``);
- ``best.keras`` / ``last.keras``: the best (validation metric) and latest model;
- ``state.json``: resume state (``epoch``, ``best``, ``best_epoch``, ``train_seconds``, ...);
- ``metrics.json`` (every figure ``{"value", "ci95"}``), ``test_scores.csv`` (every model's score of
  every test event: ``eventcnn compare`` pairs runs on them), ``report.md``, plots (PNG).

``config.json`` records the run's ``kind`` (:data:`RUN_KINDS`): ``cms`` runs
are written by :func:`eventcnn.learn.train.train` (an image folder), ``opal``
runs by :func:`eventcnn.learn.train_arrays.train_arrays` (``eventcnn opal
train``). Both are read by the same :mod:`eventcnn.learn.evaluate`,
:mod:`eventcnn.learn.predict`, :mod:`eventcnn.learn.explain` and ``eventcnn
compare``, which branch on :func:`run_kind`. JSON only, never pickle.

Example::

    from eventcnn.learn.runs import Run
    from eventcnn.learn.comparison import compare_runs
    run = Run.load("runs/small")
    print(run.config.model, run.metrics["accuracy"])
    print(compare_runs(["runs/small", "runs/vgg16"]))
"""

from __future__ import annotations

import json
import os
import platform
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn import DEFAULT_SEED, __version__
from eventcnn.errors import UserError
from eventcnn.learn.devices import COMPILE_MODES, PRECISION_MODES
from eventcnn.learn.metrics import plot_history as plot
from eventcnn.learn.onnx_runtime import is_onnx_model, read_card
from eventcnn.learn.registry import BACKBONES, FREEZE_POLICIES, MASTERCLASS_NAME, canonical_backbone
from eventcnn.limits import MAX_EPOCHS, check_batch_size, check_count, check_image_size, check_jobs

__all__ = ["MONITORS", "ModelFileError", "RUN_CONFIG_KEYS", "RUN_KINDS", "Run", "TrainConfig",
           "load_keras_file", "load_run_model", "plot_run_history", "read_json",
           "read_run_config", "run_kind", "versions"]

#: current name -> the name run folders written before the one-name-per-concept clean-up used
OLD_KEYS = {"out": "out_dir", "size": "image_size"}

#: validation metrics a run may select its best epoch by
MONITORS = ("val_accuracy", "val_loss")


@dataclass
class TrainConfig:
    """All settings of a training run (saved as ``config.json``).

    Example::

        TrainConfig("CreatedImages", "runs/vgg16", model="vgg16", weights="imagenet",
                    freeze="few", size=224, epochs=5, fine_tune_epochs=5)
    """

    data_dir: str
    out: str
    model: str = "small"
    freeze: str | None = None  # None: "none" for small and masterclass (from scratch), "frozen" for ImageNet backbones
    optimizer: str = "adam"
    epochs: int = 10
    size: int | None = None  # None: the size of the images on disk
    batch_size: int = 32
    weights: str | None = "imagenet"  # "imagenet", "sim", None or a weights file ("imagenet" = None for "small")
    lr: float = 1e-3
    schedule: str = "constant"  # constant | cosine | exponential
    head: str | None = None
    pooling: str | None = None  # None: "avg" for ImageNet backbones, "flatten" for small
    dropout: float = 0.5
    seed: int = DEFAULT_SEED
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
    mixed_precision: str = "auto"  # auto | on | off | bfloat16 | float16 (eventcnn.learn.devices)
    workers: int = 2  # threads decoding/prefetching batches
    cache: bool = True  # decode the images once into a memory-mapped cache (eventcnn.learn.cache)
    cache_dir: str | None = None  # None: the user cache (learn.cache.default_cache_dir), else <out>/cache
    compile: str = "auto"  # auto | on | off: jit_compile of model.compile
    scale_lr: bool = False  # linear scaling rule: lr x devices in data-parallel runs
    evaluate: bool = True
    baseline: bool = True
    quiet: bool = False

    def __post_init__(self) -> None:
        self.data_dir, self.out = str(self.data_dir), str(self.out)
        self.model = canonical_backbone(self.model)
        from_scratch = self.model == "small" or BACKBONES[self.model].network
        if self.freeze is None:
            self.freeze = "none" if from_scratch else "frozen"
        if self.freeze not in FREEZE_POLICIES:
            raise UserError(f"freeze must be one of {FREEZE_POLICIES}, got {self.freeze!r}")
        if BACKBONES[self.model].network and (self.freeze != "none" or self.fine_tune_epochs or self.head
                                              or self.pooling):
            raise UserError(f"--model {self.model} is a whole network: it trains every layer in one phase "
                            "(no --freeze, --fine-tune-epochs or --head)")
        if self.optimizer not in ("adam", "rmsprop", "sgd"):
            raise UserError(f"optimizer must be adam, rmsprop or sgd, got {self.optimizer!r}")
        if self.monitor not in MONITORS:
            raise UserError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        for name, low in (("epochs", 1), ("batch_size", 1), ("fine_tune_epochs", 0)):
            if getattr(self, name) < low:
                raise UserError(f"{name} (--{name.replace('_', '-')}) must be at least {low}, "
                                 f"got {getattr(self, name)}")
        check_batch_size(self.batch_size)
        check_count("--epochs", self.epochs, 1, MAX_EPOCHS)
        check_count("--fine-tune-epochs", self.fine_tune_epochs, 0, MAX_EPOCHS)
        check_jobs(self.workers, "--workers")
        if self.size is not None:
            check_image_size(self.size)
        if self.limit_per_class is not None:
            check_count("--limit-per-class", self.limit_per_class, 1)
        if self.class_weight not in (None, "balanced"):
            raise UserError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")

        if self.mixed_precision not in PRECISION_MODES:
            raise UserError(f"mixed_precision must be one of {PRECISION_MODES}, got {self.mixed_precision!r}")
        if self.compile not in COMPILE_MODES:
            raise UserError(f"compile must be one of {COMPILE_MODES}, got {self.compile!r}")
        if self.weights is not None and str(self.weights).lower() == "none":
            self.weights = None
        if from_scratch and self.weights == "imagenet":  # no ImageNet weights; "sim"/files load
            self.weights = None
        self.fractions = tuple(float(f) for f in self.fractions)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Settings from ``config.json``'s ``train`` (also run folders written with the old key names)."""
        renamed = {new: data[old] for new, old in OLD_KEYS.items() if old in data and new not in data} | {
            k: v for k, v in data.items() if k not in OLD_KEYS.values()}
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in renamed.items() if k in names})


@dataclass
class Run:
    """A finished (or resumed) run: its folder, config, history and test metrics."""

    out: Path
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def best_model_path(self) -> Path:
        return self.out / "best.keras"

    def load_model(self):
        """Load ``best.keras`` (with the custom eventcnn layers registered)."""
        return load_run_model(self.out)

    @classmethod
    def load(cls, out: str | os.PathLike[str]) -> Run:
        """Read a run folder written by :func:`train`."""
        out = Path(out)
        raw = read_run_config(out)
        return cls(
            out,
            TrainConfig.from_dict(raw["train"]),
            read_json(out / "history.json", []),
            read_json(out / "metrics.json", None),
            read_json(out / "state.json", {}),
        )


def read_json(path: Path, default: Any) -> Any:
    """A run file's JSON, ``default`` when absent; a clear error when damaged."""
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
        for key in ("data_dir", "out"):
            if key not in train_cfg and OLD_KEYS.get(key) not in train_cfg:
                raise UserError(f"{run_dir} is not a run folder written by eventcnn train "
                                f"(config.json lacks 'train.{key}')")
    return raw


#: the kinds of run folder: ``cms`` (``eventcnn train``), ``opal`` (``eventcnn opal train``)
RUN_KINDS = ("cms", "opal")


def run_kind(config: dict[str, Any] | str | os.PathLike[str]) -> str:
    """``"cms"`` or ``"opal"``: the ``kind`` a run folder records in ``config.json``, or a ``.keras`` file's network.

    ``config``: the config already read, a run folder or a model file (``.keras``, or
    an ``.onnx`` export, whose model card says it). Runs
    written before ``kind`` was recorded are told apart by ``train.model``; a
    bare ``.keras`` file is an OPAL model when the network inside is the
    masterclass CNN (read from the archive's ``config.json``, nothing is loaded).
    The readers of a run check (and name) the rest of its ``config.json``.

    Example::

        >>> run_kind({"kind": "opal", "train": {}})
        'opal'
    """
    if not isinstance(config, dict):
        return _path_kind(Path(config))
    kind = config.get("kind") or ("opal" if (config.get("train") or {}).get("model") == "opal" else "cms")
    if kind not in RUN_KINDS:
        raise UserError(f"config.json of the run names an unknown kind {kind!r}; eventcnn knows {RUN_KINDS}")
    return kind


def _path_kind(path: Path) -> str:
    if path.is_dir():
        try:
            cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cfg = {}
        return run_kind(cfg if isinstance(cfg, dict) else {})
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: give a run folder or a .keras model file")
    if is_onnx_model(path):  # an export: its model card says the kind
        return run_kind({"kind": read_card(path).get("kind")})
    try:
        with zipfile.ZipFile(path) as archive:
            name = json.loads(archive.read("config.json")).get("config", {}).get("name")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, AttributeError):
        return "cms"  # not readable as a .keras archive: the model loader says what is wrong with it
    return "opal" if name == MASTERCLASS_NAME else "cms"


def load_run_model(run: str | os.PathLike[str], which: str = "best"):
    """Load ``best.keras`` (or ``last.keras``) of a run folder, or a ``.keras`` file itself.

    Run folders of older OPAL trainings hold ``model.keras``; it is read when
    there is no ``best.keras``.

    Example::

        model = load_run_model("runs/small")
    """
    run = Path(run)
    if not run.is_dir():
        return load_keras_file(run)
    path = run / f"{which}.keras"
    if which == "best" and not path.exists() and (run / "model.keras").is_file():
        path = run / "model.keras"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train the run first (`eventcnn train --out {run}`)")
    return load_keras_file(path)


class ModelFileError(UserError):
    """A ``.keras`` file that cannot be loaded: empty, truncated, corrupt or not a Keras model."""


def load_keras_file(path: str | os.PathLike[str], safe_mode: bool = True, **kwargs: Any) -> Any:
    """``keras.saving.load_model(path)`` with one clear error when the file is not a whole model.

    Keras says "File not found" for a truncated or non-zip ``.keras`` file; this says
    "corrupt or truncated model file" (or empty, or a folder) and what to do.
    The custom eventcnn layers are registered first.

    Example::

        model = load_keras_file("runs/small/best.keras")
    """
    import keras

    import eventcnn.learn.models  # noqa: F401 - deferred (Keras): registers BackbonePreprocess and the augmentation layers
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a .keras model file")
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} not found")
    hint = ("re-train, or copy the run again (an interrupted copy or download leaves such files)")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: empty model file; {hint}")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            zip_start = fh.read(2) == b"PK"
        what = "corrupt or truncated model file" if zip_start else "not a Keras model file (not a .keras zip)"
        raise ModelFileError(f"{path}: {what}; {hint}")
    try:
        return keras.saving.load_model(path, safe_mode=safe_mode, **kwargs)
    except (OSError, ValueError, EOFError) as exc:
        if isinstance(exc, zipfile.BadZipFile) or "truncated" in str(exc) or "Unable to" in str(exc):
            raise ModelFileError(f"{path}: corrupt or truncated model file ({str(exc).splitlines()[0]}); "
                                 f"{hint}") from None
        raise ModelFileError(f"{path}: cannot load this model file ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}); is it a model written "
                             "by eventcnn?") from None


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that matter for reproducing a run."""
    import keras

    out = {"eventcnn": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "keras": keras.__version__, "backend": keras.backend.backend(), "platform": platform.platform()}
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(keras.backend.backend())
    if backend_module and backend_module in sys.modules:
        out[backend_module] = getattr(sys.modules[backend_module], "__version__", "?")
    return out


def plot_run_history(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path | None:
    """Learning curves of a run's per-epoch records (``history.json``) as a PNG.

    Draws with :func:`eventcnn.learn.metrics.plot_history` (which takes a Keras
    ``History.history`` dict); ``plot_history`` is this function's deprecated old name here.
    """
    if not history:
        return None

    keys = {k for h in history for k in h if k not in ("epoch", "phase", "lr", "seconds")}
    curves = {k: [h.get(k, float("nan")) for h in history] for k in sorted(keys)}
    phase2 = [i for i, h in enumerate(history, start=1) if h.get("phase") == 2]
    return plot(curves, path, phase_start=phase2[0] if phase2 else None)
