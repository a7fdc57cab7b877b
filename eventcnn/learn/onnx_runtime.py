"""Classify with an exported model (``eventcnn export``) on ONNX Runtime: no TensorFlow, no Keras.

This module imports numpy and onnxruntime only (and eventcnn's readers and
renderer when classifying event files), so ``eventcnn predict --model
model.onnx`` works in the small install ``pip install eventcnn[classify]``
and starts in about a second.

:class:`OnnxClassifier` wraps one inference session: ``uint8`` NHWC images in,
class probabilities out, in batches; its ``card`` is the model card the
export embedded. :func:`predict_onnx` classifies images and CMS event files
(JSON or NanoAOD) like ``eventcnn predict RUN``: event files are read,
selected, rendered and scored a chunk at a time, so memory does not grow with
the file (:mod:`eventcnn.learn.scoring`).

Session settings: graph optimisations on (``ORT_ENABLE_ALL``), one
inter-op thread, ``threads`` intra-op threads (default: ONNX Runtime's, all
cores; the benchmarks use 1), and no busy-waiting of idle threads (on a
shared machine spinning threads take CPU from others).

Example::

    from eventcnn.learn.onnx_runtime import OnnxClassifier
    clf = OnnxClassifier("small.onnx", threads=1)
    prob = clf.predict(images_uint8)            # (n, k), clf.class_names
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError
from eventcnn.learn import scoring

__all__ = ["CARD_KEY", "CARD_VERSION", "OnnxClassifier", "card_path", "is_onnx_model", "predict_onnx"]

#: metadata key of the model card inside the ONNX file
CARD_KEY = "eventcnn_card"
CARD_VERSION = 1


def card_path(model_path: str | os.PathLike[str]) -> Path:
    """``model.onnx`` -> ``model.card.json`` (the card beside the model)."""
    p = Path(model_path)
    return p.with_name(p.stem + ".card.json")


def is_onnx_model(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an ONNX model file (by its suffix)."""
    return str(path).lower().endswith(".onnx")


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise UserError("classifying with an ONNX model needs ONNX Runtime: pip install 'eventcnn[classify]' "
                        "(or onnxruntime)") from None
    return onnxruntime


class OnnxClassifier:
    """One ONNX Runtime session of an exported eventcnn model and its card.

    ``threads``: intra-op threads (``None``: ONNX Runtime's default). ``card``
    overrides the card read from the file (used by the export's own check).
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None,
                 card: dict[str, Any] | None = None) -> None:
        ort = _ort()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model {self.path} not found: write one with `eventcnn export RUN`")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        if threads is not None:
            so.intra_op_num_threads = int(threads)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types for a bad file
            raise UserError(f"{self.path}: not an ONNX model ONNX Runtime can load "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.card = card if card is not None else self._read_card()
        self.class_names = [str(c) for c in self.card["class_names"]]
        self.size = int(self.card["image_size"])
        if inp.type != "tensor(uint8)":
            raise UserError(f"{self.path}: input {inp.name} is {inp.type}, expected uint8 images "
                            "(export the model with `eventcnn export`)")

    def _read_card(self) -> dict[str, Any]:
        meta = self.session.get_modelmeta().custom_metadata_map
        text = meta.get(CARD_KEY)
        source = f"{self.path} (metadata {CARD_KEY})"
        if text is None and card_path(self.path).is_file():
            text, source = card_path(self.path).read_text(encoding="utf-8"), str(card_path(self.path))
        if text is None:
            raise UserError(f"{self.path} carries no eventcnn model card (no metadata {CARD_KEY!r} and no "
                            f"{card_path(self.path).name} beside it): export it with `eventcnn export RUN`")
        try:
            card = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}: the model card is not valid JSON ({exc.msg})") from None
        missing = [k for k in ("kind", "class_names", "image_size") if k not in card]
        if missing:
            raise UserError(f"{source}: the model card lacks {missing}")
        return card

    @property
    def kind(self) -> str:
        return str(self.card["kind"])

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``(n, k)`` (float64) of ``uint8`` images ``(n, size, size, 3)``."""
        x = np.asarray(images)
        if x.ndim != 4 or x.shape[1:] != (self.size, self.size, 3):
            raise UserError(f"{self.path}: expects images of shape (n, {self.size}, {self.size}, 3), got {x.shape}")
        if x.dtype != np.uint8:
            raise UserError(f"{self.path}: expects uint8 images (0..255), got {x.dtype}")
        out = np.empty((len(x), len(self.class_names)), dtype=np.float64)
        for i in range(0, len(x), batch_size):
            out[i:i + batch_size] = self.session.run(None, {self.input_name: np.ascontiguousarray(x[i:i + batch_size])})[0]
        return out

    def predict_averaged(self, images: np.ndarray, copies: int,
                         transform: Callable[[np.ndarray, int, int], np.ndarray], batch_size: int = 64,
                         chunk: int = 512) -> np.ndarray:
        """Test-time augmentation: the mean probability over ``copies`` transformed copies.

        ``transform(images, k, copies)`` makes copy ``k`` (``k = 0`` is the image itself
        and is not transformed); copies are made a chunk of images at a time.
        """
        if copies < 1:
            raise UserError(f"copies must be >= 1, got {copies}")
        total = self.predict(images, batch_size)
        for k in range(1, copies):
            for i in range(0, len(images), chunk):
                total[i:i + chunk] += self.predict(transform(images[i:i + chunk], k, copies), batch_size)
        return total / copies


def predict_onnx(model: str | os.PathLike[str] | OnnxClassifier, inputs: Sequence[str | os.PathLike[str]],
                 out: str | os.PathLike[str] | None = None, *, batch_size: int = 64, selection: Any = "auto",
                 threads: int | None = None, chunk_events: int | None = None, overwrite: bool = False,
                 quiet: bool = False) -> Any:
    """Classify images or CMS event files with an exported CMS model; the rows of ``eventcnn predict``.

    ``selection="auto"``: the run's selection recorded in the card. Event files
    are streamed (:func:`eventcnn.learn.scoring.predict_inputs`); with ``out`` the CSV
    is written as the rows come (atomically at the end). Returns the rows
    (:class:`eventcnn.learn.scoring.PredictionRows`, compact: no dict per event is kept).

    Example::

        rows = predict_onnx("small.onnx", ["TTjets.json"], "pred.csv", threads=1)
    """
    clf = model if isinstance(model, OnnxClassifier) else OnnxClassifier(model, threads=threads)
    if clf.kind != "cms":
        raise UserError(f"{clf.path} is an {clf.kind} model: classify displays with "
                        f"`eventcnn predict --model {clf.path} DISPLAYS.zip` (the OPAL path)")
    pre = clf.card.get("preprocessing") or {}
    if selection == "auto":
        selection = pre.get("selection", "paper")
    return scoring.predict_inputs(lambda x: clf.predict(x, batch_size), inputs, clf.class_names, clf.size,
                                  render_config=pre.get("render_config"), selection=selection, out=out,
                                  chunk_events=chunk_events, overwrite=overwrite, quiet=quiet,
                                  protected=[("the model file", clf.path)])
