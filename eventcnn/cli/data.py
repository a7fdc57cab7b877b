"""``eventcnn data``: fetch the public data (``data fetch``) and show the registry (``data list``).

Example::

    eventcnn data fetch cms                         # download into the cache
    eventcnn data fetch all --mirror ../shared/data --out data
    eventcnn data list
    eventcnn data fetch three-class --max-events 20000   # NanoAOD tt, W, DY (streamed)
    eventcnn data fetch nano tt --files 3           # the first 3 files of the tt record
    eventcnn data convert TTjets_json.json TTjets.root  # JSON -> NanoAOD
"""

from __future__ import annotations

import argparse
import sys

from eventcnn.cli._defaults import default
from eventcnn.cli._parallel import add_parallel_flags
from eventcnn.cli._paths import EVENT_FILE, VALUE, Input, Output, OutputFolder, Value, declare
from eventcnn.cli._reading import add_absent_flag
from eventcnn.events.convert import (
    convert as convert_events,  # light: uproot is imported when reading
)
from eventcnn.events.nanoaod_write import WRITE_LAYOUTS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command with its ``fetch`` and ``list`` sub-commands."""
    parser = subparsers.add_parser(
        "data",
        help="fetch the public CMS / OPAL data and show where it comes from",
        description="Fetch the public data (verified by its published checksum) or list the registry.",
    )
    parser.set_defaults(func=lambda args: _no_action(parser))
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    _register_fetch(sub)
    _register_convert(sub)
    _register_list(sub)


def _register_fetch(sub: argparse._SubParsersAction) -> None:
    fetch = sub.add_parser(
        "fetch",
        help="download (or copy from a mirror) and verify a data set",
        description=(
            "Download a public data set, verify its published checksum (sha256; adler32 for "
            "NanoAOD where known, else a loud UNVERIFIED) and store it under DEST/<set>/ "
            "(default: the cache, EVENTCNN_CACHE). Files already present are not fetched again."
        ),
    )
    fetch.add_argument(
        "name", nargs="+", metavar="NAME",
        help="cms, opal, manchester (the full OPAL displays), all (= cms + opal), or NanoAOD 2016: nano (every file), three-class "
        "(tt, wjets, dy) or keys tt, wjets, dy, singlemuon; with --files: nano SAMPLE (tt, wjets, dy)",
    )
    fetch.add_argument(
        "--out", metavar="DIR", help="folder the files go to (default: EVENTCNN_CACHE or the user cache)"
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
        "(default: EVENTCNN_DATA_BASE_URL), NanoAOD from URL/eos/... instead of "
        "https://eospublic.cern.ch (default: EVENTCNN_NANO_BASE_URL)",
    )
    fetch.add_argument(
        "--max-events", type=int, metavar="N",
        help="NanoAOD only: stream the first N events (root://eospublic.cern.ch, needs "
        "fsspec-xrootd; or from --mirror) into a small local file instead of the whole file",
    )
    fetch.add_argument(
        "--files", type=int, metavar="K",
        help="NanoAOD samples only (nano SAMPLE): the first K files of the whole record, listed by "
        "the portal's file index (cached), checked by size and adler32 where the index has them",
    )
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    fetch.set_defaults(func=_fetch)
    declare(fetch, name=Value("keys of the data registry, checked by it"), out=OutputFolder("the data folder"),
            mirror=Input("a local mirror folder (laid out like ../shared/data)", file=False), base_url=VALUE)


def _register_convert(sub: argparse._SubParsersAction) -> None:
    convert = sub.add_parser(
        "convert",
        help="convert events between CMS JSON and NanoAOD (.root)",
        description="Convert an event file: JSON (.json, .json.gz) -> NanoAOD (.root) or back. "
        "The NanoAOD branches are those eventcnn reads (see docs/data.md).",
    )
    convert.add_argument("src", help="input event file (.json, .json.gz or .root)")
    convert.add_argument("dst", help="output file (.root for NanoAOD, .json / .json.gz for JSON)")
    convert.add_argument("--skip-bad", action="store_true", help="drop bad JSON events instead of failing")
    convert.add_argument("--layout", default=default(convert_events, "layout"), choices=WRITE_LAYOUTS,
                         help="NanoAOD output: ttree, rntuple (flat fields, Muon_pt) or rntuple-collections "
                         "(Muon a collection of records with pt, eta, ...) (default: %(default)s)")
    add_absent_flag(convert)
    add_parallel_flags(convert)
    convert.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    convert.add_argument("--overwrite", action="store_true", help="replace DST if it exists (default: refuse)")
    convert.set_defaults(func=_convert)
    declare(convert, src=EVENT_FILE, dst=Output("the converted event file"), absent=VALUE, scheduler=VALUE)


def _register_list(sub: argparse._SubParsersAction) -> None:
    listing = sub.add_parser(
        "list",
        aliases=["info"],
        help="show the registry: files, sources, sha256, licences",
        description="Show every public file eventcnn uses and whether it is fetched.",
    )
    listing.add_argument("--out", metavar="DIR", help="folder to check for fetched files")
    listing.add_argument("--quiet", "-q", action="store_true", help="no progress output (the listing is printed)")
    listing.set_defaults(func=_list)
    declare(listing, out=Input("the folder of `eventcnn data fetch --out`", file=False))


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _fetch(args: argparse.Namespace) -> int:
    from eventcnn.events.sources import fetch

    paths = fetch(list(dict.fromkeys(args.name)), out=args.out, mirror=args.mirror, quiet=args.quiet, base_url=args.base_url,
                  max_events=args.max_events, files=args.files)
    for key, path in paths.items():
        print(f"{key}: {path}")
    if "labels" in paths:  # the OPAL answer key lives apart from the displays students get
        print(f"The OPAL labels are the answer key: they are in {paths['labels'].parent}, apart from "
              "the displays. Give students the zip only; keep that folder for the teacher "
              "(opal train --reference, opal ids --reference).")
    return 0


def _list(args: argparse.Namespace) -> int:
    from eventcnn.events.sources import format_registry

    sys.stdout.write(format_registry(out=args.out) + "\n")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from eventcnn.executor import open_executor

    with open_executor(args.jobs, args.scheduler, quiet=args.quiet) as executor:
        out = convert_events(args.src, args.dst, skip_bad=args.skip_bad, quiet=args.quiet,
                             overwrite=args.overwrite, executor=executor, absent=args.absent, layout=args.layout)
    print(out)
    return 0
