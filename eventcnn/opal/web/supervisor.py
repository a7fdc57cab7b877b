"""The server's side of "Train now": start the training job, follow its progress, keep its result.

:class:`TrainingJob` writes the plan of a training into the run folder (the
class's label per display by opaque id, :mod:`eventcnn.opal.ids`; seed and
settings) and runs :mod:`eventcnn.opal.lesson_job` in a
child process (``python -m eventcnn.opal.lesson_job``) from a watcher thread.
Keras lives only there: the server's memory and interpreter lock stay free for
the class's votes, and the child runs at a lower priority. Progress comes back as
JSON lines (a stage code, a fraction, arguments: the pages translate them); the
result is the run folder's ``lesson.json`` (:data:`~eventcnn.opal.lesson_job.LESSON_FILE`),
which a restarted server shows again. :meth:`TrainingJob.prepare` (called when
``eventcnn class serve`` starts) makes the simulated displays of fine-tuning
ahead, in a low-priority process of their own, into the run folder: "Train now"
finds them ready.

No FastAPI, no Keras.

Example::

    job = TrainingJob(store, out="class_run", source="displays.zip", seed=1, settings={"epochs": 12})
    job.prepare()   # when the class starts: the simulated displays, made ahead
    job.start()
    job.status()    # {'state': 'running', 'stage': 'epoch', 'args': {'epoch': 3, 'epochs': 12}, ...}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from eventcnn._io import write_json_atomic, write_text_atomic
from eventcnn.errors import EventcnnError
from eventcnn.opal.displays import MIN_LABELS
from eventcnn.opal.ids import display_ids
from eventcnn.opal.web.store import ClassStore

__all__ = ["JOB_MODULE", "LABEL_FILE", "MIN_LABELS", "PLAN_FILE", "STATUS_FILE", "TrainingJob", "figure_file"]

#: the child process's module (outside ``eventcnn.opal.web``: it imports Keras)
JOB_MODULE = "eventcnn.opal.lesson_job"
#: what the last training left in the run folder (the pages show it again after a restart)
STATUS_FILE = "class_training.json"
#: the class's labels of the last training, in the run folder (label-file format, opaque ids)
LABEL_FILE = "class_labels.csv"
#: the plan the child reads
PLAN_FILE = "lesson_plan.json"
#: what the process making the simulated displays ahead said (its errors), in the run folder
PREPARE_LOG = "class_prepare.log"
#: seconds a training waits for the displays made ahead before making them itself
PREPARE_WAIT = 300
#: the lesson's result written by the child (``eventcnn.opal.lesson_job.LESSON_FILE``)
LESSON_FILE = "lesson.json"
_PREFIX = "@@eventcnn-class "  # eventcnn.opal.lesson_job.PREFIX


def figure_file(key: str) -> str | None:
    """The picture file of a figure key (``unsure0``..``unsure9``, ``occlusion0``..``occlusion9``), or None."""
    for prefix in ("unsure", "occlusion"):
        if key.startswith(prefix) and key[len(prefix):].isdigit() and len(key) == len(prefix) + 1:
            return f"{prefix}_{key[len(prefix):]}.png"
    return None


class TrainingJob:
    """One background training at a time on the class's labels (see the module docstring).

    ``out``: the run folder (rewritten by each training); ``source``: the
    displays (read at ``size`` pixels by the child); ``settings``: for
    :func:`eventcnn.opal.masterclass` (``epochs``, ...). Every display without a
    class label (the example and practice displays too: the class did not label
    them) is classified by the CNN and measured.
    """

    def __init__(self, store: ClassStore, out: str | os.PathLike[str], source: str | os.PathLike[str],
                 size: int = 200, seed: int = 1, settings: dict[str, Any] | None = None,
                 n_unsure: int = 6, n_occlusion: int = 3) -> None:
        self.store = store
        self.out = Path(out)
        self.source = Path(source)
        self.size = int(size)
        self.seed = int(seed)
        self.settings = dict(settings or {})
        self.n_unsure, self.n_occlusion = int(n_unsure), int(n_occlusion)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._prepare: subprocess.Popen | None = None
        self._stopped = False  # the server is closing: nothing new is started
        self._state: dict[str, Any] = {"state": "idle", "stage": "idle", "args": {}, "fraction": 0.0,
                                       "error": None, "runs": 0}
        self._lesson: dict[str, Any] | None = None
        self._resume()

    def _resume(self) -> None:
        """Show the last finished training of this run folder again (after a server restart)."""
        try:
            saved = json.loads((self.out / STATUS_FILE).read_text(encoding="utf-8"))
            lesson = json.loads((self.out / LESSON_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(saved, dict) and saved.get("state") == "done" and isinstance(lesson, dict):
            self._lesson = lesson
            self._state.update(state="done", stage="done", fraction=1.0, runs=int(saved.get("runs", 1)),
                               finished=saved.get("finished"))

    def status(self) -> dict[str, Any]:
        """A copy of the job's state: ``state`` idle/running/done/failed, ``stage`` (a code), ``args``, ``fraction``, ``runs``."""
        with self._lock:
            return dict(self._state)

    def lesson(self) -> dict[str, Any] | None:
        """The last finished training's ``lesson.json`` (None before the first)."""
        with self._lock:
            return self._lesson

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._state.update(kw)

    def labels(self) -> dict[str, str]:
        """The class's label per opaque display id (majority of the votes; ties and skips: none)."""
        table = self.store.labels()
        names = list(table)
        return {i: table[n] for i, n in zip(display_ids(names), names)}

    def start(self) -> bool:
        """Start training in the background; False when one is running already."""
        with self._lock:
            if self._state["state"] == "running":
                return False
            self._state.update(state="running", stage="starting", args={}, fraction=0.0, error=None,
                               started=time.time())
            self._thread = threading.Thread(target=self._run, name="eventcnn-class-training", daemon=True)
            self._thread.start()
        return True

    def prepare(self) -> bool:
        """Start making what a training needs before any "Train now": the simulated displays of fine-tuning.

        ``python -m eventcnn.opal.lesson_job --prepare`` runs in a process of its
        own at low priority and writes them into the run folder (nothing when they
        are there already, made for the same settings); a training waits for it
        and then finds them. False when it runs already or the server is closing.
        """
        with self._lock:
            if self._stopped or (self._prepare is not None and self._prepare.poll() is None):
                return False
            self.out.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", JOB_MODULE, "--prepare", json.dumps(self.settings), "--out", str(self.out),
                   "--seed", str(self.seed), "--size", str(self.size)]
            with open(self.out / PREPARE_LOG, "w", encoding="utf-8") as log:
                self._prepare = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=self._env())
        return True

    def _env(self) -> dict[str, str]:
        return {**os.environ, "EVENTCNN_QUIET": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}

    def _wait_prepared(self) -> None:
        """A training starts once the displays made ahead are there (or their process has given up)."""
        prep = self._prepare
        if prep is None:
            return
        try:
            prep.wait(PREPARE_WAIT)
        except subprocess.TimeoutExpired:  # the training makes them itself
            prep.kill()
            prep.wait()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running training (tests, benchmarks)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """End a running training (server shutdown): the child is terminated, nothing is left running."""
        with self._lock:
            self._stopped = True
        for proc in (self._prepare, self._proc):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.join(10)

    def _run(self) -> None:
        try:
            labels = self.labels()
            if len(labels) < MIN_LABELS:
                raise _Failed(f"only {len(labels)} displays have a class label (the majority of their votes); "
                              f"at least {MIN_LABELS} are needed: let the class label more first")
            lesson = self._train_in_subprocess(labels)
        except _Failed as exc:
            self._set(state="failed", stage="failed", error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown on the teacher page in plain words, the server goes on
            self._set(state="failed", stage="failed", error=f"the training could not start: {exc}")
            return
        with self._lock:
            runs = self._state["runs"] + 1
            self._lesson = lesson
        finished = time.time()
        self._set(state="done", stage="done", args={}, fraction=1.0, runs=runs, finished=finished)
        write_json_atomic(self.out / STATUS_FILE, {"state": "done", "runs": runs, "finished": finished})

    def _train_in_subprocess(self, labels: dict[str, str]) -> dict[str, Any]:
        """Run :mod:`eventcnn.opal.lesson_job` (own memory, own interpreter lock) and read ``lesson.json``."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._wait_prepared()
        write_text_atomic(self.out / LABEL_FILE, "".join(f"{i}.png;{c}\n" for i, c in sorted(labels.items())))
        plan = {"labels": labels, "seed": self.seed, "settings": self.settings, "n_unsure": self.n_unsure,
                "n_occlusion": self.n_occlusion}
        write_json_atomic(self.out / PLAN_FILE, plan)
        cmd = [sys.executable, "-m", JOB_MODULE, "--data", str(self.source), "--plan", str(self.out / PLAN_FILE),
               "--out", str(self.out), "--size", str(self.size)]
        env = self._env()
        log_path = self.out / "class_training.log"
        message: dict[str, Any] = {}
        with open(log_path, "w", encoding="utf-8") as log:
            self._proc = proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
            assert proc.stdout is not None
            for line in proc.stdout:
                if not line.startswith(_PREFIX):
                    continue
                try:
                    msg = json.loads(line[len(_PREFIX):])
                except ValueError:
                    continue
                if "stage" in msg:
                    self._set(stage=str(msg["stage"]), args=dict(msg.get("args") or {}),
                              fraction=float(msg.get("fraction", 0.0)))
                else:
                    message = msg
            code = proc.wait()
        self._proc = None
        if message.get("error"):
            raise _Failed(str(message["error"]))
        if code != 0 or "done" not in message:
            why = "it was stopped" if code < 0 else f"exit code {code}"
            raise _Failed(f"the training process ended without a result ({why}); the details are in {log_path}")
        try:
            return json.loads((self.out / LESSON_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _Failed(f"the training's result {self.out / LESSON_FILE} cannot be read ({exc})") from None


class _Failed(EventcnnError):
    """A training that failed, with the sentence the teacher reads."""
