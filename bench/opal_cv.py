"""Stratified k-fold cross-validation of the OPAL recipes (original vs our default).

Each (fold, recipe) trains in its own subprocess, which reports its own peak
RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: loading the zip, training,
predicting the test fold). Results are appended to ``<out>/cv_results.json``
after every run, so an interrupted benchmark resumes where it stopped. Prints
accuracy, balanced accuracy, per-class recall, training time and peak memory
per recipe (mean +- std over folds) and the ratio default/original.

Every fold's test displays are predicted in one pass and with test-time
augmentation (8 rotated/mirrored copies, :func:`eventcnn.opal.predict_tta`); both
are recorded (``tta`` holds the TTA scores). ``--weights none sim`` trains each
fold from random and from the simulation-pretrained weights (issue 22).

Usage (the runs reported in docs/benchmarks.md)::

    python bench/opal_cv.py --data ../shared/data/opal --folds 5 \
        --recipes default original --original-epochs 3 --lepton-factor 20 \
        --default-epochs 40 --steps 32 --patience 8 --out runs/opal_cv
    python bench/opal_cv.py --data ../shared/data/opal --folds 5 --recipes default \
        --weights none sim --out bench/_out/opal_cv_sim
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eventcnn import opal
from eventcnn._io import write_json_atomic


def load(data_dir: Path) -> opal.OpalData:
    """The OPAL development set (zip + labels) from ``data_dir``."""
    return opal.load_displays(data_dir / "centered-masked-rotated1.zip",
                              data_dir / "events_list.csv", quiet=True)


def folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Test indices of each stratified fold."""
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in skf.split(np.zeros(len(y)), y)]


