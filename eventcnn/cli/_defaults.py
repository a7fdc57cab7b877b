"""The defaults a command shows and uses, read from the library (written once, in the library).

Example::

    p.add_argument("--lr", type=float, default=default(TrainConfig, "lr"),
                   help="learning rate (default: %(default)s)")
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

__all__ = ["default"]


def default(owner: Any, name: str) -> Any:
    """The default of field ``name`` of a dataclass, or of parameter ``name`` of a function."""
    if dataclasses.is_dataclass(owner):
        field = {f.name: f for f in dataclasses.fields(owner)}[name]
        if field.default is not dataclasses.MISSING:
            return field.default
        return field.default_factory()  # type: ignore[misc]
    value = inspect.signature(owner).parameters[name].default
    if value is inspect.Parameter.empty:
        raise KeyError(f"{owner.__name__}() has no default for {name!r}")
    return value
