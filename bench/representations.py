"""Which representation wins, and when: eta-phi image CNN vs a Deep Sets network on objects vs boosted trees.

Issue 36 item 2. Generated tt+jets, W+jets and Drell-Yan events (Pythia 8 +
the project's detector model, full mode, ``lepton`` selection: at least one
tight isolated lepton with pT > 20 GeV), the same events seen three ways:

(a) the small CNN on paper-style eta-phi images (``--size`` px, default 32: see docs/representations.md),
(b) a Deep Sets / Particle Flow Network on the reconstructed objects (MET, leptons, jets),
(c) gradient-boosted trees on the twelve high-level features of ``eventcnn.learn.baseline``.

Steps (each cached under ``--out``; a rerun continues):

1. generate pieces of ``--piece-events`` events per process until every class has
   ``--target`` selected events (``--generate-only`` stops after this step);
2. draw every selected event into 32-px shards (``render --format shards``);
3. learning curves: ``--sizes`` training events per class x ``--seeds`` x three
   representations, scored on the fixed held-out test events (1/6 of all);
4. transfer to the real CMS tt+jets vs W+jets events (``--cms``): trained on
   generated events, scored on real ones; fine-tuned on ``--real-per-class``
   real events per class; and the three representations trained on real events only.

Writes ``results.json`` (every figure ``{"value", "ci95"}`` plus the spread over
seeds), ``runs.jsonl`` (one line per trained model, the cache of step 3/4),
``summary.md`` and the figures ``learning_curves.png``, ``differences.png``, ``transfer.png``.

Usage (from the repository root)::

    nice -n 19 python bench/representations.py --out bench/_out/repr --generate-only   # step 1 (hours)
    nice -n 19 python bench/representations.py --out bench/_out/repr                   # steps 2-4
    python bench/representations.py --out /tmp/repr_quick --quick                        # minutes
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

QUICK = {"target": 150, "piece_events": 600, "sizes": [20, 50], "seeds": [1, 2], "real_per_class": 30,
         "real_all": False, "n_boot": 200, "min_steps": 50, "max_epochs": 10}


def _load() -> str:
    try:
        return "load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def image_cost(sizes: list[int], n: int = 4096) -> list[dict[str, float]]:
    """CPU seconds per training image of the small CNN (with augmentation) at each image size, measured here."""
    import keras
    import numpy as np

    from eventcnn.learn.augment import physics_augmentation
    from eventcnn.learn.models import build_model

    rows = []
    for size in sizes:
        model = build_model("small", 3, (size, size, 3), weights=None, freeze="none",
                            augmentation=physics_augmentation(seed=1))
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
        y = rng.integers(0, 3, n)
        model.fit(x[:512], y[:512], batch_size=128, epochs=1, verbose=0)  # warm-up: graph building
        t, c = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
        rows.append({"size": size, "images_per_cpu_second": n / (time.process_time() - c),
                     "images_per_second": n / (time.perf_counter() - t), "parameters": model.count_params()})
    ref = rows[-1]["images_per_cpu_second"]
    for r in rows:
        r["cost_relative_to_last"] = ref / r["images_per_cpu_second"]
        print(f"[image cost] {r['size']} px: {r['images_per_cpu_second']:.0f} training images per CPU-second "
              f"({r['images_per_second']:.0f}/s wall), {r['parameters']:,} parameters; "
              f"{r['cost_relative_to_last']:.2f}x the cost per image of {rows[-1]['size']} px; {_load()}", flush=True)
    return rows


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench/_out/repr", help="everything goes here (events, shards, runs, results)")
    p.add_argument("--quick", action="store_true", help="tiny settings (minutes): a smoke test of the whole study")
    p.add_argument("--generate-only", action="store_true", help="stop after generating the events")
    p.add_argument("--target", type=int, default=134_000,
                   help="selected events per class to generate (3/4 train, 1/12 validation, 1/6 test)")
    p.add_argument("--piece-events", type=int, default=10_000, help="generated events per cached file")
    p.add_argument("--max-pieces", type=int, default=None, help="generate at most this many new pieces (a time box)")
    p.add_argument("--seed", type=int, default=1, help="master seed of the generation")
    p.add_argument("--jobs", type=int, default=2, help="worker processes for generation and drawing")
    p.add_argument("--fast", action="store_true", help="generate with multiparton interactions off (faster)")
    p.add_argument("--selection", default="lepton", help="selection preset or JSON file (default: lepton)")
    p.add_argument("--size", type=int, default=32, help="image size in pixels")
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000, 10_000, 30_000, 100_000],
                   help="training events per class")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--reps", nargs="+", default=["image", "sets", "trees"], choices=["image", "sets", "trees"])
    p.add_argument("--cms", default="../shared/data/cms", help="folder with TTjets_json.json and Wjets_json.json")
    p.add_argument("--real-per-class", type=int, default=100, help="real events per class for fine-tuning")
    p.add_argument("--no-transfer", action="store_true", help="skip the real-data part")
    p.add_argument("--no-real-all", dest="real_all", action="store_false",
                   help="skip training on the whole real pool (the slowest real-data arm)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples per interval")
    p.add_argument("--min-steps", type=int, default=500, help="optimizer steps per network at least")
    p.add_argument("--max-epochs", type=int, default=60, help="epochs per network at most")
    p.add_argument("--image-passes", type=float, default=6e5,
                   help="training events the CNN sees per run at most (epochs = this / training events)")
    p.add_argument("--sets-passes", type=float, default=2e6, help="the same for the Deep Sets network")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the report from the models already trained (a stopped run)")
    p.add_argument("--image-cost", type=int, nargs="*", default=None, metavar="PX",
                   help="only measure the CNN's training cost per image at these sizes (e.g. 24 32 40 64) and exit")
    p.add_argument("--quiet", "-q", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.image_cost is not None:
        image_cost(sorted(args.image_cost or [24, 32, 40, 64]))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from eventcnn._io import write_json_atomic
    from eventcnn.learn.study_data import generate_pieces, read_pieces, render_shards

    events_dir = out / "events"
    t0, c0 = time.perf_counter(), time.process_time()
    print(f"[start] {time.strftime('%Y-%m-%d %H:%M:%S')} {platform.machine()} {os.cpu_count()} CPUs; {_load()}",
          flush=True)
    generate_pieces(events_dir, args.target, args.piece_events, args.seed, selection=args.selection,
                    jobs=args.jobs, fast=args.fast, max_pieces=0 if args.report_only else args.max_pieces,
                    quiet=args.quiet)
    pieces = read_pieces(events_dir)
    gen_seconds = sum(v["seconds"] for v in pieces.values())
    print(f"[generate] done: {len(pieces)} pieces, {sum(v['events'] for v in pieces.values()):,} events, "
          f"{gen_seconds:.0f} s of generation in all (this call {time.perf_counter() - t0:.0f} s); {_load()}",
          flush=True)
    if args.generate_only:
        return 0
    t1 = time.perf_counter()
    shards = out / f"shards_{args.size}"
    if not args.report_only:  # report-only reads the shards as drawn, whatever was generated since
        render_shards(events_dir, shards, args.size, args.selection, args.jobs, quiet=args.quiet)
    print(f"[render] {shards} ready in {time.perf_counter() - t1:.0f} s; {_load()}", flush=True)
    from eventcnn.learn.representations import Recipe
    from eventcnn.learn.study import StudySettings, run_study

    settings = StudySettings(sizes=tuple(args.sizes), seeds=tuple(args.seeds), reps=tuple(args.reps), size=args.size,
                             selection=args.selection, cms=None if args.no_transfer else args.cms,
                             real_per_class=args.real_per_class, real_all=args.real_all, n_boot=args.n_boot,
                             quiet=args.quiet, train=not args.report_only,
                             recipe=Recipe(min_steps=args.min_steps, max_epochs=args.max_epochs,
                                           passes=(("image", args.image_passes), ("sets", args.sets_passes))))
    report = run_study(settings, events_dir, shards, out)
    report["generation"] = {"pieces": len(pieces), "events": sum(v["events"] for v in pieces.values()),
                            "selected": sum(v["selected"] for v in pieces.values()),
                            "wall_seconds_summed_over_pieces": round(gen_seconds, 1), "fast": args.fast,
                            "piece_events": args.piece_events}
    report["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "at_end": _load()}
    report["timing"]["bench_wall_seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(out / "results.json", report)
    print(f"[end] wall {time.perf_counter() - t0:.0f} s, CPU of this process {time.process_time() - c0:.0f} s; "
          f"{_load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
