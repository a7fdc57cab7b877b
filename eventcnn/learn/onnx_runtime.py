"""Classify with an exported model (``eventcnn export``) on ONNX Runtime: no TensorFlow, no Keras.

This module imports numpy and onnxruntime only, so ``eventcnn predict --model
model.onnx`` works in the small install ``pip install eventcnn[classify]``
(no Keras, no TensorFlow; an import-linter contract keeps it so).

:class:`OnnxClassifier` wraps one inference session: ``uint8`` NHWC images in,
class probabilities out, in batches; its ``card`` is the model card the
export embedded (:func:`read_card`). It is classified with like a Keras model:
:func:`eventcnn.learn.predict.predict` takes the ``.onnx`` file where it takes a
run folder (CMS events and images through :mod:`eventcnn.learn.scoring`, OPAL
displays with the card's test-time augmentation through the same
:func:`~eventcnn.learn.predict.predict_tta`).

Session settings: graph optimisations on (``ORT_ENABLE_ALL``), one
inter-op thread, ``threads`` intra-op threads (default: ONNX Runtime's, all
cores; the benchmarks use 1), and no busy-waiting of idle threads (on a
shared machine spinning threads take CPU from others).

Example::

    from eventcnn.learn.onnx_runtime import OnnxClassifier
    clf = OnnxClassifier("small.onnx", threads=1)
    prob = clf.predict(images_uint8)            # (n, k), clf.class_names
    rows = eventcnn.learn.predict.predict("small.onnx", ["TTjets.json"], "pred.csv")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn.errors import UserError

__all__ = ["CARD_KEY", "CARD_VERSION", "OnnxClassifier", "card_path", "is_onnx_model", "read_card"]

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
        return _parse_card(self.path, self.session.get_modelmeta().custom_metadata_map.get(CARD_KEY))

    @property
    def kind(self) -> str:
        """``cms`` or ``opal`` (:data:`eventcnn.learn.runs.RUN_KINDS`), from the card."""
        return str(self.card["kind"])

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """``(None, size, size, 3)``, as a Keras model says it."""
        return (None, self.size, self.size, 3)

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """``(None, classes)``, as a Keras model says it."""
        return (None, len(self.class_names))

    def predict_on_batch(self, images: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, k)`` (float32) of one batch: the call :func:`eventcnn.learn.predict.predict_images`
        makes on a Keras model, so the same batching and test-time augmentation serve both."""
        return self.predict(images, batch_size=max(1, len(images))).astype(np.float32)

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


def _parse_card(path: Path, text: str | None) -> dict[str, Any]:
    """The card from the model's metadata ``text``, else from ``<name>.card.json`` beside it; checked."""
    source = f"{path} (metadata {CARD_KEY})"
    if text is None and card_path(path).is_file():
        text, source = card_path(path).read_text(encoding="utf-8"), str(card_path(path))
    if text is None:
        raise UserError(f"{path} carries no eventcnn model card (no metadata {CARD_KEY!r} and no "
                        f"{card_path(path).name} beside it): export it with `eventcnn export RUN`")
    try:
        card = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}: the model card is not valid JSON ({exc.msg})") from None
    missing = [k for k in ("kind", "class_names", "image_size") if not isinstance(card, dict) or k not in card]
    if missing:
        raise UserError(f"{source}: the model card lacks {missing}")
    return card


def read_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model card of an exported ``.onnx`` file (its metadata, else the ``.card.json`` beside it).

    Example::

        read_card("small.onnx")["kind"]      # 'cms'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model {path} not found: write one with `eventcnn export RUN`")
    text = None
    try:
        import onnxruntime as ort  # the metadata without a session of the whole graph is not offered by ORT

        so = ort.SessionOptions()
        so.log_severity_level = 3
        text = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]) \
            .get_modelmeta().custom_metadata_map.get(CARD_KEY)
    except ImportError:
        pass  # no ONNX Runtime: the card beside the file still says what the model is
    except Exception as exc:  # noqa: BLE001 - ORT raises its own types for a bad file
        raise UserError(f"{path}: not an ONNX model ONNX Runtime can load "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return _parse_card(path, text)
