"""``eventcnn augment``: the on-disk Augmentor recipe into a separate folder.

Example::

    eventcnn augment CreatedImages --out augmented --samples 500 --seed 1
    eventcnn augment CreatedImages --out augmented_norot --rotate 0 --no-flip --quiet

For training, prefer the online physics augmentation
(``eventcnn.images.augment.physics_augmentation``): see docs/augmentation.md.
"""

from __future__ import annotations

import argparse

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import IMAGE_FOLDER, Name, OutputFolder, declare
from eventcnn.images.augment import AugmentorConfig, augment_folder


def register(subparsers) -> None:
    """Add the ``augment`` parser."""
    p = subparsers.add_parser(
        "augment",
        help="write Augmentor-augmented copies of rendered images into a separate folder",
        description=(
            "Rotate (+-N deg), flip, zoom, shear and skew images with Augmentor, N new images "
            "per class, into OUT/<class>/ with OUT/manifest.csv. Deterministic for a seed; an "
            "interrupted run resumes. For eta-phi images only the flips are exact symmetries: "
            "this recipe reproduces the original work (see docs/augmentation.md)."
        ),
    )
    p.add_argument("source", help="image folder with one sub-folder per class (e.g. CreatedImages)")
    p.add_argument(
        "--out", default=default(augment_folder, "out"), help="output folder, never inside SOURCE (default: %(default)s)"
    )
    p.add_argument("--samples", type=int, default=default(AugmentorConfig, "samples"),
                   help="new images per class (default: %(default)s)")
    p.add_argument("--seed", type=int, default=default(AugmentorConfig, "seed"), help="random seed (default: %(default)s)")
    p.add_argument("--classes", nargs="+", default=None, help="only these classes (default: all)")
    p.add_argument(
        "--rotate", type=int, default=default(AugmentorConfig, "max_rotation"), metavar="DEG",
        help="max rotation, 0 = off (default: %(default)s)"
    )
    p.add_argument("--rotate-probability", type=float, default=default(AugmentorConfig, "rotate_probability"))
    p.add_argument("--no-flip", action="store_true", help="no left-right / top-bottom flips")
    p.add_argument("--flip-probability", type=float, default=default(AugmentorConfig, "flip_left_right_probability"))
    p.add_argument(
        "--zoom",
        type=float,
        default=default(AugmentorConfig, "zoom_max"),
        metavar="MAX",
        help="max zoom factor, 1 = off (default: %(default)s)",
    )
    p.add_argument("--zoom-probability", type=float, default=default(AugmentorConfig, "zoom_probability"))
    p.add_argument(
        "--shear", type=int, default=default(AugmentorConfig, "max_shear"), metavar="DEG",
        help="max shear, 0 = off (default: %(default)s)"
    )
    p.add_argument("--shear-probability", type=float, default=default(AugmentorConfig, "shear_probability"))
    p.add_argument(
        "--skew",
        type=float,
        default=default(AugmentorConfig, "skew_magnitude"),
        metavar="MAG",
        help="skew magnitude, 0 = off (default: %(default)s)",
    )
    p.add_argument("--skew-probability", type=float, default=default(AugmentorConfig, "skew_probability"))
    p.add_argument("--overwrite", action="store_true", help="re-create existing images")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    declare(p, source=IMAGE_FOLDER, out=OutputFolder("the folder of augmented images"),
            classes=Name("class name", becomes="one folder name inside --out"))


def run(args: argparse.Namespace) -> int:
    """Run the command (imports Augmentor only here)."""
    from eventcnn.images.augment import augment_folder

    flip = 0.0 if args.no_flip else args.flip_probability
    config = AugmentorConfig(
        samples=args.samples,
        seed=args.seed,
        rotate_probability=args.rotate_probability if args.rotate > 0 else 0.0,
        max_rotation=max(args.rotate, 0),
        flip_left_right_probability=flip,
        flip_top_bottom_probability=flip,
        zoom_probability=args.zoom_probability if args.zoom > 1.0 else 0.0,
        zoom_min=1.0,
        zoom_max=max(args.zoom, 1.0),
        shear_probability=args.shear_probability if args.shear > 0 else 0.0,
        max_shear=max(args.shear, 0),
        skew_probability=args.skew_probability if args.skew > 0 else 0.0,
        skew_magnitude=args.skew if args.skew > 0 else 0.1,
    )
    quiet = args.quiet  # --quiet or EVENTCNN_QUIET (eventcnn.cli.main)
    manifest = augment_folder(
        args.source, args.out, config, classes=args.classes, overwrite=args.overwrite, quiet=quiet
    )
    if not quiet:
        print(f"wrote {manifest}")
    return 0
