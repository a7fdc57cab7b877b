"""Opaque display ids: what students see instead of display names that give the class away.

The masterclass file names start with the class (``e5293_10479``, ``qq5305_...``),
so a student who reads a name knows the answer. Everything students read
(``opal suggest``, the label files of ``opal label``, ``predictions.csv``) names a
display by its **id** instead: ``d`` plus 8 digits, the keyed hash (HMAC-SHA256)
of the lower-case event name. The same name always gets the same id, so ids in a
label file work with ``opal train --labels`` and resume ``opal label``; the
teacher maps ids back with ``eventcnn opal ids`` (:func:`write_mapping`).

The key is :data:`DEFAULT_KEY` unless ``EVENTCNN_OPAL_ID_KEY`` is set (any
secret string): with a key only the teacher knows, ids cannot be recomputed from
the display names either. Opaque is not encrypted: the ids hide the class from
a glance, the answer key itself stays in the teacher's folder.

No Keras, no numpy-heavy work: the browser classroom reuses this module.

Example::

    from eventcnn.images import display_ids as ids
    ids.display_id("e5293_10479")                 # 'd........' (8 digits)
    table = ids.id_table(["e5293_10479", "qq5305_1"])   # {'d...': 'e5293_10479', ...}
    ids.resolve({"d12345678.png": "q"}, names)     # ids -> names where known
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from eventcnn._io import atomic_path
from eventcnn.errors import UserError

__all__ = [
    "DEFAULT_KEY",
    "ID_PATTERN",
    "display_id",
    "display_ids",
    "id_key",
    "id_table",
    "is_display_id",
    "read_mapping",
    "rename_file",
    "resolve",
    "write_mapping",
]

#: the key of the keyed hash when ``EVENTCNN_OPAL_ID_KEY`` is not set
DEFAULT_KEY = b"eventcnn opal display ids v1"
#: what an id looks like: ``d`` and 8 digits (no class letter q/e/m/t in it)
ID_PATTERN = re.compile(r"^d\d{8}$")


def id_key() -> bytes:
    """The key: ``EVENTCNN_OPAL_ID_KEY`` (UTF-8) when set and not empty, else :data:`DEFAULT_KEY`."""
    env = os.environ.get("EVENTCNN_OPAL_ID_KEY", "")
    return env.encode("utf-8") if env else DEFAULT_KEY


def _stem(name: str) -> str:
    """The event name without folders and image extension, lower case (names match case-insensitively)."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if dot and ext.lower() in {"png", "gif", "jpg", "jpeg"}:
        base = stem
    return base.lower()


def display_id(name: str, key: bytes | None = None) -> str:
    """The opaque id of display ``name`` (with or without ``.png``; case does not matter).

    An id passed in is returned unchanged.

    Example::

        >>> display_id("E5293_10479.png") == display_id("e5293_10479")
        True
        >>> bool(ID_PATTERN.match(display_id("e5293_10479")))
        True
    """
    stem = _stem(name)
    if ID_PATTERN.match(stem):
        return stem
    digest = hmac.new(key or id_key(), stem.encode("utf-8"), hashlib.sha256).digest()
    return f"d{int.from_bytes(digest[:8], 'big') % 10**8:08d}"


def display_ids(names: Iterable[str], key: bytes | None = None) -> list[str]:
    """Ids of ``names``, in order; raises :class:`UserError` if two names share an id.

    Example::

        >>> len(display_ids(["a", "b"]))
        2
    """
    key = key or id_key()
    names = [str(n) for n in names]
    out = [display_id(n, key) for n in names]
    if len(set(out)) != len(out):
        seen: dict[str, str] = {}
        for n, i in zip(names, out):
            if i in seen and _stem(seen[i]) != _stem(n):
                raise UserError(f"displays {seen[i]!r} and {n!r} get the same id {i}: set another "
                                "EVENTCNN_OPAL_ID_KEY (any secret string)")
            seen[i] = n
    return out


def id_table(names: Iterable[str], key: bytes | None = None) -> dict[str, str]:
    """``{id: name}`` for ``names``.

    Example::

        >>> table = id_table(["e5293_10479"])
        >>> list(table.values())
        ['e5293_10479']
    """
    names = [str(n) for n in names]
    return dict(zip(display_ids(names, key), names))


