"""Train the masterclass CNN on the class's labels in the background, with progress for the teacher.

:class:`TrainingJob` runs :func:`train_and_draw` in a child process
(``python -m eventcnn.opal.web.training``, started and watched from a thread):
:func:`eventcnn.opal.masterclass` (the workflow of ``eventcnn opal train``) on
the majority label of every display the class answered, then the pictures the
teacher page shows: the overview
against the Z expectation, the class-vs-CNN confusion matrix (the displays the
class labelled, the CNN's test-time-augmented answer), the displays the CNN is
least sure about, and occlusion maps of three of them. :meth:`TrainingJob.status`
says the stage and the fraction done at any time (an epoch counter feeds it).

Keras is imported only in the child process: importing this module is cheap
(the server starts fast), and the server's memory stays small while and after
the CNN trains.

Example::

    job = TrainingJob(data.names, store, out="class_run", source="displays.zip", seed=1)
    job.start()
    job.status()    # {'state': 'running', 'stage': 'training: epoch 3 of 12', 'fraction': 0.3, ...}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._io import write_json_atomic, write_text_atomic
from eventcnn.errors import UserError
from eventcnn.opal import pictures as classroom
from eventcnn.opal.displays import CLASS_NAMES, IMAGE_SIZE, MIN_LABELS, load_displays
from eventcnn.opal.physics import predicted_overview
from eventcnn.opal.tta import predict_tta
from eventcnn.opal.web.store import ClassStore
from eventcnn.opal.weights import default_weights
from eventcnn.opal.workflow import masterclass

__all__ = ["FIGURES", "LABEL_FILE", "MIN_LABELS", "STATUS_FILE", "TrainingJob", "pretrained_settings",
           "train_and_draw"]

#: the teacher page's pictures: key -> file in the run folder
FIGURES = {
    "overview": "overview.png",
    "confusion": "class_vs_cnn.png",
    "unsure": "least_sure.png",
    "occlusion": "occlusion_maps.png",
    "curves": "learning_curves.png",
}
#: what the last training left in the run folder (the teacher page shows it again after a restart)
STATUS_FILE = "class_training.json"
#: the class's labels of the last training, in the run folder (the masterclass label format)
LABEL_FILE = "class_labels.csv"
_PREFIX = "@@eventcnn-class "
#: share of the progress bar taken by the epochs (the rest: predicting and the pictures)
_TRAIN_SHARE = 0.7


def pretrained_settings(size: int = IMAGE_SIZE) -> tuple[dict[str, Any], str]:
    """Settings that start the OPAL CNN from the shipped simulation-pretrained weights, when they fit.

    Returns ``(settings for opal.masterclass, a sentence for the teacher)``: the
    weights of ``eventcnn opal pretrain`` shipped in :mod:`eventcnn.opal.weights`
    (sha256-checked) when they are installed and made for ``size`` x ``size``
    displays; otherwise ``({}, why not)``.
    """
    weights, said = default_weights(size)
    return ({"weights": weights} if weights != "none" else {}), said


class TrainingJob:
    """One background training at a time on the class's labels (see the module docstring).

    ``out``: the run folder (rewritten by each training); ``settings`` go to
    :func:`eventcnn.opal.masterclass` (``epochs``, ...); ``n_unsure``: displays
    in the least-sure picture, the first ``n_occlusion`` of them get occlusion maps.
    ``source``: the zip or folder of the displays (read at ``size`` pixels by
    the training process). The training runs in a child process started from a
    thread: its own memory (given back when it ends) and its own interpreter
    lock, so the web server stays responsive.
    """

    def __init__(self, names: np.ndarray, store: ClassStore, out: str | os.PathLike[str],
                 source: str | os.PathLike[str], size: int = IMAGE_SIZE, seed: int = 1, n_unsure: int = 6,
                 n_occlusion: int = 3, **settings: Any) -> None:
        self.source = source
        self.size = size
        self.names = np.asarray(names)
        self.store = store
        self.out = Path(out)
        self.seed = seed
        self.n_unsure = n_unsure
        self.n_occlusion = n_occlusion
        self.settings = settings
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state: dict[str, Any] = {"state": "idle", "stage": "not trained yet", "fraction": 0.0,
                                       "error": None, "figures": [], "summary": None, "runs": 0}
        self._resume()

    def _resume(self) -> None:
        """Show the last finished training of this run folder again (after a server restart)."""
        path = self.out / STATUS_FILE
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(saved, dict) and saved.get("state") == "done":
            figures = [k for k in saved.get("figures", []) if k in FIGURES and (self.out / FIGURES[k]).is_file()]
            self._state.update(state="done", stage="done (before the restart)", fraction=1.0,
                               figures=figures, summary=saved.get("summary"), runs=int(saved.get("runs", 1)))

    def status(self) -> dict[str, Any]:
        """A copy of the job's state: ``state`` idle/running/done/failed, ``stage``, ``fraction``, ..."""
        with self._lock:
            return dict(self._state)

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._state.update(kw)

    def start(self) -> bool:
        """Start training in a thread; False when one is running already."""
        with self._lock:
            if self._state["state"] == "running":
                return False
            self._state.update(state="running", stage="starting", fraction=0.0, error=None,
                               started=time.time())
            self._thread = threading.Thread(target=self._run, name="eventcnn-class-training", daemon=True)
            self._thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running training (tests, benchmarks)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def labels(self) -> np.ndarray:
        """The class's label per display (``""`` for none), aligned with ``names``."""
        table = self.store.labels()
        return np.array([table.get(str(n), "") for n in self.names], dtype="<U1")

    def _run(self) -> None:
        try:
            labels = self.labels()
            n = int((labels != "").sum())
            if n < MIN_LABELS:
                raise UserError(f"only {n} displays have a class label (majority of the votes); "
                                 f"at least {MIN_LABELS} are needed: label more first")
            figures, summary = self._train_in_subprocess(labels)
        except Exception as exc:  # noqa: BLE001 - shown on the teacher page, the server goes on
            self._set(state="failed", stage="failed", error=f"{type(exc).__name__}: {exc}",
                      trace=traceback.format_exc(limit=5))
            return
        with self._lock:
            runs = self._state["runs"] + 1
        self._set(state="done", stage="done", fraction=1.0, figures=figures, summary=summary,
                  runs=runs, finished=time.time())
        write_json_atomic(self.out / STATUS_FILE, {"state": "done", "figures": figures, "summary": summary,
                                                  "runs": runs})

    def _report(self, stage: str, fraction: float) -> None:
        self._set(stage=stage, fraction=float(fraction))

    def _train_in_subprocess(self, labels: np.ndarray) -> tuple[list[str], dict[str, Any]]:
        """Run :func:`train_and_draw` in ``python -m eventcnn.opal.web.training`` (own memory, own GIL).

        The labels go as a label file (``class_labels.csv`` in the run folder),
        progress and the result come back as JSON lines on stdout; TensorFlow's
        log goes to ``class_training.log`` there.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        label_file = self.out / LABEL_FILE
        write_text_atomic(label_file, "".join(f"{n}.png;{c}\n" for n, c in zip(self.names, labels) if c))
        cmd = [sys.executable, "-m", "eventcnn.opal.web.training", "--data", str(self.source),
               "--labels", str(label_file), "--out", str(self.out), "--size", str(self.size),
               "--seed", str(self.seed), "--n-unsure", str(self.n_unsure),
               "--n-occlusion", str(self.n_occlusion), "--settings", json.dumps(self.settings)]
        env = {**os.environ, "EVENTCNN_QUIET": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        result: dict[str, Any] = {}
        with open(self.out / "class_training.log", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
            assert proc.stdout is not None
            for line in proc.stdout:
                if not line.startswith(_PREFIX):
                    continue
                msg = json.loads(line[len(_PREFIX):])
                if "stage" in msg:
                    self._report(msg["stage"], msg["fraction"])
                else:
                    result = msg
            code = proc.wait()
        if result.get("error"):
            raise RuntimeError(result["error"])
        if code != 0 or "figures" not in result:
            raise RuntimeError(f"the training process ended with exit code {code}; "
                               f"see {self.out / 'class_training.log'}")
        return list(result["figures"]), dict(result["summary"])


def train_and_draw(images: np.ndarray, names: np.ndarray, labels: np.ndarray, out: str | os.PathLike[str], *,
                   seed: int = 1, report: Any = None, n_unsure: int = 6, n_occlusion: int = 3,
                   **settings: Any) -> tuple[list[str], dict[str, Any]]:
    """Train on the class's ``labels`` (:func:`eventcnn.opal.masterclass`), draw the teacher's pictures.

    ``report(stage, fraction)`` is called as the work goes on. Returns the
    keys of the pictures drawn in ``out`` (:data:`FIGURES`) and a summary.

    Example::

        figures, summary = train_and_draw(data.images, data.names, class_labels, "class_run", epochs=2)
    """

    out = Path(out)
    say = report or (lambda stage, fraction: None)
    say("loading the network", 0.02)
    n = int((labels != "").sum())
    extra, pretrained = pretrained_settings(int(images.shape[1]))
    settings = {"seed": seed, **extra, **settings}

    class Progress(_keras_callback()):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            total = max(1, int(self.params.get("epochs") or 1))
            say(f"training: epoch {epoch + 1} of at most {total}", 0.05 + _TRAIN_SHARE * (epoch + 1) / total)

    start = time.perf_counter()
    say("training", 0.05)
    mc = masterclass(images, labels, names, out=out, quiet=True, sources={"pretrained": pretrained},
                     callbacks=[Progress()], **settings)
    seconds = time.perf_counter() - start
    say("drawing the pictures", 0.8)
    figures = []
    if len(mc.pred):
        classroom.save(classroom.overview_figure(predicted_overview(mc.pred)), out / FIGURES["overview"])
        figures.append("overview")
    lab = mc.train_mask
    class_probs = predict_tta(mc.result.model, images[lab], copies=mc.tta_copies)  # as the rest
    cnn = np.array(CLASS_NAMES)[class_probs.argmax(axis=1)]
    classroom.save(_class_vs_cnn(_confusion(labels[lab], cnn)), out / FIGURES["confusion"])
    figures.append("confusion")
    if len(mc.pred):
        top = np.sort(mc.probs, axis=1)
        order = np.argsort(top[:, -1] - top[:, -2], kind="stable")[:n_unsure]
        rest_idx = np.flatnonzero(mc.rest)
        unsure = [(int(rest_idx[i]), mc.probs[i]) for i in order]
        classroom.save(_unsure_figure(images, unsure), out / FIGURES["unsure"])
        figures.append("unsure")
        say("occlusion maps", 0.88)
        classroom.save(_occlusion_figure(mc.result.model, images, unsure[:n_occlusion]), out / FIGURES["occlusion"])
        figures.append("occlusion")
    if mc.history_png is not None and Path(mc.history_png).is_file():
        figures.append("curves")
    agree = float(np.mean(cnn == labels[lab])) if lab.any() else None
    summary = {"labels": n, "per_class": {c: int((labels == c).sum()) for c in CLASS_NAMES},
               "classified": int(mc.rest.sum()), "seconds": round(seconds, 1),
               "cnn_agrees_with_class": agree, "pretrained": pretrained,
               "predicted": {c: int((mc.pred == c).sum()) for c in CLASS_NAMES}}
    return figures, summary


def _keras_callback() -> type:
    import keras

    return keras.callbacks.Callback


def _confusion(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    k = len(CLASS_NAMES)
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(truth, pred):
        cm[CLASS_NAMES.index(t), CLASS_NAMES.index(p)] += 1
    return cm


def _class_vs_cnn(cm: np.ndarray) -> Any:
    fig = classroom.confusion_figure(cm, title="The class and the CNN on the class's displays")
    fig.axes[0].set_ylabel("the class says")
    return fig


def _caption(probs: np.ndarray) -> str:
    order = np.argsort(probs)[::-1]
    words = classroom.words([CLASS_NAMES[i] for i in order[:2]])
    return f"{words[0]} {100 * probs[order[0]]:.0f} % or\n{words[1]} {100 * probs[order[1]]:.0f} %?"


def _unsure_figure(images: np.ndarray, unsure: list[tuple[int, np.ndarray]]) -> Any:
    from matplotlib.figure import Figure

    cols = min(3, len(unsure))
    rows = -(-len(unsure) // cols)
    fig = Figure(figsize=(3.2 * cols, 3.5 * rows + 0.4), layout="constrained")
    fig.suptitle("The displays the CNN is least sure about")
    for k, (i, probs) in enumerate(unsure):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(images[i])
        ax.set_title(f"CNN: {_caption(probs)}", fontsize=10)
        ax.set_axis_off()
    return fig


def _occlusion_figure(model: Any, images: np.ndarray, picks: list[tuple[int, np.ndarray]]) -> Any:
    from matplotlib.figure import Figure

    from eventcnn.learn.explain import (  # deferred: Keras, only in the training process
        occlusion_map,
        plot_occlusion,
    )

    fig = Figure(figsize=(4.6 * len(picks), 4.9), layout="constrained")
    fig.suptitle("Where the CNN looks (red: covering this part lowers its answer)")
    for k, (i, probs) in enumerate(picks):
        target = int(np.argmax(probs))
        heat = occlusion_map(model, images[i], target=target)
        word = classroom.words([CLASS_NAMES[target]])[0]
        plot_occlusion(images[i], heat, title=f"CNN: {word} ({100 * probs[target]:.0f} %)",
                       ax=fig.add_subplot(1, len(picks), k + 1))
    return fig


def main(argv: list[str] | None = None) -> int:
    """The child process of :class:`TrainingJob`: progress and result as JSON lines on stdout."""
    import warnings


    p = argparse.ArgumentParser(prog="python -m eventcnn.opal.web.training")
    p.add_argument("--data", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=IMAGE_SIZE)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n-unsure", type=int, default=6)
    p.add_argument("--n-occlusion", type=int, default=3)
    p.add_argument("--settings", default="{}")
    args = p.parse_args(argv)

    def emit(msg: dict[str, Any]) -> None:
        print(_PREFIX + json.dumps(msg), flush=True)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_displays(args.data, args.labels, size=args.size, quiet=True)
        figures, summary = train_and_draw(data.images, data.names, data.labels, args.out, seed=args.seed,
                                          report=lambda stage, f: emit({"stage": stage, "fraction": f}),
                                          n_unsure=args.n_unsure, n_occlusion=args.n_occlusion,
                                          **json.loads(args.settings))
    except Exception as exc:  # noqa: BLE001 - reported to the teacher page in one line
        traceback.print_exc()
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit({"figures": figures, "summary": summary})
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")  # an entry point: files only, no windows
    sys.exit(main())
