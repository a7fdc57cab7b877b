"""The CERN open data portal: the 2016 NanoAOD records, their file indexes, NanoAOD file checks.

:data:`NANO_RECORDS` describes the three simulated samples of the tt / W / DY
task (RunIISummer20UL16 NanoAODv9): record id, CMS dataset name, file and event
counts. The list of a record's files is its **file index** on the portal
(``<record>/file_index/<name>_file_index.json`` or ``.txt``; the record API
``/api/records/<id>`` when the index names are unknown); :func:`file_list`
downloads it once, parses it (:func:`parse_file_index`) and caches it as
``<out>/nano/<sample>/file_index.json``. :func:`fetch_record_files` fetches the
first K files of a sample (``eventcnn data fetch nano tt --files 3``): size and
adler32 are checked where the index gives them (the JSON index does, the TXT
index does not: then ``UNVERIFIED`` is said loudly). :func:`get_nano_file` is
the one path every whole NanoAOD file takes (download or mirror copy, checks,
format check), also for the single files of :data:`eventcnn.events.sources.REGISTRY`.

Example::

    >>> from eventcnn.events.opendata import NANO_RECORDS
    >>> NANO_RECORDS["tt"].record, NANO_RECORDS["tt"].files
    (67993, 138)
"""

from __future__ import annotations

import json
import os
import posixpath
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eventcnn._io import adler32sum, write_json_atomic
from eventcnn.errors import UserError
from eventcnn.events import download as _download
from eventcnn.events.cms_json import EventFormatError
from eventcnn.events.download import (
    DataFormatError,
    DataIntegrityError,
    DownloadError,
    UnverifiedWarning,
    cached_origin,
    copy_from_mirror,
    pooch_download,
    record_origin,
    stderr_sayer,
)
from eventcnn.events.nanoaod import open_events

__all__ = [
    "DATASET_DIR",
    "DEFAULT_HTTPS",
    "DEFAULT_XROOTD",
    "IndexEntry",
    "NANO_RECORDS",
    "NanoRecord",
    "PORTAL",
    "check_root",
    "fetch_record_files",
    "file_list",
    "get_nano_file",
    "https_url",
    "parse_file_index",
]

PORTAL = "https://opendata.cern.ch"
DEFAULT_HTTPS = "https://eospublic.cern.ch"
DEFAULT_XROOTD = "root://eospublic.cern.ch/"
DATASET_DIR = "nano"
INDEX_CACHE = "file_index.json"

_UL16 = "RunIISummer20UL16NanoAODv9"
_CAMPAIGN = "106X_mcRun2_asymptotic_v17-v1"


@dataclass(frozen=True)
class NanoRecord:
    """One NanoAOD data set (a portal record): what it is and where its file index lives.

    ``index_files`` are the names of the record's file indexes (one per storage
    group) as public analysis code reads them; empty: ask the record API.
    ``events`` is ``None`` where no exact count was found offline (``note`` says
    what is known).

    Example::

        >>> NANO_RECORDS["wjets"].record_url()
        'https://opendata.cern.ch/record/69747'
    """

    key: str
    label: str
    record: int
    dataset: str
    files: int
    events: int | None
    gigabytes: float | None = None
    index_files: tuple[str, ...] = ()
    note: str = ""
    licence: str = "CC0 1.0 (CMS open data)"

    def record_url(self, portal: str | None = None) -> str:
        return f"{(portal or PORTAL).rstrip('/')}/record/{self.record}"

    def index_urls(self, portal: str | None = None) -> list[str]:
        """URLs of the file indexes (TXT names as published; the JSON twin is tried first)."""
        return [f"{self.record_url(portal)}/file_index/{name}" for name in self.index_files]

    def api_url(self, portal: str | None = None) -> str:
        return f"{(portal or PORTAL).rstrip('/')}/api/records/{self.record}"


def _index_names(sample: str, groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"CMS_mc_{_UL16}_{sample}_NANOAODSIM_{_CAMPAIGN}_{g}_file_index.txt" for g in groups)


