"""The classroom's training job: train on the class's labels, classify the rest, keep what the lesson shows.

The class server (:mod:`eventcnn.opal.web.supervisor`) runs this module as a
child process, ``python -m eventcnn.opal.lesson_job --data ZIP --plan PLAN --out RUN``,
so Keras, its memory and its threads stay out of the server. The plan (JSON,
written by the server) gives the class's label per display, by opaque display id
(:mod:`eventcnn.opal.ids`), the displays to leave out (examples and practice),
the seed and the training settings.

What it does (:func:`run_lesson`):

1. a stratified **held-out part** of the class-labelled displays
   (:data:`HELDOUT_SHARE`, at least one per class with two or more labels,
   seeded; :func:`eventcnn.learn.splits.stratified_holdout`) is set aside: the CNN
   never trains on it, nor stops early on it;
2. :func:`eventcnn.opal.workflow.masterclass` trains on the rest of the labels
   (the shipped simulation-pretrained weights when they fit) and classifies every
   display without a label in training (the held-out part included), by id;
3. ``lesson.json``: the CNN's answer on the held-out displays against the
   class's label (the misidentification the physics result is corrected with,
   :func:`eventcnn.opal.fractions.measure_fractions`), its answer on every display
   nobody labelled (what is measured), the learning curves with the size of the
   validation set, how it was trained; plus the displays the CNN is least sure
   about and occlusion maps of some of them as plain pictures (no words: the
   pages write them in the class's language).

Progress and the result go to the server as JSON lines on stdout
(``@@eventcnn-class {...}``); stages are codes that the pages translate.

"Train now" should not wait for what does not depend on the class's labels: the
server starts this process **on standby** when the class starts (``--standby
SETTINGS``): it makes the simulated displays of fine-tuning into the run folder
(``sim_pool.zip``, kept for the next training with the same settings), loads
Keras and the displays, then waits for the plan's path on stdin.

Example::

    python -m eventcnn.opal.lesson_job --data displays.zip --plan class_run/lesson_plan.json --out class_run
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn import __version__
from eventcnn._io import atomic_path, write_bytes_atomic, write_json_atomic
from eventcnn.errors import describe, is_user_error
from eventcnn.learn import (
    train_arrays as _trainer,  # where training looks up its simulated displays
)
from eventcnn.learn.batches import simulated_batch_pool
from eventcnn.learn.recipes import FINE_TUNE, RecipeConfig
from eventcnn.learn.splits import stratified_holdout  # the one stratified split (numpy only)
from eventcnn.opal.displays import CLASS_NAMES, load_displays
from eventcnn.opal.ids import display_ids
from eventcnn.opal.weights import default_weights
from eventcnn.opal.workflow import masterclass

__all__ = ["HELDOUT_SHARE", "LESSON_FILE", "LESSON_LEARNING_RATE", "PREFIX", "SIM_POOL_FILE", "heldout_mask", "main", "pool_ready",
           "run_lesson"]

#: the share of the class's labels held out to measure the CNN's misidentification
HELDOUT_SHARE = 0.3
#: fine-tuning's learning rate in the lesson (from pretrained weights, unless the settings give one): its
#: 4 epochs at 1e-4: the accuracy of 12 at the recipe's 3e-5, balanced accuracy ~0.01 lower (bench/lesson_job.py, docs/benchmarks.md)
LESSON_LEARNING_RATE = 1e-4
#: what a finished training leaves in the run folder for the pages and ``eventcnn class results``
LESSON_FILE = "lesson.json"
#: the prefix of the JSON lines the server reads from this process's stdout
PREFIX = "@@eventcnn-class "
#: the simulated displays mixed into fine-tuning, made ahead by a process of their own (kept in the run folder)
SIM_POOL_FILE = "sim_pool.zip"
POOL_META = "pool.json"  # inside the pool: what it was made with
_TRAIN_SHARE = 0.75  # of the progress bar: the epochs


def heldout_mask(labels: np.ndarray, share: float = HELDOUT_SHARE, seed: int = 1) -> np.ndarray:
    """Which class-labelled displays are held out: a stratified ``share`` (never a class's only label).

    ``labels``: class code per display, ``""`` for none. A class with two or
    more labels gives at least one to the held-out part and keeps at least one
    for training.

    Example::

        >>> m = heldout_mask(np.array(["q"] * 10 + ["e"] * 3 + ["t"] + [""] * 5), seed=1)
        >>> int(m[:10].sum()), int(m[10:13].sum()), bool(m[13]), bool(m[14:].any())
        (3, 1, False, False)
    """
    labels = np.asarray(labels)
    out = np.zeros(len(labels), dtype=bool)
    lab = np.flatnonzero(labels != "")
    if len(lab):
        out[lab] = stratified_holdout(labels[lab], share, seed)
    return out


def _pretrained(size: int, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Starting weights and the simulated displays mixed in, as far as this installation allows."""
    extra: dict[str, Any] = {}
    weights, said = default_weights(size)
    if "weights" not in settings and weights != "none":
        extra["weights"] = weights
    used = settings.get("weights", extra.get("weights", "none"))
    info = {"weights": str(used), "said": said if "weights" not in settings else f"weights {used}"}
    if used != "none" and "learning_rate" not in settings:
        extra["learning_rate"] = LESSON_LEARNING_RATE  # the lesson's few epochs (LessonSettings.epochs)
    if used != "none" and "sim_displays" not in settings and importlib.util.find_spec("pythia8mc") is None:
        extra["sim_displays"] = 0  # fine-tuning mixes in simulated displays: those need Pythia 8
        info["sim"] = "no Pythia 8 installed: fine-tuned on the class's displays alone"
    return extra, info


def _sim_plan(size: int, settings: dict[str, Any]) -> tuple[int, int]:
    """How many simulated displays the training will mix in, and their seed (0 displays: none)."""
    extra, _ = _pretrained(size, settings)
    merged = {**extra, **settings}
    if merged.get("weights", "none") == "none":
        return int(merged.get("sim_displays", 0)), int(merged.get("seed", 1))
    return int(merged.get("sim_displays", FINE_TUNE["sim_displays"])), int(merged.get("seed", 1))


def start_simulation(n: int, seed: int, path: Path) -> subprocess.Popen | None:
    """Make the ``n`` simulated displays in a process of their own (Pythia's memory never enters this one)."""
    if n <= 0 or importlib.util.find_spec("pythia8mc") is None:
        return None
    return subprocess.Popen([sys.executable, "-m", "eventcnn.opal.lesson_job", "--simulate", str(n),
                             "--seed", str(seed), "--out", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _pool_meta(n: int, seed: int) -> dict[str, Any]:
    """What a pool of simulated displays was made with: it is reused only for exactly these."""
    return {"n": int(n), "seed": int(seed), "eventcnn": __version__}


def pool_ready(path: Path, n: int, seed: int) -> bool:
    """Whether ``path`` holds the ``n`` simulated displays of ``seed`` made by this eventcnn (a finished file)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(POOL_META)) == _pool_meta(n, seed)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False


def _write_pool(n: int, seed: int, path: Path) -> None:
    pngs, codes = simulated_batch_pool(RecipeConfig(sim_displays=n, seed=seed))
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for k, png in enumerate(pngs):
            zf.writestr(f"{k:05d}.png", png)
        zf.writestr("codes.txt", " ".join(str(int(c)) for c in codes))
        zf.writestr(POOL_META, json.dumps(_pool_meta(n, seed)))


def _read_pool(path: Path) -> tuple[list[bytes], np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".png"))
        codes = np.array([int(c) for c in zf.read("codes.txt").decode().split()], dtype=np.int64)
        return [zf.read(n) for n in names], codes


@contextlib.contextmanager
def _use_pool(proc: subprocess.Popen | None, path: Path, n: int, seed: int) -> Iterator[None]:
    """Training takes the simulated displays made ahead (``path`` ready) or in the other process ``proc``."""
    original = getattr(_trainer, "simulated_batch_pool", None)
    ready = proc is None and n > 0 and pool_ready(path, n, seed)
    if (proc is None and not ready) or original is None:
        yield
        return

    def pool(config: Any) -> tuple[list[bytes], np.ndarray]:
        if config.sim_displays == n and config.seed == seed and (ready or proc.wait() == 0) and path.is_file():
            return _read_pool(path)
        return original(config)  # other settings than planned: made here, as train() would

    _trainer.simulated_batch_pool = pool
    try:
        yield
    finally:
        _trainer.simulated_batch_pool = original
        if proc is not None and proc.poll() is None:
            proc.kill()


def _progress_callback(say: Callable[..., None]) -> Any:
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            total = max(1, int(self.params.get("epochs") or 1))
            say("epoch", 0.08 + _TRAIN_SHARE * (epoch + 1) / total, epoch=epoch + 1, epochs=total)

    return Progress()


def _overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The display with the occlusion map on top: red where covering lowers the answer, blue where it raises it."""
    top = float(np.max(np.abs(heat))) or 1.0
    h = np.clip(heat / top, -1.0, 1.0)[..., None]
    red = np.array([255.0, 40.0, 40.0])
    blue = np.array([60.0, 120.0, 255.0])
    colour = np.where(h > 0, red, blue)
    alpha = 0.75 * np.abs(h)
    base = image.astype(np.float64) * 0.8
    return np.clip(base * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


def _png(image: np.ndarray) -> bytes:

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _pictures(model: Any, images: np.ndarray, ids: np.ndarray, probs: np.ndarray, out: Path,
              n_unsure: int, n_occlusion: int, say: Callable[..., None]) -> dict[str, Any]:
    """The least-sure displays and occlusion maps of some of them, as PNG files without words."""
    from eventcnn.learn.explain import (
        occlusion_map,  # deferred: Keras, only when the pictures are drawn
    )

    if not len(probs):
        return {"unsure": [], "occlusion": []}
    top = np.sort(probs, axis=1)
    order = np.argsort(top[:, -1] - top[:, -2], kind="stable")[:n_unsure]
    unsure, occl = [], []
    for k, i in enumerate(order):
        write_bytes_atomic(out / f"unsure_{k}.png", _png(images[i]))
        unsure.append({"figure": f"unsure{k}", "id": str(ids[i]), "probs": [round(float(p), 4) for p in probs[i]]})
    say("occlusion", 0.9)
    patch = max(1, images.shape[1] // 8)  # squares side by side (stride = patch): 64 covered copies a map, one pass
    for k, i in enumerate(order[:n_occlusion]):
        target = int(np.argmax(probs[i]))
        heat = occlusion_map(model, images[i], target=target, patch=patch, stride=patch)
        write_bytes_atomic(out / f"occlusion_{k}.png", _png(_overlay(images[i], heat)))
        occl.append({"figure": f"occlusion{k}", "id": str(ids[i]), "target": CLASS_NAMES[target],
                     "p": round(float(probs[i][target]), 4)})
    return {"unsure": unsure, "occlusion": occl}


def run_lesson(images: np.ndarray, ids: np.ndarray, plan: dict[str, Any], out: str | os.PathLike[str],
               report: Callable[..., None] | None = None, simulation: subprocess.Popen | None = None) -> dict[str, Any]:
    """Train on the plan's labels (a held-out part aside), classify the rest, write ``lesson.json``.

    ``ids``: the opaque id of every display (aligned with ``images``);
    ``plan``: ``labels`` ({id: class}), ``exclude`` (ids left out entirely),
    ``seed``, ``heldout_share``, ``settings`` (for :func:`eventcnn.opal.masterclass`),
    ``n_unsure``, ``n_occlusion``. ``simulation``: the process of
    :func:`start_simulation` making the simulated displays (``sim_pool.zip`` in
    ``out``) while this one loads. Returns what was written to ``lesson.json``.

    Example::

        lesson = run_lesson(data.images, np.array(display_ids(data.names)),
                            {"labels": {"d01234567": "q", ...}, "seed": 1, "settings": {"epochs": 2}}, "class_run")
    """
    out = Path(out)
    say = report or (lambda stage, fraction, **kw: None)
    ids = np.asarray(ids).astype(str)
    exclude = set(plan.get("exclude", []))
    keep = np.array([i not in exclude for i in ids], dtype=bool)
    images, ids = images[keep], ids[keep]
    labels = np.array([plan["labels"].get(i, "") for i in ids], dtype="<U1")
    seed = int(plan.get("seed", 1))
    held = heldout_mask(labels, float(plan.get("heldout_share", HELDOUT_SHARE)), seed)
    train_labels = np.where(held, "", labels)
    settings = dict(plan.get("settings", {}))
    extra, pretrained = _pretrained(int(images.shape[1]), settings)
    settings = {"seed": seed, **extra, **settings}
    say("training", 0.06)
    start = time.perf_counter()
    n_sim, sim_seed = _sim_plan(int(images.shape[1]), dict(plan.get("settings", {})) | {"seed": seed})
    with _use_pool(simulation, out / SIM_POOL_FILE, n_sim, sim_seed):
        mc = masterclass(images, train_labels, ids, out=out, quiet=True, sources={"lesson": "eventcnn class"},
                         callbacks=[_progress_callback(say)], **settings)
    say("predicting", 0.85)
    rest_ids = ids[mc.rest]
    rest_held = held[mc.rest]
    n_train = int((train_labels != "").sum())
    n_val = int(stratified_holdout(train_labels[train_labels != ""], mc.result.config.val_fraction,
                                   mc.result.config.seed).sum()) if mc.result.loop and mc.result.loop.monitor else 0
    pics = _pictures(mc.result.model, images[mc.rest][~rest_held], rest_ids[~rest_held], mc.probs[~rest_held],
                     out, int(plan.get("n_unsure", 6)), int(plan.get("n_occlusion", 3)), say)
    lesson = {
        "version": 1,
        "labels": int((labels != "").sum()),
        "per_class": {c: int((labels == c).sum()) for c in CLASS_NAMES},
        "trained_on": n_train,
        "validation": n_val,
        "heldout": [[str(i), str(labels[mc.rest][k]), str(p)]
                    for k, (i, p) in enumerate(zip(rest_ids, mc.pred)) if rest_held[k]],
        "measured": [[str(i), str(p)] for i, p, h in zip(rest_ids, mc.pred, rest_held) if not h],
        "history": [{k: (float(v) if isinstance(v, (int, float)) else v) for k, v in row.items()}
                    for row in mc.result.history],
        "best_epoch": mc.result.best_epoch,
        "epochs_max": int(mc.result.config.epochs),
        "pretrained": pretrained,
        "settings": {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool, type(None)))},
        "tta_copies": int(mc.tta_copies),
        "heldout_share": float(plan.get("heldout_share", HELDOUT_SHARE)),
        "seconds": round(time.perf_counter() - start, 1),
        **pics,
    }
    write_json_atomic(out / LESSON_FILE, lesson)
    return lesson


def _plain(exc: BaseException, log: str) -> str:
    """The teacher's one line: a user error as it is, anything else as a bug with the log's place."""
    if is_user_error(exc) or isinstance(exc, MemoryError):
        return describe(exc)
    return f"the training stopped because of an error in eventcnn (a bug); the details are in {log}"


def _load(data: str, size: int) -> Any:
    with warnings.catch_warnings():  # lists of unmatched names would give classes away
        warnings.simplefilter("ignore")
        return load_displays(data, None, size=size, quiet=True)


def _standby(args: argparse.Namespace) -> tuple[Any, subprocess.Popen | None]:
    """Make ready before "Train now": the simulated displays, Keras, the displays; then wait for the plan.

    Returns the displays and the process making the simulated displays (None
    when they were there already) once the server has written the plan's path
    on stdin; the displays are None when it closed stdin (the class ended) or
    the readying failed (the trace goes to stderr; the server then starts a
    fresh job, which says what is wrong).
    """
    n, seed = _sim_plan(args.size, json.loads(args.standby) | {"seed": args.seed})
    path = Path(args.out) / SIM_POOL_FILE
    Path(args.out).mkdir(parents=True, exist_ok=True)
    simulation = None if pool_ready(path, n, seed) else start_simulation(n, seed, path)  # Pythia apart
    try:
        try:
            data = _load(args.data, args.size)
            import keras  # noqa: F401 - loaded ahead: the training starts without the wait
            import matplotlib.pyplot  # noqa: F401 - the learning curves
        except Exception:  # noqa: BLE001 - the fresh job started instead reports it in plain words
            traceback.print_exc()
            data = None
        line = sys.stdin.readline().strip() if data is not None else ""
    except BaseException:  # stopped by the server while waiting: the simulation ends too
        if simulation is not None:
            simulation.kill()
            simulation.wait()
        raise
    if not line:
        if simulation is not None:  # the pool is kept for the next class's start when it gets done
            simulation.wait()
        return None, None
    args.plan = line
    return data, simulation


def main(argv: list[str] | None = None) -> int:
    """The child process: progress and the result as JSON lines on stdout; exit 0 when done."""
    p = argparse.ArgumentParser(prog="python -m eventcnn.opal.lesson_job",
                                description="the training job of `eventcnn class serve` (started by the server)")
    p.add_argument("--data", help="zip or folder of the displays")
    p.add_argument("--plan", help="the plan JSON written by the server")
    p.add_argument("--out", required=True, help="the run folder (with --simulate: the zip to write)")
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--simulate", type=int, default=0, help="only make this many simulated displays into --out")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--standby", default=None, metavar="SETTINGS",
                   help="make ready for a training with these settings (JSON; the simulated displays into --out, "
                        "Keras, the displays), then read the plan's path from stdin and train")
    args = p.parse_args(argv)
    if args.simulate:
        _write_pool(args.simulate, args.seed, Path(args.out))
        return 0
    if hasattr(signal, "SIGTERM"):  # stopped by the server: end in order (the simulation process too)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data = simulation = None
    if args.standby is not None:
        data, simulation = _standby(args)
        if data is None:
            return 1
    log = str(Path(args.out) / "class_training.log")

    def emit(msg: dict[str, Any]) -> None:
        print(PREFIX + json.dumps(msg), flush=True)

    def say(stage: str, fraction: float, **kw: Any) -> None:
        emit({"stage": stage, "fraction": round(float(fraction), 4), "args": kw})

    try:
        with open(args.plan, encoding="utf-8") as fh:
            plan = json.load(fh)
        say("loading", 0.02)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        n_sim, sim_seed = _sim_plan(args.size, dict(plan.get("settings", {})) | {"seed": int(plan.get("seed", 1))})
        if simulation is not None and (n_sim, sim_seed) != _sim_plan(args.size, json.loads(args.standby)
                                                                     | {"seed": args.seed}):
            simulation.kill()  # made ahead for other settings than the plan's
            simulation.wait()
            simulation = None
        if simulation is None and not pool_ready(Path(args.out) / SIM_POOL_FILE, n_sim, sim_seed):
            simulation = start_simulation(n_sim, sim_seed, Path(args.out) / SIM_POOL_FILE)  # while Keras loads
        data = data if data is not None else _load(args.data, args.size)
        lesson = run_lesson(data.images, np.array(display_ids(data.names)), plan, args.out, report=say,
                            simulation=simulation)
    except BaseException as exc:  # noqa: BLE001 - one line for the teacher page, the trace in the log
        traceback.print_exc()
        emit({"error": _plain(exc, log)})
        return 1
    finally:
        if simulation is not None and simulation.poll() is None:
            simulation.kill()
            simulation.wait()
    emit({"done": LESSON_FILE, "seconds": lesson["seconds"]})
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")  # an entry point: files only, no windows
    if hasattr(os, "nice"):
        os.nice(10)  # the class's votes come first: the server keeps its share of the CPU
    sys.exit(main())
