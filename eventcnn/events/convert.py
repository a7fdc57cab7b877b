"""``data convert``: an event file into another format (CMS JSON <-> NanoAOD, any NanoAOD layout).

Reading and writing go through the registry of event formats
(:mod:`eventcnn.events.formats`): the output's suffix picks the writer; a NanoAOD
output takes a ``layout`` (:data:`eventcnn.events.nanoaod_write.WRITE_LAYOUTS`).

Example::

    >>> convert("TTjets_json.json", "TTjets.root")                  # doctest: +SKIP
    PosixPath('TTjets.root')
"""

from __future__ import annotations

import os
from pathlib import Path

from eventcnn.errors import UserError, check_output
from eventcnn.events.cms_json import EventFormatError
from eventcnn.events.formats import ReadOptions, format_of, read_file
from eventcnn.events.nanoaod import read_parallel
from eventcnn.events.nanoaod_write import WRITE_LAYOUTS, write_nanoaod
from eventcnn.executor import Executor

__all__ = ["convert"]


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    skip_bad: bool = False,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    quiet: bool = True,
    overwrite: bool = False,
    executor: Executor | None = None,
    absent: str | list[str] | None = None,
    layout: str = "ttree",
) -> Path:
    """Convert an event file into the format of ``dst`` (``.root``: NanoAOD in ``layout``; ``.json``, ``.json.gz``).

    ``dst`` is checked before anything is read (:func:`eventcnn.errors.check_output`): it is
    never ``src``, and an existing file is replaced only with ``overwrite``. ``absent``:
    collections the input lacks on purpose (``"Electron,Jet"``). A NanoAOD input is read
    as entry-range tasks on ``executor`` (else ``jobs`` local worker processes or the Dask
    cluster at ``scheduler``); the output does not depend on them.

    Example::

        >>> convert("TTjets_json.json", "TTjets.root", layout="rntuple-collections")   # doctest: +SKIP
        PosixPath('TTjets.root')
    """
    out_format = format_of(dst)
    if out_format.write is None:
        raise UserError(f"output {dst}: eventcnn does not write {out_format.description}")
    if layout not in WRITE_LAYOUTS:
        raise UserError(f"unknown NanoAOD layout {layout!r} (--layout); choose one of {', '.join(WRITE_LAYOUTS)}")
    if "://" not in str(src) and Path(src).is_dir():
        raise EventFormatError(f"{src} is a folder, not an event file: give a .json, .json.gz or .root file")
    if "://" not in str(src) and not Path(src).is_file():
        raise FileNotFoundError(f"event file not found: {src}")
    in_format = format_of(src)
    check_output(dst, inputs=[src], overwrite=overwrite, flag="output")
    options = ReadOptions.make(absent, skip_bad=skip_bad)
    if in_format.name == "nanoaod":
        events = read_parallel(src, jobs=jobs, scheduler=scheduler, quiet=quiet, executor=executor, options=options)
    else:
        events = read_file(src, options)
    if len(events) == 0:  # nothing to convert: an error, never an empty output file
        raise UserError(f"{src}: the file holds no events; nothing to convert"
                        + (f" ({len(events.bad)} bad event(s) dropped)" if getattr(events, "bad", None) else ""))
    if out_format.name == "nanoaod":
        return write_nanoaod(dst, events, layout=layout)
    return out_format.write(str(dst), events)
