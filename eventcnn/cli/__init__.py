"""The ``eventcnn`` command line.

Each sub-command lives in its own module of this package and defines
``register(subparsers)``, which adds its parser and sets ``func``. Modules are
discovered automatically, and each imports its heavy dependencies (Keras,
Pythia) only inside the function that runs the command, so
``eventcnn render`` never imports TensorFlow; a command that does import Keras
gets it quietly (:func:`eventcnn.cli._keras.keras_imported_quietly`: no list of
such commands to keep).

Every command that prints progress has ``--quiet`` (``-q``), also set by
``EVENTCNN_QUIET=1`` (parsed here, once, for every command).

Errors: a user error (bad input, missing or unwritable files) prints one line
``eventcnn <cmd>: error: ...`` and exits with 1; anything else is a bug in
eventcnn: one line saying so, exit code 3. ``--debug`` (or ``EVENTCNN_DEBUG=1``)
shows the full traceback and the TensorFlow start-up log.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
import warnings

from eventcnn import __version__
from eventcnn._env import quiet_from_env
from eventcnn.cli._keras import keras_imported_quietly
from eventcnn.cli._paths import check_paths
from eventcnn.errors import describe, is_user_error

#: exit code of an internal error (a bug in eventcnn)
EXIT_INTERNAL = 3


#: commands registered by a module of another name (every other command's module is its name)
COMMAND_MODULES = {"predict": "evaluate", "class": "class_web"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every discovered sub-command.

    With ``command`` (the sub-command about to run) only the module that registers it
    is imported: every command starts without paying for the others' imports
    (``eventcnn predict --model`` starts in about a second). Help and unknown
    commands get the full parser.
    """
    parser = argparse.ArgumentParser(
        prog="eventcnn",
        description="Classify particle-collision events as images with CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"eventcnn {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks and TensorFlow's log (also EVENTCNN_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    wanted = COMMAND_MODULES.get(command or "", command)
    for name in [wanted] if wanted in names else names:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option), if any."""
    for arg in argv:
        if arg in ("-h", "--help", "--version"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``eventcnn`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug_anywhere = "--debug" in argv[:end]  # also after the sub-command: `eventcnn train ... --debug`
    argv = [a for i, a in enumerate(argv) if not (a == "--debug" and i < end)]
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if hasattr(args, "quiet"):  # one quiet flag, parsed one way: --quiet or EVENTCNN_QUIET
        args.quiet = bool(args.quiet) or quiet_from_env()
    debug = debug_anywhere or os.environ.get("EVENTCNN_DEBUG", "") not in ("", "0")
    # TensorFlow's C++/absl start-up chatter is noise on the command line; --debug shows it.
    # (oneDNN stays as configured: its options change numerics, only its log is silenced.)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if debug else "3")
    # The entry point chooses the plotting backend (library code never does): files, no windows.
    os.environ.setdefault("MPLBACKEND", "Agg")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    command = " ".join(c for c in (args.command, getattr(args, f"{args.command}_command", None)) if c)
    with warnings.catch_warnings():
        if not debug:  # a warning is one line naming the command, like an error
            warnings.simplefilter("default", UserWarning)
            warnings.showwarning = lambda message, *_a, **_k: print(
                f"eventcnn {command}: warning: {describe(message) if isinstance(message, Exception) else message}",
                file=sys.stderr, flush=True)
        return _run(args, command, debug)


def _run(args: argparse.Namespace, command: str, debug: bool) -> int:
    """Run the command; report an error in one line (or raise it with ``debug``)."""
    try:
        # TensorFlow's C++ start-up log ignores TF_CPP_MIN_LOG_LEVEL: the first Keras import is muted
        with contextlib.nullcontext() if debug else keras_imported_quietly():
            check_paths(args)  # the path rules of every command (cli/_paths.py), before any work
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error is reported in one line (or raised with --debug)
        if debug:
            raise
        if is_user_error(exc):
            print(f"eventcnn {command}: error: {describe(exc)}", file=sys.stderr)
            return 1
        print(f"eventcnn {command}: internal error (a bug in eventcnn, please report it): "
              f"{type(exc).__name__}: {describe(exc)}; run again with --debug for the traceback",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
