"""Entry points import Keras quietly (the CLI, the notebooks through helpers.py); library code never does."""

from __future__ import annotations

import os
import sys

__all__ = ["import_keras_quietly"]


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
