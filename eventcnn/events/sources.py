"""The data registry: every public file eventcnn uses, one ``fetch``, one listing.

:data:`REGISTRY` lists the files (:class:`Source`): the CMS 2011 JSON events and
the OPAL masterclass displays (GitHub, pinned commits, sha256), and one 2016
NanoAOD file per class (the CERN open data portal, size / adler32 where known).
:data:`eventcnn.events.opendata.NANO_RECORDS` adds the three whole NanoAOD
records (file index, file and event counts). :func:`fetch` gets them all::

    fetch("cms")                        cms/TTjets_json.json  cms/Wjets_json.json
    fetch("opal")                       opal/centered-masked-rotated1.zip  opal/answer_key/events_list.csv
    fetch("manchester")                 opal_manchester/z_displays.zip, z_challenge.csv, examples.zip, examples.csv
    fetch("three-class", max_events=N)  nano/<file>.first<N>.root (tt, wjets, dy; streamed)
    fetch("tt", files=3)                nano/tt/<first 3 files of record 67993>

pooch downloads and checks the known sha256 (:func:`eventcnn.events.download.pooch_download`);
eventcnn adds the rest: archive members (extracted safely), the local mirror
(``mirror`` / ``EVENTCNN_DATA_MIRROR``: format-checked copies, since a mirror may
hold subsets) and the ``<file>.origin.json`` record that lets a copy taken from
a mirror serve later fetches offline. Files land under ``<out>/<dataset>/``
(``out`` defaults to ``EVENTCNN_CACHE`` or ``pooch.os_cache("eventcnn")``);
every write is atomic. :func:`format_registry` is the listing (``eventcnn data list``).

Example::

    from eventcnn.events.sources import fetch
    paths = fetch("cms")               # {"ttjets": Path(...), "wjets": Path(...)}
    paths = fetch("opal", mirror="../shared/data")
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from eventcnn._io import adler32sum, sha256sum
from eventcnn.errors import UserError
from eventcnn.events import download as _basics
from eventcnn.events.bundles import bundle_files, check_bundle_zip, fetch_bundle
from eventcnn.events.catalogue import (  # the catalogue: what each file is
    ALIASES,
    DATASETS,
    DEFAULT_BASE_URL,
    REGISTRY,
    Source,
)
from eventcnn.events.download import (
    DOWNLOAD_TIMEOUT,
    DataFormatError,
    DataIntegrityError,
    DownloadError,
    UnsafeArchiveError,
    UnverifiedWarning,
    cache_dir,
    cached_origin,
    copy_from_mirror,
    origin_path,
    pooch_download,
    stderr_sayer,
)
from eventcnn.events.file_checks import CHECKERS, check_format, extract_member
from eventcnn.events.opendata import (
    NANO_RECORDS,
    fetch_record_files,
    get_nano_file,
)
from eventcnn.names import THREE_CLASS

__all__ = [
    "DATASETS",
    "DEFAULT_BASE_URL",
    "DOWNLOAD_TIMEOUT",
    "NANO_RECORDS",
    "REGISTRY",
    "DataFormatError",
    "DataIntegrityError",
    "DownloadError",
    "Source",
    "UnsafeArchiveError",
    "UnverifiedWarning",
    "adler32sum",
    "cache_dir",
    "cached_origin",
    "check_format",
    "example_files",
    "extract_member",
    "fetch",
    "format_registry",
    "origin_path",
    "sha256sum",
]


# --------------------------------------------------------------------------- helpers


def example_files() -> dict[str, Path]:
    """The small example event files shipped inside the package, by class.

    60 generated events each (``eventcnn generate <class> --events 60 --seed 20261123``),
    for offline first steps::

        >>> sorted(example_files())
        ['dy', 'ttjets', 'wjets']
    """
    folder = Path(__file__).resolve().parent / "examples"  # eventcnn/events/examples (package data)
    return {f.name.split(".")[0].removeprefix("example_"): f for f in sorted(folder.glob("example_*.json*"))}


def _want_bar(quiet: bool) -> bool:
    return _basics.want_bar(quiet)


# --------------------------------------------------------------------------- fetching

_CHOICES = ("cms, opal, all (= cms + opal), manchester (the full OPAL displays), nano, three-class, "
            "or a NanoAOD key (tt, wjets, dy, singlemuon)")


def _select(names: Sequence[str], sources: Sequence[Source]) -> list[Source]:
    """The sources ``names`` ask for, in registry order (a bare key means the NanoAOD file)."""
    chosen: set[int] = set()
    for name in names:
        name = ALIASES.get(name, name)
        if name == "all":
            hit = [i for i, s in enumerate(sources) if s.dataset in ("cms", "opal")]
        elif name == "three-class":
            hit = [i for i, s in enumerate(sources) if s.dataset == "nano" and s.key in THREE_CLASS]
        elif name in DATASETS:
            hit = [i for i, s in enumerate(sources) if s.dataset == name]
        else:
            hit = [i for i, s in enumerate(sources) if s.dataset == "nano" and s.key == name]
        if not hit:
            raise UserError(f"unknown data set {name!r}: choose one of {_CHOICES}")
        chosen.update(hit)
    return [sources[i] for i in sorted(chosen)]


def _is_present(src: Source, target: Path, mirror: Path | None) -> bool:
    """True when ``target`` is the published file, or (mirror mode) the mirror's copy."""
    if not target.is_file():
        return False
    digest = sha256sum(target)
    if digest == src.final_sha256:
        return True
    if mirror is not None:
        origin = mirror / src.mirror_relpath
        return (origin.is_file() and origin.stat().st_size == target.stat().st_size
                and sha256sum(origin) == digest)
    return False