#: The three samples of the tt / W / DY task (2016 simulation, NanoAODv9), by sample key.
NANO_RECORDS: dict[str, NanoRecord] = {
    "tt": NanoRecord(
        key="tt", label="ttjets", record=67993,
        dataset=f"/TTToSemiLeptonic_TuneCP5_13TeV-powheg-pythia8/{_UL16}-{_CAMPAIGN}/NANOAODSIM",
        files=138, events=144_722_000, gigabytes=308.3,
        index_files=_index_names("TTToSemiLeptonic_TuneCP5_13TeV-powheg-pythia8",
                                 ("120000", "130000", "270000", "280000", "70000")),
        note="138 files, 144,722,000 events, 308.3 GB as listed by a public survey of the portal "
             "and a public analysis note; index names (5 storage groups) from public analysis code",
    ),
    "wjets": NanoRecord(
        key="wjets", label="wjets", record=69747,
        dataset=f"/WJetsToLNu_TuneCP5_13TeV-madgraphMLM-pythia8/{_UL16}-{_CAMPAIGN}/NANOAODSIM",
        files=68, events=80_958_227, gigabytes=79.4,
        index_files=_index_names("WJetsToLNu_TuneCP5_13TeV-madgraphMLM-pythia8",
                                 ("270000", "280000", "70000")),
        note="68 files, 80,958,227 events, 79.4 GB as listed by a public survey of the portal; "
             "index names (3 storage groups) from public analysis code",
    ),
    "dy": NanoRecord(
        key="dy", label="dy", record=35671,
        dataset=f"/DYJetsToLL_M-50_TuneCP5_13TeV-madgraphMLM-pythia8/{_UL16}-{_CAMPAIGN}/NANOAODSIM",
        files=61, events=82_448_537, gigabytes=97.3,
        note="61 files, 82,448,537 events, 97.3 GB as listed by a public survey of the portal; "
             "index names not found offline: read from the record API",
    ),
}


def https_url(uri: str, base_url: str | None = None) -> str:
    """HTTPS URL of an EOS file: ``root://eospublic.cern.ch//eos/...`` or ``/eos/...`` -> ``<base>/eos/...``
    (an ``http(s)://`` URL stays as it is).

    Example::

        >>> https_url("root://eospublic.cern.ch//eos/opendata/cms/x.root")
        'https://eospublic.cern.ch/eos/opendata/cms/x.root'
    """
    if uri.startswith(("https://", "http://")):
        return uri  # an index that already lists HTTP URLs
    path = uri
    if uri.startswith("root://"):
        rest = uri[len("root://"):]
        path = "/" + rest.split("/", 1)[1].lstrip("/") if "/" in rest else ""
    if not path.startswith("/eos/"):
        raise UserError(f"{uri!r} is not an EOS open data path (root://eospublic.cern.ch//eos/... or /eos/...)")
    return (base_url or DEFAULT_HTTPS).rstrip("/") + path


# --------------------------------------------------------------------------- file index


@dataclass(frozen=True)
class IndexEntry:
    """One file of a record's index: its ``root://`` URI, and size / adler32 when the index has them."""

    uri: str
    size: int | None = None
    adler32: str | None = None

    @property
    def filename(self) -> str:
        return posixpath.basename(self.uri)

    def to_dict(self) -> dict[str, object]:
        return {"uri": self.uri, "size": self.size, "adler32": self.adler32}


def _entry(item: object, source: str, n: int) -> IndexEntry:
    if isinstance(item, str):
        return IndexEntry(item.strip())
    if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
        raise DataFormatError(f"{source}: entry {n} has no 'uri' (found {str(item)[:80]!r})")
    checksum = item.get("checksum") or item.get("adler32")
    adler = None
    if isinstance(checksum, str):
        alg, _, value = checksum.rpartition(":")
        if alg in ("", "adler32") and len(value) == 8 and all(c in "0123456789abcdefABCDEF" for c in value):
            adler = value.lower()
        elif alg not in ("", "adler32"):
            adler = None  # another algorithm: not checked
        else:
            raise DataFormatError(f"{source}: entry {n} has a malformed adler32 {checksum!r}")
    size = item.get("size")
    try:
        size = None if size is None else int(size)
    except (TypeError, ValueError):
        raise DataFormatError(f"{source}: entry {n} has a malformed size {size!r}") from None
    return IndexEntry(item["uri"], size, adler)


