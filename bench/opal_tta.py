"""Test-time augmentation on OPAL run folders of bench/opal_classroom.py: does it help?

For each ``--runs`` folder (``my_labels.csv`` + ``run/``), the CNN classifies
the displays NOT labelled once as they are and once averaged over the display
and 7 copies rotated by 45-degree steps (every other one mirrored); prints the
balanced accuracy and recall per class of both against the reference labels.

Usage (the numbers in docs/benchmarks.md)::

    python bench/opal_tta.py --data ../shared/data/opal --runs runs/opal_classroom_0 runs/opal_classroom_1
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "opal")
    ap.add_argument("--runs", type=Path, nargs="+", required=True)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    import numpy as np

    from eventcnn import opal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = opal.load_displays(args.data / "centered-masked-rotated1.zip",
                               args.data / "events_list.csv", quiet=True)
    for run in args.runs:
        lab = dict(line.split(";") for line in (run / "my_labels.csv").read_text().split())
        rest = np.array([f"{n}.png" not in lab for n in d.names])
        model = opal.load_model(run / "run")
        x, y = d.images[rest], d.labels[rest]

        def score(p: np.ndarray, y: np.ndarray = y) -> str:
            pred = np.array(opal.CLASS_NAMES)[p.argmax(1)]
            rec = {c: float(np.mean(pred[y == c] == c)) for c in opal.CLASS_NAMES}
            return f"{np.mean(list(rec.values())):.3f} {({c: round(v, 2) for c, v in rec.items()})}"

        plain = opal.predict(model, x)
        probs = [plain]
        for k in range(7):
            probs.append(opal.predict(model, opal.rotate_images(
                x, np.full(len(x), (k + 1) * 45.0), np.full(len(x), k % 2 == 0))))
        print(f"{run}: plain {score(plain)} | tta8 {score(np.mean(probs, axis=0))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
