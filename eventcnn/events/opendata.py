"""Public 2016 CMS NanoAOD files on the CERN open data portal: registry, fetch, stream.

:data:`NANO_REGISTRY` lists one file each of tt semileptonic, W+jets -> l nu,
Drell-Yan -> ll (m > 50 GeV) simulation and SingleMuon collision data
(RunIISummer20UL16 NanoAODv9 / Run2016H UL NanoAODv9). :func:`fetch_nano` puts
them under ``<dest>/nano/``:

- in full (HTTPS download through pooch, atomic; size and adler32 checked when
  the registry knows them, a loud ``UNVERIFIED`` warning when it does not), or
- with ``max_events``, the first N events only, streamed with uproot from
  ``root://eospublic.cern.ch`` (needs ``fsspec-xrootd``) or the HTTPS URL and
  written as a small NanoAOD file with the branches eventcnn reads, or
- from a local ``mirror`` folder (``<mirror>/nano/<file>``), checked for format.

Example::

    >>> from eventcnn.events.opendata import fetch_nano
    >>> paths = fetch_nano("all", max_events=20_000)          # doctest: +SKIP
    >>> sorted(paths)                                          # doctest: +SKIP
    ['dy', 'singlemuon', 'tt', 'wjets']
"""

from __future__ import annotations

import os
import sys
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eventcnn._env import quiet_from_env
from eventcnn._io import atomic_path
from eventcnn.errors import UserError

__all__ = ["NANO_REGISTRY", "NanoSource", "adler32sum", "fetch_nano", "format_nano_registry"]

DEFAULT_HTTPS = "https://eospublic.cern.ch"
DEFAULT_XROOTD = "root://eospublic.cern.ch/"
DATASET_DIR = "nano"


@dataclass(frozen=True)
class NanoSource:
    """One NanoAOD file of the open data portal.

    ``path`` is the EOS path (``/eos/opendata/cms/...``); ``record`` the portal
    record id (``https://opendata.cern.ch/record/<id>``), ``size`` in bytes and
    ``adler32`` (8 hex digits, as the portal publishes) when known, else ``None``
    (then fetching says loudly that the file is unverified). ``label`` is the
    image class it stands for.

    Example::

        >>> src = NANO_REGISTRY[0]
        >>> src.xrootd_url().startswith("root://eospublic.cern.ch//eos/opendata/cms/mc/")
        True
    """

    key: str
    label: str
    filename: str
    path: str
    dataset: str
    record: int | None = None
    size: int | None = None
    adler32: str | None = None
    events: int | None = None
    provenance: str = ""
    licence: str = "CC0 1.0 (CMS open data)"

    def xrootd_url(self) -> str:
        return DEFAULT_XROOTD + self.path

    def https_url(self, base_url: str | None = None) -> str:
        return (base_url or DEFAULT_HTTPS).rstrip("/") + self.path

    @property
    def relpath(self) -> str:
        return f"{DATASET_DIR}/{self.filename}"

    @property
    def verified(self) -> bool:
        return self.adler32 is not None


_UL16 = "/eos/opendata/cms/mc/RunIISummer20UL16NanoAODv9"
_MC = "NANOAODSIM/106X_mcRun2_asymptotic_v17-v1"
_SEEN = ("file path as used in public analysis code; record id, size and checksum "
         "not found offline: check https://opendata.cern.ch")

