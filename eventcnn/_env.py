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

__all__ = ["quiet_from_env", "sayer"]

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