def _checker(src: Source) -> Callable[[Path], None]:
    """The format check of a mirror copy: the bundle's file list, a CSV's header, or by suffix."""
    if src.bundle:
        return lambda p: check_bundle_zip(p, src.bundle)
    if src.columns:
        return lambda p: _check_columns(p, src.columns)
    return CHECKERS[Path(src.filename).suffix.lower()]


def _check_columns(path: Path, columns: tuple[str, ...]) -> None:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc})") from exc
    header = tuple(c.strip() for c in lines[0].split(",")) if lines else ()
    if header != columns:
        raise DataFormatError(f"{path}, line 1: expected the columns {','.join(columns)}, found {header}")
    if len([ln for ln in lines[1:] if ln.strip()]) == 0:
        raise DataFormatError(f"{path}: no rows after the header")


def _fetch_github(src: Source, target: Path, base_url: str | None, bar: bool) -> None:
    url = src.url(base_url)
    if src.bundle:  # published file by file: each checked, then zipped
        fetch_bundle(src.bundle, lambda name: f"{url}/{name}", target, label=src.relpath, bar=bar)
        return
    if src.member is None:
        pooch_download(url, target, sha256=src.sha256, label=src.relpath, bar=bar)
        return
    # Archive: download it into a private temp folder next to the target, extract the member.
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{src.key}-", dir=target.parent) as tmpdir:
        archive = Path(tmpdir) / posixpath.basename(src.path)
        pooch_download(url, archive, sha256=src.sha256, label=f"{src.relpath} (archive {src.path})", bar=bar)
        extract_member(archive, src.member, target, sha256=src.member_sha256)