def is_display_id(name: str) -> bool:
    """True when ``name`` (with or without ``.png``) is an opaque id.

    Example::

        >>> is_display_id("d01234567.png"), is_display_id("e5293_10479.png")
        (True, False)
    """
    return bool(ID_PATTERN.match(_stem(name)))


def resolve(table: Mapping[str, str], names: Sequence[str], key: bytes | None = None) -> dict[str, str]:
    """A label table whose ids (keys such as ``d01234567.png``) are replaced by the display names.

    ``names``: the display names known (e.g. ``OpalData.names``). Keys that are
    not ids, or ids of no known display, are kept as they are (they then show up
    as labels without an image). A display labelled both by name and by id keeps
    one label; two different labels are an error naming both.

    Example::

        resolve({display_id("e1") + ".png": "e", "q2.png": "q"}, ["e1", "q2"])
        # {'e1.png': 'e', 'q2.png': 'q'}
    """
    if not any(is_display_id(k) for k in table):
        return dict(table)
    by_id = id_table(names, key)
    out: dict[str, str] = {}
    for k, label in table.items():
        name = by_id.get(_stem(k))
        new = f"{name}.png" if name is not None and is_display_id(k) else k
        match = next((o for o in out if _stem(o) == _stem(new)), None)
        if match is not None and out[match] != label:
            raise UserError(f"display {_stem(new)!r} is labelled {out[match]!r} and, as {k}, {label!r}: "
                            "keep one of the two lines")
        out[new] = label
    return out


def write_mapping(path: str | os.PathLike[str], names: Sequence[str],
                  labels: Sequence[str] | None = None, key: bytes | None = None) -> Path:
    """The teacher's table ``id,event[,label]``, one row per display, atomically.

    Example::

        write_mapping("teacher/ids.csv", data.names, data.labels)
    """
    names = [str(n) for n in names]
    ids = display_ids(names, key)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "event", *(["label"] if labels is not None else [])])
        for i, n in enumerate(names):
            w.writerow([ids[i], n, *([labels[i]] if labels is not None else [])])
    return Path(path)


def read_mapping(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{id: event}`` from a table written by :func:`write_mapping`.

    Example::

        names = read_mapping("teacher/ids.csv")
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no id table there (write one with `eventcnn opal ids`)")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"id", "event"} <= set(rows[0]):
        raise UserError(f"{path}: columns 'id' and 'event' expected, got {list(rows[0])}")
    return {r["id"]: r["event"] for r in rows}


def rename_file(src: str | os.PathLike[str], out: str | os.PathLike[str], table: Mapping[str, str]) -> int:
    """Copy a label file (``<id>.png;<label>``) or a CSV with an ``event`` column with names for ids.

    ``table``: ``{id: name}`` (:func:`id_table`). Returns how many ids were
    replaced; ids not in ``table`` stay as they are. Written atomically. A file
    without any id of ``table`` (not a file of these displays) is an error, and
    nothing is written.

    Example::

        rename_file("student_labels.csv", "teacher/student_labels_named.csv", id_table(data.names))
    """
    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        raise UserError(f"--out {out} is the input file: give another file name")
    if not src.is_file():
        raise UserError(f"{src}: not a file (a label file or predictions.csv of a student)")
    try:
        text = src.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{src}: not a text file (byte {exc.start} is not UTF-8): give a student's label "
                        "file or predictions.csv") from None
    lines = text.splitlines()
    done = 0

    def swap(field: str) -> str:
        nonlocal done
        stem = _stem(field.strip())
        if stem in table:
            done += 1
            return table[stem] + (".png" if field.strip().lower().endswith(".png") else "")
        return field

    table_csv = bool(lines) and lines[0].split(",")[0].strip() == "event"  # predictions.csv / misclassified.csv
    if table_csv:
        rows = list(csv.reader(lines))
        body = [[swap(r[0]), *r[1:]] if r else r for r in rows[1:]]
    else:  # masterclass label file: <event>.png;<label>
        new = [";".join([swap(line.split(";", 1)[0]), *line.split(";", 1)[1:]]) if line.strip() else line
               for line in lines]
    if not done:  # nothing usable: an error, never a copy that changed nothing
        raise UserError(f"{src}: no display id of these displays in it (as '<id>.png;<label>' lines or in the "
                        "'event' column of predictions.csv): give a student's file for the same --data")
    if table_csv:
        with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([rows[0], *body])
    else:
        with atomic_path(out) as tmp:
            tmp.write_text("\n".join(new) + ("\n" if new else ""), encoding="utf-8")
    return done
