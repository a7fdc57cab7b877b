"""Transfer learning from simulation: held-out ROC AUC on real CMS tt+jets vs W+jets vs real training events.

Renders the real development sample (``--cms``: TTjets_json.json, Wjets_json.json;
paper selection) at ``--size`` px, draws ONE fixed seeded split
(``--fractions``, default 55 % train pool / 15 % validation pool / 30 % test) and
then, for every seed and every number ``N`` of real training events per class
(``--sizes``; ``all`` = the whole train pool), trains on ``N`` events per class
from the train pool (validation: ``max(8, 0.3 N)`` per class from the
validation pool, used only for early stopping / best epoch) with these arms:

- ``scratch``: the small CNN from random weights (all layers trainable);
- ``sim-<policy>``: the small CNN starting from the shipped simulation-pretrained
  backbone (``--weights sim``), for each freeze policy in ``--policies``: the
  two-phase recipe of :mod:`eventcnn.learn.train` (``--head-epochs`` with the backbone
  frozen, then ``--fine-tune-epochs`` with the policy at ``--fine-tune-lr``;
  ``frozen`` trains the head for both);
- ``imagenet-vgg16``: VGG16 with ImageNet weights, if they are in the Keras cache
  (``~/.keras/models``), else reported as not available;
- ``bdt``: the gradient-boosted trees of :mod:`eventcnn.learn.baseline` on the
  high-level features of the same train + validation events.

Every arm is tested on the same held-out test events (never used for choices).
Rows are appended to ``<out>/results.csv`` as they finish (re-running skips
finished rows); the summary (mean and spread over seeds) goes to
``<out>/summary.md`` and the plot to ``--plot``.

Usage (from the repository root; ``PYTHONPATH=.`` makes sure this checkout's eventcnn is used)::

    PYTHONPATH=. python bench/sim_transfer.py --sizes 25 50 100 200 500 all --seeds 1 2 3 --policies frozen few many none
    PYTHONPATH=. python bench/sim_transfer.py --sizes 25 50 all --seeds 1 --policies frozen none   # reduced grid
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = ("arm", "size", "seed", "n_train", "n_val", "n_test", "auc", "accuracy", "epochs", "best_epoch", "seconds")


def _imagenet_cached() -> Path | None:
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    f = cache / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return f if f.exists() else None


def _render(cms: Path, out: Path, size: int) -> Path:
    from eventcnn.images.render import RenderConfig, render_to_dir

    images = out / "images"
    inputs = [(cms / "TTjets_json.json", "ttjets"), (cms / "Wjets_json.json", "wjets")]
    for f, _ in inputs:
        if not f.exists():
            raise SystemExit(f"{f} not found: pass --cms FOLDER with TTjets_json.json and Wjets_json.json")
    render_to_dir(inputs, images, RenderConfig(size=size), selection="paper", quiet=True)
    return images


def _subset(master: dict[str, Any], size: str, seed: int) -> dict[str, Any]:
    """Train N per class from the train pool, max(8, 0.3 N) per class from the validation pool, fixed test."""
    rng = np.random.default_rng([seed, 15])
    out = {k: v for k, v in master.items() if k not in ("train", "val")}
    out["train"], out["val"] = [], []
    for cls in master["class_names"]:
        pool_t = [r for r in master["train"] if r["class"] == cls]
        pool_v = [r for r in master["val"] if r["class"] == cls]
        n = len(pool_t) if size == "all" else min(int(size), len(pool_t))
        nv = len(pool_v) if size == "all" else min(len(pool_v), max(8, math.ceil(0.3 * n)))
        out["train"] += [pool_t[i] for i in sorted(rng.permutation(len(pool_t))[:n])]
        out["val"] += [pool_v[i] for i in sorted(rng.permutation(len(pool_v))[:nv])]
    return out


def _test_auc(run_dir: Path, split: dict[str, Any], images: Path, size: int) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    from eventcnn.learn.dataset import load_arrays, split_arrays
    from eventcnn.learn.train import load_run_model

    files, y = split_arrays(split, "test", images)
    model = load_run_model(run_dir)
    p = model.predict(load_arrays(files, size), batch_size=256, verbose=0)
    pos = split["class_names"].index("ttjets")
    return float(roc_auc_score(y == pos, p[:, pos])), float(np.mean(np.argmax(p, 1) == y))


def _cnn(arm: str, split_file: Path, run_dir: Path, images: Path, args: argparse.Namespace, seed: int):
    from eventcnn.learn.train import TrainConfig, train

    common = dict(data_dir=str(images), out=str(run_dir), model="small", size=args.size,
                  batch_size=args.batch_size, seed=seed, split_file=str(split_file), patience=args.patience,
                  monitor="val_loss", evaluate=False, baseline=False, quiet=True, workers=1)
    if arm == "scratch":
        cfg = TrainConfig(weights=None, freeze="none", epochs=args.head_epochs + args.fine_tune_epochs,
                          lr=args.lr, **common)
    elif arm.startswith("imagenet-"):
        common["model"] = "vgg16"
        cfg = TrainConfig(weights="imagenet", freeze="few", epochs=args.head_epochs, lr=args.lr,
                          fine_tune_epochs=args.fine_tune_epochs, fine_tune_lr=args.fine_tune_lr, **common)
    else:
        policy = arm.split("-", 1)[1]
        if policy == "frozen":
            cfg = TrainConfig(weights=args.weights, freeze="frozen", epochs=args.head_epochs + args.fine_tune_epochs,
                              lr=args.lr, **common)
        else:
            cfg = TrainConfig(weights=args.weights, freeze=policy, epochs=args.head_epochs, lr=args.lr,
                              fine_tune_epochs=args.fine_tune_epochs, fine_tune_lr=args.fine_tune_lr, **common)
    if arm.startswith("sim-") and cfg.weights != args.weights:  # e.g. an older eventcnn that drops "sim"
        raise SystemExit(f"this eventcnn ({__import__('eventcnn').__file__}) ignores weights={args.weights!r}; "
                         "run the bench against the checkout that has eventcnn.learn.weights (PYTHONPATH=.)")
    run = train(cfg)
    return run


def _bdt(split: dict[str, Any], images: Path, seed: int) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    from eventcnn.learn import baseline as B

    rows = split["train"] + split["val"]
    X, y, _ = B.features_for_manifest(rows + split["test"], base=images)
    n = len(rows)
    model = B.train_baseline(X[:n], y[:n], seed)
    p = B.baseline_predict_proba(model, X[n:], class_names=split["class_names"])
    yt = np.asarray(y[n:]) == "ttjets"
    pos = split["class_names"].index("ttjets")
    return float(roc_auc_score(yt, p[:, pos])), float(np.mean((p[:, pos] > 0.5) == yt))


def score_unseen(run_dir: Path, images: Path, size: int) -> dict[str, Any]:
    """ROC AUC of a run folder's best model on every image of ``images`` outside its train/val split."""
    from eventcnn.learn.dataset import list_images, load_split

    split = load_split(run_dir / "split.json")
    seen = {r["file"] for r in split["train"] + split["val"]}
    items, _ = list_images(images)
    rows = [it.to_dict() for it in items if it.file not in seen]
    unseen = {**split, "test": rows}
    auc, acc = _test_auc(run_dir, unseen, images, size)
    return {"run": str(run_dir), "n_train": len(split["train"]), "n_val": len(split["val"]), "n_unseen": len(rows),
            "auc": round(auc, 5), "accuracy": round(acc, 5)}


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _append(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


def summarize(rows: list[dict[str, Any]], sizes: list[str], arms: list[str]) -> str:
    """Markdown table: mean ROC AUC (min-max over seeds) per arm and training size."""
    head = "| arm | " + " | ".join(f"N = {s}" for s in sizes) + " |"
    lines = [head, "|" + "---|" * (len(sizes) + 1)]
    for arm in arms:
        cells = []
        for s in sizes:
            v = [float(r["auc"]) for r in rows if r["arm"] == arm and r["size"] == s]
            cells.append("-" if not v else f"{np.mean(v):.4f}" + (f" ({min(v):.3f}-{max(v):.3f}, {len(v)})"
                                                                   if len(v) > 1 else " (1)"))
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], sizes: list[str], arms: list[str], path: Path) -> None:
    """ROC AUC vs real training events per class (categorical axis), full range and zoomed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    labels = []
    for s in sizes:
        n = sorted({int(r["n_train"]) for r in rows if r["size"] == s})
        labels.append(s if s != "all" else f"all\n({n[0] if n else '?'} in total)")
    for ax, zoom in zip(axes, (False, True)):
        for k, arm in enumerate(arms):
            xs, ys, lo, hi = [], [], [], []
            for i, s in enumerate(sizes):
                v = np.array([float(r["auc"]) for r in rows if r["arm"] == arm and r["size"] == s])
                if len(v):
                    xs.append(i + (k - len(arms) / 2) * 0.04)
                    ys.append(v.mean())
                    lo.append(v.mean() - v.min())
                    hi.append(v.max() - v.mean())
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=arm)
        ax.set_xticks(range(len(sizes)), labels)
        ax.set_xlabel("real training events per class (CMS tt+jets, W+jets)")
        ax.set_ylabel("ROC AUC on the held-out real events")
        ax.grid(alpha=0.3)
        if zoom:
            ax.set_ylim(0.97, 1.0)
            ax.set_title("zoom: AUC 0.97-1.0 (bars: min-max over seeds)")
        else:
            ax.set_title("small CNN on 64 px eta-phi images: scratch vs sim-pretrained")
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cms", default="../shared/data/cms", help="folder with TTjets_json.json and Wjets_json.json")
    p.add_argument("--out", default="bench/_out/sim_transfer")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--sizes", nargs="+", default=["25", "50", "100", "200", "500", "all"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--policies", nargs="*", default=["frozen", "few", "many", "none"],
                   choices=["frozen", "few", "many", "none"])
    p.add_argument("--weights", default="sim", help="pretrained weights: sim (shipped) or a .weights.h5 file")
    p.add_argument("--no-scratch", action="store_true")
    p.add_argument("--no-bdt", action="store_true")
    p.add_argument("--fractions", type=float, nargs=3, default=[0.55, 0.15, 0.30])
    p.add_argument("--head-epochs", type=int, default=15)
    p.add_argument("--fine-tune-epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fine-tune-lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--plot", default="docs/img/sim_transfer_auc.png")
    p.add_argument("--summary-only", action="store_true", help="train nothing: summarize results.csv for the grid")
    p.add_argument("--score-run", nargs="+", default=None, metavar="RUN_DIR",
                   help="only score these run folders (eventcnn train on --out/images) on every real event "
                        "outside their train/val split, and exit")
    args = p.parse_args(argv)
    if args.score_run:
        for d in args.score_run:
            print(json.dumps(score_unseen(Path(d), Path(args.out) / "images", args.size)), flush=True)
        return 0
    for s in args.sizes:
        if s != "all" and not s.isdigit():
            p.error(f"--sizes takes numbers or 'all', got {s!r}")

    from eventcnn.learn.dataset import list_images, make_split, save_split

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = _render(Path(args.cms), out, args.size)
    items, names = list_images(images)
    master = make_split(items, names, fractions=tuple(args.fractions), seed=0)
    arms = (["scratch"] if not args.no_scratch else []) + [f"sim-{q}" for q in args.policies]
    cached = _imagenet_cached()
    imagenet_note = (f"ImageNet weights found in the Keras cache ({cached}): arm imagenet-vgg16 included"
                     if cached else "ImageNet weights not available in the Keras cache (~/.keras/models): "
                                    "no ImageNet arm (offline)")
    print(imagenet_note, flush=True)
    if cached:
        arms.append("imagenet-vgg16")
    all_arms = arms + ([] if args.no_bdt else ["bdt"])
    results = out / "results.csv"
    done = {(r["arm"], r["size"], r["seed"]) for r in _read_rows(results)}
    t_all = time.perf_counter()
    for seed in [] if args.summary_only else args.seeds:
        for size in args.sizes:
            split = _subset(master, size, seed)
            tag = f"n{size}_s{seed}"
            split_file = out / "splits" / f"{tag}.json"
            save_split(split, split_file)
            counts = {k: len(split[k]) for k in ("train", "val", "test")}
            for arm in all_arms:
                if (arm, size, str(seed)) in done:
                    continue
                t0 = time.perf_counter()
                if arm == "bdt":
                    auc, acc = _bdt(split, images, seed)
                    epochs = best = ""
                else:
                    run_dir = out / "runs" / f"{arm}_{tag}"
                    run = _cnn(arm, split_file, run_dir, images, args, seed)
                    auc, acc = _test_auc(run_dir, split, images, args.size)
                    epochs, best = run.state.get("epoch"), run.state.get("best_epoch")
                row = {"arm": arm, "size": size, "seed": seed, "n_train": counts["train"], "n_val": counts["val"],
                       "n_test": counts["test"], "auc": round(auc, 5), "accuracy": round(acc, 5), "epochs": epochs,
                       "best_epoch": best, "seconds": round(time.perf_counter() - t0, 1)}
                _append(results, row)
                print(json.dumps(row), flush=True)
    rows = [r for r in _read_rows(results) if r["size"] in args.sizes and int(r["seed"]) in args.seeds
            and r["arm"] in all_arms]
    table = summarize(rows, args.sizes, all_arms)
    head = (f"Machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}; "
            f"test events {len(master['test'])} (fixed), seeds {args.seeds}, image size {args.size}; "
            f"{imagenet_note}. Cells: mean ROC AUC (min-max, number of seeds).")
    text = f"{head}\n\n{table}\n"
    (out / "summary.md").write_text(text)
    print(text)
    plot(rows, args.sizes, all_arms, Path(args.plot))
    print(f"plot: {args.plot}; wall {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
