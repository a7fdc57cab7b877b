"""CMS tt+jets vs W+jets: the small CNN against the gradient-boosted baseline on the same events.

Renders the real development sample (../shared/data/cms, paper selection) at
``--size`` pixels with the project's renderer, trains ``eventcnn train``'s small
CNN with a fixed seeded split, evaluates it on the test split, and trains the
gradient-boosted trees on the high-level features of the SAME train events and
tests them on the SAME test events (``eventcnn.learn.evaluate``). Prints a Markdown
table for docs/benchmarks.md: every figure with its 95 % bootstrap interval and the
paired CNN - trees difference on the same events.

Usage::

    python bench/cms_results.py --data ../shared/data/cms --workdir /tmp/cms_bench --size 64 --epochs 30

Three classes on generated events (``eventcnn generate``)::

    python bench/cms_results.py --inputs tt=gen/tt.json wjets=gen/wjets.json dy=gen/dy.json \
        --workdir /tmp/gen_bench --size 64 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/cms", help="folder with TTjets_json.json and Wjets_json.json")
    p.add_argument("--inputs", nargs="+", default=None, metavar="LABEL=FILE",
                   help="event files per class (default: the two CMS files in --data)")
    p.add_argument("--selection", default="paper", help="selection preset or JSON file (default: paper)")
    p.add_argument("--workdir", default="bench_out/cms", help="images and run folder go here")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--model", default="small")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--jobs", type=int, default=1, help="rendering processes")
    p.add_argument("--no-augment", action="store_true")
    args = p.parse_args(argv)

    from eventcnn.images.render import RenderConfig, render_to_dir
    from eventcnn.learn.intervals import fmt
    from eventcnn.learn.train import TrainConfig, train

    data, work = Path(args.data), Path(args.workdir)
    images = work / f"CreatedImages_{args.size}"
    t0 = time.perf_counter()
    if args.inputs:
        inputs = [(Path(f), label) for label, f in (item.split("=", 1) for item in args.inputs)]
    else:
        inputs = [(data / "TTjets_json.json", "ttjets"), (data / "Wjets_json.json", "wjets")]
    summary = render_to_dir(inputs, images, RenderConfig(size=args.size), selection=args.selection,
                            jobs=args.jobs, quiet=True)
    t_render = time.perf_counter() - t0
    print(summary.table())
    run_name = f"{args.model}_{args.size}px_seed{args.seed}" + ("_noaug" if args.no_augment else "")
    cfg = TrainConfig(images, work / "runs" / run_name, model=args.model, epochs=args.epochs,
                      batch_size=args.batch_size, seed=args.seed, augment=not args.no_augment,
                      schedule="cosine", lr=1e-3, patience=5, quiet=True)
    t0 = time.perf_counter()
    run = train(cfg)
    t_train = time.perf_counter() - t0
    m, b = run.metrics, run.metrics["baseline"]
    counts = json.loads((run.out / "config.json").read_text())["split_counts"]
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"render {t_render:.0f} s, train+evaluate {t_train:.0f} s, epochs run {run.state.get('epoch')}, "
          f"best epoch {run.state.get('best_epoch')}")
    print(f"split (seed {args.seed}): {counts}\n")
    auc_name = "ROC AUC" if len(m["class_names"]) == 2 else "macro one-vs-rest ROC AUC"
    print(f"figures: value [95 % interval], {m['bootstrap']['method']} ({m['bootstrap']['n_boot']} resamples, "
          f"stratified by class); {m['n']} test events\n")
    print(f"| classifier | test accuracy | balanced accuracy | {auc_name} |")
    print("|---|---|---|---|")
    print(_row(f"CNN `{args.model}` {args.size} px", m))
    if "accuracy" in b:
        print(_row("gradient-boosted trees (12 features)", b))
        print(_row("CNN - trees, paired (same events)", m["cnn_minus_baseline"], signed=True))
    else:
        print(f"| gradient-boosted trees | {b.get('skipped')} | | |")
    sig = m["class_names"][1] if len(m["class_names"]) == 2 else m["class_names"][0]
    rej = m["background_rejection"][sig]
    print(f"\nCNN background rejection ({sig} as signal): "
          + "; ".join(f"{k.split('=')[1]} signal efficiency: {fmt(v, 1)}" for k, v in rej.items()))
    print(f"\nrun folder: {run.out}")
    return 0


def _row(name: str, m: dict, signed: bool = False) -> str:
    from eventcnn.learn.intervals import fmt

    auc = m.get("auc", (m.get("roc_auc") or {}).get("macro"))
    return (f"| {name} | {fmt(m['accuracy'], 4, signed)} | {fmt(m['balanced_accuracy'], 4, signed)} | "
            f"{fmt(auc, 4, signed)} |")


if __name__ == "__main__":
    raise SystemExit(main())
