"""``eventcnn predict --model model.onnx``: the ONNX Runtime path (imports neither Keras nor TensorFlow)."""

from __future__ import annotations

import argparse

from eventcnn.errors import UserError


def predict_onnx_command(args: argparse.Namespace) -> int:
    """Classify the inputs with the exported model: CMS events/images, or OPAL displays."""
    from eventcnn.learn.onnx_runtime import OnnxClassifier, predict_onnx

    model = args.model
    inputs = [a for a in [args.run, *args.inputs] if a is not None]
    if model is None:
        model, inputs = inputs[0], inputs[1:]
    if not inputs:
        raise UserError(f"no inputs to classify with {model}: eventcnn predict --model {model} INPUT...")
    clf = OnnxClassifier(model, threads=args.threads)
    if clf.kind == "opal":
        from eventcnn.opal.onnx_predict import predict_displays

        if len(inputs) != 1:
            raise UserError(f"an OPAL model classifies one zip or folder of displays, got {len(inputs)} inputs")
        predict_displays(clf, inputs[0], args.out, overwrite=args.overwrite, quiet=args.quiet)
        return 0
    sel = None if args.selection == "none" else args.selection
    predict_onnx(clf, inputs, args.out, batch_size=args.batch_size, selection=sel,
                 overwrite=args.overwrite, quiet=args.quiet)
    return 0
