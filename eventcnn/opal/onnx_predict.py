"""Classify OPAL displays with an exported masterclass CNN on ONNX Runtime (no TensorFlow, no Keras).

The model card of an OPAL export (:mod:`eventcnn.learn.export`) says how the
displays were prepared (size, crop) and how predictions were averaged
(test-time augmentation copies); this applies both exactly as ``eventcnn opal
predict`` does (:func:`eventcnn.opal.displays.load_displays`,
:func:`eventcnn.opal.model.rotate_images`) and writes the same CSV
(``event,predicted,p_q,p_e,p_m,p_t``).

Example::

    from eventcnn.opal.onnx_predict import predict_displays
    probs = predict_displays("opal.onnx", "displays.zip", "predictions.csv")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn._env import quiet_from_env, sayer
from eventcnn.errors import UserError, check_output
from eventcnn.learn.onnx_runtime import OnnxClassifier
from eventcnn.opal.displays import CLASS_NAMES, load_displays
from eventcnn.opal.ids import display_ids
from eventcnn.opal.model import rotate_images, write_predictions

__all__ = ["predict_displays", "tta_copy"]


def tta_copy(images: np.ndarray, k: int, copies: int) -> np.ndarray:
    """Copy ``k`` of ``copies`` of the TTA of :mod:`eventcnn.opal.tta`: rotated by ``k * 360 / copies``, mirrored when odd."""
    return rotate_images(images, np.full(len(images), k * 360.0 / copies), np.full(len(images), k % 2 == 1))


def predict_displays(model: str | os.PathLike[str] | OnnxClassifier, source: str | os.PathLike[str],
                     out: str | os.PathLike[str] | None = None, *, copies: int | None = None,
                     threads: int | None = None, overwrite: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Classify the displays of a zip or folder; with ``out`` write ``event,predicted,p_<class>`` per display.

    ``copies``: TTA copies (default: the card's). Returns ``{"names", "probs"}``.
    """
    say = sayer(quiet or quiet_from_env())
    clf = model if isinstance(model, OnnxClassifier) else OnnxClassifier(model, threads=threads)
    if clf.kind != "opal":
        raise UserError(f"{clf.path} is a {clf.kind} model, not the OPAL masterclass CNN: "
                        f"`eventcnn predict --model {clf.path} EVENTS_OR_IMAGES`")
    if list(clf.class_names) != list(CLASS_NAMES):
        raise UserError(f"{clf.path}: classes {clf.class_names}, expected the masterclass's {list(CLASS_NAMES)}")
    if out is not None:
        check_output(out, inputs=[source], overwrite=overwrite, protected=[("the model file", clf.path)])
    display = (clf.card.get("preprocessing") or {}).get("display") or {}
    crop = display.get("crop")
    data = load_displays(source, size=clf.size, crop=tuple(crop) if crop else None, quiet=True)
    n = int((clf.card.get("tta") or {}).get("copies") or 1) if copies is None else int(copies)
    probs = clf.predict_averaged(data.images, n, tta_copy, batch_size=16)
    names = np.array(display_ids(data.names))
    say(f"{Path(source)}: {len(names)} displays classified ({n} TTA copies)")
    if out is not None:
        write_predictions(out, names, probs.astype(np.float32))
        say(f"wrote {out}")
    return {"names": names, "probs": probs}
