"""``eventcnn data``: fetch the public data (``data fetch``) and show the registry (``data list``).

Example::

    eventcnn data fetch cms                         # download into the cache
    eventcnn data fetch all --mirror ../shared/data --dest data
    eventcnn data list
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command with its ``fetch`` and ``list`` sub-commands."""
    parser = subparsers.add_parser(
        "data",
        help="fetch the public CMS / OPAL data and show where it comes from",
        description="Fetch the public data (verified by sha256) or list the registry.",
    )
    parser.set_defaults(func=lambda args: _no_action(parser))
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    fetch = sub.add_parser(
        "fetch",
        help="download (or copy from a mirror) and verify a data set",
        description=(
            "Download a public data set, verify its sha256 and store it under "
            "DEST/<set>/ (default: the cache, EVENTCNN_CACHE). Files already present "
            "are not fetched again."
        ),
    )
    fetch.add_argument("name", choices=["cms", "opal", "all"], help="data set to fetch")
    fetch.add_argument(
        "--dest", metavar="DIR", help="destination folder (default: EVENTCNN_CACHE or user cache)"
    )
    fetch.add_argument(
        "--mirror",
        metavar="DIR",
        help="copy from this local folder (laid out like ../shared/data) instead of "
        "downloading (default: EVENTCNN_DATA_MIRROR)",
    )
    fetch.add_argument(
        "--base-url",
        metavar="URL",
        help="download from URL/<repo>/<commit>/<path> instead of raw.githubusercontent.com "
        "(default: EVENTCNN_DATA_BASE_URL)",
    )
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    fetch.set_defaults(func=_fetch)

    listing = sub.add_parser(
        "list",
        aliases=["info"],
        help="show the registry: files, sources, sha256, licences",
        description="Show every public file eventcnn uses and whether it is fetched.",
    )
    listing.add_argument("--dest", metavar="DIR", help="folder to check for fetched files")
    listing.set_defaults(func=_list)


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _fetch(args: argparse.Namespace) -> int:
    from eventcnn.data import fetch

    paths = fetch(
        args.name,
        dest=args.dest,
        mirror=args.mirror,
        progress=not args.quiet,
        base_url=args.base_url,
    )
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from eventcnn.data import format_registry

    sys.stdout.write(format_registry(dest=args.dest) + "\n")
    return 0