#: The NanoAOD files of the three-class task (tt / W / DY) and a collision-data sample.
NANO_REGISTRY: tuple[NanoSource, ...] = (
    NanoSource(
        key="tt", label="ttjets", filename="TTToSemiLeptonic_UL16_08FCB2ED.root",
        path=f"{_UL16}/TTToSemiLeptonic_TuneCP5_13TeV-powheg-pythia8/{_MC}/120000/"
             "08FCB2ED-176B-064B-85AB-37B898773B98.root",
        dataset="/TTToSemiLeptonic_TuneCP5_13TeV-powheg-pythia8/RunIISummer20UL16NanoAODv9-"
                "106X_mcRun2_asymptotic_v17-v1/NANOAODSIM",
        record=67993, events=1_233_000,
        provenance="record id 67993 and 1,233,000 events as reported by public analysis notes; "
                   "size and checksum not found offline",
    ),
    NanoSource(
        key="wjets", label="wjets", filename="WJetsToLNu_UL16_00702195.root",
        path=f"{_UL16}/WJetsToLNu_TuneCP5_13TeV-madgraphMLM-pythia8/{_MC}/270000/"
             "00702195-E707-3743-8BBA-57EB9DEE1DBA.root",
        dataset="/WJetsToLNu_TuneCP5_13TeV-madgraphMLM-pythia8/RunIISummer20UL16NanoAODv9-"
                "106X_mcRun2_asymptotic_v17-v1/NANOAODSIM",
        provenance=_SEEN,
    ),
    NanoSource(
        key="dy", label="dy", filename="DYJetsToLL_M-50_UL16_751D5714.root",
        path=f"{_UL16}/DYJetsToLL_M-50_TuneCP5_13TeV-madgraphMLM-pythia8/{_MC}/40000/"
             "751D5714-5507-6343-818A-5DB7797D6632.root",
        dataset="/DYJetsToLL_M-50_TuneCP5_13TeV-madgraphMLM-pythia8/RunIISummer20UL16NanoAODv9-"
                "106X_mcRun2_asymptotic_v17-v1/NANOAODSIM",
        provenance=_SEEN,
    ),
    NanoSource(
        key="singlemuon", label="data", filename="SingleMuon_Run2016H_61FC1E38.root",
        path="/eos/opendata/cms/Run2016H/SingleMuon/NANOAOD/UL2016_MiniAODv2_NanoAODv9-v1/120000/"
             "61FC1E38-F75C-6B44-AD19-A9894155874E.root",
        dataset="/SingleMuon/Run2016H-UL2016_MiniAODv2_NanoAODv9-v1/NANOAOD",
        record=30563, size=14_695_266,
        provenance="record id 30563 (DOI 10.7483/OPENDATA.CMS.4BUS.64MV) and size from public "
                   "analysis code; checksum not found offline",
    ),
)

#: The three classes of the tt / W / DY task, by registry key.
THREE_CLASS = ("tt", "wjets", "dy")


class UnverifiedWarning(UserWarning):
    """A file was fetched without a published checksum to check it against."""


def adler32sum(path: str | os.PathLike[str]) -> str:
    """Adler-32 of a file as 8 hex digits (the portal's checksum), read in 1 MiB blocks.

    Example::

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w"; _ = p.write_bytes(b"Wikipedia")
        >>> adler32sum(p)
        '11e60398'
    """
    value = 1
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def _select(name: str | Sequence[str], sources: Sequence[NanoSource]) -> list[NanoSource]:
    keys = [s.key for s in sources]
    if isinstance(name, str):
        if name in ("all", "nano"):
            return list(sources)
        if name == "three-class":
            return [s for s in sources if s.key in THREE_CLASS]
        name = [name]
    unknown = [n for n in name if n not in keys]
    if unknown:
        raise UserError(f"unknown NanoAOD file(s) {unknown}: choose from {keys}, 'three-class' or 'all'")
    return [s for s in sources if s.key in name]


def _check_root(path: Path, origin: str) -> None:
    """A readable NanoAOD file with the branches eventcnn needs, else DataFormatError."""
    from eventcnn.events.cms_json import EventFormatError
    from eventcnn.events.download import DataFormatError
    from eventcnn.events.nanoaod import _open_tree, _plan

    try:
        file, tree = _open_tree(str(path))
        try:
            _plan(file, tree, str(path))
        finally:
            file.close()
    except EventFormatError as exc:
        raise DataFormatError(str(exc).replace(str(path), origin)) from None


