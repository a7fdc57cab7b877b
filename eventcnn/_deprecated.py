"""Old names kept working for existing scripts, each with a :class:`DeprecationWarning`.

Two kinds: an old keyword of a function (:func:`renamed_quiet`: ``progress=`` and
``verbose=`` became ``quiet=``), and an old module attribute (:func:`old_names`,
a module ``__getattr__``). Neither shows up in signatures or ``__all__``.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["old_names", "renamed_quiet"]

F = TypeVar("F", bound=Callable[..., Any])


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


def old_names(module: str, renamed: Mapping[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``renamed`` = ``{old: ("package.module.new", why)}`` with a warning.

    Example::

        __getattr__ = old_names(__name__, {"to_records": ("eventcnn.generate.reco_records", "")})
    """

    def __getattr__(name: str) -> Any:
        if name not in renamed:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, why = renamed[name]
        warnings.warn(f"{module}.{name} is deprecated; use {target}" + (f" ({why})" if why else ""),
                      DeprecationWarning, stacklevel=2)
        where, _, attr = target.rpartition(".")
        return getattr(importlib.import_module(where), attr)

    return __getattr__
