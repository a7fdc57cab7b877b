"""The class's labels in SQLite: displays by opaque id, students, assignments, votes.

One file (``class.sqlite``) in WAL mode with ``synchronous=FULL``: every vote is
committed (and on disk) before :meth:`ClassStore.vote` returns, so the answer a
student sees means the vote is kept; a server restart with the same file keeps
every vote, every student and the teacher's token. One vote per (student,
display); a vote carries a client-made id, and sending the same id again (a
double tap, a retried request) changes nothing. Displays are known to the
browser only by random ids (``secrets.token_urlsafe``), never by file name.

Tables: ``meta`` (teacher token, data fingerprint, settings), ``displays``
(id, name, rank in the suggest order), ``students`` (id, name, number),
``assignments`` (student, position, display), ``votes`` (vote id, student,
display, label q/e/m/t/skip, time).

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
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventcnn.errors import UserError
from eventcnn.opal.web.assign import assign

__all__ = ["LABELS", "ClassStore", "StoreError", "VoteResult", "majority"]

#: what a student can answer: a class code, or skip ("not sure")
LABELS = ("q", "e", "m", "t", "skip")
CLASS_CODES = ("q", "e", "m", "t")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS displays (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, rank INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS students (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, number INTEGER NOT NULL UNIQUE, joined REAL NOT NULL);
CREATE TABLE IF NOT EXISTS assignments (
    student TEXT NOT NULL REFERENCES students(id), position INTEGER NOT NULL,
    display TEXT NOT NULL REFERENCES displays(id),
    PRIMARY KEY (student, position), UNIQUE (student, display));
CREATE TABLE IF NOT EXISTS votes (
    vote_id TEXT NOT NULL UNIQUE, student TEXT NOT NULL REFERENCES students(id),
    display TEXT NOT NULL REFERENCES displays(id),
    label TEXT NOT NULL CHECK (label IN ('q', 'e', 'm', 't', 'skip')), time REAL NOT NULL,
    PRIMARY KEY (student, display));
"""


