"""Pretrain a network on simulated data and export its weights (``weights="sim"``): CMS and OPAL alike.

One recipe for both datasets (:data:`PRETRAIN_DATASETS`), by :func:`run_pretrain`:

1. simulated data: ``cms``: events of several processes generated with Pythia 8
   (:mod:`eventcnn.events.generate`; or given event files), events with at
   least one tight isolated lepton drawn as paper-style eta-phi images;
   ``opal``: OPAL end-view displays of Z decays (Pythia 8 + an OPAL-like
   detector, :mod:`eventcnn.images.opal_simulation`), equal numbers per class;
2. training in a seeded, resumable run folder: ``cms``: a multi-class
   classifier (tt+jets / W+jets / Drell-Yan / ZZ) with the physics augmentation
   (cyclic phi shift, eta and phi mirror: the generator has no pile-up and
   another mistag rate, so features that do not depend on where an event sits
   help) through :func:`eventcnn.learn.train.train`; ``opal``: the masterclass
   CNN by the default recipe through :func:`eventcnn.learn.train_arrays.train_arrays`;
3. export (:func:`export_weights`): ``<name>.weights.h5`` (the backbone of a
   backbone model; the masterclass CNN without its augmentation stage) and
   ``<name>.json`` (registry key, image size, recipe, the command that
   reproduces it, figures, sha256), in the format of the shipped weights
   (:mod:`eventcnn.learn.weights`).

``eventcnn pretrain`` runs the ``cms`` dataset, ``eventcnn opal pretrain`` (the
masterclass's words) the ``opal`` one; both call :func:`run_pretrain`.

Output folder::

    <out>/events/<class>.json.gz     cms: generated events (kept: re-running resumes)
    <out>/images/<class>/*.png       cms: the images + manifest.csv
    <out>/sim/                       opal: sim.zip + events_list.csv (reused for the same events and seed)
    <out>/run/                       the training run (config.json, history.json, best.keras, ...)
    <out>/<name>.weights.h5, .json   the exported weights (also in --export DIR)

Process ``k`` (in the order given) is generated with seed ``seed + k``.

Example::

    from eventcnn.learn.pretrain import PretrainConfig, run_pretrain
    meta = run_pretrain(PretrainConfig(out="runs/pretrain", events=4000, seed=1))
    model = build_model("small", 2, (64, 64, 3), weights=meta["weights_file"], freeze="few")
    meta = run_pretrain(PretrainConfig(out="runs/opal_pretrain", dataset="opal", events=400, epochs=2))
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import sha256sum, write_json_atomic
from eventcnn.errors import UserError, check_output
from eventcnn.events.generate import generate_to_file
from eventcnn.events.opal_detector import DETECTOR
from eventcnn.executor import Executor, use_executor
from eventcnn.images.opal_displays import CLASS_NAMES, load_displays
from eventcnn.images.opal_simulation import simulate
from eventcnn.images.render import RenderConfig, render_to_dir
from eventcnn.learn.registry import BACKBONES, MASTERCLASS, MASTERCLASS_NAME, canonical_backbone
from eventcnn.learn.runs import versions
from eventcnn.learn.train_arrays import train_arrays
from eventcnn.limits import (
    MAX_EPOCHS,
    MAX_EVENTS,
    check_batch_size,
    check_count,
    check_image_size,
    check_jobs,
)
from eventcnn.names import PROCESS_LABELS, canonical_process
from eventcnn.seeds import DEFAULT_SEED

__all__ = ["DATASET_DEFAULTS", "PRETRAIN_DATASETS", "DEFAULT_PROCESSES", "PretrainConfig", "export_weights",
           "pretrain_defaults", "run_pretrain"]

#: what is simulated: generated pp events as eta-phi images (``eventcnn pretrain``), OPAL displays
#: (``eventcnn opal pretrain``)
PRETRAIN_DATASETS = ("cms", "opal")

#: generator process -> class label (folder name)
DEFAULT_PROCESSES = ("tt", "wjets", "dy", "zz")
_LABELS = PROCESS_LABELS

#: the settings whose default depends on the dataset (``None`` in :class:`PretrainConfig`); the opal
#: ones made the shipped ``opal_sim`` weights (with --seed 1, their recorded command)
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "cms": {"events": 4000, "size": 64, "model": "small", "epochs": 20, "batch_size": 64, "patience": 5},
    # patience 12: the validation loss of 1,200 simulated displays is noisy (6 stopped at epoch 14)
    "opal": {"events": 12000, "size": 200, "model": MASTERCLASS, "epochs": 30, "batch_size": 16,
             "patience": 12, "steps_per_epoch": 100, "val_fraction": 0.1, "name": "opal_sim"},
}


def pretrain_defaults(dataset: str = "cms") -> dict[str, Any]:
    """Every default of a pretraining of ``dataset`` (what ``PretrainConfig(out, dataset=...)`` resolves to).

    Example::

        >>> pretrain_defaults("opal")["events"]
        12000
    """
    if dataset not in PRETRAIN_DATASETS:
        raise UserError(f"dataset must be one of {PRETRAIN_DATASETS}, got {dataset!r}")
    fixed = {f.name: f.default for f in fields(PretrainConfig) if f.default is not MISSING}
    return {**fixed, **DATASET_DEFAULTS[dataset], "dataset": dataset}


@dataclass
class PretrainConfig:
    """Settings of a pretraining run (saved in the exported ``.json``).

    ``dataset``: ``"cms"`` (generated events, :data:`DEFAULT_PROCESSES`) or
    ``"opal"`` (simulated displays); ``None`` settings take the dataset's
    default (:data:`DATASET_DEFAULTS`). cms: ``inputs`` maps class labels to
    existing event files (``.json``/``.json.gz``); processes not in it are
    generated (``events`` each, seed ``seed + k``), selected by ``selection``.
    opal: ``events`` displays in all (equal per class), trained for at most
    ``epochs`` of ``steps_per_epoch`` batches with ``val_fraction`` held out.

    Example::

        PretrainConfig("runs/pretrain", events=4000, size=64, epochs=20, export="eventcnn/weights")
        PretrainConfig("runs/opal_pretrain", dataset="opal", events=12000, seed=1)
    """

    out: str
    dataset: str = "cms"
    processes: tuple[str, ...] = DEFAULT_PROCESSES
    inputs: dict[str, str] = field(default_factory=dict)
    events: int | None = None
    seed: int = DEFAULT_SEED
    size: int | None = None
    selection: str = "lepton"
    model: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 1e-3
    patience: int | None = None
    steps_per_epoch: int | None = None  # opal: batches per epoch; cms: the whole training split
    val_fraction: float | None = None  # opal: the held-out share; cms: the split's 15 %
    augment: bool = True
    fast: bool = False
    jobs: int = 1
    name: str | None = None  # default: sim_<model>_<size> (cms), opal_sim (opal)
    export: str | None = None  # also copy the exported pair into this folder
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.dataset not in PRETRAIN_DATASETS:
            raise UserError(f"dataset must be one of {PRETRAIN_DATASETS}, got {self.dataset!r}")
        for key, value in DATASET_DEFAULTS[self.dataset].items():
            if getattr(self, key) is None and key != "name":
                setattr(self, key, value)
        self.out = str(self.out)
        self.model = canonical_backbone(self.model)
        if self.dataset == "opal":
            self._check_opal()
        else:
            self._check_cms()
        if min(self.events, self.epochs, self.batch_size) < 1:
            raise UserError("events, epochs and batch_size must be >= 1")
        check_count("--events", self.events, 1, MAX_EVENTS)
        check_count("--epochs", self.epochs, 1, MAX_EPOCHS)
        check_batch_size(self.batch_size)
        check_jobs(self.jobs)
        check_output(self.out, inputs=list(self.inputs.values()), folder=True)
        default_name = DATASET_DEFAULTS[self.dataset].get("name") or f"sim_{self.model}_{self.size}"
        self.name = self.name or default_name
        if Path(self.name).name != self.name or self.name in (".", ".."):  # never a path out of --out
            raise UserError(f"--name {self.name!r}: a file name without folders (written into --out as "
                            f"<name>.weights.h5 and <name>.json)")

    def _check_cms(self) -> None:
        if BACKBONES[self.model].network:
            raise UserError(f"--model {self.model} is a whole network: pretrain it with its dataset "
                            "(eventcnn opal pretrain for the masterclass CNN)")
        for key in ("steps_per_epoch", "val_fraction"):
            if getattr(self, key) is not None:
                raise UserError(f"{key} is a setting of the opal dataset (cms trains on a split)")
        self.processes = tuple(canonical_process(p) for p in self.processes)
        self.inputs = {str(k): str(v) for k, v in dict(self.inputs).items()}
        for label, path in self.inputs.items():
            if not Path(path).exists():
                raise FileNotFoundError(f"event file {path} (class {label!r}) not found")
        labels = [_LABELS.get(p, p) for p in self.processes if _LABELS.get(p, p) not in self.inputs]
        if len(labels) + len(self.inputs) < 2:
            raise UserError("pretraining needs at least two classes: give --processes and/or --inputs LABEL=FILE")
        if self.size < 16:
            raise UserError(f"size must be >= 16, got {self.size}")
        check_image_size(self.size)

    def _check_opal(self) -> None:
        if self.model != MASTERCLASS or self.inputs:
            raise UserError("the opal dataset pretrains the masterclass CNN on simulated displays "
                            "(no --model or --inputs)")
        if self.size != DATASET_DEFAULTS["opal"]["size"]:
            raise UserError(f"simulated displays are {DATASET_DEFAULTS['opal']['size']} px (got size {self.size})")
        check_count("--steps", self.steps_per_epoch, 1, 100000)
        if not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"val_fraction must be in (0, 1), got {self.val_fraction}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["processes"] = list(self.processes)
        return d

    def command(self) -> str:
        """The ``eventcnn pretrain`` (``eventcnn opal pretrain``) command line that reproduces this configuration."""
        if self.dataset == "opal":
            args = ["eventcnn", "opal", "pretrain", "--out", self.out, "--events", str(self.events),
                    "--seed", str(self.seed), "--epochs", str(self.epochs), "--steps", str(self.steps_per_epoch),
                    "--patience", str(self.patience), "--lr", str(self.lr), "--jobs", str(self.jobs),
                    "--name", str(self.name)]
            return shlex.join(args + (["--export", self.export] if self.export else []))
        args = ["eventcnn", "pretrain", "--out", self.out, "--events", str(self.events), "--seed", str(self.seed),
                "--size", str(self.size), "--selection", self.selection, "--epochs", str(self.epochs),
                "--batch-size", str(self.batch_size), "--lr", str(self.lr), "--patience", str(self.patience),
                "--processes", *self.processes]
        for label, path in self.inputs.items():
            args += ["--inputs", f"{label}={path}"]
        if not self.augment:
            args.append("--no-augment")
        if self.fast:
            args.append("--fast")
        if self.export:
            args += ["--export", self.export]
        return shlex.join(args)


def _event_files(cfg: PretrainConfig, out: Path, say, ex: Executor) -> dict[str, Path]:
    files: dict[str, Path] = {label: Path(p) for label, p in cfg.inputs.items()}
    for k, proc in enumerate(cfg.processes):
        label = _LABELS.get(proc, proc)
        if label in files:
            continue
        path = out / "events" / f"{label}.json.gz"
        if path.exists():
            say(f"  {label}: {path} already generated")
        else:
            say(f"  generating {cfg.events} {proc} events (seed {cfg.seed + k})")
            generate_to_file(proc, cfg.events, path, seed=cfg.seed + k, jobs=cfg.jobs, quiet=cfg.quiet,
                             fast=cfg.fast, executor=ex)
        files[label] = path
    return files


def export_weights(model: Any, path: str | os.PathLike[str], metadata: dict[str, Any]) -> dict[str, Any]:
    """Save a model's weights as ``<stem>.weights.h5`` + ``<stem>.json``, the format of the shipped weights.

    A :func:`eventcnn.learn.models.build_model` backbone model exports its
    backbone (no head); the masterclass CNN exports the network without its
    augmentation stage. ``path`` ends in ``.weights.h5``; ``metadata`` must name
    ``backbone`` (the registry key) and ``image_size``. Both files are written
    atomically; the JSON gets the sha256 and size of the weights file. Returns
    the JSON content.

    Example::

        export_weights(run.load_model(), "sim_small_64.weights.h5", {"backbone": "small", "image_size": 64})
    """
    from eventcnn.learn import models  # deferred: Keras (the CLI reads PretrainConfig)

    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise UserError(f"weights file must end in .weights.h5, got {path.name}")
    missing = [k for k in ("backbone", "image_size") if k not in metadata]
    if missing:
        raise UserError(f"metadata must name {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if model.name == MASTERCLASS_NAME:
        models.save_network_weights(model, path)
    else:
        tmp = path.with_name(f".{path.name[: -len('.weights.h5')]}.tmp.weights.h5")
        try:
            models.get_backbone(model).save_weights(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    meta = {**metadata, "sha256": sha256sum(path), "bytes": path.stat().st_size}
    write_json_atomic(path.with_name(path.name[: -len(".weights.h5")] + ".json"), meta)
    return meta


def run_pretrain(cfg: PretrainConfig, *, executor: Executor | None = None) -> dict[str, Any]:
    """Simulate, train and export; returns the exported metadata (+ ``weights_file``).

    Every stage keeps what an earlier run finished (events, images, simulated
    displays; the run folder resumes), so re-running the same command resumes.
    The simulation (event generation and drawing; OPAL displays) runs its tasks on
    ``executor`` (:mod:`eventcnn.executor`: the caller's, left open), else on one
    opened for it with ``cfg.jobs`` local worker processes.
    """
    quiet = cfg.quiet or quiet_from_env()
    say = sayer(quiet)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model, meta = (_pretrain_opal if cfg.dataset == "opal" else _pretrain_cms)(cfg, out, quiet, say, executor)
    target = out / f"{cfg.name}.weights.h5"
    meta = export_weights(model, target, {**meta, "command": cfg.command(), "versions": versions(),
                                          "python": sys.version.split()[0]})
    if cfg.export:
        dest = Path(cfg.export)
        dest.mkdir(parents=True, exist_ok=True)
        for src in (target, target.with_name(f"{cfg.name}.json")):
            tmp = dest / f".{src.name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest / src.name)
        say(f"exported to {dest}/{cfg.name}.weights.h5")
    say(f"weights: {target} ({meta['bytes']} bytes, sha256 {meta['sha256'][:12]}...)")
    return {**meta, "weights_file": str(target)}


def _pretrain_cms(cfg: PretrainConfig, out: Path, quiet: bool, say: Any,
                  executor: Executor | None) -> tuple[Any, dict[str, Any]]:
    """Generate, render and train a backbone model; its metadata."""
    from eventcnn.learn.train import (  # deferred: Keras (the CLI reads PretrainConfig)
        TrainConfig,
        train,
    )

    images = out / "images"
    with use_executor(executor, cfg.jobs, quiet=quiet) as ex:  # one executor: generation and drawing
        say("[1/4] event files")
        files = _event_files(cfg, out, say, ex)
        say(f"[2/4] selecting ({cfg.selection}) and drawing {cfg.size}x{cfg.size} images")
        summary = render_to_dir([(p, label) for label, p in files.items()], images, RenderConfig(size=cfg.size),
                                selection=cfg.selection, jobs=cfg.jobs, quiet=quiet, executor=ex)
    few = {k: v for k, v in summary.selected.items() if v < 5}
    if few:
        raise UserError(f"too few selected events to pretrain on: {few}; generate more (--events)")
    say(f"[3/4] training a {cfg.model} backbone on {sum(summary.selected.values())} images "
        f"({', '.join(f'{k} {v}' for k, v in sorted(summary.selected.items()))})")
    tcfg = TrainConfig(
        data_dir=str(images), out=str(out / "run"), model=cfg.model, weights=None, freeze="none",
        epochs=cfg.epochs, size=cfg.size, batch_size=cfg.batch_size, seed=cfg.seed, lr=cfg.lr,
        schedule="cosine", patience=cfg.patience, augment=cfg.augment, class_weight="balanced",
        monitor="val_loss", evaluate=True, baseline=False, quiet=quiet,
    )
    run = train(tcfg)
    say("[4/4] exporting the backbone")
    run_cfg = json.loads((out / "run" / "config.json").read_text())
    best = min(run.history, key=lambda h: h.get("val_loss", float("inf"))) if run.history else {}
    metrics = run.metrics or {}
    meta = {
        "backbone": tcfg.model,
        "image_size": int(cfg.size),
        "input_shape": [int(cfg.size), int(cfg.size), 3],
        "preprocessing": "uint8 RGB 0..255 -> x / 255 (inside the model)",
        "render_config": run_cfg.get("render_config"),
        "selection": cfg.selection,
        "class_names": run_cfg["class_names"],
        "selected_events": dict(sorted(summary.selected.items())),
        "split_counts": run_cfg["split_counts"],
        "recipe": {"pretrain": cfg.to_dict(), "train": tcfg.to_dict()},
        "figures": {
            "epochs": len(run.history),
            "best_epoch": run.state.get("best_epoch"),
            "best_val_loss": best.get("val_loss"),
            "best_val_accuracy": best.get("val_accuracy"),
            "test_accuracy": metrics.get("accuracy"),
            "test_macro_roc_auc": (metrics.get("roc_auc") or {}).get("macro"),
            "train_seconds": run.state.get("train_seconds"),
        },
    }
    return run.load_model(), meta


def _pretrain_opal(cfg: PretrainConfig, out: Path, quiet: bool, say: Any,
                   executor: Executor | None) -> tuple[Any, dict[str, Any]]:
    """Simulate displays (reused for the same events and seed) and train the masterclass CNN; its metadata."""
    sim_dir = out / "sim"
    stamp = {"events": cfg.events, "seed": cfg.seed, "detector": asdict(DETECTOR)}
    stamp_file = sim_dir / "simulation.json"
    t0 = time.perf_counter()
    if not (stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp
            and (sim_dir / "sim.zip").is_file()):
        say(f"simulating {cfg.events} displays into {sim_dir}")
        simulate(cfg.events, sim_dir, seed=cfg.seed, jobs=cfg.jobs, quiet=quiet, executor=executor)
        write_json_atomic(stamp_file, stamp)
    sim_s = time.perf_counter() - t0
    data = load_displays(sim_dir / "sim.zip", sim_dir / "events_list.csv", quiet=True)
    say(f"training on {len(data.images)} simulated displays")
    res = train_arrays(data.images, data.labels, recipe="default", out=out / "run", quiet=quiet,
                       data_dir=sim_dir, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
                       patience=cfg.patience, learning_rate=cfg.lr, val_fraction=cfg.val_fraction,
                       batch_size=cfg.batch_size, seed=cfg.seed)
    best = res.history[res.best_epoch - 1] if res.best_epoch else res.history[-1]
    meta = {
        "backbone": MASTERCLASS, "model": MASTERCLASS_NAME, "image_size": int(data.images.shape[1]),
        "class_names": list(CLASS_NAMES), "preprocessing": "uint8 RGB 0..255 -> x / 255 (inside the model)",
        "settings": cfg.to_dict(), "detector": asdict(DETECTOR),
        "figures": {"epochs": len(res.history), "best_epoch": res.best_epoch,
                    "val_loss": float(best.get("val_loss", np.nan)),
                    "val_accuracy": float(best.get("val_accuracy", np.nan)),
                    "simulate_seconds": round(sim_s, 1), "train_seconds": round(res.seconds, 1)},
    }
    return res.model, meta
