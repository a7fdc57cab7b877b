"""Basics shared by the data fetchers (:mod:`eventcnn.events.sources`, :mod:`eventcnn.events.opendata`, :mod:`eventcnn.events.nanoaod`).

The error types, the cache and mirror folders and the download timeout, in a
module that imports no other part of eventcnn but `eventcnn._env`, so the fetchers depend on it and
not on each other. :mod:`eventcnn.events.sources` re-exports the public names.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from eventcnn._env import cache_root

__all__ = ["DOWNLOAD_TIMEOUT", "DataFormatError", "DataIntegrityError", "DownloadError", "UnsafeArchiveError",
           "cache_dir", "mirror_from_env", "want_bar"]

#: Seconds without data after which a download is abandoned (read at call time: tests lower it).
DOWNLOAD_TIMEOUT = 60.0


class DataIntegrityError(ValueError):
    """A downloaded file (or archive member) does not have the expected sha256."""


class DataFormatError(ValueError):
    """A file (typically from a mirror) does not have the expected format."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the destination folder."""


class DownloadError(RuntimeError):
    """A download failed (network error, HTTP error, truncated transfer)."""


def cache_dir() -> Path:
    """Folder where fetched data is cached: :func:`eventcnn._env.cache_root`.

    ``EVENTCNN_CACHE`` when set, else the user cache dir (platformdirs).

    Example::

        >>> cache_dir()  # doctest: +SKIP
        PosixPath('/home/me/.cache/eventcnn')
    """
    return cache_root()


def mirror_from_env(mirror: str | os.PathLike[str] | None) -> Path | None:
    """``mirror``, else ``EVENTCNN_DATA_MIRROR``, else None."""
    if mirror is not None:
        return Path(mirror).expanduser()
    env = os.environ.get("EVENTCNN_DATA_MIRROR")
    return Path(env).expanduser() if env else None


def want_bar(quiet: bool) -> bool:
    """Show tqdm bars only when not ``quiet`` and interactive (terminal or Jupyter)."""
    if quiet:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules
