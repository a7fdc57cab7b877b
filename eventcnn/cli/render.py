"""``eventcnn render``: event files -> eta-phi images + manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from eventcnn.cli._defaults import default
from eventcnn.cli._parallel import add_parallel_flags
from eventcnn.cli._paths import EVENT_FILE, SELECTION, VALUE, Name, OutputFolder, declare
from eventcnn.cli._reading import add_absent_flag
from eventcnn.errors import UserError
from eventcnn.images.etaphi import STYLES, RenderConfig  # light: numpy and PIL, no Keras
from eventcnn.images.labels import check_label, label_from_path
from eventcnn.images.render import FORMATS, render_to_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="draw events (CMS JSON, NanoAOD) as eta-phi images",
        description=(
            "Select and draw events as eta-phi images into OUT/<class>/<class>_event_<n>.png, "
            "with OUT/manifest.csv and OUT/render_config.json. Images already written are kept."
        ),
        epilog=(
            "examples:\n"
            "  eventcnn render TTjets_json.json Wjets_json.json --label ttjets --label wjets\n"
            "  eventcnn render a.json b.json.gz --label a.json=ttjets --label b.json.gz=wjets --size 64\n"
            "  eventcnn render *.json --jobs 2 --style channels --selection none\n"
            "  eventcnn render tt.root w.root --format shards --size 64 --scheduler tcp://10.0.0.5:8786\n"
            "  eventcnn render muons_only.root --absent Electron,Jet,MET --selection none   # a skim"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=_path_or_url,
                   help="event files (.json, .json.gz, NanoAOD .root or root:// URL)")  # fmt: skip
    p.add_argument(
        "--label", action="append", default=[],
        help="class label: once per input (in order), once for all inputs, or FILE=LABEL; "
        "default: from the file name (TTjets_json.json -> ttjets)",
    )
    p.add_argument("--out", type=Path, default=Path(default(render_to_dir, "out")),
                   help="output folder (default: %(default)s)")
    p.add_argument("--style", default=default(RenderConfig, "style"), choices=STYLES,
                   help="image style (default: %(default)s)")
    p.add_argument("--size", type=int, default=default(RenderConfig, "size"),
                   help="image size in pixels (default: %(default)s)")
    p.add_argument("--selection", default=default(render_to_dir, "selection"),
                   help="paper, paper+jet, lepton, none, or a JSON file of Selection settings (default: %(default)s)")
    add_parallel_flags(p)
    p.add_argument("--format", default=default(render_to_dir, "format"), choices=FORMATS,
                   help="png: one PNG per event + manifest.csv; shards: uint8 arrays, --shard-size images per "
                   "shard-NNNNN.npy + shards.csv (for large data sets) (default: %(default)s)")
    p.add_argument("--shard-size", type=int, default=default(render_to_dir, "shard_size"),
                   help="images per shard (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="at most this many selected events per input")
    add_absent_flag(p)
    p.add_argument("--skip-bad", action="store_true",
                   help="drop bad events instead of stopping (each named; all listed in OUT/skipped.csv)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or cut flow")
    p.set_defaults(func=run)
    declare(p, inputs=EVENT_FILE, label=Name("class label", becomes="one folder name", after="="),
            out=OutputFolder("the image folder"), selection=SELECTION, scheduler=VALUE, absent=VALUE)


def _path_or_url(text: str) -> Path | str:
    """A local path, or a URL kept as text (``Path`` would fold ``root://host//path``)."""
    return text if "://" in text else Path(text)


def resolve_labels(inputs: list[Path], labels: list[str]) -> list[tuple[Path, str]]:
    """Pair each input with its label (see ``--label``)."""
    mapping = dict(item.split("=", 1) for item in labels if "=" in item)
    plain = [item for item in labels if "=" not in item]
    if mapping and plain:
        raise UserError("use either FILE=LABEL mappings or plain labels, not both")
    if plain and len(plain) not in (1, len(inputs)):
        raise UserError(f"got {len(plain)} labels for {len(inputs)} inputs: give one per input, or one for all")
    pairs = []
    for k, path in enumerate(inputs):
        if mapping:
            key = str(path) if str(path) in mapping else Path(str(path)).name
            label = mapping[key] if key in mapping else label_from_path(path)
        elif plain:
            label = plain[k] if len(plain) == len(inputs) else plain[0]
        else:
            label = label_from_path(path)
        pairs.append((path, check_label(label)))
    return pairs


def run(args: argparse.Namespace) -> int:
    from eventcnn.executor import open_executor

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1 (got {args.limit}); leave it out to render every event")
    pairs = resolve_labels(args.inputs, args.label)
    config = RenderConfig(style=args.style, size=args.size)
    with open_executor(args.jobs, args.scheduler, quiet=args.quiet) as executor:
        summary = render_to_dir(
            pairs, args.out, config, selection=args.selection, jobs=args.jobs,
            limit=args.limit, skip_bad=args.skip_bad, quiet=args.quiet, format=args.format,
            shard_size=args.shard_size, executor=executor, absent=args.absent,
        )
    if not args.quiet:
        for table in summary.cutflows:
            print(table, end="\n\n")
    if summary.dropped:
        print(summary.dropped_report(first=5))
    print(summary.table())
    return 0
