"""The class's labels in SQLite: displays by opaque id, students, assignments, votes.

One file (``class.sqlite``) in WAL mode with ``synchronous=FULL``: every vote is
committed (and on disk) before :meth:`ClassStore.vote` returns, so the answer a
student sees means the vote is kept. :meth:`ClassStore.checkpoint` copies the
write-ahead log into the database file (the session does it every few seconds)
and :meth:`ClassStore.close` empties it (``wal_checkpoint(TRUNCATE)``), so after
any orderly stop the ``.sqlite`` file alone holds every vote. One vote per
(student, display); a vote carries a client-made id, and sending the same id
again (a double tap, a retried request) changes nothing. Displays are known to
the browser only by random ids (``secrets.token_urlsafe``), never by file name.

Tables: ``meta`` (teacher token, data fingerprint, settings), ``displays`` (the
pool the class labels: id, name, rank in the suggest order), ``extras`` (example
and practice displays with their known class, outside the pool), ``students``
(id, name, number, removed), ``assignments`` (student, position, display),
``votes`` (vote id, student, display, label q/e/m/t/skip, time), ``practice``
(a student's practice answers).

No FastAPI, no Keras: used by the web app and tested directly.

Example::

    store = ClassStore("class.sqlite")
    store.set_pool(["z5301_3017", "e5293_10479"], fingerprint="...")
    sid = store.add_student("Ada", per_student=2, overlap=2, seed=0)
    first = store.next_display(sid)
    store.vote(sid, first["display"], "q", vote_id="c1a2")
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventcnn.errors import UserError
from eventcnn.opal.web.assign import assign

__all__ = ["CLASS_CODES", "CLASS_TABLES", "LABELS", "ClassStore", "StoreError", "VoteResult", "check_class_file",
           "check_tables", "clean_name", "majority"]

#: what a student can answer: a class code, or skip ("not sure")
LABELS = ("q", "e", "m", "t", "skip")
CLASS_CODES = ("q", "e", "m", "t")
#: longest student name kept (after cleaning)
MAX_NAME = 40
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: the tables every class database has
CLASS_TABLES = ("meta", "displays", "students", "assignments", "votes")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS displays (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, rank INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS extras (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL CHECK (role IN ('example', 'practice')),
    label TEXT NOT NULL CHECK (label IN ('q', 'e', 'm', 't')), rank INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS students (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, number INTEGER NOT NULL UNIQUE, joined REAL NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS assignments (
    student TEXT NOT NULL REFERENCES students(id), position INTEGER NOT NULL,
    display TEXT NOT NULL REFERENCES displays(id),
    PRIMARY KEY (student, position), UNIQUE (student, display));
CREATE TABLE IF NOT EXISTS votes (
    vote_id TEXT NOT NULL UNIQUE, student TEXT NOT NULL REFERENCES students(id),
    display TEXT NOT NULL REFERENCES displays(id),
    label TEXT NOT NULL CHECK (label IN ('q', 'e', 'm', 't', 'skip')), time REAL NOT NULL,
    PRIMARY KEY (student, display));
CREATE TABLE IF NOT EXISTS practice (
    student TEXT NOT NULL REFERENCES students(id), display TEXT NOT NULL REFERENCES extras(id),
    answer TEXT NOT NULL, correct INTEGER NOT NULL, time REAL NOT NULL, PRIMARY KEY (student, display));
"""


