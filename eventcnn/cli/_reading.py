"""The ``--absent`` flag of the commands that read event files (render, data convert, predict)."""

from __future__ import annotations

import argparse

__all__ = ["add_absent_flag"]


def add_absent_flag(p: argparse.ArgumentParser) -> None:
    """Add ``--absent NAMES``: collections or fields the event files lack on purpose (read as none)."""
    p.add_argument(
        "--absent", default=None, metavar="NAMES",
        help="collections (Electron, Muon, Jet, MET) or fields (Muon_tightId, ...) the files lack on purpose, "
        "comma-separated: they read as none. Without it a missing one is an error (never silently none)",
    )
