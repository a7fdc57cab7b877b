"""Settings read from the environment, each parsed in one place.

The ``quiet`` convention: every public function that can print progress takes
``quiet: bool = False`` (the CLI's ``--quiet``), and ``EVENTCNN_QUIET``
(:func:`quiet_from_env`) silences the command line and the stages that read
it. Older keyword names (``progress=``, ``verbose=``) still work through
:func:`eventcnn._deprecated.renamed_quiet`, with a :class:`DeprecationWarning`.
"""

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
