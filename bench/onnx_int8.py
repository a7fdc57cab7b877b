"""Would int8 inference reach issue 36's 20 kHz? The small CNN in ONNX Runtime, float32 against static int8.

The model (an export, ``eventcnn export RUN --format onnx``) is quantized with ONNX Runtime's
static QDQ quantization (int8 weights per channel, uint8 activations, calibrated on the first
``--calibrate`` images); both are timed in one process on one thread, alternating, on the real
CMS events drawn as the model's card says (tt+jets vs W+jets, paper selection), and scored
on the events after the calibration ones: images per CPU second of each and their ratio,
the largest probability difference, the agreement of the predicted class and each one's ROC AUC.

Usage::

    python bench/onnx_int8.py --onnx model.onnx [--cms ../shared/data/cms] [--out bench/_out/onnx_int8.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", required=True, help="an exported CMS model (tt+jets vs W+jets)")
    p.add_argument("--cms", default="../shared/data/cms", help="folder with TTjets_json.json and Wjets_json.json")
    p.add_argument("--calibrate", type=int, default=512, help="images for the calibration (not scored)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default="bench/_out/onnx_int8.json")
    args = p.parse_args(argv)

    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from sklearn.metrics import roc_auc_score

    from eventcnn._io import write_json_atomic
    from eventcnn.events import read_events
    from eventcnn.events.selection import Selection
    from eventcnn.images.render import RenderConfig, render_events
    from eventcnn.learn.onnx_runtime import OnnxClassifier

    clf = OnnxClassifier(args.onnx, threads=1)
    cfg = RenderConfig(**clf.card["preprocessing"]["render_config"])
    xs, ys = [], []
    for label, name in enumerate(("TTjets_json.json", "Wjets_json.json")):
        events, _ = Selection().apply(read_events(Path(args.cms) / name))
        xs.append(render_events(events, cfg))
        ys.append(np.full(len(events), label))
    order = np.random.default_rng(0).permutation(sum(len(y) for y in ys))
    x, y = np.concatenate(xs)[order], np.concatenate(ys)[order]
    calib, test, y_test = x[: args.calibrate], x[args.calibrate:], y[args.calibrate:]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{clf.input_name: calib[i:i + 32]} for i in range(0, len(calib), 32)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre, q8 = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(args.onnx, str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(q8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions = {"float32": clf.session, "int8": ort.InferenceSession(str(q8), so, providers=["CPUExecutionProvider"])}
        probs = {k: np.concatenate([s.run(None, {clf.input_name: test[i:i + 64]})[0] for i in range(0, len(test), 64)])
                 for k, s in sessions.items()}
        rates: dict[str, list[float]] = {k: [] for k in sessions}
        for _ in range(args.rounds):
            for k, s in sessions.items():
                c = time.process_time()
                for i in range(0, len(test), 64):
                    s.run(None, {clf.input_name: test[i:i + 64]})
                rates[k].append(len(test) / (time.process_time() - c))
    res = {"images": len(test), "calibration_images": len(calib), "batch": 64,
           "images_per_cpu_second": {k: {"best": max(v), "median": float(np.median(v)), "all": v} for k, v in rates.items()},
           "int8_over_float32": max(rates["int8"]) / max(rates["float32"]),
           "max_abs_probability_difference": float(np.abs(probs["int8"] - probs["float32"]).max()),
           "same_predicted_class": float((probs["int8"].argmax(1) == probs["float32"].argmax(1)).mean()),
           "roc_auc": {k: float(roc_auc_score(y_test, v[:, 1])) for k, v in probs.items()},
           "cpu_flags": sorted({f for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
                                for f in line.split() if "vnni" in f or f in ("avx2", "avx512f")}),
           "load_average": os.getloadavg()}
    for k, v in res["images_per_cpu_second"].items():
        print(f"{k:8s} {v['best']:8,.0f} images per CPU second (best of {args.rounds}; median {v['median']:,.0f})")
    print(f"int8 / float32: {res['int8_over_float32']:.2f}x; same class on {res['same_predicted_class']:.1%} of "
          f"{len(test)} images; largest probability difference {res['max_abs_probability_difference']:.3f}; "
          f"ROC AUC float32 {res['roc_auc']['float32']:.4f}, int8 {res['roc_auc']['int8']:.4f}; "
          f"CPU {res['cpu_flags']}; load {res['load_average'][0]:.1f}")
    write_json_atomic(args.out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
