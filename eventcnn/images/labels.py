"""Class labels: the rules a label follows (one folder name, safe on every system) and the default of a file.

Example::

    >>> from eventcnn.images.labels import check_label, label_from_path
    >>> label_from_path("TTjets_json.json.gz"), check_label("w_jets")
    ('ttjets', 'w_jets')
"""

from __future__ import annotations

import os
from pathlib import Path

from eventcnn.errors import UserError

__all__ = ["check_label", "label_from_path"]


def label_from_path(path: str | os.PathLike[str]) -> str:
    """Default class label of an event file: ``TTjets_json.json.gz`` -> ``ttjets``."""
    name = Path(path).name
    for suffix in (".gz", ".json", ".root"):
        name = name.removesuffix(suffix)
    name = name.removesuffix("_json").lower()
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "events"
    return f"{label}_events" if label.upper() in _WINDOWS_RESERVED else label  # con.json -> con_events


_FORBIDDEN_LABEL_CHARS = set('/\\:') | {chr(c) for c in range(32)} | {chr(127)}
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def check_label(label: str) -> str:
    """``label`` if it is a safe class name (one folder name inside the output folder).

    Allowed: any non-empty name other than ``.`` and ``..`` without ``/``,
    ``\\``, ``:`` or control characters (NUL, newline, ...), not a Windows
    device name (``CON``, ``NUL``, ``COM1``, ...) and not ending in a space or a
    dot, so that the same image folder works on every system. Anything else is a
    ``ValueError`` saying so; this is what keeps every image inside ``out``.

    Example::

        >>> check_label("ttjets")
        'ttjets'
    """
    problem = None
    if not isinstance(label, str):
        problem = f"must be a string, got {type(label).__name__}"
    elif not label.strip():
        problem = "is empty"
    elif label in (".", ".."):
        problem = "is a relative folder reference"
    elif bad := sorted(set(label) & _FORBIDDEN_LABEL_CHARS):
        problem = f"contains {', '.join(repr(c) for c in bad)}"
    elif label.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        problem = "is a reserved device name on Windows (a folder of that name cannot be created there)"
    elif label != label.rstrip(" ."):
        problem = "ends with a space or a dot (Windows drops those, so two labels could share one folder)"
    if problem:
        raise UserError(
            f"class label {label!r} {problem}: a label becomes one folder name, so use a non-empty "
            "name without '/', '\\', ':' or control characters, other than '.' and '..', not a Windows "
            "device name and not ending in a space or dot (e.g. ttjets, w_jets)"
        )
    return label
