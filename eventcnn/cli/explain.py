"""``eventcnn explain``: occlusion-sensitivity maps, what the CNN looks at.

Example::

    eventcnn explain runs/opal z5299_24147.png e5293_10479.png --out explain/
    eventcnn explain runs/small CreatedImages/ttbar/ttbar_event_1.png
"""

from __future__ import annotations

import argparse

from eventcnn.cli._defaults import default
from eventcnn.cli._paths import RUN, Input, OutputFolder, declare
from eventcnn.learn.explain import (
    explain_files,  # light: Keras is imported when the model is loaded
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explain`` parser."""
    p = subparsers.add_parser(
        "explain",
        help="occlusion-sensitivity map of the predicted class over each image (PNG)",
        description=(
            "Slides a black square over each image and draws how much the probability of the "
            "predicted class drops where it covers the image (forward passes only, any Keras "
            "backend). RUN is a run folder of `eventcnn train` or `eventcnn opal train`, or a "
            ".keras file. Writes OUT/<image>_occlusion.png."
        ),
    )
    p.add_argument("run", help="run folder (eventcnn train / eventcnn opal train) or .keras file")
    p.add_argument("images", nargs="+", help="image files (PNG/GIF/JPEG)")
    p.add_argument("--out", default=default(explain_files, "out"), help="output folder (default: %(default)s)")
    p.add_argument("--patch", type=int, default=default(explain_files, "patch"),
                   help="occluding square in pixels (default H/8)")
    p.add_argument("--stride", type=int, default=default(explain_files, "stride"),
                   help="step in pixels (default patch/2)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run_explain)
    declare(p, run=RUN, images=Input("image files (PNG/GIF/JPEG)", folder=False, kind="image"),
            out=OutputFolder("the folder of maps", replaces=_maps))


def _maps(args: argparse.Namespace) -> list[str]:
    """The map files explain writes (and replaces) in --out."""
    from pathlib import Path

    return [f"{Path(f).stem}_occlusion.png" for f in args.images]


def run_explain(args: argparse.Namespace) -> int:
    """Run ``explain`` (Keras is imported when the model is loaded)."""
    for path in explain_files(args.run, args.images, out=args.out, patch=args.patch,
                              stride=args.stride, quiet=args.quiet):
        print(path)
    return 0
