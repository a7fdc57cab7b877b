"""Export a run's model as ONNX with its preprocessing inside and a model card (``eventcnn export``).

The exported graph takes the images as eventcnn feeds them to the network:
``uint8`` RGB, ``(N, H, W, 3)`` (NHWC), pixel values 0..255 exactly as rendered
(CMS eta-phi images) or decoded (OPAL displays); the scaling (``x / 255``, a
backbone's ImageNet preprocessing) is inside the graph, as it is inside the
Keras model. Training-only augmentation layers are left out (in inference they
pass images through unchanged). The output is the softmax probabilities in
the order of the card's ``class_names``.

Route: ``keras.Model.export(format="onnx")``, which on the TensorFlow backend
traces the model with ``tf.function`` and converts it with ``tf2onnx``
(``pip install eventcnn[export]``: tf2onnx 1.17 and onnx; Keras patches
tf2onnx for numpy 2). After the export the ONNX model is run with ONNX
Runtime on fixed seeded inputs and must agree with Keras within ``1e-5``
(else the export fails and nothing is written); the difference found is
recorded in the card.

The model card (JSON, inside the ONNX file as metadata ``eventcnn_card`` and
beside it as ``<name>.card.json``) holds: kind (``cms``/``opal``), classes,
input and output, the preprocessing (render config and event selection of a
CMS run; display size, crop and test-time augmentation of an OPAL run), the
training data, the test figures with their 95 % intervals, the source run and
the versions. :mod:`eventcnn.learn.onnx_runtime` reads it (without Keras).

Example::

    from eventcnn.learn.export import export_run
    path = export_run("runs/small", "small.onnx")     # + small.card.json
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from eventcnn import __version__
from eventcnn._env import quiet_from_env, sayer
from eventcnn._io import atomic_path, write_json_atomic
from eventcnn.errors import UserError, check_output
from eventcnn.images.folder import SELECTION
from eventcnn.learn.onnx_runtime import CARD_KEY, CARD_VERSION, OnnxClassifier, card_path
from eventcnn.learn.predict import run_selection
from eventcnn.learn.runs import load_keras_file, read_json, read_run_config, run_kind

__all__ = ["EXPORT_FORMATS", "PARITY_TOLERANCE", "export_run", "inference_model", "model_card"]

EXPORT_FORMATS = ("onnx",)
#: largest |Keras - ONNX Runtime| probability difference an export may have on the fixed check inputs
PARITY_TOLERANCE = 1e-5
#: the TTA rule of OPAL runs (eventcnn.learn.predict.predict_tta), in words for the card
TTA_RULE = ("average the probabilities of `copies` copies: copy k (k = 0..copies-1) rotated by k * 360 / copies "
            "degrees about the image centre (PIL bilinear, corners filled black) and mirrored left-right when k "
            "is odd; copies = 1: one pass")


class ExportError(UserError):
    """The model could not be exported, or the exported model does not agree with Keras."""


def _model_file(run_dir: Path) -> Path:
    for name in ("best.keras", "model.keras"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise FileNotFoundError(f"{run_dir} holds no best.keras: train the run first")


def inference_model(model: Any) -> Any:
    """The model without its training-only random augmentation layers (the same layer objects and weights).

    A ``Sequential`` model (the OPAL masterclass CNN) is rebuilt without its
    ``Random*`` layers; other models are returned unchanged (eventcnn's own
    augmentation layers trace to the identity in inference).
    """
    import keras

    if not isinstance(model, keras.Sequential):
        return model
    kept = [layer for layer in model.layers if not type(layer).__name__.startswith("Random")]
    if len(kept) == len(model.layers):
        return model
    serving = keras.Sequential([keras.Input(model.input_shape[1:]), *kept], name=model.name)
    return serving


def _preprocessing_inside(model: Any) -> str:
    """In words: what the graph does to the uint8 pixels before the first convolution."""
    import keras

    def walk(m: Any):
        for layer in m.layers:
            yield layer
            if isinstance(layer, keras.Model):
                yield from walk(layer)

    for layer in walk(model):
        name = type(layer).__name__
        if name == "BackbonePreprocess":
            words = {"unit": "x / 255", "tf": "x / 127.5 - 1", "caffe": "RGB -> BGR, minus the ImageNet mean",
                     "torch": "x / 255, minus the ImageNet mean, divided by its std", "none": "cast to float only"}
            return f"uint8 -> float32, then {words.get(layer.mode, layer.mode)} (BackbonePreprocess '{layer.mode}')"
        if name == "Rescaling":
            return f"uint8 -> float32, then x * {layer.scale:g} + {layer.offset:g} (Rescaling)"
    return "uint8 -> float32 (no scaling layer found)"


def _figures(metrics: dict[str, Any] | None) -> dict[str, Any]:
    if not metrics:
        return {"note": "the run was not evaluated: run `eventcnn evaluate RUN` before exporting for figures"}
    keep = ("n", "accuracy", "balanced_accuracy", "auc", "roc_auc", "background_rejection", "bootstrap")
    out = {k: metrics[k] for k in keep if k in metrics}
    out["efficiency"] = {c: v.get("efficiency", v.get("recall")) for c, v in (metrics.get("per_class") or {}).items()}
    if "cnn_minus_baseline" in metrics:
        out["minus_boosted_trees_same_events"] = {k: metrics["cnn_minus_baseline"].get(k)
                                                  for k in ("accuracy", "auc", "roc_auc") if k in metrics["cnn_minus_baseline"]}
    if not isinstance(metrics.get("accuracy"), dict):
        out["note"] = "figures without intervals (evaluated by an older eventcnn): run `eventcnn evaluate RUN` again"
    return out


def model_card(run_dir: str | os.PathLike[str], model: Any) -> dict[str, Any]:
    """The card of a run's model (everything but the export's own record)."""
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    kind = run_kind(cfg)
    size = int(cfg["image_size"])
    train = cfg["train"]
    card: dict[str, Any] = {
        "format": "eventcnn model card", "card_version": CARD_VERSION, "kind": kind,
        "model": train.get("model"), "class_names": list(cfg["class_names"]), "image_size": size,
        "input": {"dtype": "uint8", "shape": [None, size, size, 3], "layout": "NHWC",
                  "pixels": "RGB 0..255 exactly as eventcnn renders (CMS) or decodes (OPAL) the images"},
        "output": {"shape": [None, len(cfg["class_names"])],
                   "meaning": "class probabilities (softmax) in the order of class_names"},
        "preprocessing": {"inside_model": _preprocessing_inside(model)},
        "training_data": {"data_dir": str(train.get("data_dir")), "split_counts": cfg.get("split_counts"),
                          "seed": train.get("seed"), "epochs": train.get("epochs")},
        "metrics": _figures(read_json(run_dir / "metrics.json", None)),
    }
    if kind == "cms":
        card["preprocessing"]["render_config"] = cfg.get("render_config")
        sel, note = run_selection(run_dir, cfg)  # as `eventcnn predict RUN --selection auto` resolves it
        if isinstance(sel, str) and Path(sel).name == SELECTION:  # the image folder's file: its settings
            sel = read_json(Path(sel), None)
        card["preprocessing"]["selection"] = sel  # null: every event; a preset name or the settings
        card["preprocessing"]["selection_source"] = note
        card["tta"] = {"copies": 1, "rule": "one pass"}
    else:
        info = cfg.get("opal") or {}
        card["preprocessing"]["display"] = {
            "size": size, "crop": info.get("crop"),
            "decode": "PNG/JPEG/GIF -> RGB (transparent pixels on the display background), crop (left, top, "
                      "right, bottom) if given, resize to size x size with PIL bilinear (eventcnn.images.opal_displays)"}
        card["tta"] = {"copies": int(info.get("tta_copies") or 1), "rule": TTA_RULE}
        card["training_data"]["labels"] = info.get("labels")
    return card


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_inputs(size: int, n: int = 16, seed: int = 0) -> np.ndarray:
    """Fixed check images: seeded noise, plus an all-white and an all-black image."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    x[0], x[1] = 255, 0
    return x