def _fetch_one(src: Source, root: Path, mirror_dir: Path | None, base_url: str | None,
               bar: bool, say: Callable[..., None]) -> Path:
    """A GitHub file (sha256, archive member) or a whole NanoAOD file, into ``root``."""
    target = root / src.relpath
    base = base_url or os.environ.get(src.base_url_env) or None
    if not src.on_github:
        mirror_file = mirror_dir / src.mirror_relpath if mirror_dir is not None else None
        return get_nano_file(src.url(base), target, label=src.relpath, size=src.size, adler32=src.adler32,
                             record=src.record, mirror_file=mirror_file, bar=bar, say=say)
    if _is_present(src, target, mirror_dir):
        origin = cached_origin(target)
        say(f"{src.relpath}: already present at {target}" + (f", from {origin}" if origin else ""))
        return target
    origin = cached_origin(target) if mirror_dir is None else None
    if origin is not None:  # an earlier mirror copy that passed its checks: works offline
        say(f"{src.relpath}: using the cached copy at {target}, from {origin}")
        return target
    if target.is_file():  # never replaced without a word
        ref = "the mirror's copy" if mirror_dir is not None else "the published sha256"
        say(f"{src.relpath}: {target} differs from {ref}; replacing it")
    if mirror_dir is not None:
        mirror_file = mirror_dir / src.mirror_relpath
        if not mirror_file.is_file():
            raise FileNotFoundError(
                f"{mirror_file} not found: the mirror {mirror_dir} must hold {src.mirror_relpath} "
                "(layout like ../shared/data); drop --mirror / EVENTCNN_DATA_MIRROR to download instead")
        say(f"{src.relpath}: copying from mirror {mirror_dir}")
        return copy_from_mirror(mirror_file, target, _checker(src))
    say(f"{src.relpath}: downloading {src.url(base)}")
    _fetch_github(src, target, base, bar)  # the published sha256 says it all
    return target


def _stream(src: Source, root: Path, mirror_dir: Path | None, max_events: int, stream_url: str | None,
            quiet: bool, say: Callable[..., None]) -> Path:
    """The first ``max_events`` events of a NanoAOD file, streamed into ``<file>.first<N>.root``."""
    from eventcnn.events.nanoaod import read_nanoaod  # deferred: uproot (nano extra)
    from eventcnn.events.nanoaod_write import write_nanoaod  # deferred: as above

    target = root / src.dataset / f"{Path(src.filename).stem}.first{max_events}.root"
    if target.is_file():
        say(f"{src.relpath}: first {max_events} events already at {target}")
        return target
    if mirror_dir is not None:
        origin = mirror_dir / src.mirror_relpath
        if not origin.is_file():
            raise FileNotFoundError(
                f"{origin} not found: the mirror {mirror_dir} must hold {src.mirror_relpath}; "
                "drop --mirror / EVENTCNN_DATA_MIRROR to download instead")
        where = str(origin)
    else:
        where = stream_url or src.xrootd_url()
    say(f"{src.relpath}: streaming the first {max_events} events from {where}")
    write_nanoaod(target, read_nanoaod(where, max_events=max_events, quiet=quiet))
    return target


