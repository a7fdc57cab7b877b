"""Train on simulation, test on real data: the simulation-pretrained CNN classifies the real displays.

The shipped weights (``eventcnn/learn/weights/opal_sim.weights.h5``, trained on
simulated displays only; or ``--weights FILE``) classify every real labelled
OPAL display, in one pass and with test-time augmentation (8 rotated/mirrored
copies). Prints balanced accuracy, per-class recall and the confusion matrix,
against the 0.85 target and against chance (0.25) and "always hadronic" (0.25
balanced), and the same CNN untrained (random weights, seed 1) as the
reference measured in the same run.

Usage (the run reported in docs/benchmarks.md)::

    PYTHONPATH=. python bench/opal_sim_transfer.py --data ../shared/data/opal
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eventcnn import opal
from eventcnn.learn.weights import resolve_weights

ROOT = Path(__file__).resolve().parents[1]


def scores(y: np.ndarray, probs: np.ndarray) -> dict:
    """Balanced accuracy, accuracy, per-class recall and the confusion counts."""
    p = probs.argmax(1)
    rec = [float(np.mean(p[y == k] == k)) for k in range(len(opal.CLASS_NAMES))]
    cm = [[int(np.sum((y == a) & (p == b))) for b in range(4)] for a in range(4)]
    return {"balanced_accuracy": float(np.mean(rec)), "accuracy": float(np.mean(p == y)),
            "recall": dict(zip(opal.CLASS_NAMES, rec)), "confusion": cm}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "opal")
    ap.add_argument("--weights", default="sim", help="'sim' (shipped) or a .weights.h5 file")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    import keras

    real = opal.load_displays(args.data / "centered-masked-rotated1.zip", args.data / "events_list.csv",
                              quiet=True)
    y = opal.label_indices(real.labels)
    keras.utils.set_random_seed(1)
    untrained = opal.build_model()
    model = opal.load_pretrained(opal.build_model(), resolve_weights(args.weights, "masterclass"))
    res = {"untrained": scores(y, opal.predict(untrained, real.images)),
           "one_pass": scores(y, opal.predict(model, real.images)),
           "tta": scores(y, opal.predict_tta(model, real.images))}
    print(f"{len(y)} real displays ({dict(zip(*np.unique(real.labels, return_counts=True)))}), weights "
          f"{args.weights}: trained on simulated displays only")
    for k, r in res.items():
        print(f"{k:10s} balanced accuracy {r['balanced_accuracy']:.3f} accuracy {r['accuracy']:.3f} recall "
              + " ".join(f"{c} {v:.2f}" for c, v in r["recall"].items())
              + f"  confusion (rows true q,e,m,t) {r['confusion']}")
    for k in ("one_pass", "tta"):
        ba = res[k]["balanced_accuracy"]
        print(f"{k}: target 0.85 -> ratio {ba / 0.85:.2f}; / untrained {ba / res['untrained']['balanced_accuracy']:.2f}"
              f"; / chance 0.25 {ba / 0.25:.2f}")
    if args.out:
        from eventcnn._io import write_json_atomic

        write_json_atomic(args.out / "sim_transfer.json", res)
    print(json.dumps({k: round(v["balanced_accuracy"], 3) for k, v in res.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
