"""Settings read from the environment, each parsed in one place, and the ``quiet`` convention.

Every public function that can print progress takes ``quiet: bool = False``
(the CLI's ``--quiet``); ``EVENTCNN_QUIET`` (:func:`quiet_from_env`) silences
them all. Older keyword names (``progress=``, ``verbose=``) still work through
:func:`renamed_quiet`, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["quiet_from_env", "renamed_quiet"]

_FALSE = frozenset({"", "0", "false", "no", "off"})

F = TypeVar("F", bound=Callable[..., Any])


def quiet_from_env() -> bool:
    """True when ``EVENTCNN_QUIET`` asks for no progress output (``1``, ``true``, ``yes``, ...).

    Unset, empty, ``0``, ``false``, ``no`` and ``off`` (any case) mean: show progress.

    Example::

        >>> os.environ["EVENTCNN_QUIET"] = "0"; quiet_from_env()
        False
    """
    return os.environ.get("EVENTCNN_QUIET", "").strip().lower() not in _FALSE


def renamed_quiet(old: str) -> Callable[[F], F]:
    """Decorator: accept the old keyword ``old`` (``progress`` or ``verbose``) as ``quiet=not old``.

    The old keyword is hidden (not in the signature), warns with a
    :class:`DeprecationWarning` and is a :class:`TypeError` together with ``quiet=``.

    Example::

        >>> @renamed_quiet("progress")
        ... def work(n, *, quiet=False):
        ...     return quiet
        >>> work(1, quiet=True)
        True
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if "quiet" in kwargs:
                    raise TypeError(f"{func.__name__}(): pass quiet= only ({old}= is its old name)")
                warnings.warn(
                    f"{func.__name__}({old}=...) is deprecated; use quiet={not kwargs[old]!r}",
                    DeprecationWarning, stacklevel=2,
                )  # fmt: skip
                kwargs["quiet"] = not kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
