"""Print an OPAL training's per-epoch losses and predictions as one JSON line (checks that code changes keep them).

Trains the default recipe (6 epochs, 4 steps, patience 2) and the original
recipe (2 epochs, 1 copy, leptons x2) on the first 80 labelled displays at
100 px, seed 5, and prints the losses, validation losses, best epoch and the
summed electron probability of 20 displays. Run it once per checkout and
compare the outputs byte for byte::

    PYTHONPATH=/path/to/old python bench/opal_history.py | tail -1 > old.json
    PYTHONPATH=/path/to/new python bench/opal_history.py | tail -1 > new.json
    cmp old.json new.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("EVENTCNN_QUIET", "1")  # no quiet= keyword: the script also runs on older checkouts


def _rows(history):
    """History rows; older checkouts returned Keras' dict of lists."""
    if isinstance(history, dict):
        return [{k: v[i] for k, v in history.items()} for i in range(len(history["loss"]))]
    return history


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "opal"))
    args = p.parse_args()
    from eventcnn import opal

    data = opal.load_displays(Path(args.data) / "centered-masked-rotated1.zip", Path(args.data) / "events_list.csv",
                              size=100)
    x, y = data.images[data.labelled][:80], data.labels[data.labelled][:80]
    out = {}
    for recipe, kw in (("default", {"epochs": 6, "steps_per_epoch": 4, "patience": 2}),
                       ("original", {"epochs": 2, "copies": 1, "lepton_factor": 2})):
        r = opal.train(x, y, recipe=recipe, seed=5, **kw)
        probs = opal.predict(r.model, data.images[:20])
        rows = _rows(r.history)
        out[recipe] = {"loss": [round(h["loss"], 6) for h in rows],
                       "val_loss": [round(h.get("val_loss", 0.0), 6) for h in rows],
                       "best": r.best_epoch, "p_e": round(float(probs.sum(0)[1]), 5)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
