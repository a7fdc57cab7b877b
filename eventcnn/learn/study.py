"""The representation study of issue 36 (item 2): learning curves, transfer to real events, report.

:func:`run_study` is the whole study behind ``bench/representations.py`` and
notebook 05: for every training size, seed and representation
(:func:`eventcnn.learn.representations.fit_predict`) a model is trained on the
generated events and scored on the fixed held-out test events (every model's
test probabilities are cached in ``out/study_<sample>_<recipe>/preds/``, one
line per model in ``runs.jsonl``: a rerun continues); then the transfer to the
real CMS events (:mod:`eventcnn.learn.study_transfer`); then the figures with
their uncertainties (:mod:`eventcnn.learn.study_report`).

Example::

    from eventcnn.learn.study import StudySettings, run_study
    report = run_study(StudySettings(sizes=(100, 1000), seeds=(1, 2, 3)), "out/events", "out/shards_32", "out")
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError
from eventcnn.learn.representations import REPRESENTATIONS, Recipe, cpu_seconds, fit_predict
from eventcnn.learn.study_data import load_views, pools, subset
from eventcnn.learn.study_report import write_report
from eventcnn.learn.study_transfer import RealData

__all__ = ["StudySettings", "dataset_tag", "run_study"]


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

    t0, c0 = time.perf_counter(), cpu_seconds()
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
                        "study_cpu_seconds": round(cpu_seconds() - c0, 1)}
    write_json_atomic(out / "results.json", report)
    return report