def fetch(
    name: str | Sequence[str],
    out: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    *,
    quiet: bool = False,
    base_url: str | None = None,
    sources: Sequence[Source] | None = None,
    max_events: int | None = None,
    files: int | None = None,
    stream_url: str | None = None,
) -> dict[str, Path]:
    """Fetch public data: ``"cms"``, ``"opal"``, ``"manchester"`` (``"opal_manchester"``), ``"all"`` (cms + opal), ``"nano"``, ``"three-class"``
    or NanoAOD keys (``"tt"``, ``"wjets"``, ``"dy"``, ``"singlemuon"``); a list mixes them.

    Files land at ``<out>/<dataset>/<file>`` (``out`` defaults to
    :func:`cache_dir`) and are returned by key: ``ttjets``, ``wjets`` (cms),
    ``zip``, ``labels`` (opal), ``displays``, ``challenge``, ``examples``, ``examples_list``
    (opal_manchester, also called ``"manchester"``), ``tt``, ``wjets``, ``dy``, ``singlemuon`` (nano; ``nano/wjets``
    when the cms ``wjets`` is fetched too).
    A file already there with the published checksum (or, in mirror mode,
    identical to the mirror's file) is not fetched again. A file copied from a
    mirror gets a sidecar ``<file>.origin.json`` (origin, sha256, check passed);
    without a mirror, a cached copy whose sidecar still matches is used as it
    is, whatever mirror it came from, so a classroom that fetched once from a
    mirror works offline afterwards (the message names the origin).

    Parameters
    ----------
    name : data set(s) or NanoAOD key(s), see above.
    out : destination folder; default ``EVENTCNN_CACHE`` or the user cache dir.
    mirror : local folder laid out like ``../shared/data`` to copy from instead of
        downloading (default ``EVENTCNN_DATA_MIRROR``). Mirror files may be
        subsets: their format is checked, not their hash.
    quiet : print nothing (but UNVERIFIED warnings); otherwise say what happens
        (stderr) and show download bars when interactive.
    base_url : download from ``<base_url>/<repo>/<commit>/<path>`` instead of raw
        GitHub (``EVENTCNN_DATA_BASE_URL``), or ``<base_url>/eos/...`` instead of
        https://eospublic.cern.ch for NanoAOD (``EVENTCNN_NANO_BASE_URL``).
    sources : registry to use instead of :data:`REGISTRY` (tests, private mirrors).
    max_events : NanoAOD only: the first N events of each file (``<file>.first<N>.root``),
        streamed from ``stream_url`` (default XRootD) or read from the mirror.
    files : NanoAOD samples only (``tt``, ``wjets``, ``dy``; ``nano`` / ``three-class`` alone = the
        three; ``["nano", "tt"]`` = ``"tt"``): the first K files of the whole record, listed by the portal's file
        index, under ``<out>/nano/<key>/`` (keys ``<key>/<n>``).

    Raises
    ------
    DataIntegrityError
        A download or archive member has the wrong sha256, size or adler32 (nothing is saved).
    DataFormatError
        A mirror file (or NanoAOD download) has the wrong format.
    DownloadError
        Network / HTTP failure or truncated transfer (nothing is saved).

    Example::

        >>> paths = fetch("cms", mirror="../shared/data", quiet=True)  # doctest: +SKIP
        >>> sorted(paths)  # doctest: +SKIP
        ['ttjets', 'wjets']
    """
    names = [name] if isinstance(name, str) else list(name)
    if files is not None:  # "nano tt": the sample tt; "nano" alone: the three records
        names = [n for n in names if n != "nano"] or ["three-class"]
    chosen = _select(names, REGISTRY if sources is None else sources)
    root = (Path(out).expanduser() if out is not None else cache_dir()).absolute()
    mirror_dir = _basics.mirror_from_env(mirror)
    if mirror_dir is not None and not mirror_dir.is_dir():
        raise FileNotFoundError(f"mirror folder {mirror_dir} not found (from --mirror or EVENTCNN_DATA_MIRROR)")
    _check_nano_options(chosen, max_events, files)
    if files is not None:
        return _fetch_records(chosen, files, root, mirror_dir, quiet, base_url)
    say, bar = stderr_sayer(quiet), _want_bar(quiet)
    result: dict[str, Path] = {}
    for src in chosen:
        key = src.key if src.key not in result else f"{src.dataset}/{src.key}"  # cms and nano both have wjets
        if max_events is not None:
            result[key] = _stream(src, root, mirror_dir, max_events, stream_url, quiet, say)
        else:
            result[key] = _fetch_one(src, root, mirror_dir, base_url, bar, say)
    return result


def _check_nano_options(chosen: Sequence[Source], max_events: int | None, files: int | None) -> None:
    """``--max-events`` / ``--files``: NanoAOD only, not both, positive."""
    if max_events is not None or files is not None:
        other = sorted({s.dataset for s in chosen} - {"nano"})
        option = "--max-events" if max_events is not None else "--files"
        if other:
            raise UserError(f"{option} applies to NanoAOD files only (nano, three-class, tt, ...), "
                            f"not to {', '.join(other)}")
        if max_events is not None and files is not None:
            raise UserError("--max-events and --files do not go together: stream part of one file, "
                            "or download whole files")
    if max_events is not None and (isinstance(max_events, bool) or max_events < 1):
        raise UserError(f"--max-events must be positive, got {max_events}")
    if files is not None:
        missing = [s.key for s in chosen if s.key not in NANO_RECORDS]
        if missing:
            raise UserError(f"--files: no whole record for {', '.join(missing)}; choose among "
                            f"{', '.join(NANO_RECORDS)}")


def _fetch_records(chosen: Sequence[Source], files: int, root: Path, mirror_dir: Path | None, quiet: bool,
                   base_url: str | None) -> dict[str, Path]:
    """The first ``files`` files of each chosen sample's whole NanoAOD record."""
    paths: dict[str, Path] = {}
    for key in (s.key for s in chosen):
        paths.update(fetch_record_files(key, files, root, mirror_dir, quiet=quiet,
                                        base_url=base_url or os.environ.get("EVENTCNN_NANO_BASE_URL") or None))
    return paths


