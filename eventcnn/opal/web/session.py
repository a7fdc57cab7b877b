"""One class session: the displays in memory, the store, the training job, the pictures.

:func:`open_session` loads the displays (zip or folder), opens or creates the
SQLite store, picks the displays to label the first time (what ``eventcnn opal suggest``
prints, :func:`eventcnn.opal.web.assign.choose_pool`; a restart with the same
database reuses them and skips the choice) and prepares the background
training. The web app (:mod:`eventcnn.opal.web.app`) only translates HTTP into
calls of :class:`ClassSession`. No FastAPI, no Keras here.

Example::

    s = open_session("centered-masked-rotated1.zip", "class.sqlite", n=50)
    sid = s.join("Ada")
    s.store.next_display(sid)
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.learn.registry import MASTERCLASS, check_input_size  # no Keras
from eventcnn.opal import pictures as classroom
from eventcnn.opal.displays import IMAGE_SIZE, load_displays
from eventcnn.opal.web.assign import capacity_note, choose_pool
from eventcnn.opal.web.store import ClassStore
from eventcnn.opal.web.training import FIGURES, TrainingJob

__all__ = ["ClassSession", "hints", "open_session"]


def hints() -> list[dict[str, str]]:
    """The hint card of the console labeller, per class: ``{code, word, key, hint}``.

    Example::

        >>> hints()[0]["word"]
        'hadronic'
    """
    return [{"code": c, "word": classroom.CLASS_WORDS[c], "key": c, "hint": classroom.HINTS[c]}
            for c in classroom.CLASS_CODES]


@dataclass
class ClassSession:
    """Displays, store and training job of a running class (see :func:`open_session`)."""

    images: np.ndarray
    names: np.ndarray
    store: ClassStore
    job: TrainingJob
    per_student: int = 10
    overlap: int = 2
    seed: int = 0
    _index: dict[str, int] = field(default_factory=dict)
    _png: dict[str, bytes] = field(default_factory=dict)
    _png_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        by_name = {str(n): i for i, n in enumerate(self.names)}
        self._index = {did: by_name[name] for did, name in self.store.pool()}

    def join(self, name: str) -> str:
        """Register a student; returns their id."""
        return self.store.add_student(name, per_student=self.per_student, overlap=self.overlap,
                                      seed=self.seed)

    def png(self, display_id: str) -> bytes | None:
        """The display as a fresh PNG (no metadata, no name), or None for an unknown id."""
        i = self._index.get(display_id)
        if i is None:
            return None
        with self._png_lock:
            data = self._png.get(display_id)
        if data is None:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(self.images[i]).save(buf, format="PNG", optimize=False)
            data = buf.getvalue()
            with self._png_lock:
                self._png[display_id] = data
        return data

    def capacity(self) -> str:
        """The capacity line (:func:`eventcnn.opal.web.assign.capacity_note`)."""
        return capacity_note(len(self._index), self.per_student, self.overlap)

    def figure(self, key: str) -> Path | None:
        """The file of a teacher picture by key (:data:`~eventcnn.opal.web.training.FIGURES`), if drawn."""

        name = FIGURES.get(key)
        if name is None or key not in self.job.status()["figures"]:
            return None
        path = self.job.out / name
        return path if path.is_file() else None


def _fingerprint(names: np.ndarray) -> str:
    return hashlib.sha256("\n".join(map(str, names)).encode()).hexdigest()[:32]


def open_session(data: str | os.PathLike[str], db: str | os.PathLike[str], n: int = 50,
                 per_student: int = 10, overlap: int = 2, seed: int = 0, size: int = IMAGE_SIZE,
                 out: str | os.PathLike[str] | None = None, *, quiet: bool = False,
                 **train_settings: Any) -> ClassSession:
    """Load the displays, open (or create) the store and choose the displays to label.

    ``n``: displays the class labels (chosen once, by ``opal suggest``);
    ``per_student``: displays each student gets; ``overlap``: students per
    display; ``out``: the training run folder (default ``<db>_run`` next to
    the database); ``train_settings`` go to the training (``epochs``, ...).

    Example::

        s = open_session("displays.zip", "class.sqlite", n=50, per_student=10)
    """
    if n < 1 or per_student < 1 or overlap < 1:
        raise UserError(f"--n, --per-student and --overlap must be at least 1, got {n}, {per_student}, {overlap}")
    size = check_input_size(MASTERCLASS, size)
    with warnings.catch_warnings():  # lists of unmatched names would give classes away
        warnings.simplefilter("ignore")
        loaded = load_displays(data, None, size=size, quiet=True)
    if len(loaded) == 0:
        raise UserError(f"{data}: no readable event displays")
    store = ClassStore(db)  # after the data are known good: no empty database for a wrong --data
    names = loaded.names
    fp = _fingerprint(names)
    pool = store.pool()
    if pool:
        if store.meta("data") != fp:
            raise UserError(f"{db} holds the labels of another set of displays; give the --data it "
                            "was made with, or a new --db file")
        if not quiet and store.meta("n") not in (None, str(n)):
            print(f"{db}: resuming the class of {len(pool)} displays (--n {n} ignored)")
    else:
        store.set_pool(choose_pool(data, n=n, seed=seed), fingerprint=fp)
        store.set_meta("n", str(n))
    out = Path(out) if out is not None else Path(db).with_name(Path(db).stem + "_run")
    job = TrainingJob(names, store, out=out, source=data, size=size, seed=seed + 1, data_dir=str(data),
                      **train_settings)
    return ClassSession(loaded.images, names, store, job, per_student=per_student, overlap=overlap,
                        seed=seed)