def export_run(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
               format: str = "onnx", *, opset: int | None = None, overwrite: bool = False,
               quiet: bool = False) -> Path:
    """Export a run folder's model (CMS or OPAL) as ONNX with its card; returns the ``.onnx`` path.

    ``out`` defaults to ``<run>/model.onnx``; the card goes beside it
    (``<stem>.card.json``) and into the file's metadata. Both are written
    atomically and only after the parity check passed.

    Example::

        export_run("runs/opal", "opal.onnx")
    """
    say = sayer(quiet or quiet_from_env())
    if format not in EXPORT_FORMATS:
        raise UserError(f"export format must be one of {EXPORT_FORMATS}, got {format!r}")
    run_dir = Path(run_dir)
    read_run_config(run_dir)
    out = Path(out) if out is not None else run_dir / "model.onnx"
    if out.suffix != ".onnx":
        raise UserError(f"{out}: the ONNX model file must end in .onnx")
    check_output(out, overwrite=overwrite)
    check_output(card_path(out), overwrite=overwrite)
    try:
        import onnx  # noqa: F401 - checked before the slow part
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise UserError(f"ONNX export needs tf2onnx and onnx ({exc.name} is not installed): "
                        "pip install 'eventcnn[export]'") from None
    import keras

    if keras.backend.backend() != "tensorflow":
        raise UserError(f"ONNX export runs on the TensorFlow backend (KERAS_BACKEND={keras.backend.backend()}): "
                        "unset KERAS_BACKEND or set it to tensorflow")
    src = _model_file(run_dir)
    model = load_keras_file(src)
    card = model_card(run_dir, model)
    size = card["image_size"]
    say(f"exporting {src} as ONNX ({card['kind']} run, {len(card['class_names'])} classes, {size} px)")
    with atomic_path(out) as tmp:
        onnx_tmp = tmp.with_suffix(".onnx")
        _export_keras(inference_model(model), onnx_tmp, size, opset)
        x = _check_inputs(size)
        expected = np.asarray(model.predict(x, batch_size=len(x), verbose=0), dtype=np.float64)
        got = OnnxClassifier(onnx_tmp, card=card).predict(x, batch_size=len(x))
        diff = float(np.max(np.abs(got - expected)))
        if not diff <= PARITY_TOLERANCE:
            raise ExportError(f"{src}: the ONNX model disagrees with Keras by {diff:.2e} on the check inputs "
                              f"(tolerance {PARITY_TOLERANCE:g}); nothing written")
        card["export"] = _export_record(src, onnx_tmp, diff, len(x))
        _embed_card(onnx_tmp, card)
        os.replace(onnx_tmp, tmp)
    write_json_atomic(card_path(out), card)
    say(f"wrote {out} and {card_path(out).name} (ONNX Runtime agrees with Keras within {diff:.1e})")
    return out