# --------------------------------------------------------------------------- listing


def format_registry(
    sources: Iterable[Source] | None = None, out: str | os.PathLike[str] | None = None,
    records: bool | None = None,
) -> str:
    """The registry for people: one block per file (source, checksum, licence, local status),
    then the whole NanoAOD records (``records``; default: when listing the full registry).

    Example::

        print(format_registry())
    """
    root = Path(out).expanduser() if out is not None else cache_dir()
    blocks = []
    for src in REGISTRY if sources is None else sources:
        target = root / src.relpath
        if src.on_github:
            lines = [f"{src.relpath}  (key {src.key!r}): {src.description}", f"  source:   {src.url()}"]
            if src.bundle:
                lines.append(f"  files:    {len(bundle_files(src.bundle))} files <source>/<file>, each checked by "
                             "its published sha256 (eventcnn/events/opal_manchester_files.csv), zipped here")
            elif src.member:
                lines.append(f"  member:   {src.member} of that gzipped tar")
                lines.append(f"  sha256:   {src.member_sha256} (archive {src.sha256})")
            else:
                lines.append(f"  sha256:   {src.sha256}")
        else:
            rec = f"https://opendata.cern.ch/record/{src.record}" if src.record else "unknown"
            lines = [
                f"{src.relpath}  (key {src.key!r}, class {src.label}): {src.description}",
                f"  record:   {rec}",
                f"  source:   {src.xrootd_url()}",
                f"  size:     {f'{src.size:,} bytes' if src.size else 'unknown'}"
                + (f"; {src.events:,} events" if src.events else ""),
                f"  adler32:  {src.adler32 or 'UNVERIFIED (no published checksum in the registry)'}",
                f"  note:     {src.provenance}",
            ]
        lines.append(f"  licence:  {src.licence}")
        lines.append(f"  local:    {target} ({_local_status(src, target)})")
        blocks.append("\n".join(lines))
    if records if records is not None else sources is None:
        blocks.append("Whole NanoAOD records (eventcnn data fetch nano SAMPLE --files K):")
        for rec in NANO_RECORDS.values():
            index = root / "nano" / rec.key / "file_index.json"
            blocks.append("\n".join([
                f"nano/{rec.key}/  (sample {rec.key!r}, class {rec.label}): {rec.dataset}",
                f"  record:   {rec.record_url()}",
                f"  files:    {rec.files}; events: {f'{rec.events:,}' if rec.events else 'see note'}"
                + (f"; {rec.gigabytes} GB" if rec.gigabytes else ""),
                "  index:    " + ("\n            ".join(rec.index_urls()) if rec.index_files else
                                    f"{rec.api_url()} (the record API: index names unknown)"),
                "  adler32:  from the portal's JSON file index at fetch time; UNVERIFIED (said loudly) "
                "where the index has none",
                f"  note:     {rec.note}",
                f"  licence:  {rec.licence}",
                f"  local:    {index.parent} ({'file index cached' if index.is_file() else 'not fetched'})",
            ]))
    return "\n\n".join(blocks)


def _local_status(src: Source, target: Path) -> str:
    """'not fetched', 'present, sha256 verified' or a loud note that the local copy differs."""
    if not target.is_file():
        return "not fetched"
    if not src.on_github:
        if src.adler32 is not None:
            ok = adler32sum(target) == src.adler32
            return "present, adler32 verified" if ok else "present, but its adler32 differs from the registry"
        origin = cached_origin(target)
        return f"present, from {origin}" if origin else "present (UNVERIFIED)"
    if sha256sum(target) == src.final_sha256:
        return "present, sha256 verified"
    origin = cached_origin(target)
    if origin is not None:
        return f"present, from {origin}"
    return ("present, but its sha256 differs from the registry: a mirror subset or a damaged copy; "
            "'eventcnn data fetch' without --mirror replaces it")
