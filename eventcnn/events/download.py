"""The download machinery of the data registry: pooch downloads, mirror copies, origin records.

:mod:`eventcnn.events.sources` (the registry and ``fetch``) and
:mod:`eventcnn.events.opendata` (the CERN open data portal: NanoAOD records and
their file indexes) share these pieces:

- :func:`pooch_download`: one file through ``pooch.create(...).fetch`` with its
  known sha256 (pooch downloads to a temporary file and checks the hash), into
  a private folder next to the target, then renamed onto the target once every
  check passed: nothing partial is ever left behind.
- :func:`copy_from_mirror`: the local-mirror copy (``EVENTCNN_DATA_MIRROR`` /
  ``--mirror``), format-checked, with a ``<file>.origin.json`` record
  (:func:`record_origin`, :func:`cached_origin`) so that later fetches work offline.
- the error types, the cache folder and the download timeout.

This module imports no other part of :mod:`eventcnn.events`, so both fetchers
depend on it and not on each other.

Example::

    from eventcnn.events.download import pooch_download
    pooch_download("https://host/x.json", "data/cms/x.json", sha256="0a0c...", label="cms/x.json")
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from eventcnn._env import cache_root
from eventcnn._io import atomic_path, sha256sum
from eventcnn.errors import EventcnnError, UserError

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "DataFormatError",
    "DataIntegrityError",
    "DownloadError",
    "UnsafeArchiveError",
    "UnverifiedWarning",
    "cache_dir",
    "cached_origin",
    "copy_from_mirror",
    "mirror_from_env",
    "origin_path",
    "pooch_download",
    "record_origin",
    "stderr_sayer",
    "want_bar",
]

#: Seconds without data after which a download is abandoned (read at call time: tests lower it).
DOWNLOAD_TIMEOUT = 60.0


class DataIntegrityError(UserError):
    """A downloaded file (or archive member) does not have the expected checksum or size."""


class DataFormatError(UserError):
    """A file (typically from a mirror) does not have the expected format."""


class UnsafeArchiveError(UserError):
    """An archive member would be written outside the destination folder."""


class DownloadError(EventcnnError, RuntimeError):
    """A download failed (network error, HTTP error, truncated transfer)."""


class UnverifiedWarning(UserWarning):
    """A file was fetched without a published checksum to check it against."""


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


def stderr_sayer(quiet: bool) -> Callable[..., None]:
    """``say(msg, force=False)``: a status line on stderr unless ``quiet`` (``force``: a warning, always).

    Example::

        >>> stderr_sayer(quiet=True)("not shown")
    """

    def say(msg: str, force: bool = False) -> None:
        if force or not quiet:
            print(msg, file=sys.stderr, flush=True)

    return say


def want_bar(quiet: bool) -> bool:
    """Show tqdm bars only when not ``quiet`` and interactive (terminal or Jupyter)."""
    if quiet:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


# --------------------------------------------------------------------------- pooch


@contextlib.contextmanager
def _pooch_log_quiet() -> Iterator[None]:
    """pooch logs 'Downloading file ...' at INFO on stderr; our own lines say it (or ``quiet``)."""
    import pooch  # deferred: see cache_dir

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _local_write_error(exc: OSError) -> bool:
    """True for an error writing the local file (not a network problem)."""
    import requests  # deferred: see cache_dir

    if isinstance(exc, requests.RequestException):
        return False
    return isinstance(exc, (PermissionError, IsADirectoryError, NotADirectoryError)) or exc.errno in (
        errno.ENOSPC, errno.EDQUOT, errno.EROFS,
    )


def pooch_download(
    url: str,
    target: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    label: str = "",
    bar: bool = False,
    hint: str = "use local copies with --mirror DIR / EVENTCNN_DATA_MIRROR",
    check: Callable[[Path, str], None] | None = None,
) -> Path:
    """Download ``url`` to ``target`` with pooch, checking ``sha256`` (pooch's known hash).

    The file arrives in a private temporary folder beside ``target``
    (``pooch.create(path=..., registry={name: "sha256:..."}).fetch``); ``check(path,
    url)`` then runs on it (size, adler32, format), and only then is it renamed
    onto ``target``. A failure anywhere, Ctrl-C included, leaves ``target`` as it
    was and no temporary file behind.

    Raises :class:`DownloadError` (network, HTTP, truncated transfer; ``hint``
    says what else to do), :class:`DataIntegrityError` (sha256 mismatch, naming
    both hashes) or the ``OSError`` of a local write problem (full disk).

    Example::

        pooch_download("https://raw.githubusercontent.com/o/r/c/x.csv", "opal/x.csv",
                       sha256="2e41...", label="opal/x.csv")
    """
    import pooch  # deferred: see cache_dir

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    name = target.name
    got: dict[str, str] = {}
    http = pooch.HTTPDownloader(progressbar=bar, timeout=DOWNLOAD_TIMEOUT)

    def downloader(url_: str, output_file: Any, pooch_obj: Any, check_only: bool = False) -> Any:
        result = http(url_, output_file, pooch_obj, check_only=check_only)
        if sha256 is not None and not check_only:  # for the message when pooch finds a mismatch
            got["sha256"] = sha256sum(output_file)
        return result

    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=target.parent) as tmpdir:
        store = pooch.create(path=tmpdir, base_url="", registry={name: f"sha256:{sha256}" if sha256 else None},
                             urls={name: url}, retry_if_failed=0)
        try:
            with _pooch_log_quiet():
                fetched = Path(store.fetch(name, downloader=downloader))
        except ValueError as exc:
            if sha256 is None or "hash" not in str(exc):
                raise
            raise DataIntegrityError(
                f"sha256 mismatch for {label or name} downloaded from {url}: expected {sha256}, "
                f"got {got.get('sha256', 'another hash')}. Nothing was saved. The download was "
                "corrupted or the file changed at the source: retry; if it persists, use --mirror "
                "DIR with known-good copies and report it."
            ) from None
        except OSError as exc:  # requests' errors are OSErrors too
            if _local_write_error(exc):  # full disk, no permission: not an offline situation
                raise
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                hint = (f"{hint}. A certificate error from eospublic.cern.ch: its certificate chains to "
                        "the CERN Root Certification Authority 2, which is not in certifi's bundle; "
                        "point REQUESTS_CA_BUNDLE at a bundle that includes it")
            raise DownloadError(
                f"could not download {label or name} from {url}: {exc}. Nothing was saved. Check "
                f"the connection and retry, or {hint}."
            ) from exc
        if check is not None:
            check(fetched, url)
        os.chmod(fetched, 0o666 & ~_umask())
        os.replace(fetched, target)
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- mirror, origin


def copy_from_mirror(
    origin: str | os.PathLike[str],
    target: str | os.PathLike[str],
    check: Callable[[Path], None],
) -> Path:
    """Copy a mirror file to ``target`` atomically, format-check the copy, record its origin.

    ``check(path)`` raises :class:`DataFormatError` (or :class:`UnsafeArchiveError`);
    its message names the mirror file, not the temporary copy. The sidecar
    ``<target>.origin.json`` (:func:`record_origin`) says where it came from.

    Example::

        copy_from_mirror("../shared/data/opal/events_list.csv", "cache/opal/events_list.csv", check)
    """
    origin, target = Path(origin), Path(target)
    with atomic_path(target) as tmp:
        shutil.copyfile(origin, tmp)
        try:
            check(tmp)
        except (DataFormatError, UnsafeArchiveError) as exc:
            raise type(exc)(str(exc).replace(str(tmp), str(origin))) from None
    record_origin(target, f"mirror {origin}", "format checked")
    return target


def origin_path(target: str | os.PathLike[str]) -> Path:
    """Sidecar ``<file>.origin.json`` recording where a fetched file came from.

    Example::

        >>> origin_path("cache/opal/events_list.csv").name
        'events_list.csv.origin.json'
    """
    target = Path(target)
    return target.with_name(target.name + ".origin.json")


def record_origin(target: str | os.PathLike[str], origin: str, check: str) -> None:
    """Write the sidecar of ``target``: its origin, sha256 and the check it passed."""
    target = Path(target)
    record = {"origin": origin, "sha256": sha256sum(target), "check": check}
    with atomic_path(origin_path(target)) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def cached_origin(target: str | os.PathLike[str]) -> str | None:
    """Where ``target`` came from when its sidecar matches it (it passed its checks), else None.

    A file copied from a mirror is format-checked, not hash-checked (mirrors may
    hold subsets); its sidecar says so, and a fetch without a mirror then uses
    it offline whatever mirror it came from, as long as the file is unchanged since.

    Example::

        >>> cached_origin(cache_dir() / "opal" / "events_list.csv")  # doctest: +SKIP
        'mirror /work/shared/data/opal/events_list.csv (format checked)'
    """
    target = Path(target)
    side = origin_path(target)
    if not (target.is_file() and side.is_file()):
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
        origin, digest, check = str(record["origin"]), str(record["sha256"]), str(record["check"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable sidecar: treat the file as unknown
    if digest != sha256sum(target):
        return None
    return f"{origin} ({check})"
