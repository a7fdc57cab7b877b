"""Pretrain a CNN backbone on simulated events and export it for transfer learning (``weights="sim"``).

The recipe: generate events of several processes with Pythia 8
(:mod:`eventcnn.events.generate`; or take given JSON files), select events with at
least one tight isolated lepton, draw paper-style eta-phi images, train a
multi-class classifier (tt+jets / W+jets / Drell-Yan / ZZ) with the physics
augmentation (cyclic phi shift, eta and phi mirror: the generator has no
pile-up and another mistag rate, so features that do not depend on where an
event sits help) through :func:`eventcnn.learn.train.train` (seeded, resumable run
folder with config, history and best model), and export the backbone of the
best model as ``<name>.weights.h5`` + ``<name>.json`` (recipe, reproducing
command, figures, sha256).

Output folder::

    <out>/events/<class>.json.gz     generated events (kept: re-running resumes)
    <out>/images/<class>/*.png       64x64 images + manifest.csv
    <out>/run/                       the training run (config.json, history.json, best.keras, ...)
    <out>/<name>.weights.h5, .json   the exported backbone (also in --export DIR)

Process ``k`` (in the order given) is generated with seed ``seed + k``.

Example::

    from eventcnn.learn.pretrain import PretrainConfig, run_pretrain
    meta = run_pretrain(PretrainConfig(out="runs/pretrain", events=4000, seed=1))
    model = build_model("small", 2, (64, 64, 3), weights=meta["weights_file"], freeze="few")
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventcnn import DEFAULT_SEED
from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import sha256sum, write_json_atomic
from eventcnn.errors import UserError, check_output
from eventcnn.events.generate import canonical_process, generate_to_file
from eventcnn.images.render import RenderConfig, render_to_dir
from eventcnn.learn.intervals import fmt
from eventcnn.limits import (
    MAX_EPOCHS,
    MAX_EVENTS,
    check_batch_size,
    check_count,
    check_image_size,
    check_jobs,
)

__all__ = ["PretrainConfig", "run_pretrain", "export_backbone", "DEFAULT_PROCESSES"]

#: generator process -> class label (folder name)
DEFAULT_PROCESSES = ("tt", "wjets", "dy", "zz")
LABELS = {"tt": "ttjets", "wjets": "wjets", "dy": "dy", "zz": "zz"}


@dataclass
class PretrainConfig:
    """Settings of a pretraining run (saved in the exported ``.json``).

    ``inputs`` maps class labels to existing event files (``.json``/``.json.gz``);
    processes not in it are generated (``events`` each, seed ``seed + k``).

    Example::

        PretrainConfig("runs/pretrain", events=4000, size=64, epochs=20, export="eventcnn/weights")
    """

    out: str
    processes: tuple[str, ...] = DEFAULT_PROCESSES
    inputs: dict[str, str] = field(default_factory=dict)
    events: int = 4000
    seed: int = DEFAULT_SEED
    size: int = 64
    selection: str = "lepton"
    model: str = "small"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 5
    augment: bool = True
    fast: bool = False
    jobs: int = 1
    name: str | None = None  # default: sim_<model>_<size>
    export: str | None = None  # also copy the exported pair into this folder
    quiet: bool = False

    def __post_init__(self) -> None:

        self.out = str(self.out)
        self.processes = tuple(canonical_process(p) for p in self.processes)
        self.inputs = {str(k): str(v) for k, v in dict(self.inputs).items()}
        for label, path in self.inputs.items():
            if not Path(path).exists():
                raise FileNotFoundError(f"event file {path} (class {label!r}) not found")
        labels = [LABELS.get(p, p) for p in self.processes if LABELS.get(p, p) not in self.inputs]
        if len(labels) + len(self.inputs) < 2:
            raise UserError("pretraining needs at least two classes: give --processes and/or --inputs LABEL=FILE")
        if self.events < 1 or self.epochs < 1 or self.batch_size < 1:
            raise UserError("events, epochs and batch_size must be >= 1")
        if self.size < 16:
            raise UserError(f"size must be >= 16, got {self.size}")
        check_image_size(self.size)
        check_count("--events", self.events, 1, MAX_EVENTS)
        check_count("--epochs", self.epochs, 1, MAX_EPOCHS)
        check_batch_size(self.batch_size)
        check_jobs(self.jobs)
        check_output(self.out, inputs=list(self.inputs.values()), folder=True)
        self.name = self.name or f"sim_{self.model}_{self.size}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["processes"] = list(self.processes)
        return d

    def command(self) -> str:
        """The ``eventcnn pretrain`` command line that reproduces this configuration."""
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


def _event_files(cfg: PretrainConfig, out: Path, say) -> dict[str, Path]:

    files: dict[str, Path] = {label: Path(p) for label, p in cfg.inputs.items()}
    for k, proc in enumerate(cfg.processes):
        label = LABELS.get(proc, proc)
        if label in files:
            continue
        path = out / "events" / f"{label}.json.gz"
        if path.exists():
            say(f"  {label}: {path} already generated")
        else:
            say(f"  generating {cfg.events} {proc} events (seed {cfg.seed + k})")
            generate_to_file(proc, cfg.events, path, seed=cfg.seed + k, jobs=cfg.jobs, quiet=cfg.quiet,
                             fast=cfg.fast)
        files[label] = path
    return files


def export_backbone(
    model: Any,
    path: str | os.PathLike[str],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """Save the backbone of a :func:`eventcnn.learn.models.build_model` model as ``<stem>.weights.h5`` + ``<stem>.json``.

    ``path`` ends in ``.weights.h5``; ``metadata`` must name ``backbone`` and
    ``size``. Both files are written atomically; the JSON gets the sha256
    and size of the weights file. Returns the JSON content.

    Example::

        export_backbone(run.load_model(), "sim_small_64.weights.h5", {"backbone": "small", "image_size": 64})
    """
    from eventcnn.learn.models import get_backbone  # deferred: Keras (the CLI reads PretrainConfig)

    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise UserError(f"backbone weights file must end in .weights.h5, got {path.name}")
    missing = [k for k in ("backbone", "image_size") if k not in metadata]
    if missing:
        raise UserError(f"metadata must name {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name[: -len('.weights.h5')]}.tmp.weights.h5")
    try:
        get_backbone(model).save_weights(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {**metadata, "sha256": sha256sum(path), "bytes": path.stat().st_size}
    write_json_atomic(path.with_name(path.name[: -len(".weights.h5")] + ".json"), meta)
    return meta


def run_pretrain(cfg: PretrainConfig) -> dict[str, Any]:
    """Generate, render, train and export; returns the exported metadata (+ ``weights_file``).

    Every stage keeps what an earlier run finished (events, images, the run
    folder resumes), so re-running the same command resumes.
    """
    import json

    from eventcnn.learn.train import (  # deferred: Keras (the CLI reads PretrainConfig)
        TrainConfig,
        train,
    )

    quiet = cfg.quiet or quiet_from_env()

    say = sayer(quiet)

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    say("[1/4] event files")
    files = _event_files(cfg, out, say)
    say(f"[2/4] selecting ({cfg.selection}) and drawing {cfg.size}x{cfg.size} images")
    images = out / "images"
    summary = render_to_dir([(p, label) for label, p in files.items()], images, RenderConfig(size=cfg.size),
                            selection=cfg.selection, jobs=cfg.jobs, quiet=quiet)
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
        "command": cfg.command(),
        "figures": {
            "epochs": len(run.history),
            "best_epoch": run.state.get("best_epoch"),
            "best_val_loss": best.get("val_loss"),
            "best_val_accuracy": best.get("val_accuracy"),
            "test_accuracy": metrics.get("accuracy"),
            "test_macro_roc_auc": (metrics.get("roc_auc") or {}).get("macro"),
            "train_seconds": run.state.get("train_seconds"),
        },
        "versions": run_cfg.get("versions"),
        "python": sys.version.split()[0],
    }
    target = out / f"{cfg.name}.weights.h5"
    meta = export_backbone(run.load_model(), target, meta)
    if cfg.export:
        import shutil

        dest = Path(cfg.export)
        dest.mkdir(parents=True, exist_ok=True)
        for src in (target, target.with_name(f"{cfg.name}.json")):
            tmp = dest / f".{src.name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest / src.name)
        say(f"exported to {dest}/{cfg.name}.weights.h5")
    say(f"backbone weights: {target} ({meta['bytes']} bytes, sha256 {meta['sha256'][:12]}...); "
        f"test accuracy {fmt(meta['figures']['test_accuracy'])}")
    return {**meta, "weights_file": str(target)}
