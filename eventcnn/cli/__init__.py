"""The ``eventcnn`` command line.

Each sub-command lives in its own module of this package and defines
``register(subparsers)``, which adds its parser and sets ``func``. Modules are
discovered automatically, and each imports its heavy dependencies (Keras,
Pythia) only inside the function that runs the command, so
``eventcnn render`` never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from eventcnn import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every discovered sub-command."""
    parser = argparse.ArgumentParser(
        prog="eventcnn",
        description="Classify particle-collision events as images with CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"eventcnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``eventcnn`` console script."""
    # TensorFlow's C++ start-up chatter is noise on the command line (set 0 to see it).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        # User-facing errors: one clear line, no traceback.
        print(f"eventcnn {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
