"""Class labels: the rules a label follows (one folder name, safe on every system) and the default of a file.

Example::

    >>> from eventcnn.images.labels import check_label, label_from_path
    >>> label_from_path("TTjets_json.json.gz"), check_label("w_jets")
    ('ttjets', 'w_jets')
"""

from __future__ import annotations

import os
from pathlib import Path

from eventcnn.errors import UserError, check_name

__all__ = ["check_label", "label_from_path"]


def label_from_path(path: str | os.PathLike[str]) -> str:
    """Default class label of an event file: ``TTjets_json.json.gz`` -> ``ttjets``."""
    name = Path(path).name
    for suffix in (".gz", ".json", ".root"):
        name = name.removesuffix(suffix)
    name = name.removesuffix("_json").lower()
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "events"
    try:
        return check_label(label)
    except UserError:  # only a Windows device name is left to refuse: con.json -> con_events
        return f"{label}_events"


def check_label(label: str) -> str:
    """``label`` if it is a safe class name (one folder name inside the output folder).

    The rule of every name that becomes part of a path (:func:`eventcnn.errors.check_name`):
    any non-empty name other than ``.`` and ``..`` without ``/``, ``\\``, ``:`` or control
    characters, not a Windows device name and not ending in a space or a dot, so that the
    same image folder works on every system. Anything else is a ``ValueError``
    (:class:`~eventcnn.errors.UserError`) saying so; this keeps every image inside ``out``.

    Example::

        >>> check_label("ttjets")
        'ttjets'
    """
    return check_name(label, what="class label", becomes="one folder name", example="ttjets, w_jets")