def _verify(src: NanoSource, path: Path, origin: str, say: Callable[..., None]) -> None:
    from eventcnn.events.download import DataIntegrityError

    if src.size is not None and path.stat().st_size != src.size:
        raise DataIntegrityError(
            f"size mismatch for {src.relpath} from {origin}: expected {src.size:,} bytes, got "
            f"{path.stat().st_size:,}. Nothing was saved: truncated transfer or changed source; retry."
        )
    if src.adler32 is not None:
        got = adler32sum(path)
        if got != src.adler32.lower():
            raise DataIntegrityError(
                f"adler32 mismatch for {src.relpath} from {origin}: expected {src.adler32}, got {got}. "
                "Nothing was saved: the download was corrupted or the file changed; retry."
            )



def _warn_unverified(src: NanoSource, path: Path, say: Callable[..., None]) -> None:
    if src.adler32 is None:
        msg = (f"UNVERIFIED: {src.relpath} has no published checksum in eventcnn's registry "
               f"({'size checked' if src.size else 'neither size nor checksum checked'}); "
               f"compare adler32 {adler32sum(path)} with opendata.cern.ch"
               f"{f'/record/{src.record}' if src.record else ''} before trusting results")
        warnings.warn(msg, UnverifiedWarning, stacklevel=3)
        say(f"WARNING: {msg}", force=True)


def _present(src: NanoSource, target: Path) -> bool:
    if not target.is_file():
        return False
    if src.size is not None and target.stat().st_size != src.size:
        return False
    return src.adler32 is None or adler32sum(target) == src.adler32.lower()


def _download(src: NanoSource, target: Path, base_url: str | None, bar: bool, say: Callable[..., None]) -> None:
    import pooch
    import requests

    from eventcnn.events import download as _download
    from eventcnn.events.download import DownloadError

    url = src.https_url(base_url)
    with atomic_path(target) as tmp:
        try:
            pooch.HTTPDownloader(progressbar=bar, timeout=_download.DOWNLOAD_TIMEOUT)(url, str(tmp), None)
        except (requests.RequestException, OSError) as exc:
            raise DownloadError(
                f"could not download {src.relpath} from {url}: {exc}. Nothing was saved. Check the "
                "connection, use --max-events to stream part of it, or --mirror DIR."
            ) from exc
        _verify(src, tmp, url, say)
        _check_root(tmp, url)
        _warn_unverified(src, tmp, say)


def _stream(src: NanoSource, origin: str, target: Path, max_events: int, quiet: bool) -> None:
    from eventcnn.events.nanoaod import read_nanoaod, write_nanoaod

    events = read_nanoaod(origin, max_events=max_events, quiet=quiet)
    write_nanoaod(target, events)


