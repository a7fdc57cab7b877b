"""A simulated class labels OPAL displays: suggested order (active learning) vs random order.

An oracle answers with the reference labels. Per seed and order: ``--rounds``
rounds of ``--batch`` events (``eventcnn opal suggest`` for the suggested order,
a seeded random permutation for the random order), the labels written in the
masterclass format, then ``eventcnn opal train`` on those labels and
``eventcnn opal predict`` on the displays NOT labelled, both as subprocesses
exactly as a teacher would run them. Prints balanced accuracy and per-class
recall on the not-labelled displays, the label counts, time per suggest call and
per training, and the ratio suggested / random. Results are appended to
``<out>/active_results.json`` after every run (an interrupted run resumes).

Usage (the run reported in docs/benchmarks.md)::

    python bench/opal_active.py --data ../shared/data/opal --seeds 0 1 2 \
        --rounds 5 --batch 10 --out runs/opal_active
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


def simulate(order: str, seed: int, zip_path: Path, table: dict[str, str], all_names: list[str],
             rounds: int, batch: int, work: Path) -> dict:
    """Label ``rounds`` x ``batch`` events in ``order``, train, predict the rest, score."""
    work.mkdir(parents=True, exist_ok=True)
    labels = work / "labels.csv"
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
    run = work / "run"
    t0 = time.perf_counter()
    _cli("opal", "train", "--data", str(zip_path), "--labels", str(labels), "--out", str(run),
         "--seed", str(seed), "--quiet")
    train_s = time.perf_counter() - t0
    pred = work / "predictions.csv"
    _cli("opal", "predict", "--model", str(run), "--data", str(zip_path), "--labels", str(labels),
         "--out", str(pred))
    import csv

    with open(pred, newline="") as fh:
        rows = list(csv.DictReader(fh))
    y = np.array([table[r["event"] + ".png"] for r in rows])
    p = np.array([r["predicted"] for r in rows])
    recall = {c: float(np.mean(p[y == c] == c)) for c in opal.CLASS_NAMES if np.any(y == c)}
    counts = {c: sum(table[n] == c for n in chosen) for c in opal.CLASS_NAMES}
    return {"order": order, "seed": seed, "n_labelled": len(chosen), "counts": counts,
            "n_predicted": len(rows), "balanced_accuracy": float(np.mean(list(recall.values()))),
            "accuracy": float(np.mean(p == y)), "recall": recall,
            "suggest_s": suggest_s, "train_wall_s": train_s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "opal")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--orders", nargs="+", default=["suggested", "random"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("runs/opal_active"))
    args = ap.parse_args(argv)
    zip_path = args.data / "centered-masked-rotated1.zip"
    ref = {k.lower(): v for k, v in opal.read_labels(args.data / "events_list.csv").items()}
    data = opal.load_displays(zip_path, size=8, quiet=True)
    table = {}
    for n in data.names:
        if f"{n}.png".lower() in ref:
            table[f"{n}.png"] = ref[f"{n}.png".lower()]
    all_names = sorted(table)
    res_file = args.out / "active_results.json"
    results = json.loads(res_file.read_text()) if res_file.exists() else []
    done = {(r["order"], r["seed"]) for r in results}
    for seed in args.seeds:
        for order in args.orders:
            if (order, seed) in done:
                continue
            r = simulate(order, seed, zip_path, table, all_names, args.rounds, args.batch,
                         args.out / f"{order}_{seed}")
            results.append(r)
            write_json_atomic(res_file, results)
            print(f"{order:9s} seed {seed}: labels {r['counts']} balanced accuracy "
                  f"{r['balanced_accuracy']:.3f} recall {({k: round(v, 2) for k, v in r['recall'].items()})} "
                  f"train {r['train_wall_s']:.0f} s"
                  + (f", suggest {np.mean(r['suggest_s']):.1f} s/call" if r["suggest_s"] else ""),
                  flush=True)
    print("\n| order | balanced accuracy (mean +- std) | recall q | e | m | t | train s | suggest s/call |")
    print("|---|---|---|---|---|---|---|---|")
    means = {}
    for order in args.orders:
        rs = [r for r in results if r["order"] == order and r["seed"] in args.seeds]
        if not rs:
            continue
        ba = np.array([r["balanced_accuracy"] for r in rs])
        means[order] = ba.mean()
        rec = [np.mean([r["recall"].get(c, np.nan) for r in rs]) for c in opal.CLASS_NAMES]
        sug = [s for r in rs for s in r["suggest_s"]]
        print(f"| {order} ({len(rs)} seeds) | {ba.mean():.3f} +- {ba.std():.3f} | "
              + " | ".join(f"{v:.2f}" for v in rec)
              + f" | {np.mean([r['train_wall_s'] for r in rs]):.0f} | "
              + (f"{np.mean(sug):.1f} (max {np.max(sug):.1f})" if sug else "-") + " |")
    if "suggested" in means and "random" in means:
        print(f"\nsuggested / random balanced accuracy: {means['suggested'] / means['random']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
