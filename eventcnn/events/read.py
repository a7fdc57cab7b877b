"""Read events of any registered format (CMS JSON, NanoAOD TTree / RNTuple) into columnar :class:`Events`.

The formats and the dispatch live in :mod:`eventcnn.events.formats`; this module
adds the two calls most code wants: :func:`read_events` (a whole file) and
:func:`read_selected` (read and select, entry range by entry range for large
files). Both are re-exported by :mod:`eventcnn.events`.

Example::

    >>> from eventcnn.events import read_events
    >>> ev = read_events("json_files/TTjets_json.json")        # doctest: +SKIP
    >>> len(ev), ev.jet.counts[:5], ev.met[:3]                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace

from eventcnn.events.cms_json import Events, concat_events
from eventcnn.events.formats import ReadOptions, count_entries, read_file, read_range
from eventcnn.events.selection import CutFlow, Selection, get_selection

__all__ = ["SELECT_STEP", "read_events", "read_selected"]

#: entries per range of :func:`read_selected` on a file read in ranges
SELECT_STEP = 200_000


def read_events(path: str | os.PathLike[str], skip_bad: bool = False, *,
                absent: str | Iterable[str] | None = None) -> Events:
    """Read an event file of any registered format (``.json``, ``.json.gz``, NanoAOD ``.root``) into :class:`Events`.

    Bad input raises :class:`EventFormatError` naming the file, the event number
    and the field. With ``skip_bad=True`` bad JSON events are dropped instead and
    listed in ``events.bad`` (a bad NanoAOD file is always an error). ``absent``:
    collections or fields the file lacks on purpose (``"Electron,Jet,MET"``); any
    other missing collection or flag is an error, never read as none.

    Example::

        >>> ev = read_events("Wjets_json.json", skip_bad=True)      # doctest: +SKIP
        >>> print(ev.summary(), len(ev.bad))                        # doctest: +SKIP
    """
    return read_file(path, ReadOptions.make(absent, skip_bad=skip_bad))


def read_selected(
    path: str | os.PathLike[str],
    selection: Selection | str | None = None,
    options: ReadOptions | None = None,
    step_size: int = SELECT_STEP,
) -> tuple[Events, CutFlow | None]:
    """Read and select, entry range by entry range for large files: memory is bounded by the selected events.

    Returns ``(events, cutflow)``; the cut flow sums the ranges' (``None`` without a
    selection). ``options`` default: what the selection needs, nothing absent.

    Example::

        >>> ev, flow = read_selected("tt.root", "paper")           # doctest: +SKIP
    """
    sel = get_selection(selection)
    options = options or ReadOptions.make(selection=sel)
    n = count_entries(path)
    parts: Iterator[Events] = (iter([read_file(path, options)]) if n is None else
                               (read_range(path, a, min(a + step_size, n), options)
                                for a in range(0, max(n, 1), step_size)))
    if sel is None:
        events = list(parts)
        return (events[0] if len(events) == 1 else replace(concat_events(events), source=str(path))), None
    kept, names, steps = [], [], None
    for chunk in parts:
        passed, flow = sel.apply(chunk)
        kept.append(passed)
        counts = [c for _, c in flow.steps]
        steps = counts if steps is None else [a + b for a, b in zip(steps, counts)]
        names = [name for name, _ in flow.steps]
    events = kept[0] if len(kept) == 1 else replace(concat_events(kept), source=str(path))
    return events, CutFlow(list(zip(names, steps or [])), str(path))
