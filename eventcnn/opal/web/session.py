"""One class session: settings checked at start, the displays in memory, the store, the training, the result.

:func:`open_session` validates every option before anything is written (a
mistake is one line at start, never at "Train now" in front of the class), takes
the database's lock (:class:`ServerLock`: a second server on the same file is
refused with the first one's address), loads the displays (zip or folder),
opens or creates the SQLite store, picks the displays to label the first time
(what ``eventcnn opal suggest`` prints, :func:`eventcnn.opal.web.assign.choose_pool`;
a restart reuses them) and, with the answer key, example and practice displays
outside that pool. The web app (:mod:`eventcnn.opal.web.app`) only translates
HTTP into calls of :class:`ClassSession`. No FastAPI, no Keras here.

Example::

    s = open_session("centered-masked-rotated1.zip", "class.sqlite", students=25)
    sid = s.join("Ada")
    s.next_display(sid)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError, check_output
from eventcnn.opal.displays import load_displays, read_labels
from eventcnn.opal.ids import display_ids, resolve
from eventcnn.opal.web.assign import capacity_note, choose_pool
from eventcnn.opal.web.results import lesson_curves, lesson_results, public_view
from eventcnn.opal.web.settings import DEFAULTS, LessonSettings
from eventcnn.opal.web.store import CLASS_CODES, ClassStore
from eventcnn.opal.web.supervisor import LABEL_FILE, TrainingJob, figure_file

__all__ = ["DEFAULTS", "ClassSession", "LessonSettings", "ServerLock", "open_session"]


#: how often the session checkpoints the database, watches its file and frees idle students' displays
TICK_SECONDS = 5.0


class ServerLock:
    """An exclusive lock on a class database, held while a server runs (``<db>.lock`` beside it).

    The lock file records the first server's students' address and process id,
    so a second server is refused with them. The operating system drops the
    lock when the process dies (``flock``), so a killed server never blocks.
    """

    def __init__(self, db: str | os.PathLike[str], address: str = "") -> None:
        self.path = Path(str(db) + ".lock")
        self._fh: Any = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the server's life
        try:
            _lock_file(self._fh)
        except OSError:
            self._fh.seek(0)
            try:
                info = json.loads(self._fh.read() or "{}")
            except ValueError:
                info = {}
            self._fh.close()
            where = info.get("address") or "an address not recorded"
            raise UserError(f"{db} is in use by another `eventcnn class serve` (process {info.get('pid', '?')}, "
                            f"students at {where}); use that server, stop it first, or give another --db") from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(json.dumps({"pid": os.getpid(), "address": address, "since": time.time()}))
        self._fh.flush()

    def release(self) -> None:
        """Give the lock back and remove the lock file."""
        if self._fh is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._fh.close()
        self._fh = None


def _lock_file(fh: Any) -> None:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


@dataclass
class ClassSession:
    """Displays, store, training and result of a running class (see :func:`open_session`)."""

    images: np.ndarray
    names: np.ndarray
    store: ClassStore
    job: TrainingJob
    settings: LessonSettings = field(default_factory=LessonSettings)
    reference: dict[str, str] | None = None
    originals: Callable[[str], np.ndarray | None] | None = None
    lock: ServerLock | None = None
    _index: dict[str, int] = field(default_factory=dict)
    _png: dict[str, bytes] = field(default_factory=dict)
    _png_lock: threading.Lock = field(default_factory=threading.Lock)
    _results: dict[str, Any] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ticker: threading.Thread | None = None

    def __post_init__(self) -> None:
        by_name = {str(n): i for i, n in enumerate(self.names)}
        self._index = {did: by_name[name] for did, name in self.store.pool()}
        self._index.update({e["id"]: by_name[e["name"]] for e in self.store.extras() if e["name"] in by_name})
        now = time.time()  # a restart: everyone who joined before counts as seen now
        for (sid,) in self.store._all("SELECT id FROM students WHERE removed=0"):
            self.store.last_seen.setdefault(sid, now)

    # -- students ------------------------------------------------------------------
    @property
    def per_student(self) -> int:
        return self.settings.per_student

    def join(self, name: str) -> str:
        """Register a student (bounded by ``max_students``); returns their id."""
        self.store.release_idle(self.settings.idle)
        return self.store.add_student(name, per_student=self.settings.per_student, overlap=self.settings.overlap,
                                      seed=self.settings.seed, max_students=self.settings.max_students)

    def next_display(self, sid: str) -> dict[str, Any]:
        """The student's next display (topped up when their unanswered ones were given back)."""
        return self.store.next_display(sid, per_student=self.settings.per_student, overlap=self.settings.overlap,
                                       seed=self.settings.seed)

    def lesson(self) -> dict[str, Any]:
        """The learning step: example displays with their class, practice displays (without)."""
        return {"examples": [{"display": e["id"], "label": e["label"]} for e in self.store.extras("example")],
                "practice": [e["id"] for e in self.store.extras("practice")]}

    # -- pictures ------------------------------------------------------------------
    def png(self, display_id: str) -> bytes | None:
        """The display as a fresh PNG (no metadata, no name), or None for an unknown id.

        The full-resolution original where :attr:`originals` gives one (a
        function of the event name), else the display as loaded: the page scales
        it by whole numbers only, never blurred.
        """
        i = self._index.get(display_id)
        if i is None:
            return None
        with self._png_lock:
            data = self._png.get(display_id)
        if data is None:
            from PIL import Image

            image = self.originals(str(self.names[i])) if self.originals is not None else None
            image = self.images[i] if image is None else np.asarray(image, dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, format="PNG", optimize=False)
            data = buf.getvalue()
            with self._png_lock:
                self._png[display_id] = data
        return data

    def figure(self, key: str) -> Path | None:
        """The file of a teacher picture by key (``unsure0``, ``occlusion1``, ...), if drawn."""
        name = figure_file(key)
        lesson = self.job.lesson()
        if name is None or lesson is None:
            return None
        known = {f["figure"] for f in lesson.get("unsure", []) + lesson.get("occlusion", [])}
        path = self.job.out / name
        return path if key in known and path.is_file() else None

    # -- the result ------------------------------------------------------------------
    def results(self) -> dict[str, Any] | None:
        """The physics result of the last training (with the answer key's scores when there is one)."""
        lesson = self.job.lesson()
        if lesson is None:
            return None
        key = f"{self.job.status()['runs']}:{id(lesson)}"
        if self._results.get("key") != key:
            ref = class_labels = None
            if self.reference is not None:
                ref = dict(zip(display_ids(list(self.reference)), self.reference.values()))
                class_labels = _read_label_ids(self.job.out / LABEL_FILE)
            self._results = {"key": key, "value": lesson_results(lesson, ref, class_labels)}
        return self._results["value"]

    def public_results(self) -> dict[str, Any] | None:
        """The result as the projector and the students see it (:func:`eventcnn.opal.web.results.public_view`)."""
        return public_view(self.results(), self.job.lesson())

    def curves(self) -> dict[str, Any] | None:
        """The learning curves of the last training (:func:`eventcnn.opal.web.results.lesson_curves`)."""
        lesson = self.job.lesson()
        return None if lesson is None else lesson_curves(lesson)

    def capacity(self) -> dict[str, Any]:
        """How the displays are shared: displays, per student, overlap, room, the line for the terminal."""
        n = len(self.store.pool())
        s = self.settings
        return {"displays": n, "per_student": s.per_student, "overlap": s.overlap, "students": s.students,
                "room": n * s.overlap // s.per_student, "max_students": s.max_students,
                "line": capacity_note(n, s.per_student, s.overlap)}

    # -- running ---------------------------------------------------------------------
    def tick(self) -> None:
        """Housekeeping: notice a vanished database, checkpoint it, give idle students' displays back."""
        if self.store.check_file():
            return
        self.store.checkpoint()
        self.store.release_idle(self.settings.idle)

    def start(self) -> None:
        """Start the housekeeping thread (every :data:`TICK_SECONDS`)."""
        if self._ticker is not None:
            return

        def loop() -> None:
            while not self._stop.wait(TICK_SECONDS):
                with contextlib.suppress(Exception):  # housekeeping never takes the server down
                    self.tick()

        self._ticker = threading.Thread(target=loop, name="eventcnn-class-housekeeping", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        """Stop everything: the training child, the housekeeping, the database (log emptied), the lock."""
        self._stop.set()
        self.job.stop()
        if self._ticker is not None:
            self._ticker.join(10)
            self._ticker = None
        with contextlib.suppress(Exception):
            self.store.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _read_label_ids(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return {name[:-4] if name.endswith(".png") else name: label
            for name, _, label in (line.partition(";") for line in lines) if label}


def _fingerprint(names: np.ndarray) -> str:
    return hashlib.sha256("\n".join(map(str, names)).encode()).hexdigest()[:32]


def _reference(path: str | os.PathLike[str], names: np.ndarray) -> dict[str, str]:
    """The answer key by event name (``opal ids`` tables and id label files resolved); must match the displays."""
    table = resolve(read_labels(path), [str(n) for n in names])
    known = {str(n) for n in names}
    ref = {k[:-4] if k.endswith(".png") else k: v for k, v in table.items()}
    ref = {k: v for k, v in ref.items() if k in known}
    if not ref:
        raise UserError(f"--reference {path}: none of its events is among the displays of --data; give the "
                        "answer key of these displays")
    return ref


def _extras(reference: dict[str, str], pool: set[str], settings: LessonSettings) -> tuple[list, list]:
    """Example displays (per class) and practice displays (one of each class first) outside the pool, seeded."""
    rng = np.random.default_rng([settings.seed, 0xE8])
    by_class = {c: sorted(n for n, v in reference.items() if v == c and n not in pool) for c in CLASS_CODES}
    for c in CLASS_CODES:
        rng.shuffle(by_class[c])
    examples = [(n, c) for c in CLASS_CODES for n in by_class[c][: settings.examples]]
    rest = {c: by_class[c][settings.examples:] for c in CLASS_CODES}
    practice: list[tuple[str, str]] = []
    while len(practice) < settings.practice and any(rest.values()):
        for c in CLASS_CODES:
            if rest[c] and len(practice) < settings.practice:
                practice.append((rest[c].pop(0), c))
    order = rng.permutation(len(practice))
    return examples, [practice[i] for i in order]


def check_paths(data: str | os.PathLike[str], db: str | os.PathLike[str], out: Path,
                reference: str | os.PathLike[str] | None) -> None:
    """Refuse, at start, a run folder that is an input or holds one, and a database that is an input."""
    inputs = [p for p in (data, reference) if p is not None]
    check_output(db, inputs=inputs, overwrite=True, flag="--db")  # a database may exist (resume); never an input
    check_output(out, inputs=[*inputs, db], folder=True, flag="--out",
                 hint="the run folder is rewritten by every training")
    res_out = out.resolve()
    for item in [*inputs, db]:
        if Path(item).resolve().is_relative_to(res_out):
            raise UserError(f"--out {out} holds {item}: every training rewrites the run folder; "
                            "choose a run folder of its own (the default is <db>_run)")


def open_session(data: str | os.PathLike[str], db: str | os.PathLike[str], *,
                 out: str | os.PathLike[str] | None = None, reference: str | os.PathLike[str] | None = None,
                 address: str = "", lock: bool = True, quiet: bool = False,
                 originals: Callable[[str], np.ndarray | None] | None = None,
                 train_settings: dict[str, Any] | None = None, **options: Any) -> ClassSession:
    """Check the options, lock the database, load the displays, open the store, choose the displays to label.

    ``options``: the fields of :class:`LessonSettings` (``students``,
    ``per_student``, ``overlap``, ``n``, ``seed``, ``size``, ``epochs``, ``idle``,
    ...). ``out``: the training run folder (default ``<db>_run`` next to the
    database); ``reference``: the answer key (teacher only: examples, practice,
    and the class and CNN scored against it); ``address``: the students' address,
    recorded in the lock; ``originals``: a function giving the full-resolution
    original display of an event name (or None), served instead of the
    loaded one; ``train_settings``: more settings for the training.

    Example::

        s = open_session("displays.zip", "class.sqlite", students=25, reference="events_list.csv")
    """
    settings = LessonSettings(**options)
    out = Path(out) if out is not None else Path(db).with_name(Path(db).stem + "_run")
    if not Path(data).exists():
        raise UserError(f"{data} not found: give the zip or folder of OPAL event displays (--data)")
    check_paths(data, db, out, reference)
    server_lock = ServerLock(db, address) if lock else None
    try:
        return _open(data, db, out, reference, settings, server_lock, quiet, originals, train_settings or {})
    except BaseException:
        if server_lock is not None:
            server_lock.release()
        raise


def _has_pool(db: Any) -> bool:
    """Whether ``db`` already holds a class's displays (read-only look; False when in doubt)."""
    import sqlite3

    path = Path(db)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return bool(con.execute("SELECT COUNT(*) FROM displays").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return False


def _load(data: Any, size: int) -> Any:
    with warnings.catch_warnings():  # lists of unmatched names would give classes away
        warnings.simplefilter("ignore")
        return load_displays(data, None, size=size, quiet=True)


def _load_and_choose(data: Any, db: Any, settings: LessonSettings) -> tuple[Any, list[str] | None]:
    """The displays, and for a new class the choice of displays to label, made at the same time.

    Decoding the displays (which lets go of the interpreter lock) runs in a
    thread while ``opal suggest``'s choice runs here: a new class starts in
    about the time of the longer of the two, not their sum.
    """
    if _has_pool(db):
        return _load(data, settings.size), None
    box: dict[str, Any] = {}

    def load() -> None:
        try:
            box["loaded"] = _load(data, settings.size)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller below
            box["error"] = exc

    thread = threading.Thread(target=load, name="eventcnn-class-load", daemon=True)
    thread.start()
    try:
        pool = choose_pool(data, n=int(settings.n or 1), seed=settings.seed)
    finally:
        thread.join()
    if "error" in box:
        raise box["error"]
    return box["loaded"], pool


def _open(data: Any, db: Any, out: Path, reference: Any, settings: LessonSettings, server_lock: ServerLock | None,
          quiet: bool, originals: Any, train_settings: dict[str, Any]) -> ClassSession:
    try:
        loaded, chosen = _load_and_choose(data, db, settings)
    except UserError:
        raise
    except ValueError as exc:  # suggest's words for a data set it cannot use
        raise UserError(f"{data}: {exc}") from exc
    if len(loaded) == 0:
        raise UserError(f"{data}: no readable event displays")
    if msg := loaded.report.unreadable_message(data):  # broken files never pass silently
        warnings.warn(msg, UserWarning, stacklevel=3)
    names = loaded.names
    ref = _reference(reference, names) if reference is not None else None
    store = ClassStore(db)  # after the data are known good: no empty database for a wrong --data
    try:
        fp = _fingerprint(names)
        pool = store.pool()
        if pool:
            if store.meta("data") != fp:
                raise UserError(f"{db} holds the labels of another set of displays; give the --data it "
                                "was made with, or a new --db file")
            if not quiet and store.meta("n") not in (None, str(settings.n)):
                print(f"{db}: resuming the class of {len(pool)} displays (--students/--n ignored)")
        else:
            if chosen is None:  # the database's pool vanished between the look and the opening
                chosen = choose_pool(data, n=int(settings.n or 1), seed=settings.seed)
            store.set_pool(chosen, fingerprint=fp)
            store.set_meta("n", str(settings.n))
        if ref is not None:
            store.set_extras(*_extras(ref, {n for _, n in store.pool()}, settings))
        store.set_meta("run", str(out.resolve()))
        store.set_meta("settings", json.dumps(asdict(settings)))
    except BaseException:
        store.close()
        raise
    job = TrainingJob(store, out=out, source=data, size=settings.size, seed=settings.seed + 1,
                      settings={"epochs": settings.epochs, **train_settings})
    return ClassSession(loaded.images, names, store, job, settings=settings, reference=ref, originals=originals,
                        lock=server_lock)
