"""The masterclass CNN pretrained on simulated displays, and the shipped weights.

:func:`pretrain` simulates OPAL displays (:mod:`eventcnn.opal.simulate`), trains
the masterclass CNN on them with the default recipe and writes the weights
(``<name>.weights.h5``, the network without its augmentation stage) plus
``<name>.json`` (sha256, settings, the command that reproduces it, figures).
The package ships one such pair in ``eventcnn/opal/weights/``
(:func:`eventcnn.opal.weights.shipped_weights` finds it and checks its sha256,
offline; a damaged file is refused); ``opal.train(..., weights="sim")`` starts
from them (:func:`eventcnn.opal.model.load_pretrained`).

Example::

    from eventcnn.opal.pretrain import pretrain
    res = pretrain("bench/_out/opal_pretrain", events=4000, seed=1)
    res.weights, res.meta["sha256"]
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import sayer
from eventcnn._io import sha256sum, write_json_atomic
from eventcnn.learn.runs import versions
from eventcnn.opal.displays import load_displays
from eventcnn.opal.model import save_base_weights, train
from eventcnn.opal.simulate import DETECTOR, simulate
from eventcnn.opal.weights import SHIPPED_NAME
from eventcnn.seeds import DEFAULT_SEED

__all__ = ["PretrainConfig", "PretrainResult", "pretrain"]


@dataclass
class PretrainConfig:
    """Settings of :func:`pretrain` (recorded in the weights' json)."""

    events: int = 12000
    seed: int = DEFAULT_SEED  # the shipped weights: --seed 1 (their recorded command)
    epochs: int = 30
    steps_per_epoch: int = 100
    patience: int = 12  # the validation loss of 1,200 simulated displays is noisy: 6 stopped at epoch 14
    learning_rate: float = 1e-3
    val_fraction: float = 0.1
    jobs: int = 1
    name: str = SHIPPED_NAME

    def command(self, out: str | os.PathLike[str]) -> str:
        """The ``eventcnn opal pretrain`` command line of these settings."""
        return (f"eventcnn opal pretrain --out {out} --events {self.events} --seed {self.seed} "
                f"--epochs {self.epochs} --steps {self.steps_per_epoch} --patience {self.patience} "
                f"--lr {self.learning_rate} --jobs {self.jobs} --name {self.name}")


@dataclass
class PretrainResult:
    """The written weights, their metadata and the training run."""

    weights: Path
    meta: dict[str, Any]
    run: Path


def pretrain(out: str | os.PathLike[str], config: PretrainConfig | None = None, *,
             export: str | os.PathLike[str] | None = None, quiet: bool = False,
             **overrides: Any) -> PretrainResult:
    """Simulate ``config.events`` displays, train the masterclass CNN on them, write the weights.

    ``out/sim/`` holds the simulated set (reused when it was made with the same
    events and seed), ``out/run/`` the training run, ``out/<name>.weights.h5``
    and ``out/<name>.json`` the result; ``export`` also copies both files there
    (``eventcnn/opal/weights`` to ship them). ``overrides`` set config fields.
    Keras is imported when training starts.

    Example::

        res = pretrain("bench/_out/opal_pretrain", events=400, epochs=2)
        res.meta["sha256"]
    """
    cfg = config or PretrainConfig()
    if overrides:
        cfg = PretrainConfig(**{**asdict(cfg), **overrides})
    say = sayer(quiet)
    out = Path(out)
    sim_dir = out / "sim"
    stamp = {"events": cfg.events, "seed": cfg.seed, "detector": asdict(DETECTOR)}
    stamp_file = sim_dir / "simulation.json"
    t0 = time.perf_counter()
    if not (stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp
            and (sim_dir / "sim.zip").is_file()):
        say(f"simulating {cfg.events} displays into {sim_dir}")
        simulate(cfg.events, sim_dir, seed=cfg.seed, jobs=cfg.jobs, quiet=quiet)
        write_json_atomic(stamp_file, stamp)
    sim_s = time.perf_counter() - t0
    data = load_displays(sim_dir / "sim.zip", sim_dir / "events_list.csv", quiet=True)
    say(f"training on {len(data.images)} simulated displays")
    res = train(data.images, data.labels, recipe="default", out=out / "run", quiet=quiet,
                data_dir=sim_dir, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
                patience=cfg.patience, learning_rate=cfg.learning_rate, val_fraction=cfg.val_fraction,
                seed=cfg.seed)
    path = out / f"{cfg.name}.weights.h5"
    save_base_weights(res.model, path)
    best = res.history[res.best_epoch - 1] if res.best_epoch else res.history[-1]
    meta = {
        "model": "opal_masterclass_cnn", "image_size": int(data.images.shape[1]),
        "class_names": ["q", "e", "m", "t"], "preprocessing": "uint8 RGB 0..255 -> x / 255 (inside the model)",
        "sha256": sha256sum(path), "bytes": path.stat().st_size,
        "settings": asdict(cfg), "detector": asdict(DETECTOR), "command": cfg.command(out),
        "figures": {"epochs": len(res.history), "best_epoch": res.best_epoch,
                    "val_loss": float(best.get("val_loss", np.nan)),
                    "val_accuracy": float(best.get("val_accuracy", np.nan)),
                    "simulate_seconds": round(sim_s, 1), "train_seconds": round(res.seconds, 1)},
        "versions": versions(),
    }
    write_json_atomic(out / f"{cfg.name}.json", meta)
    if export is not None:
        exp = Path(export)
        exp.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, exp / path.name)
        write_json_atomic(exp / f"{cfg.name}.json", meta)
    return PretrainResult(path, meta, out / "run")