def _export_keras(model: Any, path: Path, size: int, opset: int | None) -> None:
    import warnings

    import keras

    spec = keras.InputSpec(shape=(None, size, size, 3), dtype="uint8")
    try:
        with warnings.catch_warnings():  # Keras' numpy-2 patch of tf2onnx touches np.object: not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path), format="onnx", input_signature=[spec], opset_version=opset, verbose=False)
    except Exception as exc:  # noqa: BLE001 - tf2onnx raises many types; one clear line
        raise ExportError(f"ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc


def _export_record(src: Path, onnx_path: Path, diff: float, n: int) -> dict[str, Any]:
    import keras
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    opset = max((o.version for o in onnx.load(str(onnx_path), load_external_data=False).opset_import
                 if o.domain in ("", "ai.onnx")), default=None)
    return {"source": {"file": str(src), "sha256": _sha256(src)},
            "route": "keras.Model.export(format='onnx') on the TensorFlow backend (tf2onnx)", "opset": opset,
            "parity": {"max_abs_diff": diff, "tolerance": PARITY_TOLERANCE, "inputs": n,
                       "against": "Keras predict on the TensorFlow backend, seeded uint8 images"},
            "versions": {"eventcnn": __version__, "keras": keras.__version__, "tensorflow": tf.__version__,
                         "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__,
                         "onnxruntime": onnxruntime.__version__, "python": platform.python_version()}}


def _embed_card(path: Path, card: dict[str, Any]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_KEY, json.dumps(card, sort_keys=True)
    proto.producer_name, proto.doc_string = "eventcnn", f"eventcnn {card['kind']} classifier: {card['class_names']}"
    onnx.save(proto, str(path))