def parse_file_index(text: str, source: str = "file index") -> list[IndexEntry]:
    """Parse a portal file index (or a record's API JSON) into its ``.root`` files, in order.

    Accepted shapes: the TXT index (one ``root://...`` URI a line); the JSON
    index (a list of ``{"uri", "size", "checksum": "adler32:<8 hex>"}``); an
    object with such a list under ``"files"``, ``"index_files": {"files": [{"files":
    [...]}]}`` (the record's file page) or ``"metadata": {"_file_indices": [{"files":
    [...]}]}`` (``/api/records/<id>``). Non-``.root`` entries are skipped; a file
    listed twice counts once. Raises :class:`DataFormatError` naming ``source``.

    Example::

        >>> parse_file_index("root://eospublic.cern.ch//eos/opendata/cms/a.root\\n")[0].filename
        'a.root'
    """
    stripped = text.strip()
    items: list[object]
    if stripped.startswith(("[", "{")):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{source}: not valid JSON ({exc})") from None
        items = _json_items(obj, source)
    else:
        items = [line for line in stripped.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        bad = next((line for line in items if not line.strip().startswith(("root://", "/eos/", "https://"))), None)
        if bad is not None:
            raise DataFormatError(f"{source}: expected one root:// URI a line, found {bad.strip()[:80]!r}")
    entries: list[IndexEntry] = []
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        entry = _entry(item, source, n)
        if entry.uri.endswith(".root") and entry.uri not in seen:
            seen.add(entry.uri)
            entries.append(entry)
    if not entries:
        raise DataFormatError(f"{source}: the index lists no .root files")
    return entries


def _json_items(obj: object, source: str) -> list[object]:
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        meta = obj.get("metadata")
        groups = None
        if isinstance(meta, dict) and meta.get("_file_indices"):
            groups = meta["_file_indices"]
        elif isinstance(obj.get("index_files"), dict):
            groups = obj["index_files"].get("files")
        if isinstance(groups, list):
            return [f for g in groups if isinstance(g, dict) for f in g.get("files", [])]
        if isinstance(obj.get("files"), list):
            return obj["files"]
        if isinstance(meta, dict) and isinstance(meta.get("files"), list):
            return meta["files"]
    raise DataFormatError(f"{source}: no list of files found (expected a file index or a record's JSON)")


def _download_text(url: str, target: Path, label: str) -> str:
    pooch_download(url, target, label=label, hint="use --mirror DIR with <DIR>/nano/<sample>/file_index.json")
    try:
        return target.read_text(encoding="utf-8")
    finally:
        target.unlink(missing_ok=True)


def _portal_entries(rec: NanoRecord, folder: Path, portal: str | None, say: Callable[..., None]) -> list[IndexEntry]:
    """The record's files from the portal: each JSON index (checksums), else its TXT twin, else the API."""
    entries: list[IndexEntry] = []
    scratch = folder / ".index.download"
    for url in rec.index_urls(portal):
        json_url = url.removesuffix(".txt") + ".json"
        try:
            say(f"nano/{rec.key}: reading the file index {json_url}")
            entries += parse_file_index(_download_text(json_url, scratch, f"nano/{rec.key} index"), json_url)
        except (DownloadError, DataFormatError):
            say(f"nano/{rec.key}: reading the file index {url} (no checksums in TXT indexes)")
            entries += parse_file_index(_download_text(url, scratch, f"nano/{rec.key} index"), url)
    if not rec.index_files:
        url = rec.api_url(portal)
        say(f"nano/{rec.key}: reading the record's file list {url}")
        entries = parse_file_index(_download_text(url, scratch, f"nano/{rec.key} record"), url)
    return entries


def file_list(
    key: str,
    out: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None = None,
    *,
    quiet: bool = False,
    portal: str | None = None,
    refresh: bool = False,
) -> list[IndexEntry]:
    """The files of sample ``key`` (``tt``, ``wjets``, ``dy``) in the portal's order, cached.

    Read from ``<out>/nano/<key>/file_index.json`` when cached (``refresh``: read
    again), else from ``<mirror>/nano/<key>/file_index.json`` or ``.txt`` (portal
    format), else from the portal (``portal``, default ``EVENTCNN_PORTAL_URL`` or
    https://opendata.cern.ch). A count different from the record's is said loudly.

    Example::

        >>> files = file_list("tt", cache_dir())                 # doctest: +SKIP
        >>> len(files), files[0].filename                        # doctest: +SKIP
        (138, '08FCB2ED-176B-064B-85AB-37B898773B98.root')
    """
    rec = _record(key)
    say = stderr_sayer(quiet)
    folder = Path(out) / DATASET_DIR / key
    cache = folder / INDEX_CACHE
    if cache.is_file() and not refresh:
        return parse_file_index(cache.read_text(encoding="utf-8"), str(cache))
    portal = portal or os.environ.get("EVENTCNN_PORTAL_URL") or None
    origin = None
    if mirror is not None:
        for name in (INDEX_CACHE, "file_index.txt"):
            candidate = Path(mirror) / DATASET_DIR / key / name
            if candidate.is_file():
                entries = parse_file_index(candidate.read_text(encoding="utf-8"), str(candidate))
                origin = f"mirror {candidate}"
                break
        else:
            raise FileNotFoundError(
                f"{Path(mirror) / DATASET_DIR / key / INDEX_CACHE} not found: the mirror {mirror} must hold "
                f"the file index of {key} (or file_index.txt); drop --mirror to read it from the portal")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        entries = _portal_entries(rec, folder, portal, say)
        origin = rec.record_url(portal)
    if len(entries) != rec.files:
        say(f"WARNING: the file index of {key} lists {len(entries)} files; record {rec.record} "
            f"should hold {rec.files}", force=True)
    write_json_atomic(cache, [e.to_dict() for e in entries])
    record_origin(cache, origin, "parsed")
    return entries


def _record(key: str) -> NanoRecord:
    if key not in NANO_RECORDS:
        raise UserError(f"no NanoAOD record for {key!r}: --files works for {', '.join(NANO_RECORDS)}")
    return NANO_RECORDS[key]


# --------------------------------------------------------------------------- files


def check_root(path: str | os.PathLike[str], origin: str | None = None) -> None:
    """A readable NanoAOD file with the branches eventcnn reads, else :class:`DataFormatError`.

    Example::

        check_root("nano/TTToSemiLeptonic_UL16_08FCB2ED.root")
    """
    # deferred: uproot/awkward (the nano extra) are needed only for .root files

    path = str(path)
    try:
        file, _, _ = open_events(path)  # every collection and flag eventcnn reads, checked
        file.close()
    except EventFormatError as exc:
        raise DataFormatError(str(exc).replace(path, origin or path)) from None


def _verify(path: Path, origin: str, label: str, size: int | None, adler32: str | None) -> None:
    if size is not None and path.stat().st_size != size:
        raise DataIntegrityError(
            f"size mismatch for {label} from {origin}: expected {size:,} bytes, got "
            f"{path.stat().st_size:,}. Nothing was saved: truncated transfer or changed source; retry.")
    if adler32 is not None:
        got = adler32sum(path)
        if got != adler32.lower():
            raise DataIntegrityError(
                f"adler32 mismatch for {label} from {origin}: expected {adler32}, got {got}. "
                "Nothing was saved: the download was corrupted or the file changed; retry.")


def _present(target: Path, size: int | None, adler32: str | None) -> bool:
    if not target.is_file() or (size is not None and target.stat().st_size != size):
        return False
    return adler32 is None or adler32sum(target) == adler32.lower()


def get_nano_file(
    url: str,
    target: Path,
    *,
    label: str,
    size: int | None = None,
    adler32: str | None = None,
    record: int | None = None,
    mirror_file: Path | None = None,
    bar: bool = False,
    say: Callable[..., None] = print,
) -> Path:
    """One whole NanoAOD file: kept when present, else copied from ``mirror_file`` or downloaded.

    A download is checked against ``size`` and ``adler32`` (the portal's) when
    known and must be a readable NanoAOD file; without a checksum it is kept with
    a loud ``UNVERIFIED`` warning (:class:`UnverifiedWarning`, and on stderr even
    when quiet). A mirror copy is format-checked and gets an origin record.

    Example::

        get_nano_file(https_url(uri), Path("cache/nano/tt/a.root"), label="nano/tt/a.root")
    """
    if mirror_file is not None:
        if not mirror_file.is_file():
            raise FileNotFoundError(
                f"{mirror_file} not found: the mirror must hold {label}; "
                "drop --mirror / EVENTCNN_DATA_MIRROR to download instead")
        if target.is_file() and target.stat().st_size == mirror_file.stat().st_size:
            say(f"{label}: already present at {target}")
            return target
        say(f"{label}: copying from mirror {mirror_file.parent.parent}")
        return copy_from_mirror(mirror_file, target, lambda p: check_root(p, str(mirror_file)))
    if _present(target, size, adler32):
        origin = cached_origin(target)
        say(f"{label}: already present at {target}" + (f", from {origin}" if origin else ""))
        return target

    def check(path: Path, origin: str) -> None:
        _verify(path, origin, label, size, adler32)
        check_root(path, origin)
        if adler32 is None:
            where = f"{PORTAL}/record/{record}" if record else "opendata.cern.ch"
            msg = (f"UNVERIFIED: {label} has no published checksum in eventcnn's registry "
                   f"({'size checked' if size else 'neither size nor checksum checked'}); "
                   f"compare adler32 {adler32sum(path)} with {where} before trusting results")
            warnings.warn(msg, UnverifiedWarning, stacklevel=4)
            say(f"WARNING: {msg}", force=True)

    say(f"{label}: downloading {url}")
    return pooch_download(url, target, label=label, bar=bar, check=check,
                          hint="use --max-events to stream part of it, or --mirror DIR")


def fetch_record_files(
    key: str,
    count: int,
    out: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None = None,
    *,
    quiet: bool = False,
    base_url: str | None = None,
    portal: str | None = None,
) -> dict[str, Path]:
    """The first ``count`` files of sample ``key`` under ``<out>/nano/<key>/``, by ``<key>/<n>``.

    The file list is :func:`file_list` (cached); each file goes through
    :func:`get_nano_file` (size and adler32 from the JSON index; mirror:
    ``<mirror>/nano/<key>/<file>``). ``base_url`` replaces https://eospublic.cern.ch.

    Example::

        >>> fetch_record_files("tt", 2, cache_dir())             # doctest: +SKIP
        {'tt/1': PosixPath('.../nano/tt/08FCB2ED-....root'), 'tt/2': ...}
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UserError(f"--files must be a whole number of at least 1, got {count!r}")
    rec = _record(key)
    say = stderr_sayer(quiet)
    entries = file_list(key, out, mirror, quiet=quiet, portal=portal)
    if count > len(entries):
        raise UserError(f"--files {count}: the file index of {key} (record {rec.record}) lists "
                        f"only {len(entries)} files")
    folder = Path(out) / DATASET_DIR / key
    paths: dict[str, Path] = {}
    for n, entry in enumerate(entries[:count], start=1):
        mirror_file = Path(mirror) / DATASET_DIR / key / entry.filename if mirror is not None else None
        paths[f"{key}/{n}"] = get_nano_file(
            https_url(entry.uri, base_url), folder / entry.filename, label=f"nano/{key}/{entry.filename}",
            size=entry.size, adler32=entry.adler32, record=rec.record, mirror_file=mirror_file,
            bar=_download.want_bar(quiet), say=say)
    return paths
