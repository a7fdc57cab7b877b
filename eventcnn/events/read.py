"""Read CMS open-data events (JSON or NanoAOD) into columnar numpy arrays.

The types, the JSON schema and its repaired quirks live in
:mod:`eventcnn.events.cms_json`; this module adds :func:`read_events`, which also
reads NanoAOD (:mod:`eventcnn.events.nanoaod`). Both are re-exported by
:mod:`eventcnn.events`.

Example::

    >>> from eventcnn.events import read_events
    >>> ev = read_events("json_files/TTjets_json.json")        # doctest: +SKIP
    >>> len(ev), ev.jet.counts[:5], ev.met[:3]                  # doctest: +SKIP
"""

from __future__ import annotations

import os

from eventcnn.events.cms_json import Events, read_json_events
from eventcnn.events.nanoaod import is_root_path, read_nanoaod

__all__ = ["read_events"]


def read_events(path: str | os.PathLike[str], skip_bad: bool = False) -> Events:
    """Read a CMS JSON event file (``.json`` or ``.json.gz``) or NanoAOD (``.root``) into :class:`Events`.

    ``.root`` paths and ``root://`` URLs go to :func:`eventcnn.events.nanoaod.read_nanoaod`
    (``skip_bad`` applies to JSON; a bad NanoAOD file is always an error).

    Bad input raises :class:`EventFormatError` naming the file, the event number
    and the field. With ``skip_bad=True`` bad events are dropped instead and
    listed in ``events.bad``.

    Example::

        >>> ev = read_events("Wjets_json.json", skip_bad=True)      # doctest: +SKIP
        >>> print(ev.summary(), len(ev.bad))                        # doctest: +SKIP
    """

    if is_root_path(path):  # NanoAOD: .root path or root:// / https:// URL
        return read_nanoaod(path, quiet=True)
    return read_json_events(path, skip_bad=skip_bad)
