"""The class's answers as files: the label file ``opal train`` reads, and every vote for the teacher.

Displays are named by their opaque id (:mod:`eventcnn.opal.ids`, ``d`` and 8
digits), never by event name (names begin with the class); ``eventcnn opal
train --labels`` reads the ids, and ``eventcnn opal ids`` maps them back in the
teacher's folder.

- :func:`labels_text`: ``<id>.png;<label>`` per display with a class label (the
  majority of its votes; displays with a tie or only "not sure" answers are left
  out), no header: the masterclass label file format (:func:`eventcnn.opal.read_labels`).
- :func:`votes_text`: ``display;label;student;time`` with a header row, one row
  per vote (``label`` may be ``skip``; ``time`` in ISO 8601, UTC).
- :func:`snapshot`: a consistent read-only copy of a class database (SQLite's
  backup API), also while a server writes it; what ``class export`` and
  ``class results`` read.

No FastAPI, no Keras.

Example::

    write_exports(snapshot("class.sqlite"), "labels.csv", "votes.csv")
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from eventcnn._io import write_text_atomic
from eventcnn.errors import UserError
from eventcnn.opal.ids import display_ids
from eventcnn.opal.web.store import CLASS_TABLES, ClassStore, check_class_file, check_tables

__all__ = ["labels_text", "snapshot", "votes_text", "write_exports"]


def snapshot(path: str | os.PathLike[str]) -> ClassStore:
    """A consistent read-only copy of a class database in memory, also while a server writes it.

    Raises :class:`UserError` in one line for a file that is missing, not a
    class database, or holds no class yet.

    Example::

        store = snapshot("class.sqlite")
        len(store.votes())
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} not found: give the --db file of `eventcnn class serve`")
    if not check_class_file(path):
        raise UserError(f"{path} is empty: not a class database; give the --db file of `eventcnn class serve`")
    try:
        src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            check_tables(src, path)
            mem = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            src.backup(mem)  # one read transaction: every vote committed before it, none after
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path} is not a readable class database ({exc})") from exc
    tables = {r[0] for r in mem.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not set(CLASS_TABLES) <= tables:
        raise UserError(f"{path} is not a class database (no class tables); give the --db file of "
                        "`eventcnn class serve`")
    if mem.execute("SELECT COUNT(*) FROM displays").fetchone()[0] == 0:
        raise UserError(f"{path} holds no class yet (no displays chosen): start `eventcnn class serve` with it first")
    return ClassStore.from_connection(path, mem)


def _ids(names: list[str]) -> dict[str, str]:
    return dict(zip(names, display_ids(names))) if names else {}


def labels_text(store: ClassStore) -> str:
    """The class's labels in the masterclass label format (majority per display), by opaque id, sorted."""
    labels = store.labels()
    ids = _ids(list(labels))
    return "".join(f"{ids[name]}.png;{labels[name]}\n" for name in sorted(labels, key=lambda n: ids[n]))


def _field(text: str) -> str:
    """A CSV field without the separator or line breaks (student names are free text)."""
    return " ".join(str(text).replace(";", ",").split())


def votes_text(store: ClassStore) -> str:
    """Every vote: ``display;label;student;time`` with a header row (display by opaque id)."""
    votes = store.votes()
    ids = _ids(sorted({v["display"] for v in votes}))
    rows = ["display;label;student;time\n"]
    for v in votes:
        when = datetime.fromtimestamp(v["time"], tz=timezone.utc).isoformat(timespec="seconds")
        rows.append(f"{ids[v['display']]}.png;{v['label']};{_field(v['student'])} (#{v['student_number']});{when}\n")
    return "".join(rows)


def write_exports(store: ClassStore, labels: str | os.PathLike[str],
                  votes: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Write the label file (and the votes file), atomically; returns counts for a message.

    Example::

        write_exports(snapshot("class.sqlite"), "labels.csv", "votes.csv")
        # {'labels': 41, 'votes': 100, 'undecided': 3}
    """
    text = labels_text(store)
    all_votes = store.votes()
    votes_csv = votes_text(store) if votes is not None else None
    write_text_atomic(Path(labels), text)
    if votes is not None:
        write_text_atomic(Path(votes), votes_csv)
    answered = {v["display"] for v in all_votes}
    n_labels = text.count("\n")
    return {"labels": n_labels, "votes": len(all_votes), "undecided": len(answered) - n_labels}
