"""``eventcnn data``: fetch the public data (``data fetch``) and show the registry (``data list``).

Example::

    eventcnn data fetch cms                         # download into the cache
    eventcnn data fetch all --mirror ../shared/data --dest data
    eventcnn data list
    eventcnn data fetch three-class --max-events 20000   # NanoAOD tt, W, DY (streamed)
    eventcnn data convert TTjets_json.json TTjets.root  # JSON -> NanoAOD
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
    fetch.add_argument(
        "name", nargs="+", metavar="NAME",
        help="cms, opal, all (= cms + opal), or NanoAOD 2016: nano (every file), three-class "
        "(tt, wjets, dy) or keys tt, wjets, dy, singlemuon",
    )
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
    fetch.add_argument(
        "--max-events", type=int, metavar="N",
        help="NanoAOD only: stream the first N events (root://eospublic.cern.ch, needs "
        "fsspec-xrootd; or from --mirror) into a small local file instead of the whole file",
    )
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    fetch.set_defaults(func=_fetch)

    convert = sub.add_parser(
        "convert",
        help="convert events between CMS JSON and NanoAOD (.root)",
        description="Convert an event file: JSON (.json, .json.gz) -> NanoAOD (.root) or back. "
        "The NanoAOD branches are those eventcnn reads (see docs/data.md).",
    )
    convert.add_argument("src", help="input event file (.json, .json.gz or .root)")
    convert.add_argument("dst", help="output file (.root for NanoAOD, .json / .json.gz for JSON)")
    convert.add_argument("--skip-bad", action="store_true", help="drop bad JSON events instead of failing")
    convert.add_argument("--overwrite", action="store_true", help="replace DST if it exists (default: refuse)")
    convert.set_defaults(func=_convert)

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


_NANO = {"nano", "three-class", "tt", "wjets", "dy", "singlemuon"}


def _fetch(args: argparse.Namespace) -> int:
    from eventcnn.events.sources import fetch

    names = list(dict.fromkeys(args.name))
    nano = [n for n in names if n in _NANO]
    other = [n for n in names if n not in _NANO]
    bad = [n for n in other if n not in ("cms", "opal", "all")]
    if bad:
        raise ValueError(f"unknown data set {bad}: choose cms, opal, all, or {', '.join(sorted(_NANO))}")
    if args.max_events is not None and other:
        raise ValueError("--max-events applies to NanoAOD files only (nano, three-class, tt, ...)")
    paths = {}
    for name in other:
        paths.update(fetch(name, dest=args.dest, mirror=args.mirror, quiet=args.quiet,
                           base_url=args.base_url))  # fmt: skip
    if nano:
        from eventcnn.events.opendata import fetch_nano

        keys = "all" if "nano" in nano else ("three-class" if nano == ["three-class"] else
                                             [k for k in nano if k != "three-class"] +
                                             (["tt", "wjets", "dy"] if "three-class" in nano else []))  # fmt: skip
        paths.update(fetch_nano(keys, dest=args.dest, mirror=args.mirror, max_events=args.max_events,
                                quiet=args.quiet, base_url=args.base_url))  # fmt: skip
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from eventcnn.events.opendata import format_nano_registry
    from eventcnn.events.sources import format_registry

    sys.stdout.write(format_registry(dest=args.dest) + "\n\n")
    sys.stdout.write("NanoAOD 2016 (eventcnn data fetch nano | three-class | KEY [--max-events N]):\n\n")
    sys.stdout.write(format_nano_registry(dest=args.dest) + "\n")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from eventcnn.events.nanoaod import convert

    out = convert(args.src, args.dst, skip_bad=args.skip_bad, overwrite=args.overwrite)
    print(out)
    return 0
