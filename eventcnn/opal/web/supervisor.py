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

    job = TrainingJob(store, out="class_run", source="displays.zip", seed=1, settings={"epochs": 4})
    job.prepare()   # when the class starts: its process waits ready (simulated displays, Keras)
    job.start()
    job.status()    # {"state": "running", "stage": "epoch", "args": {"epoch": 3, "epochs": 4}, ...}
"""

from __future__ import annotations

import contextlib
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
#: what the process on standby says (its errors) until it trains, in the run folder
STANDBY_LOG = "class_standby.log"
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
        self._standby: subprocess.Popen | None = None  # the next training's process, made ready (prepare)
        self._stopped = False  # the server is closing: nothing new is started
        self._standby_wanted = False  # prepare() was called: keep a process on standby after each training
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
        """Start the next training's process on standby, so that "Train now" need not wait for it.

        ``python -m eventcnn.opal.lesson_job --standby`` runs at low priority: it
        makes the simulated displays of fine-tuning into the run folder (kept for
        later trainings with the same settings), loads Keras and the displays,
        then waits for a plan. A training hands its plan to it (or starts a fresh
        process when it is gone). False when one is waiting already or the server
        is closing.
        """
        with self._lock:
            self._standby_wanted = True
            if self._stopped or (self._standby is not None and self._standby.poll() is None):
                return False
            self.out.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", JOB_MODULE, "--standby", json.dumps(self.settings), "--data",
                   str(self.source), "--out", str(self.out), "--seed", str(self.seed), "--size", str(self.size)]
            with open(self.out / STANDBY_LOG, "w", encoding="utf-8") as log:
                self._standby = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                                 text=True, env=self._env())
        return True

    def _env(self) -> dict[str, str]:
        return {**os.environ, "EVENTCNN_QUIET": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}

    def _take_standby(self, plan: Path) -> subprocess.Popen | None:
        """The process on standby, handed ``plan``; None when there is none (or it has ended)."""
        with self._lock:
            proc, self._standby = self._standby, None
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return None
        try:
            proc.stdin.write(f"{plan}\n")
            proc.stdin.close()
        except OSError:  # it ended meanwhile: a fresh process instead
            proc.wait()
            return None
        return proc

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running training (tests, benchmarks)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """End a running training (server shutdown): the child is terminated, nothing is left running."""
        with self._lock:
            self._stopped = True
        for proc in (self._standby, self._proc):
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
            self._run_once()
        finally:
            if self._standby_wanted:  # the next "Train now" finds its process ready too
                self.prepare()

    def _run_once(self) -> None:
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
        write_text_atomic(self.out / LABEL_FILE, "".join(f"{i}.png;{c}\n" for i, c in sorted(labels.items())))
        plan = {"labels": labels, "seed": self.seed, "settings": self.settings, "n_unsure": self.n_unsure,
                "n_occlusion": self.n_occlusion}
        write_json_atomic(self.out / PLAN_FILE, plan)
        cmd = [sys.executable, "-m", JOB_MODULE, "--data", str(self.source), "--plan", str(self.out / PLAN_FILE),
               "--out", str(self.out), "--size", str(self.size)]
        log_path = self.out / "class_training.log"
        message: dict[str, Any] = {}
        proc = self._take_standby(self.out / PLAN_FILE)
        with contextlib.ExitStack() as stack:
            if proc is None:
                log = stack.enter_context(open(log_path, "w", encoding="utf-8"))
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=self._env())
            else:  # it writes to its own log: the training's log from now on
                with contextlib.suppress(OSError):
                    os.replace(self.out / STANDBY_LOG, log_path)
            self._proc = proc
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
