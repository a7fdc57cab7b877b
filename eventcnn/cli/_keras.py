"""Entry points import Keras quietly (the CLI, the notebooks through helpers.py); library code never does.

No command lists whether it needs Keras: :func:`keras_imported_quietly` wraps
a command, and the first ``import keras`` (or ``tensorflow``) it makes, wherever
in the library that happens, is done by :func:`import_keras_quietly`. A command
that never imports Keras (``render``, ``opal label``, ...) never pays for it.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["import_keras_quietly", "keras_imported_quietly"]

#: top-level packages whose first import starts TensorFlow (and its C++ start-up log)
_HEAVY = frozenset({"keras", "tensorflow"})


def import_keras_quietly(start_device: bool = False) -> None:
    """Import Keras with the process's stderr (fd 2) muted; with ``start_device`` also start its device.

    TensorFlow's C++ start-up lines (oneDNN notes, ``cudart_stub``, ``failed call
    to cuInit`` on a machine without a GPU) are written before any log setting
    applies. Errors are not hidden: an import that fails still raises.
    Entry points call it (the CLI, notebooks); library code does not.
    """
    if "keras" in sys.modules and not start_device:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import keras

                if start_device:
                    keras.ops.convert_to_numpy(keras.ops.zeros((1,)))  # the device starts here (cuInit)
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


@contextlib.contextmanager
def keras_imported_quietly() -> Iterator[None]:
    """Within: the first ``import keras`` / ``import tensorflow`` statement goes through :func:`import_keras_quietly`.

    The import hook is removed at that first import (or on leaving), so later
    imports cost nothing extra.

    Example::

        with keras_imported_quietly():
            run_the_command(args)
    """
    if "keras" in sys.modules:
        yield
        return
    real = builtins.__import__

    def hook(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 - __import__'s own names
        if level == 0 and name.partition(".")[0] in _HEAVY and builtins.__import__ is hook:
            builtins.__import__ = real
            import_keras_quietly()
        return real(name, globals, locals, fromlist, level)

    builtins.__import__ = hook
    try:
        yield
    finally:
        if builtins.__import__ is hook:
            builtins.__import__ = real
