"""Settings read from the environment, each parsed in one place."""

from __future__ import annotations

import os

__all__ = ["quiet_from_env"]

_FALSE = frozenset({"", "0", "false", "no", "off"})


def quiet_from_env() -> bool:
    """True when ``EVENTCNN_QUIET`` asks for no progress output (``1``, ``true``, ``yes``, ...).

    Unset, empty, ``0``, ``false``, ``no`` and ``off`` (any case) mean: show progress.

    Example::

        >>> os.environ["EVENTCNN_QUIET"] = "0"; quiet_from_env()
        False
    """
    return os.environ.get("EVENTCNN_QUIET", "").strip().lower() not in _FALSE