class StoreError(UserError):
    """A request the store refuses; ``status`` is the HTTP status, ``code`` a key of the message catalogue."""

    def __init__(self, message: str, status: int = 400, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class VoteResult(dict):
    """What :meth:`ClassStore.vote` did: ``status`` new / repeat / changed, ``answered``, ``total``."""


def majority(labels: Sequence[str]) -> str:
    """The label most votes give (skips ignored), or "" when there is none or a tie.

    Example::

        >>> majority(["q", "q", "t"]), majority(["q", "t"]), majority(["skip"])
        ('q', '', '')
    """
    counts = Counter(v for v in labels if v in CLASS_CODES).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return ""
    return counts[0][0]


def clean_name(name: str) -> str:
    """A student's name as shown: NFC, without control or invisible characters, spaces collapsed.

    Control characters (``Cc``), format characters such as zero-width spaces and
    bidirectional overrides (``Cf``), private-use, surrogate and unassigned code
    points and line separators are dropped; what is left must be 1 to 40
    characters (:class:`StoreError` 422 otherwise).

    Example::

        >>> clean_name("  Ada\\u200b \\x07Lovelace\\u202e ")
        'Ada Lovelace'
    """
    text = unicodedata.normalize("NFC", str(name))
    kept = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"))
    kept = " ".join(kept.split())
    if not 1 <= len(kept) <= MAX_NAME:
        raise StoreError(f"name must be 1 to {MAX_NAME} visible characters", 422, "name_invalid")
    return kept


def check_class_file(path: Path) -> bool:
    """Whether ``path`` holds data (False: missing or empty); :class:`UserError` for a file that is not a class database."""
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a class database file; give a file name such as class.sqlite")
    if not path.exists() or path.stat().st_size == 0:
        return False
    if not os.access(path, os.R_OK):
        raise UserError(f"cannot read {path}: permission denied; give a class database you can read")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != _SQLITE_MAGIC:
        raise UserError(f"{path} is not a class database (not an SQLite file); give the --db file "
                        "of `eventcnn class serve`")
    return True


def check_tables(db: sqlite3.Connection, path: Path) -> None:
    """:class:`UserError` when an SQLite database has tables but not a class's."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and not set(CLASS_TABLES) <= tables:
        found = ", ".join(sorted(tables)[:6])
        raise UserError(f"{path} is an SQLite database but not a class database (its tables: {found}); "
                        "give the --db file of `eventcnn class serve`, or a new file name")


class ClassStore:
    """The class's SQLite database (created when missing, resumed when present).

    Thread-safe: one connection, one lock; every write is one transaction. A
    database file that vanishes or is replaced while the server runs is
    noticed at the next write: writes are refused (:class:`StoreError` 503)
    instead of going to a file nobody will find.

    Example::

        store = ClassStore("class.sqlite")
        token = store.teacher_token      # random, kept across restarts
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UserError(f"{self.path}: folder {self.path.parent} does not exist")
        existed = check_class_file(self.path)
        if existed and not os.access(self.path, os.W_OK):
            raise UserError(f"{self.path} is read-only: the server writes every vote into it; "
                            "give a writable --db file (or copy it)")
        try:
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            check_tables(self._db, self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path}: cannot use it as a class database ({exc}); give another --db file") from exc
        self._lock = threading.RLock()
        self._identity = self._file_identity()
        self._gone: str | None = None
        self.last_seen: dict[str, float] = {}
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='teacher_token'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('teacher_token', ?)", (secrets.token_urlsafe(24),))

    @classmethod
    def from_connection(cls, path: Path, db: sqlite3.Connection) -> ClassStore:
        """A store over an open connection (a read-only copy, :func:`eventcnn.opal.web.export.snapshot`)."""
        self = cls.__new__(cls)
        self.path, self._db, self._lock = Path(path), db, threading.RLock()
        self._identity, self._gone, self.last_seen = None, None, {}
        if "removed" not in {r[1] for r in db.execute("PRAGMA table_info(students)")}:
            db.execute("ALTER TABLE students ADD COLUMN removed INTEGER NOT NULL DEFAULT 0")
        db.executescript(_SCHEMA)
        return self

    def _migrate(self) -> None:
        """Columns added since the first version of the schema (older class databases still open)."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(students)")}
        if "removed" not in cols:
            self._db.execute("ALTER TABLE students ADD COLUMN removed INTEGER NOT NULL DEFAULT 0")

    # -- durability --------------------------------------------------------------
    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def check_file(self) -> str | None:
        """None while the database file is where it was; else a sentence saying what happened (kept)."""
        if self._identity is None or self._gone:
            return self._gone
        now = self._file_identity()
        if now is None:
            self._gone = f"the class database {self.path} was deleted or moved"
        elif now != self._identity:
            self._gone = f"the class database {self.path} was replaced by another file"
        return self._gone

    def checkpoint(self, truncate: bool = False) -> None:
        """Copy the write-ahead log into the database file (``TRUNCATE``: and empty the log)."""
        if self.check_file():
            return
        with self._lock:
            self._db.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if truncate else 'PASSIVE'})").fetchone()

    def close(self) -> None:
        """Empty the write-ahead log into the database file and close the connection."""
        with self._lock:
            try:
                if not self.check_file():
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (BEGIN IMMEDIATE ... COMMIT), under the lock; refused when the file is gone."""
        gone = self.check_file()
        if gone:
            raise StoreError(f"{gone}: answers cannot be saved; the teacher must restart the server",
                             503, "db_gone")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- settings --------------------------------------------------------------
    @property
    def teacher_token(self) -> str:
        """The teacher's secret (made once, kept in the database)."""
        return str(self._one("SELECT value FROM meta WHERE key='teacher_token'"))

    def meta(self, key: str) -> str | None:
        """A stored setting, or None."""
        return self._one("SELECT value FROM meta WHERE key=?", (key,))

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._tx() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                       (key, str(value)))

    # -- displays --------------------------------------------------------------
    def pool(self) -> list[tuple[str, str]]:
        """``(id, name)`` of the class's displays in suggest order."""
        return [(r[0], r[1]) for r in self._all("SELECT id, name FROM displays ORDER BY rank")]

    def set_pool(self, names: Sequence[str], fingerprint: str) -> None:
        """Store the displays to label (once): each gets a random id; ``fingerprint`` names the data set.

        A database made with another data set (another fingerprint) is refused.
        """
        if len(set(names)) != len(names):
            raise UserError("the pool has repeated display names")
        with self._tx() as db:
            old = db.execute("SELECT value FROM meta WHERE key='data'").fetchone()
            if old is not None and old[0] != fingerprint:
                raise UserError(f"{self.path} holds the labels of another set of displays; "
                                "give the --data it was made with, or a new --db file")
            if db.execute("SELECT COUNT(*) FROM displays").fetchone()[0]:
                return
            db.execute("INSERT OR REPLACE INTO meta VALUES ('data', ?)", (fingerprint,))
            db.executemany("INSERT INTO displays VALUES (?, ?, ?)",
                           [(secrets.token_urlsafe(12), n, i) for i, n in enumerate(names)])

    def extras(self, role: str | None = None) -> list[dict[str, str]]:
        """Example and practice displays: ``{id, name, role, label}`` in their order."""
        rows = self._all("SELECT id, name, role, label FROM extras " + ("WHERE role=? " if role else "")
                         + "ORDER BY role, rank", (role,) if role else ())
        return [{"id": r[0], "name": r[1], "role": r[2], "label": r[3]} for r in rows]

    def set_extras(self, examples: Sequence[tuple[str, str]], practice: Sequence[tuple[str, str]]) -> None:
        """Store the example and the practice displays ``(name, class)`` once (outside the pool)."""
        with self._tx() as db:
            if db.execute("SELECT COUNT(*) FROM extras").fetchone()[0]:
                return
            pool = {r[0] for r in db.execute("SELECT name FROM displays")}
            rows = [(secrets.token_urlsafe(12), n, role, c, i)
                    for role, items in (("example", examples), ("practice", practice))
                    for i, (n, c) in enumerate(items)]
            if pool & {r[1] for r in rows}:
                raise UserError("example or practice displays must not be in the pool the class labels")
            db.executemany("INSERT INTO extras VALUES (?, ?, ?, ?, ?)", rows)

    def display_name(self, display_id: str) -> str | None:
        """The event name behind an opaque id (pool, example or practice; server side only), or None."""
        return (self._one("SELECT name FROM displays WHERE id=?", (display_id,))
                or self._one("SELECT name FROM extras WHERE id=?", (display_id,)))

    # -- students --------------------------------------------------------------
    def active_students(self) -> int:
        """Students who joined and were not removed."""
        return int(self._one("SELECT COUNT(*) FROM students WHERE removed=0"))

    def add_student(self, name: str, per_student: int, overlap: int = 2, seed: int = 0,
                    max_students: int | None = None) -> str:
        """Register a student and give them ``per_student`` displays (:func:`assign`); returns their id.

        ``max_students``: joins beyond that many (not removed) students are
        refused (:class:`StoreError` 429).
        """
        name = clean_name(name)
        with self._tx() as db:
            if max_students is not None and \
                    db.execute("SELECT COUNT(*) FROM students WHERE removed=0").fetchone()[0] >= max_students:
                raise StoreError(f"the class is full ({max_students} students): ask your teacher", 429, "class_full")
            if not db.execute("SELECT COUNT(*) FROM displays").fetchone()[0]:
                raise StoreError("no displays to label yet", 409, "no_displays")
            number = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM students").fetchone()[0]
            sid = secrets.token_urlsafe(16)
            db.execute("INSERT INTO students (id, name, number, joined) VALUES (?, ?, ?, ?)",
                       (sid, name, number, time.time()))
            self._give(db, sid, number, per_student, overlap, seed)
        self.last_seen[sid] = time.time()
        return sid

    def _give(self, db: sqlite3.Connection, sid: str, number: int, count: int, overlap: int, seed: int) -> int:
        """Assign up to ``count`` more displays to a student (least covered first); returns how many."""
        if count <= 0:
            return 0
        pool = [r[0] for r in db.execute("SELECT id FROM displays ORDER BY rank")]
        mine = {r[0] for r in db.execute("SELECT display FROM assignments WHERE student=?", (sid,))}
        coverage = dict(db.execute("SELECT a.display, COUNT(*) FROM assignments a JOIN students s ON s.id=a.student "
                                   "WHERE s.removed=0 GROUP BY a.display"))
        free = [d for d in pool if d not in mine]
        picks = assign(free, coverage, per_student=count, overlap=overlap, seed=seed,
                       student=number * 1000 + len(mine)) if free else []
        start = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM assignments WHERE student=?",
                           (sid,)).fetchone()[0]
        db.executemany("INSERT INTO assignments VALUES (?, ?, ?)",
                       [(sid, start + i, d) for i, d in enumerate(picks)])
        return len(picks)

    def _student_row(self, sid: str) -> tuple:
        row = self._all("SELECT id, name, number, removed FROM students WHERE id=?", (sid,))
        if not row:
            raise StoreError("unknown student: join again", 404, "unknown_student")
        if row[0][3]:
            raise StoreError("the teacher took you out of the class", 410, "removed")
        return row[0]

    def student(self, sid: str) -> dict[str, Any]:
        """``{id, name, number}`` of a student; :class:`StoreError` 404 when unknown, 410 when removed."""
        row = self._student_row(sid)
        self.last_seen[sid] = time.time()
        return {"id": row[0], "name": row[1], "number": row[2]}

    def next_display(self, sid: str, per_student: int | None = None, overlap: int = 2,
                     seed: int = 0) -> dict[str, Any]:
        """The student's first unanswered display: ``{display, index, total, answered}`` (``display`` None when done).

        With ``per_student``: a student whose unanswered displays were given
        back (:meth:`release_idle`) is topped up to that many displays again.
        """
        row = self._student_row(sid)
        self.last_seen[sid] = time.time()
        rows = self._assignments(sid)
        if per_student is not None and all(r[2] is not None for r in rows) and len(rows) < per_student:
            with self._tx() as db:
                self._give(db, sid, row[2], per_student - len(rows), overlap, seed)
            rows = self._assignments(sid)
        answered = sum(r[2] is not None for r in rows)
        nxt = next((r for r in rows if r[2] is None), None)
        return {"display": None if nxt is None else nxt[1], "index": None if nxt is None else answered + 1,
                "total": len(rows), "answered": answered}

    def _assignments(self, sid: str) -> list[tuple]:
        return self._all("SELECT a.position, a.display, v.label FROM assignments a LEFT JOIN votes v "
                         "ON v.student=a.student AND v.display=a.display WHERE a.student=? ORDER BY a.position",
                         (sid,))

    def more(self, sid: str, count: int, overlap: int = 2, seed: int = 0) -> int:
        """Give a finished student ``count`` more displays (only displays below ``overlap`` students)."""
        row = self._student_row(sid)
        with self._tx() as db:
            pool = [r[0] for r in db.execute("SELECT id FROM displays")]
            coverage = dict(db.execute("SELECT a.display, COUNT(*) FROM assignments a JOIN students s "
                                       "ON s.id=a.student WHERE s.removed=0 GROUP BY a.display"))
            if not any(coverage.get(d, 0) < overlap for d in pool):
                return 0
            below = sum(coverage.get(d, 0) < overlap for d in pool)
            return self._give(db, sid, row[2], min(count, below), overlap, seed)

    def release_idle(self, idle_seconds: float, now: float | None = None) -> int:
        """Give the unanswered displays of students silent for ``idle_seconds`` back to the pool; returns how many."""
        now = time.time() if now is None else now
        idle = [sid for sid, seen in list(self.last_seen.items()) if now - seen > idle_seconds]
        if not idle:
            return 0
        with self._tx() as db:
            freed = 0
            for sid in idle:
                freed += db.execute("DELETE FROM assignments WHERE student=? AND display NOT IN "
                                    "(SELECT display FROM votes WHERE student=?)", (sid, sid)).rowcount
        for sid in idle:
            self.last_seen.pop(sid, None)  # they get displays again when they come back
        return freed

    def remove_student(self, number: int) -> dict[str, Any]:
        """The teacher takes a student out: their votes stop counting, their displays go back to the pool."""
        with self._tx() as db:
            row = db.execute("SELECT id, name FROM students WHERE number=? AND removed=0", (int(number),)).fetchone()
            if row is None:
                raise StoreError(f"no student number {number} in the class", 404, "unknown_student")
            db.execute("UPDATE students SET removed=1 WHERE id=?", (row[0],))
            freed = db.execute("DELETE FROM assignments WHERE student=? AND display NOT IN "
                               "(SELECT display FROM votes WHERE student=?)", (row[0], row[0])).rowcount
        self.last_seen.pop(row[0], None)
        return {"number": int(number), "name": row[1], "displays_freed": freed}

    # -- answers ---------------------------------------------------------------
    def vote(self, sid: str, display: str, label: str, vote_id: str) -> VoteResult:
        """Record a student's answer, committed before returning.

        The same ``vote_id`` again is a repeat (nothing changes); a new id for
        a display already answered changes the answer (still one vote).
        """
        if label not in LABELS:
            raise StoreError(f"label must be one of {', '.join(LABELS)}, got {label!r}", 422, "bad_label")
        self._student_row(sid)
        self.last_seen[sid] = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM assignments WHERE student=? AND display=?",
                          (sid, display)).fetchone() is None:
                raise StoreError("this display is not one of yours", 403, "not_yours")
            same = db.execute("SELECT student, display, label FROM votes WHERE vote_id=?", (vote_id,)).fetchone()
            if same is not None:
                if (same[0], same[1]) != (sid, display):
                    raise StoreError("vote id already used for another answer", 409, "vote_id_used")
                status = "repeat"
            else:
                old = db.execute("SELECT 1 FROM votes WHERE student=? AND display=?", (sid, display)).fetchone()
                db.execute("INSERT INTO votes VALUES (?, ?, ?, ?, ?) ON CONFLICT(student, display) DO UPDATE "
                           "SET vote_id=excluded.vote_id, label=excluded.label, time=excluded.time",
                           (vote_id, sid, display, label, time.time()))
                status = "changed" if old else "new"
            answered, total = db.execute(
                "SELECT COUNT(v.label), COUNT(*) FROM assignments a LEFT JOIN votes v "
                "ON v.student=a.student AND v.display=a.display WHERE a.student=?", (sid,)).fetchone()
        return VoteResult(status=status, answered=answered, total=total)

    def undo(self, sid: str) -> dict[str, Any]:
        """Take back the student's latest answer (the display comes back); ``{undone, display, label}``."""
        self._student_row(sid)
        self.last_seen[sid] = time.time()
        with self._tx() as db:
            row = db.execute("SELECT display, label FROM votes WHERE student=? ORDER BY time DESC, rowid DESC "
                             "LIMIT 1", (sid,)).fetchone()
            if row is None:
                return {"undone": False, "display": None, "label": None}
            db.execute("DELETE FROM votes WHERE student=? AND display=?", (sid, row[0]))
        return {"undone": True, "display": row[0], "label": row[1]}

    def practice_answer(self, sid: str, display: str, answer: str) -> dict[str, Any]:
        """Check a practice answer against the known class: ``{correct, label}`` (stored once per display)."""
        if answer not in CLASS_CODES:
            raise StoreError(f"answer must be one of {', '.join(CLASS_CODES)}, got {answer!r}", 422, "bad_label")
        self._student_row(sid)
        self.last_seen[sid] = time.time()
        row = self._all("SELECT label FROM extras WHERE id=? AND role='practice'", (display,))
        if not row:
            raise StoreError("not a practice display", 404, "not_practice")
        label = row[0][0]
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO practice VALUES (?, ?, ?, ?, ?)",
                       (sid, display, answer, int(answer == label), time.time()))
        return {"correct": answer == label, "label": label}

    # -- the teacher's view ----------------------------------------------------
    def votes(self, include_removed: bool = False) -> list[dict[str, Any]]:
        """Every vote: ``{display (name), display_id, label, student (name), student_number, time}``, in time order."""
        rows = self._all(
            "SELECT d.name, d.id, v.label, s.name, s.number, v.time FROM votes v JOIN displays d ON d.id=v.display "
            "JOIN students s ON s.id=v.student " + ("" if include_removed else "WHERE s.removed=0 ")
            + "ORDER BY v.time, v.rowid")
        return [{"display": r[0], "display_id": r[1], "label": r[2], "student": r[3], "student_number": r[4],
                 "time": r[5]} for r in rows]

    def labels(self) -> dict[str, str]:
        """The class's label per display name: the majority of its votes (ties and skips: no label)."""
        by: dict[str, list[str]] = {}
        for v in self.votes():
            by.setdefault(v["display"], []).append(v["label"])
        out = {name: majority(labels) for name, labels in by.items()}
        return {k: v for k, v in out.items() if v}

    def student_summary(self, sid: str) -> dict[str, Any]:
        """What one student did: answers per class, skips, and how often a classmate agreed."""
        self._student_row(sid)
        mine = dict(self._all("SELECT display, label FROM votes WHERE student=?", (sid,)))
        others: dict[str, list[str]] = {}
        for display, label in self._all(
                "SELECT v.display, v.label FROM votes v JOIN students s ON s.id=v.student "
                "WHERE v.student<>? AND s.removed=0 AND v.label<>'skip'", (sid,)):
            others.setdefault(display, []).append(label)
        compared = agree = 0
        for display, label in mine.items():
            if label != "skip" and others.get(display):
                compared += 1
                agree += label in others[display]
        practice = self._all("SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM practice WHERE student=?", (sid,))[0]
        return {"answered": len(mine), "per_class": {c: sum(v == c for v in mine.values()) for c in LABELS},
                "compared": compared, "agree": agree,
                "practice": {"answered": practice[0], "correct": practice[1]}}

    def progress(self, idle_seconds: float | None = None) -> dict[str, Any]:
        """Live numbers for the teacher: per student, per class, coverage and agreement."""
        students = self._all(
            "SELECT s.id, s.number, s.name, COUNT(a.display), COUNT(v.label), "
            "SUM(CASE WHEN v.label='skip' THEN 1 ELSE 0 END) FROM students s "
            "LEFT JOIN assignments a ON a.student=s.id "
            "LEFT JOIN votes v ON v.student=a.student AND v.display=a.display "
            "WHERE s.removed=0 GROUP BY s.id ORDER BY s.number")
        n_pool = self._one("SELECT COUNT(*) FROM displays")
        removed = self._one("SELECT COUNT(*) FROM students WHERE removed=1")
        votes = self.votes()
        per_class = Counter(v["label"] for v in votes)
        by: dict[str, list[str]] = {}
        for v in votes:
            if v["label"] != "skip":
                by.setdefault(v["display"], []).append(v["label"])
        labels = {k: majority(v) for k, v in by.items()}
        pairs = agree = 0
        for answers in by.values():
            for i in range(len(answers)):
                for j in range(i + 1, len(answers)):
                    pairs += 1
                    agree += answers[i] == answers[j]
        now = time.time()

        def active(sid: str) -> bool:
            seen = self.last_seen.get(sid)
            return seen is not None and (idle_seconds is None or now - seen <= idle_seconds)

        return {
            "students": [{"number": r[1], "name": r[2], "assigned": r[3], "answered": r[4],
                          "skipped": int(r[5] or 0), "active": active(r[0])} for r in students],
            "removed": int(removed),
            "votes": len(votes),
            "per_class": {c: per_class.get(c, 0) for c in LABELS},
            "displays": int(n_pool),
            "displays_answered": len(by),
            "displays_twice": sum(len(a) >= 2 for a in by.values()),
            "class_labels": {c: sum(v == c for v in labels.values()) for c in CLASS_CODES},
            "ties": sum(v == "" for v in labels.values()),
            "agreement": {"pairs": pairs, "agree": agree, "share": (agree / pairs) if pairs else None},
        }