def worker(args: argparse.Namespace) -> None:
    """Train one (fold, recipe) and print its metrics as one JSON line."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score

    data = load(Path(args.data))
    y = opal.label_indices(data.labels)
    test = folds(y, args.folds, args.seed)[args.fold]
    train_mask = np.ones(len(y), dtype=bool)
    train_mask[test] = False
    overrides = {"seed": args.seed + args.fold}
    if args.recipe == "original":
        overrides.update(epochs=args.original_epochs, lepton_factor=args.lepton_factor)
    else:
        overrides.update(epochs=args.default_epochs, steps_per_epoch=args.steps,
                         patience=args.patience, balance=args.balance)
    overrides["weights"] = None if args.weights == "none" else args.weights
    result = opal.train(data.images[train_mask], data.labels[train_mask], recipe=args.recipe,
                        quiet=not args.verbose, **overrides)

    def scores(probs: np.ndarray) -> dict:
        pred = probs.argmax(axis=1)
        rec = recall_score(y[test], pred, labels=range(4), average=None, zero_division=0)
        return {"accuracy": float(accuracy_score(y[test], pred)),
                "balanced_accuracy": float(balanced_accuracy_score(y[test], pred)),
                "recall": {c: float(r) for c, r in zip(opal.CLASS_NAMES, rec)}}

    plain = scores(opal.predict(result.model, data.images[test]))
    tta = scores(opal.predict_tta(result.model, data.images[test]))
    out = {
        "fold": args.fold, "recipe": args.recipe, "weights": args.weights, **plain, "tta": tta,
        "train_seconds": result.seconds,
        "epochs_run": len(result.history),
        "config": {k: v for k, v in vars(result.config).items()},
        "n_test": int(len(test)),
        # peak resident memory of this worker process (Linux: kB)
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(out), flush=True)


def run_one(args: argparse.Namespace, fold: int, recipe: str, weights: str = "none") -> dict:
    """Run the worker in a subprocess (its own peak RSS is measured inside it)."""
    cmd = [sys.executable, __file__, "--worker", "--fold", str(fold), "--recipe", recipe,
           "--data", args.data, "--folds", str(args.folds), "--seed", str(args.seed),
           "--original-epochs", str(args.original_epochs), "--default-epochs",
           str(args.default_epochs), "--lepton-factor", str(args.lepton_factor),
           "--steps", str(args.steps), "--patience", str(args.patience),
           "--balance", args.balance, "--weights", weights]
    if args.verbose:
        cmd.append("--verbose")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"fold {fold} {recipe} {weights} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(lines[-1][len("RESULT "):])
    res["wall_seconds"] = wall
    return res


def summarise(results: list[dict]) -> None:
    """Print mean +- std per recipe and the default/original ratios."""
    means = {}
    for recipe, weights in [(r, w) for r in ("original", "default") for w in ("none", "sim")]:
        rs = [r for r in results if r["recipe"] == recipe and r.get("weights", "none") == weights]
        if not rs:
            continue

        def ms(vals):
            return f"{np.mean(vals):.3f} +- {np.std(vals):.3f}"

        print(f"\n{recipe}, weights {weights}: {len(rs)} fold(s)        one pass        | TTA")
        tt = [r.get("tta") or r for r in rs]
        print(f"  accuracy           {ms([r['accuracy'] for r in rs])} | {ms([r['accuracy'] for r in tt])}")
        print(f"  balanced accuracy  {ms([r['balanced_accuracy'] for r in rs])} | "
              f"{ms([r['balanced_accuracy'] for r in tt])}")
        print("  per fold bal. acc. " + ", ".join(f"{r['balanced_accuracy']:.3f}" for r in rs) + " | "
              + ", ".join(f"{r['balanced_accuracy']:.3f}" for r in tt))
        for c in opal.CLASS_NAMES:
            print(f"  recall {c}           {ms([r['recall'][c] for r in rs])} | {ms([r['recall'][c] for r in tt])}")
        if weights != "none":
            continue
        print(f"  train seconds      {ms([r['train_seconds'] for r in rs])}")
        print(f"  epochs run         {ms([r['epochs_run'] for r in rs])}")
        peaks = [r["peak_rss_mb"] for r in rs if r.get("peak_rss_mb")]
        if peaks:
            print(f"  peak RSS MB        max {max(peaks):.0f}")
        means[recipe] = {k: np.mean([r[k] for r in rs])
                         for k in ("balanced_accuracy", "train_seconds")}
    if len(means) == 2:
        print(f"\nratio default/original: balanced accuracy "
              f"{means['default']['balanced_accuracy'] / means['original']['balanced_accuracy']:.3f}, "
              f"train time {means['default']['train_seconds'] / means['original']['train_seconds']:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "opal"))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--only-folds", type=int, nargs="*", help="run only these folds (0-based)")
    p.add_argument("--recipes", nargs="*", default=["original", "default"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--original-epochs", type=int, default=3)
    p.add_argument("--lepton-factor", type=int, default=20)
    p.add_argument("--default-epochs", type=int, default=40)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--balance", default="sampling", choices=["sampling", "weights", "none"],
                   help="default recipe: class-balanced batches or class weights")
    p.add_argument("--weights", nargs="*", default=["none"],
                   help="starting weights per arm: none (random), sim (shipped, simulation-pretrained)")
    p.add_argument("--out", default="runs/opal_cv")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--fold", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--recipe", default="default", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.weights = args.weights[0] if args.weights else "none"
        worker(args)
        return
    out = Path(args.out)
    path = out / "cv_results.json"
    results = json.loads(path.read_text()) if path.exists() else []
    done = {(r["fold"], r["recipe"], r.get("weights", "none")) for r in results}
    for fold in args.only_folds if args.only_folds is not None else range(args.folds):
        for recipe, weights in [(r, w) for r in args.recipes for w in args.weights]:
            if (fold, recipe, weights) in done:
                continue
            res = run_one(args, fold, recipe, weights)
            results.append(res)
            write_json_atomic(path, results)
            print(f"fold {fold} {recipe} {weights}: acc {res['accuracy']:.3f} bal {res['balanced_accuracy']:.3f} "
                  f"(TTA {res['tta']['balanced_accuracy']:.3f}) "
                  f"recall {res['recall']} {res['train_seconds']:.0f}s "
                  f"peak {res['peak_rss_mb']:.0f} MB", flush=True)
    summarise(results)


if __name__ == "__main__":
    main()
