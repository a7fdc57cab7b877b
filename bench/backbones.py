"""The full transfer-learning grid of the original study, for a machine with a GPU.

Backbones x freeze policies x optimizers, each a resumable ``eventcnn train``
run folder under ``--out`` on the same seeded split, then one comparison table
(``eventcnn compare``). Re-running the command skips finished runs and resumes
killed ones, so the grid can be spread over several sessions.

Usage (GPU, ImageNet weights, the paper's 224 px images)::

    python bench/backbones.py --data CreatedImages --out runs/grid --size 224 \\
        --epochs 5 --fine-tune-epochs 10 --weights imagenet

Smoke test (CPU, seconds)::

    python bench/backbones.py --data toy --out /tmp/grid --backbones vgg16 --freeze frozen \\
        --optimizers adam --size 32 --epochs 1 --weights none
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

BACKBONES = ["vgg16", "vgg19", "resnet50", "inceptionv3", "inceptionresnetv2", "efficientnetv2b0", "convnexttiny"]
FREEZE = ["frozen", "few", "many", "none"]
OPTIMIZERS = ["adam", "rmsprop", "sgd"]
LEARNING_RATES = {"adam": 1e-3, "rmsprop": 1e-3, "sgd": 1e-2}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="backbones x freeze policies x optimizers, then a comparison table")
    p.add_argument("--data", default="CreatedImages")
    p.add_argument("--out", default="runs/grid")
    p.add_argument("--backbones", nargs="+", default=BACKBONES)
    p.add_argument("--freeze", nargs="+", default=FREEZE)
    p.add_argument("--optimizers", nargs="+", default=OPTIMIZERS)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--epochs", type=int, default=5, help="head epochs (backbone frozen)")
    p.add_argument("--fine-tune-epochs", type=int, default=10, help="epochs after applying the freeze policy")
    p.add_argument("--fine-tune-lr", type=float, default=1e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--weights", default="imagenet", help="imagenet, none or a weights file")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    from eventcnn.learn.train import TrainConfig, compare_runs, train

    out = Path(args.out)
    split_file = None
    done = []
    for backbone, freeze, opt in itertools.product(args.backbones, args.freeze, args.optimizers):
        name = f"{backbone}_{freeze}_{opt}"
        size = max(args.size, 75) if backbone.startswith("inception") else args.size
        # "frozen" trains the head only; the others use the two-phase recipe
        ft = 0 if freeze == "frozen" else args.fine_tune_epochs
        cfg = TrainConfig(args.data, out / name, model=backbone, freeze=freeze, optimizer=opt,
                          epochs=args.epochs, fine_tune_epochs=ft, fine_tune_lr=args.fine_tune_lr,
                          size=size, batch_size=args.batch_size,
                          weights=None if args.weights.lower() == "none" else args.weights,
                          lr=LEARNING_RATES[opt], seed=args.seed, split_file=split_file, quiet=args.quiet)
        t0 = time.perf_counter()
        run = train(cfg)
        split_file = str(run.out / "split.json")  # every run uses the first run's split
        from eventcnn.learn.intervals import fmt

        print(f"{name}: test accuracy {fmt((run.metrics or {}).get('accuracy'), 4)} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        done.append(run.out)
    print(compare_runs(done, out=out / "compare.md", plot=out / "compare.png", overwrite=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
