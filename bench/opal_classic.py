"""The classic method beside the masterclass CNN: same displays, same folds, with uncertainties.

On the labelled end views (``../shared/data/opal/events_list.csv``) whose header
was read completely (:mod:`eventcnn.images.display_header` on the Manchester
GIFs), a stratified k-fold cross-validation, the SAME folds for every method:

- ``rules``: the masterclass's rules as cuts on the header numbers
  (:func:`eventcnn.opal.classic.classic_rules`; no fitting);
- ``trees``: gradient-boosted trees on the same numbers (the project's baseline,
  :func:`eventcnn.opal.classic.train_header_trees`), three seeds per fold, averaged;
- ``cnn``: the masterclass CNN, ``opal.train`` (default recipe, the shipped
  simulation-pretrained weights) on the published 200 x 200 crops, ``opal.predict``;
  the same network also predicts our own crops of the test displays
  (:func:`eventcnn.images.manchester.masterclass_crop`): its agreement on both versions;
- ``cnn+header``: the same CNN with the header numbers as a second input
  (:mod:`eventcnn.opal.header_cnn`), started from the fold's CNN.

The CNN is trained on every labelled display of a fold's training part (and
scored on all 497); the header methods see the displays whose header was read
completely, and every method is compared on those (the CNN's predictions of the
same displays). ``--cnn-only`` trains and keeps the folds' CNNs
(``<out>/fold<k>_cnn.keras``) and stops; the next run reads the headers and adds
the rest.

Out-of-fold predictions of every display give, per method, the balanced
accuracy and per-class recall with seeded bootstrap intervals (strata = true
class), the spread over folds (mean +- std), and the paired difference of the
CNN and each other method on the same displays (eventcnn.stats.paired_difference).
Each fold is saved as it finishes (``<out>/folds.json``): a second run resumes.

Usage (docs/benchmarks.md)::

    nice -n 5 python bench/opal_classic.py --shared ../shared/data --folds 5 --out bench/_out/opal_classic
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eventcnn import stats
from eventcnn._io import write_json_atomic

METHODS = ("rules", "trees", "cnn", "cnn+header")


def _labelled(shared: Path, quiet: bool) -> dict:
    """The labelled displays: names, labels, the published crops and our crops of the same displays."""
    from eventcnn import opal
    from eventcnn.images import manchester as M

    data = opal.load_displays(shared / "opal" / "centered-masked-rotated1.zip", shared / "opal" / "events_list.csv",
                              quiet=True)
    data = data[data.labelled]
    ours = M.load_manchester(shared / "opal_manchester" / "z_displays.zip", names=list(data.names), crops=True,
                             quiet=quiet)
    return {"names": data.names, "labels": data.labels, "crops": data.images,
            "crops_ours": np.stack([ours.crop(n) for n in data.names])}


def _headers(shared: Path, names: np.ndarray, header_csv: Path | None, quiet: bool) -> tuple[np.ndarray, dict]:
    """The header numbers of ``names`` (NaN where not read) and why each incomplete one is left out."""
    from eventcnn.images.display_header import read_headers
    from eventcnn.opal.classic import HEADER_FEATURES, header_matrix

    if header_csv is not None and header_csv.is_file():
        import csv

        with open(header_csv, newline="") as fh:
            rows = {r["display"]: r for r in csv.DictReader(fh)}
    else:
        rows = {r.display: r.row() for r in read_headers(shared / "opal_manchester" / "z_displays.zip", quiet=quiet)}
    X, _ = header_matrix([rows.get(n, {}) for n in names])
    dropped = {}
    for i, n in enumerate(names):
        r = rows.get(n)
        if r is None:
            dropped[str(n)] = "no Manchester display of this name"
        elif r.get("view") != "end":
            dropped[str(n)] = f"read as a {r.get('view')} view"
        elif np.isnan(X[i]).any():
            missing = [k for k, v in zip(HEADER_FEATURES, X[i]) if np.isnan(v)]
            dropped[str(n)] = f"header numbers not read: {', '.join(missing)} ({r.get('error', '')})"
    return X, dropped


def _folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedKFold

    return [test for _, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)]


def _cnn_fold(d: dict, test: np.ndarray, fold: int, seed: int, out: Path) -> dict:
    """The masterclass CNN of one fold (all its training displays); the model is kept for cnn+header."""
    from eventcnn import opal

    train = np.setdiff1d(np.arange(len(d["labels"])), test)
    t0 = time.perf_counter()
    cnn = opal.train(d["crops"][train], d["labels"][train], recipe="default", weights="sim", seed=seed + fold,
                     quiet=True)
    cnn.model.save(out / f"fold{fold}_cnn.keras")
    return {"fold": fold, "test": [str(n) for n in d["names"][test]],
            "cnn": opal.predict(cnn.model, d["crops"][test]).tolist(),
            "cnn_on_our_crops": opal.predict(cnn.model, d["crops_ours"][test]).tolist(),
            "seconds": {"cnn": time.perf_counter() - t0}}


def _header_fold(d: dict, X: np.ndarray, complete: np.ndarray, test: np.ndarray, entry: dict, seed: int,
                 tree_seeds: int, out: Path) -> dict:
    """Rules, trees and cnn+header of one fold, on the displays whose header was read completely."""
    from eventcnn import opal
    from eventcnn.opal.classic import classic_rules, predict_header_trees, train_header_trees
    from eventcnn.opal.header_cnn import predict_header_cnn, train_header_cnn

    fold = entry["fold"]
    train = np.setdiff1d(np.arange(len(d["labels"])), test)
    train, test_h = train[complete[train]], test[complete[test]]
    y = d["labels"]
    res = {"header_test": [str(n) for n in d["names"][test_h]], "rules": classic_rules(X[test_h]).tolist()}
    t0 = time.perf_counter()
    res["trees"] = np.mean([predict_header_trees(train_header_trees(X[train], y[train], seed=seed + 100 * s),
                                                 X[test_h]) for s in range(tree_seeds)], axis=0).tolist()
    res["seconds_trees"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = opal.load_model(out / f"fold{fold}_cnn.keras")
    hc = train_header_cnn(d["crops"][train], X[train], y[train], base=base, seed=seed + fold)
    res["cnn+header"] = predict_header_cnn(hc, d["crops"][test_h], X[test_h]).tolist()
    res["seconds_cnn+header"] = time.perf_counter() - t0
    return res


def _codes(probs_or_codes: list) -> list[str]:
    from eventcnn.names import OPAL_CLASSES as CLASS_NAMES

    return [p if isinstance(p, str) else CLASS_NAMES[int(np.argmax(p))] for p in probs_or_codes]


def _metrics(y: np.ndarray, p: np.ndarray, per_fold: list[float]) -> dict:
    from eventcnn.names import OPAL_CLASSES as CLASS_NAMES

    return {"balanced_accuracy": stats.bootstrap(stats.balanced_accuracy, y, p, strata=y, seed=7).to_json(),
            "accuracy": stats.bootstrap(stats.accuracy, y, p, strata=y, seed=7).to_json(),
            "recall": {c: stats.bootstrap(stats.recall(c), y, p, strata=y, seed=7).to_json() for c in CLASS_NAMES},
            "balanced_accuracy_over_folds": stats.seed_summary(per_fold)}


def _summarise(d: dict, folds: list[dict]) -> dict:
    from eventcnn.names import OPAL_CLASSES as CLASS_NAMES

    label = {str(n): str(c) for n, c in zip(d["names"], d["labels"])}
    res: dict = {"methods": {}}
    # every labelled display: the CNN on the published crops and on ours
    y_all = np.array([label[n] for f in folds for n in f["test"]])
    for m in ("cnn", "cnn_on_our_crops"):
        p = np.array([c for f in folds for c in _codes(f[m])])
        per = [stats.balanced_accuracy(np.array([label[n] for n in f["test"]]), np.array(_codes(f[m])))
               for f in folds]
        res["methods"][f"{m} (all labelled)"] = _metrics(y_all, p, per)
    cnn_all = np.array([c for f in folds for c in _codes(f["cnn"])])
    ours_all = np.array([c for f in folds for c in _codes(f["cnn_on_our_crops"])])
    same = int((cnn_all == ours_all).sum())
    res["cnn_agreement_published_vs_our_crops"] = {**stats.binomial_interval(same, len(y_all)).to_json(),
                                                   "same": same, "of": int(len(y_all))}
    # the displays with a complete header: every method on the same displays
    y = np.array([label[n] for f in folds for n in f["header_test"]])
    res["displays_all"], res["displays"] = int(len(y_all)), int(len(y))
    res["counts"] = {c: int((y == c).sum()) for c in CLASS_NAMES}
    pred: dict[str, np.ndarray] = {}
    for m in METHODS:
        per = []
        codes: list[str] = []
        for f in folds:
            if m == "cnn":
                index = {n: i for i, n in enumerate(f["test"])}
                fc = [_codes([f["cnn"][index[n]]])[0] for n in f["header_test"]]
            else:
                fc = _codes(f[m])
            codes += fc
            per.append(stats.balanced_accuracy(np.array([label[n] for n in f["header_test"]]), np.array(fc)))
        pred[m] = np.array(codes)
        res["methods"][m] = _metrics(y, pred[m], per)
    res["paired_difference"] = {
        f"{a} - {b}": stats.paired_difference(stats.balanced_accuracy, y, pred[a], pred[b], strata=y, seed=7).to_json()
        for a, b in (("cnn", "rules"), ("cnn", "trees"), ("cnn+header", "cnn"), ("cnn+header", "trees"),
                     ("trees", "rules"))}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--header", default=None, help="a CSV of 'eventcnn opal header' to reuse (default: read now)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tree-seeds", type=int, default=3)
    ap.add_argument("--cnn-only", action="store_true", help="train and keep the folds' CNNs, then stop")
    ap.add_argument("--out", default="bench/_out/opal_classic")
    ap.add_argument("--quiet", "-q", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shared = Path(args.shared)
    d = _labelled(shared, args.quiet)
    tests = _folds(d["labels"], args.folds, args.seed)
    state_path = out / "folds.json"
    done = json.loads(state_path.read_text()) if state_path.is_file() else []
    done = [f for f in done if f.get("seed") == args.seed and f.get("n_folds") == args.folds]
    for k, test in enumerate(tests):
        if any(f["fold"] == k for f in done):
            continue
        entry = _cnn_fold(d, test, k, args.seed, out)
        entry.update(seed=args.seed, n_folds=args.folds)
        done.append(entry)
        write_json_atomic(state_path, done)
        print(f"fold {k + 1}/{args.folds}: CNN trained in {entry['seconds']['cnn']:.0f} s", flush=True)
    if args.cnn_only:
        return 0
    X, dropped = _headers(shared, d["names"], Path(args.header) if args.header else None, args.quiet)
    complete = np.array([str(n) not in dropped for n in d["names"]])
    print(f"{int(complete.sum())} of {len(complete)} labelled displays with a complete header; left out: "
          + ("; ".join(f"{n}: {why}" for n, why in sorted(dropped.items())) or "none"), flush=True)
    done.sort(key=lambda f: f["fold"])
    for f, test in zip(done, tests):
        f.update(_header_fold(d, X, complete, test, f, args.seed, args.tree_seeds, out))
        write_json_atomic(state_path, done)
    res = _summarise(d, done)
    res.update(dropped=dropped, folds=args.folds, seed=args.seed)
    write_json_atomic(out / "summary.json", res)
    print(f"\n{res['displays']} displays with a complete header {res['counts']} (of {res['displays_all']} "
          f"labelled), {args.folds}-fold CV (seed {args.seed}), the same folds for every method")
    print(f"{'method':28s} {'balanced accuracy':24s} " + " ".join(f"recall {c:15s}" for c in "qemt"))
    for m, r in res["methods"].items():
        ba = r["balanced_accuracy"]
        cells = " ".join(f"{r['recall'][c]['value']:.3f} [{r['recall'][c]['ci95'][0]:.2f},{r['recall'][c]['ci95'][1]:.2f}]"
                         for c in "qemt")
        print(f"{m:28s} {ba['value']:.3f} [{ba['ci95'][0]:.3f}, {ba['ci95'][1]:.3f}]  {cells}")
    for k, v in res["paired_difference"].items():
        print(f"  balanced accuracy {k}: {v['value']:+.3f} [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}]")
    a = res["cnn_agreement_published_vs_our_crops"]
    print(f"  CNN agrees on published and our crops: {a['same']}/{a['of']} = {a['value']:.3f} "
          f"[{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
