"""A simulated class labels OPAL displays: suggested order (active learning) vs random order.

An oracle answers with the reference labels. Per seed and order: ``--rounds``
rounds of ``--batch`` events (``eventcnn opal suggest`` for the suggested order,
a seeded random permutation for the random order), the labels written in the
masterclass format, then ``eventcnn opal train`` on those labels and
``eventcnn opal predict`` on the displays NOT labelled, both as subprocesses
exactly as a teacher would run them, per arm (``--arms``): ``default`` (the
defaults: test-time augmentation from random weights, one pass when fine-tuned
from pretrained ones), ``previous`` (the same trained network
predicted with ``--no-tta``), ``self_train`` (``opal
train --self-train``), ``scratch`` and ``sim`` (``opal train --weights none`` /
``--weights sim``: random or simulation-pretrained starting weights, predicted
with the defaults; ``*_no_tta`` / ``sim_tta``: the same networks predicted with
``--no-tta`` / ``--tta``); same
labels, same seed. Prints balanced accuracy and per-class
recall on the not-labelled displays, the label counts, time per suggest call and
per training, the ratio suggested / random, and per arm the mistakes summed
over the seeds (true -> predicted) with the displays wrong in most seeds. Results are appended to
``<out>/active_results.json`` after every run (an interrupted run resumes).

Usage (the runs reported in docs/benchmarks.md)::

    python bench/opal_active.py --data ../shared/data/opal --seeds 0 1 2 3 4 \
        --rounds 5 --batch 10 --arms default previous --out runs/opal_active
    python bench/opal_active.py --data ../shared/data/opal --seeds 0 1 2 3 4 \
        --rounds 5 --batch 10 --orders suggested --arms scratch sim scratch_no_tta sim_no_tta \
        --out bench/_out/opal_active_sim
    PYTHONPATH=. python bench/opal_active.py --data ../shared/data/opal --seeds 0 1 2 3 4 --rounds 5 \
        --batch 10 --orders suggested --arms sim sim_tta scratch --out bench/_out/opal_active_v9 \
        --reuse-train-predictions
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eventcnn import opal
from eventcnn._io import write_json_atomic, write_text_atomic
from eventcnn.opal import ids

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "EVENTCNN_QUIET": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-m", "eventcnn", *args], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"eventcnn {' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return res.stdout


def write_labels(path: Path, names: list[str], table: dict[str, str]) -> None:
    """The masterclass label file of ``names`` (with ``.png``) answered by the oracle."""
    write_text_atomic(path, "".join(f"{n};{table[n]}\n" for n in names))


#: per arm: the options of ``opal train`` and ``opal predict``, and whose trained run it
#: predicts with (an arm that trains exactly as another reuses that run: same labels,
#: same seed, same recipe give the same network; only the prediction differs)
ARMS = {
    "default": {"train": [], "predict": [], "run": "default"},  # the defaults
    "previous": {"train": [], "predict": ["--no-tta"], "run": "default"},  # plain predictions
    "self_train": {"train": ["--self-train"], "predict": [], "run": "self_train"},  # + pseudo-labels
    # issue 22: the same command from random weights and from the simulation-pretrained ones
    "scratch": {"train": ["--weights", "none"], "predict": [], "run": "scratch"},
    "sim": {"train": ["--weights", "sim"], "predict": [], "run": "sim"},
    "scratch_no_tta": {"train": ["--weights", "none"], "predict": ["--no-tta"], "run": "scratch"},
    "sim_no_tta": {"train": ["--weights", "sim"], "predict": ["--no-tta"], "run": "sim"},
    "sim_tta": {"train": ["--weights", "sim"], "predict": ["--tta"], "run": "sim"},
}


def label(order: str, seed: int, zip_path: Path, table: dict[str, str], all_names: list[str],
          rounds: int, batch: int, work: Path) -> tuple[Path, list[str], list[float]]:
    """The oracle labels ``rounds`` x ``batch`` events in ``order``: (label file, names, suggest seconds)."""
    work.mkdir(parents=True, exist_ok=True)
    labels = work / "labels.csv"
    done = work / "labelled.json"  # the oracle's answers of an earlier run with the same settings
    if done.is_file() and labels.is_file():
        prev = json.loads(done.read_text())
        if prev.get("rounds") == rounds and prev.get("batch") == batch:
            return labels, prev["chosen"], prev["suggest_s"]
    labels.unlink(missing_ok=True)
    chosen: list[str] = []
    suggest_s: list[float] = []
    perm = list(np.random.default_rng(seed).permutation(all_names))
    for _ in range(rounds):
        if order == "suggested":
            t0 = time.perf_counter()
            out = _cli("opal", "suggest", "--data", str(zip_path), "--labels", str(labels),
                       "--n", str(batch), "--seed", str(seed))
            suggest_s.append(time.perf_counter() - t0)
            new = out.split()
        else:
            new = [n for n in perm if n not in chosen][:batch]
        assert not set(new) & set(chosen), "suggested an event twice"
        chosen += new
        write_labels(labels, chosen, table)
    write_json_atomic(done, {"rounds": rounds, "batch": batch, "chosen": chosen, "suggest_s": suggest_s})
    return labels, chosen, suggest_s


def train_and_score(arm: str, seed: int, zip_path: Path, table: dict[str, str], labels: Path,
                    chosen: list[str], work: Path, reuse: bool = False) -> dict:
    """``opal train`` on the labels and ``opal predict`` of the rest with the arm's options; scores.

    ``reuse``: for arms with the default prediction, score the
    ``predictions.csv`` that ``opal train`` wrote for the same events instead of
    predicting them again with ``opal predict`` (same model, same default: same numbers).
    """
    import csv

    spec = ARMS[arm]
    run = work / f"run_{spec['run']}"
    timing = run / "bench_train_wall_s.json"
    if timing.is_file():  # trained already (for another arm that trains the same way)
        train_s = json.loads(timing.read_text())["seconds"]
    else:
        t0 = time.perf_counter()
        _cli("opal", "train", "--data", str(zip_path), "--labels", str(labels), "--out", str(run),
             "--seed", str(seed), "--quiet", *ARMS[spec["run"]]["train"])
        train_s = time.perf_counter() - t0
        write_json_atomic(timing, {"seconds": train_s})
    predict_opts = spec["predict"]
    pred = work / f"predictions_{arm}.csv"
    t0 = time.perf_counter()
    if reuse and not predict_opts and (run / "predictions.csv").is_file():
        pred = run / "predictions.csv"  # what opal train predicted for the rest: the same numbers
    else:
        _cli("opal", "predict", str(run), "--data", str(zip_path), "--labels", str(labels),
             "--out", str(pred), *predict_opts)
    predict_s = time.perf_counter() - t0
    with open(pred, newline="") as fh:
        rows = list(csv.DictReader(fh))
    y = np.array([table[r["event"] + ".png"] for r in rows])
    p = np.array([r["predicted"] for r in rows])
    recall = {c: float(np.mean(p[y == c] == c)) for c in opal.CLASS_NAMES if np.any(y == c)}
    counts = {c: sum(table[n] == c for n in chosen) for c in opal.CLASS_NAMES}
    cfg = json.loads((run / "config.json").read_text())
    st = cfg.get("opal", {}).get("self_train")
    return {"arm": arm, "seed": seed, "n_labelled": len(chosen), "counts": counts,
            "n_predicted": len(rows), "balanced_accuracy": float(np.mean(list(recall.values()))),
            "accuracy": float(np.mean(p == y)), "recall": recall, "train_wall_s": train_s,
            "predict_wall_s": predict_s, "fit_s": cfg.get("seconds"),
            "pseudo_counts": st["pseudo_counts"] if st else None,
            # scoring only: how many pseudo-labels agree with the reference (never used in training)
            "pseudo_correct": _pseudo_correct(run, table) if st else None}


def _pseudo_correct(run: Path, table: dict[str, str]) -> int | None:
    f = run / "pseudo_labels.csv"
    if not f.is_file():
        return None
    import csv

    with open(f, newline="") as fh:
        return sum(table.get(r["event"] + ".png") == r["pseudo_label"] for r in csv.DictReader(fh))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "opal")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--orders", nargs="+", default=["suggested", "random"])
    ap.add_argument("--arms", nargs="+", default=["default", "previous"], choices=list(ARMS),
                    help="default: opal train/predict with their defaults; "
                         "previous: the same network, predicted with --no-tta; "
                         "self_train: opal train --self-train (pseudo-labels, two networks); "
                         "scratch / sim: opal train --weights none / --weights sim (issue 22); "
                         "scratch_no_tta / sim_no_tta / sim_tta: the same networks predicted with "
                         "--no-tta / --tta")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("runs/opal_active"))
    ap.add_argument("--reuse-train-predictions", action="store_true",
                    help="TTA arms: score opal train's predictions.csv instead of running opal predict again")
    args = ap.parse_args(argv)
    zip_path = args.data / "centered-masked-rotated1.zip"
    ref = {k.lower(): v for k, v in opal.read_labels(args.data / "events_list.csv").items()}
    data = opal.load_displays(zip_path, size=8, quiet=True)
    table = {}
    for n in data.names:
        if f"{n}.png".lower() in ref:
            table[f"{n}.png"] = ref[f"{n}.png".lower()]
    all_names = sorted(table)
    # suggest, predictions.csv and pseudo_labels.csv name displays by opaque id (eventcnn.opal.ids)
    table.update({f"{ids.display_id(n)}.png": v for n, v in list(table.items())})
    res_file = args.out / "active_results.json"
    results = json.loads(res_file.read_text()) if res_file.exists() else []
    for r in results:
        r.setdefault("arm", "previous")  # results written before the arms
    done = {(r["order"], r["seed"], r["arm"]) for r in results}
    for seed in args.seeds:
        for order in args.orders:
            todo = [a for a in args.arms if (order, seed, a) not in done]
            if not todo:
                continue
            work = args.out / f"{order}_{seed}"
            labels, chosen, suggest_s = label(order, seed, zip_path, table, all_names, args.rounds,
                                              args.batch, work)
            for arm in todo:
                r = {"order": order, **train_and_score(arm, seed, zip_path, table, labels, chosen, work,
                                                       reuse=args.reuse_train_predictions),
                     "suggest_s": suggest_s}
                results.append(r)
                write_json_atomic(res_file, results)
                print(f"{order:9s} {arm:8s} seed {seed}: labels {r['counts']} balanced accuracy "
                      f"{r['balanced_accuracy']:.3f} recall {({k: round(v, 2) for k, v in r['recall'].items()})} "
                      f"train {r['train_wall_s']:.0f} s, predict {r['predict_wall_s']:.0f} s"
                      + (f", pseudo-labels {r['pseudo_counts']} ({r['pseudo_correct']} right)"
                         if r["pseudo_counts"] else "")
                      + (f", suggest {np.mean(r['suggest_s']):.1f} s/call" if r["suggest_s"] else ""),
                      flush=True)
    print("\n| order | arm | balanced accuracy (mean +- std) | per seed | recall q | e | m | t "
          "| train s (wall) | predict s | suggest s/call |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    means = {}
    for order in args.orders:
        for arm in args.arms:
            rs = sorted((r for r in results if r["order"] == order and r["arm"] == arm and r["seed"] in args.seeds),
                        key=lambda r: r["seed"])
            if not rs:
                continue
            ba = np.array([r["balanced_accuracy"] for r in rs])
            means[order, arm] = ba.mean()
            rec = [np.mean([r["recall"].get(c, np.nan) for r in rs]) for c in opal.CLASS_NAMES]
            sug = [s for r in rs for s in r["suggest_s"]]
            tr = [r["train_wall_s"] for r in rs]
            print(f"| {order} ({len(rs)} seeds) | {arm} | {ba.mean():.3f} +- {ba.std():.3f} | "
                  + ", ".join(f"{v:.3f}" for v in ba) + " | "
                  + " | ".join(f"{v:.2f}" for v in rec)
                  + f" | {np.mean(tr):.0f} ({np.min(tr):.0f}-{np.max(tr):.0f}) | "
                  + f"{np.mean([r.get('predict_wall_s', np.nan) for r in rs]):.0f} | "
                  + (f"{np.mean(sug):.1f} (max {np.max(sug):.1f})" if sug else "-") + " |")
    for arm in args.arms:
        if ("suggested", arm) in means and ("random", arm) in means:
            print(f"\n{arm}: suggested / random balanced accuracy: "
                  f"{means['suggested', arm] / means['random', arm]:.2f}")
    for order in args.orders:
        if (order, "sim") in means and (order, "scratch") in means:
            print(f"{order}: sim / scratch balanced accuracy: {means[order, 'sim'] / means[order, 'scratch']:.2f}")
        for w in ("scratch", "sim"):
            if (order, w) in means and (order, f"{w}_no_tta") in means:
                print(f"{order}: {w} default / --no-tta balanced accuracy: "
                      f"{means[order, w] / means[order, f'{w}_no_tta']:.2f}")
        if (order, "sim") in means and (order, "sim_tta") in means:
            print(f"{order}: sim default / --tta balanced accuracy: "
                  f"{means[order, 'sim'] / means[order, 'sim_tta']:.3f}")
        if (order, "default") in means and (order, "previous") in means:
            print(f"{order}: default / previous balanced accuracy: "
                  f"{means[order, 'default'] / means[order, 'previous']:.2f}")
    for order in args.orders:
        for arm in args.arms:
            _print_mistakes(args.out, order, arm, [s for s in args.seeds if (order, s, arm) in
                                                   {(r["order"], r["seed"], r["arm"]) for r in results}], table)
    return 0


def _predictions_file(out: Path, order: str, seed: int, arm: str) -> Path:
    """Where the scored predictions of one arm and seed are (``opal predict``'s, else ``opal train``'s)."""
    work = out / f"{order}_{seed}"
    own = work / f"predictions_{arm}.csv"
    return own if own.is_file() else work / f"run_{ARMS[arm]['run']}" / "predictions.csv"


def _print_mistakes(out: Path, order: str, arm: str, seeds: list[int], table: dict[str, str]) -> None:
    """The mistakes of one arm summed over ``seeds``: (true -> predicted) counts, the displays wrong most often."""
    import collections
    import csv

    pairs: collections.Counter = collections.Counter()
    displays: collections.Counter = collections.Counter()
    n = 0
    for seed in seeds:
        path = _predictions_file(out, order, seed, arm)
        if not path.is_file():
            return
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                n += 1
                true = table[r["event"] + ".png"]
                if r["predicted"] != true:
                    pairs[true, r["predicted"]] += 1
                    displays[r["event"], true, r["predicted"]] += 1
    if not n:
        return
    top = displays.most_common(5)
    print(f"{order} {arm}: {sum(pairs.values())} mistakes in {n} predictions ({len(seeds)} seeds): "
          + ", ".join(f"{t} -> {p} {k}" for (t, p), k in pairs.most_common())
          + f"; the 5 displays wrong most often ({sum(k for _, k in top)} mistakes): "
          + ", ".join(f"{e} ({t} -> {p}, {k} seeds)" for (e, t, p), k in top))


if __name__ == "__main__":
    sys.exit(main())