def fetch_nano(
    name: str | Sequence[str] = "three-class",
    dest: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    max_events: int | None = None,
    *,
    quiet: bool = False,
    base_url: str | None = None,
    stream_url: str | None = None,
    sources: Sequence[NanoSource] | None = None,
) -> dict[str, Path]:
    """Fetch NanoAOD files of :data:`NANO_REGISTRY` (``"three-class"``, ``"all"`` or keys).

    Returns ``{key: path}`` under ``<dest>/nano/``. ``max_events`` keeps only the
    first N events (``<file>.first<N>.root``), streamed from ``stream_url``
    (default the XRootD URL) or read from the mirror; without it the whole
    file is downloaded from ``base_url`` (default ``https://eospublic.cern.ch``,
    also ``EVENTCNN_NANO_BASE_URL``) or copied from ``mirror``
    (``EVENTCNN_DATA_MIRROR``). A file already there is kept. ``quiet`` (or
    ``EVENTCNN_QUIET``) silences the messages and bars.

    Example::

        >>> fetch_nano("tt", max_events=5000, quiet=True)               # doctest: +SKIP
        {'tt': PosixPath('/home/me/.cache/eventcnn/nano/TTToSemiLeptonic_UL16_08FCB2ED.first5000.root')}
    """
    import shutil

    from eventcnn.events.download import cache_dir
    from eventcnn.events.download import mirror_from_env as _mirror_from_env
    from eventcnn.events.download import want_bar as _want_bar

    chosen = _select(name, NANO_REGISTRY if sources is None else sources)
    root = (Path(dest).expanduser() if dest is not None else cache_dir()).absolute()
    mirror_dir = _mirror_from_env(mirror)
    base_url = base_url or os.environ.get("EVENTCNN_NANO_BASE_URL") or None
    quiet = quiet or quiet_from_env()

    def say(msg: str, force: bool = False) -> None:
        if force or not quiet:
            print(msg, file=sys.stderr, flush=True)

    if max_events is not None and max_events < 1:
        raise UserError(f"max_events must be positive, got {max_events}")
    out: dict[str, Path] = {}
    for src in chosen:
        origin_mirror = mirror_dir / DATASET_DIR / src.filename if mirror_dir is not None else None
        if origin_mirror is not None and not origin_mirror.is_file():
            raise FileNotFoundError(
                f"{origin_mirror} not found: the mirror {mirror_dir} must hold {src.relpath}; "
                "drop --mirror / EVENTCNN_DATA_MIRROR to download instead"
            )
        if max_events is not None:
            target = root / DATASET_DIR / f"{Path(src.filename).stem}.first{max_events}.root"
            if target.is_file():
                say(f"{src.relpath}: first {max_events} events already at {target}")
            else:
                origin = str(origin_mirror) if origin_mirror is not None else (stream_url or src.xrootd_url())
                say(f"{src.relpath}: streaming the first {max_events} events from {origin}")
                _stream(src, origin, target, max_events, quiet)
            out[src.key] = target
            continue
        target = root / DATASET_DIR / src.filename
        if origin_mirror is not None:
            if target.is_file() and target.stat().st_size == origin_mirror.stat().st_size:
                say(f"{src.relpath}: already present at {target}")
            else:
                say(f"{src.relpath}: copying from mirror {mirror_dir}")
                with atomic_path(target) as tmp:
                    shutil.copyfile(origin_mirror, tmp)
                    _check_root(tmp, str(origin_mirror))
        elif _present(src, target):
            say(f"{src.relpath}: already present at {target}")
        else:
            say(f"{src.relpath}: downloading {src.https_url(base_url)}")
            _download(src, target, base_url, _want_bar(quiet), say)
        out[src.key] = target
    return out


def format_nano_registry(
    sources: Iterable[NanoSource] | None = None, dest: str | os.PathLike[str] | None = None
) -> str:
    """Human-readable NanoAOD registry (record, URL, size, checksum or UNVERIFIED, local status).

    Example::

        >>> print(format_nano_registry())          # doctest: +SKIP
    """
    from eventcnn.events.download import cache_dir

    root = Path(dest).expanduser() if dest is not None else cache_dir()
    blocks = []
    for src in NANO_REGISTRY if sources is None else sources:
        target = root / src.relpath
        rec = f"https://opendata.cern.ch/record/{src.record}" if src.record else "unknown (search opendata.cern.ch)"
        blocks.append("\n".join([
            f"{src.relpath}  (key {src.key!r}, class {src.label}): {src.dataset}",
            f"  record:   {rec}",
            f"  source:   {src.xrootd_url()}",
            f"  size:     {f'{src.size:,} bytes' if src.size else 'unknown'}"
            + (f"; {src.events:,} events" if src.events else ""),
            f"  adler32:  {src.adler32 or 'UNVERIFIED (no published checksum in the registry)'}",
            f"  note:     {src.provenance}",
            f"  licence:  {src.licence}",
            f"  local:    {target} ({'present' if target.is_file() else 'not fetched'})",
        ]))
    return "\n\n".join(blocks)