class StoreError(UserError):
    """A request the store refuses; ``status`` is the HTTP status the web app answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


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


class ClassStore:
    """The class's SQLite database (created when missing, resumed when present).

    Thread-safe: one connection, one lock; every write is one transaction.

    Example::

        store = ClassStore("class.sqlite")
        token = store.teacher_token      # random, kept across restarts
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.is_dir():
            raise UserError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path}: not a class database ({exc}); give another --db file") from exc
        self._lock = threading.RLock()
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='teacher_token'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('teacher_token', ?)", (secrets.token_urlsafe(24),))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (BEGIN IMMEDIATE ... COMMIT), under the lock."""
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
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute("SELECT id, name FROM displays ORDER BY rank")]

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

    def display_name(self, display_id: str) -> str | None:
        """The event name behind an opaque id (server side only), or None."""
        return self._one("SELECT name FROM displays WHERE id=?", (display_id,))

    # -- students --------------------------------------------------------------
    def add_student(self, name: str, per_student: int, overlap: int = 2, seed: int = 0) -> str:
        """Register a student and give them ``per_student`` displays (:func:`assign`); returns their id."""
        name = " ".join(str(name).split())
        if not 1 <= len(name) <= 40:
            raise StoreError("name must be 1 to 40 characters", 422)
        with self._tx() as db:
            pool = [r[0] for r in db.execute("SELECT id FROM displays ORDER BY rank")]
            if not pool:
                raise StoreError("no displays to label yet", 409)
            coverage = dict(db.execute("SELECT display, COUNT(*) FROM assignments GROUP BY display"))
            number = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM students").fetchone()[0]
            sid = secrets.token_urlsafe(16)
            db.execute("INSERT INTO students VALUES (?, ?, ?, ?)", (sid, name, number, time.time()))
            picks = assign(pool, coverage, per_student=per_student, overlap=overlap, seed=seed,
                           student=number)
            db.executemany("INSERT INTO assignments VALUES (?, ?, ?)",
                           [(sid, i, d) for i, d in enumerate(picks)])
        return sid

    def student(self, sid: str) -> dict[str, Any]:
        """``{id, name, number}`` of a student; :class:`StoreError` 404 when unknown."""
        with self._lock:
            row = self._db.execute("SELECT id, name, number FROM students WHERE id=?", (sid,)).fetchone()
        if row is None:
            raise StoreError("unknown student: join again", 404)
        return {"id": row[0], "name": row[1], "number": row[2]}

    def next_display(self, sid: str) -> dict[str, Any]:
        """The student's first unanswered display: ``{display, index, total, answered}`` (``display`` None when done)."""
        self.student(sid)
        with self._lock:
            rows = self._db.execute(
                "SELECT a.position, a.display, v.label FROM assignments a LEFT JOIN votes v "
                "ON v.student=a.student AND v.display=a.display WHERE a.student=? ORDER BY a.position",
                (sid,)).fetchall()
        answered = sum(r[2] is not None for r in rows)
        nxt = next((r for r in rows if r[2] is None), None)
        return {"display": None if nxt is None else nxt[1], "index": None if nxt is None else nxt[0] + 1,
                "total": len(rows), "answered": answered}

    def vote(self, sid: str, display: str, label: str, vote_id: str) -> VoteResult:
        """Record a student's answer, committed before returning.

        The same ``vote_id`` again is a repeat (nothing changes); a new id for
        a display already answered changes the answer (still one vote).
        """
        if label not in LABELS:
            raise StoreError(f"label must be one of {', '.join(LABELS)}, got {label!r}", 422)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM students WHERE id=?", (sid,)).fetchone() is None:
                raise StoreError("unknown student: join again", 404)
            if db.execute("SELECT 1 FROM assignments WHERE student=? AND display=?",
                          (sid, display)).fetchone() is None:
                raise StoreError("this display is not one of yours", 403)
            same = db.execute("SELECT student, display, label FROM votes WHERE vote_id=?", (vote_id,)).fetchone()
            if same is not None:
                if (same[0], same[1]) != (sid, display):
                    raise StoreError("vote id already used for another answer", 409)
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

    # -- the teacher's view ----------------------------------------------------
    def votes(self) -> list[dict[str, Any]]:
        """Every vote: ``{display (name), label, student (name), student_number, time}``, in time order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT d.name, v.label, s.name, s.number, v.time FROM votes v JOIN displays d ON d.id=v.display "
                "JOIN students s ON s.id=v.student ORDER BY v.time, v.rowid").fetchall()
        return [{"display": r[0], "label": r[1], "student": r[2], "student_number": r[3], "time": r[4]}
                for r in rows]

    def labels(self) -> dict[str, str]:
        """The class's label per display name: the majority of its votes (ties and skips: no label)."""
        by: dict[str, list[str]] = {}
        for v in self.votes():
            by.setdefault(v["display"], []).append(v["label"])
        out = {name: majority(labels) for name, labels in by.items()}
        return {k: v for k, v in out.items() if v}

    def progress(self) -> dict[str, Any]:
        """Live numbers for the teacher: per student, per class, coverage and agreement."""
        with self._lock:
            students = self._db.execute(
                "SELECT s.number, s.name, COUNT(a.display), COUNT(v.label), "
                "SUM(CASE WHEN v.label='skip' THEN 1 ELSE 0 END) FROM students s "
                "LEFT JOIN assignments a ON a.student=s.id "
                "LEFT JOIN votes v ON v.student=a.student AND v.display=a.display "
                "GROUP BY s.id ORDER BY s.number").fetchall()
            n_pool = self._db.execute("SELECT COUNT(*) FROM displays").fetchone()[0]
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
        return {
            "students": [{"number": r[0], "name": r[1], "assigned": r[2], "answered": r[3],
                          "skipped": int(r[4] or 0)} for r in students],
            "votes": len(votes),
            "per_class": {c: per_class.get(c, 0) for c in LABELS},
            "displays": n_pool,
            "displays_answered": len(by),
            "displays_twice": sum(len(a) >= 2 for a in by.values()),
            "class_labels": {c: sum(v == c for v in labels.values()) for c in CLASS_CODES},
            "ties": sum(v == "" for v in labels.values()),
            "agreement": {"pairs": pairs, "agree": agree, "share": (agree / pairs) if pairs else None},
        }
