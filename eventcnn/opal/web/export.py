"""The class's answers as files: the label file ``opal train`` reads, and every vote for the teacher.

- :func:`labels_text`: ``<event>.png;<label>`` per display with a class label
  (the majority of its votes; displays with a tie or only "not sure" answers
  are left out), no header: the masterclass label file format
  (:func:`eventcnn.opal.read_labels`).
- :func:`votes_text`: ``display;label;student;time`` with a header row, one row
  per vote (``label`` may be ``skip``; ``time`` in ISO 8601, UTC).

No FastAPI, no Keras.

Example::

    from eventcnn.opal.web.store import ClassStore
    store = ClassStore("class.sqlite")
    write_exports(store, "labels.csv", "votes.csv")
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from eventcnn._io import write_text_atomic
from eventcnn.opal.web.store import ClassStore

__all__ = ["labels_text", "votes_text", "write_exports"]


def labels_text(store: ClassStore) -> str:
    """The class's labels in the masterclass label format (majority per display, sorted by name)."""
    labels = store.labels()
    return "".join(f"{name}.png;{labels[name]}\n" for name in sorted(labels))


def _field(text: str) -> str:
    """A CSV field without the separator or line breaks (student names are free text)."""
    return " ".join(str(text).replace(";", ",").split())


def votes_text(store: ClassStore) -> str:
    """Every vote: ``display;label;student;time`` with a header row."""
    rows = ["display;label;student;time\n"]
    for v in store.votes():
        when = datetime.fromtimestamp(v["time"], tz=timezone.utc).isoformat(timespec="seconds")
        rows.append(f"{v['display']}.png;{v['label']};{_field(v['student'])} (#{v['student_number']});{when}\n")
    return "".join(rows)


def write_exports(store: ClassStore, labels: str | os.PathLike[str],
                  votes: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Write the label file (and the votes file), atomically; returns counts for a message.

    Example::

        write_exports(ClassStore("class.sqlite"), "labels.csv", "votes.csv")
        # {'labels': 41, 'votes': 100, 'undecided': 3}
    """
    text = labels_text(store)
    write_text_atomic(Path(labels), text)
    all_votes = store.votes()
    if votes is not None:
        write_text_atomic(Path(votes), votes_text(store))
    answered = {v["display"] for v in all_votes}
    n_labels = text.count("\n")
    return {"labels": n_labels, "votes": len(all_votes), "undecided": len(answered) - n_labels}
