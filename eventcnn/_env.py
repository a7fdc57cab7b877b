"""Settings read from the environment, each parsed in one place.

The ``quiet`` convention: every public function that can print progress takes
``quiet: bool = False`` (the CLI's ``--quiet``), and ``EVENTCNN_QUIET``
(:func:`quiet_from_env`) silences the command line and the stages that read
it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import platformdirs

__all__ = ["CACHE_ENV", "cache_root", "quiet_from_env", "sayer"]

#: the one environment variable that moves eventcnn's cache (fetched data and decoded images)
CACHE_ENV = "EVENTCNN_CACHE"

_FALSE = frozenset({"", "0", "false", "no", "off"})


def quiet_from_env() -> bool:
    """True when ``EVENTCNN_QUIET`` asks for no progress output (``1``, ``true``, ``yes``, ...).

    Unset, empty, ``0``, ``false``, ``no`` and ``off`` (any case) mean: show progress.

    Example::

        >>> os.environ["EVENTCNN_QUIET"] = "0"; quiet_from_env()
        False
    """
    return os.environ.get("EVENTCNN_QUIET", "").strip().lower() not in _FALSE


def sayer(quiet: bool, stderr: bool = False) -> Callable[[str], None]:
    """A ``say(msg)`` that prints one progress line (stdout, or stderr) unless ``quiet``.

    Example::

        >>> say = sayer(quiet=False)
        >>> say("3 images")
        3 images
    """

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr if stderr else sys.stdout, flush=True)

    return say


def cache_root() -> Path:
    """The root of eventcnn's cache: ``EVENTCNN_CACHE`` when set, else the user cache folder.

    The user cache folder is ``platformdirs.user_cache_dir("eventcnn")`` (``~/.cache/eventcnn``
    on Linux, ``~/Library/Caches/eventcnn`` on macOS). Fetched data goes to ``<root>/cms``,
    ``<root>/opal``, ``<root>/nano``; the
    decoded-image cache of ``eventcnn train`` to ``<root>/images``. Everything in it can be
    deleted at any time (it is rebuilt or fetched again).

    Example::

        >>> os.environ["EVENTCNN_CACHE"] = "/tmp/ec"; cache_root()
        PosixPath('/tmp/ec')
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("eventcnn"))  # the folder pooch.os_cache("eventcnn") gives
