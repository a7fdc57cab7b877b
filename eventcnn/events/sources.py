"""Public data: download, verify and cache the real event files.

The registry :data:`REGISTRY` lists every public file eventcnn uses (repository,
commit, path, sha256, licence). :func:`fetch` downloads them with pooch from
``raw.githubusercontent.com`` (or ``base_url`` / ``EVENTCNN_DATA_BASE_URL``),
checks the sha256, safely extracts the member of an archive where the file is
packed in one, and stores the result under ``<dest>/<dataset>/<file>``::

    cms/TTjets_json.json   cms/Wjets_json.json
    opal/centered-masked-rotated1.zip   opal/answer_key/events_list.csv

The OPAL labels are the masterclass's answer key: they go to a folder of their
own (``opal/answer_key/``), so the folder students are given holds the displays
only. A mirror is laid out like ``shared/data`` (``opal/events_list.csv``).

``dest`` defaults to the cache folder (``EVENTCNN_CACHE`` or
``pooch.os_cache("eventcnn")``). With ``mirror`` (or ``EVENTCNN_DATA_MIRROR``)
the files are copied from a local folder with that same layout instead; a
mirror may hold a subset of the events, so mirror files are checked for their
format rather than their hash.

Every step writes through :func:`eventcnn._io.atomic_path`: a failed or
interrupted download, copy or extraction leaves no partial file behind.

Example::

    from eventcnn.events.sources import fetch
    paths = fetch("cms")               # {"ttjets": Path(...), "wjets": Path(...)}
    paths = fetch("opal", mirror="../shared/data")
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eventcnn._env import sayer
from eventcnn._io import atomic_path
from eventcnn.events import download as _basics
from eventcnn.events.download import (  # noqa: F401 - public names of eventcnn.events.sources
    DOWNLOAD_TIMEOUT,
    DataFormatError,
    DataIntegrityError,
    DownloadError,
    UnsafeArchiveError,
    cache_dir,
)
from eventcnn.events.download import mirror_from_env as _mirror_from_env
from eventcnn.events.download import want_bar as _want_bar

__all__ = [
    "DATASETS",
    "DEFAULT_BASE_URL",
    "REGISTRY",
    "DataFormatError",
    "DataIntegrityError",
    "DownloadError",
    "Source",
    "UnsafeArchiveError",
    "cache_dir",
    "example_files",
    "cached_origin",
    "check_format",
    "extract_member",
    "fetch",
    "format_registry",
    "origin_path",
    "sha256sum",
]

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"

CMS_LICENCE = "CC0 1.0 (CMS open data)"
OPAL_LICENCE = "unknown: not stated, see NTW-Muenster/opal-mc-ml"


@dataclass(frozen=True)
class Source:
    """One public file of the registry.

    ``sha256`` is the hash of the file at ``repo``/``commit``/``path``. When that
    file is a (gzipped) tar archive, ``member`` names the file inside it and
    ``member_sha256`` its hash; the member is what ends up at
    ``<dest>/<dataset>/<filename>``.

    Example::

        src = Source("wjets", "cms", "Wjets_json.json", "jzyee/cms_image_classification",
                     "073e4b5fd91af26daa9cc8b3cd5e379bae1ac7d7", "json_files/Wjets_json.json",
                     "0249c95b98563ac7bae680529b657236818e68b6b676c8ce1c7adf46e8fc660c")
        src.url()  # 'https://raw.githubusercontent.com/jzyee/.../json_files/Wjets_json.json'
    """

    key: str
    dataset: str
    filename: str
    repo: str
    commit: str
    path: str
    sha256: str
    member: str | None = None
    member_sha256: str | None = None
    licence: str = "unknown"
    description: str = ""
    folder: str = ""  # sub-folder of <dest>/<dataset> it is stored in (the answer key: "answer_key")

    def url(self, base_url: str | None = None) -> str:
        """Download URL: ``<base_url>/<repo>/<commit>/<path>`` (raw GitHub by default)."""
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/{self.repo}/{self.commit}/{self.path}"

    @property
    def final_sha256(self) -> str:
        """sha256 of the file that ends up in the destination folder."""
        return self.member_sha256 if self.member else self.sha256

    @property
    def relpath(self) -> str:
        """Location relative to the destination folder (``<dataset>/[<folder>/]<filename>``)."""
        return "/".join(p for p in (self.dataset, self.folder, self.filename) if p)

    @property
    def mirror_relpath(self) -> str:
        """Location relative to a mirror folder (laid out like ``shared/data``: ``<dataset>/<filename>``)."""
        return f"{self.dataset}/{self.filename}"


REGISTRY: tuple[Source, ...] = (
    Source(
        key="ttjets",
        dataset="cms",
        filename="TTjets_json.json",
        repo="laramaktub/json-collisions",
        commit="543f22ce8249131ff6fe97d1a4648f6005fd0d26",
        path="AnalysisFW/plugins/v",
        sha256="d243bed9edbc078b535ea320c9897e24e123c55e11587b3fefea6736ac300550",
        member="JsonToRoot/prueba.json",
        member_sha256="0a0c81bcbeb23cfb952304c8398b2d43af0a57fe4db726f6647c1a99f98fc795",
        licence=CMS_LICENCE,
        description="5,000 tt+jets events (CMS 2011 simulation, Summer11LegDR TTJets, 7 TeV)",
    ),
    Source(
        key="wjets",
        dataset="cms",
        filename="Wjets_json.json",
        repo="jzyee/cms_image_classification",
        commit="073e4b5fd91af26daa9cc8b3cd5e379bae1ac7d7",
        path="json_files/Wjets_json.json",
        sha256="0249c95b98563ac7bae680529b657236818e68b6b676c8ce1c7adf46e8fc660c",
        licence=CMS_LICENCE,
        description="4,996 W+jets events (CMS 2011 simulation, Summer11LegDR WJetsToLNu, 7 TeV)",
    ),
    Source(
        key="zip",
        dataset="opal",
        filename="centered-masked-rotated1.zip",
        repo="NTW-Muenster/opal-mc-ml",
        commit="b3317a6a0ac765abe1b415eb6957f3f8952b5b7e",
        path="centered-masked-rotated1.zip",
        sha256="678b5b05861fcb93b98e22055f5117d4f58cf04370abba89dc1658b3813b2e73",
        licence=OPAL_LICENCE,
        description="622 OPAL masterclass event displays (200x200 PNG, centred, masked, rotated)",
    ),
    Source(
        key="labels",
        dataset="opal",
        filename="events_list.csv",
        repo="NTW-Muenster/opal-mc-ml",
        commit="339c9602304c056196ec092cc4ce423c3aee61c1",
        path="events_list.csv",
        sha256="2e41b2b3559a58da55495c3bb31f92b13597d17c22f6645d5b221275b4226b77",
        licence=OPAL_LICENCE,
        description="labels of the OPAL displays: '<event>.png;<q|e|m|t>' (the answer key: kept in "
                    "opal/answer_key/, apart from the displays students use)",
        folder="answer_key",
    ),
)

#: Names accepted by :func:`fetch` (besides ``"all"``; ``"nano"`` is :mod:`eventcnn.events.opendata`).
DATASETS: tuple[str, ...] = ("cms", "opal")

OPAL_LABELS = frozenset("qemt")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers


def example_files() -> dict[str, Path]:
    """The small example event files shipped inside the package, by class.

    60 generated events each (``eventcnn generate <class> --events 60 --seed 20261123``),
    for offline first steps::

        >>> sorted(example_files())
        ['dy', 'ttjets', 'wjets']
    """
    folder = Path(__file__).parent / "examples"
    return {f.name.split(".")[0].removeprefix("example_"): f for f in sorted(folder.glob("example_*.json*"))}


def sha256sum(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Example::

        >>> sha256sum("cms/Wjets_json.json")  # doctest: +SKIP
        '0249c95b...'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _publish(tmp: Path) -> None:
    """Give a finished temp file ordinary read permissions (mkstemp makes it 0600)."""
    os.chmod(tmp, 0o644)


def _select(name: str, sources: Sequence[Source]) -> list[Source]:
    names = sorted({s.dataset for s in sources})
    if name == "all":
        return list(sources)
    chosen = [s for s in sources if s.dataset == name]
    if not chosen:
        raise ValueError(f"unknown data set {name!r}: choose one of {', '.join([*names, 'all'])}")
    return chosen


# --------------------------------------------------------------------------- archives


def _safe_member_name(name: str, archive: Path) -> str:
    """Normalised member name, or :class:`UnsafeArchiveError` if it could escape."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} has an absolute path; refusing to extract from this archive"
        )
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} points outside the destination ('..'); "
            "refusing to extract from this archive"
        )
    return norm


def _check_tar_members(tar: tarfile.TarFile, archive: Path) -> dict[str, tarfile.TarInfo]:
    """Validate every member of ``tar``; return them by normalised name."""
    members: dict[str, tarfile.TarInfo] = {}
    for info in tar.getmembers():
        name = _safe_member_name(info.name, archive)
        if info.issym() or info.islnk():
            link = info.linkname
            if info.issym() and not link.startswith("/"):
                link = posixpath.join(posixpath.dirname(name), link)
            try:
                _safe_member_name(link, archive)
            except UnsafeArchiveError:
                raise UnsafeArchiveError(
                    f"{archive}: link member {info.name!r} points outside the destination "
                    f"({info.linkname!r}); refusing to extract from this archive"
                ) from None
        members[name] = info
    return members


def extract_member(
    archive: str | os.PathLike[str],
    member: str,
    target: str | os.PathLike[str],
    sha256: str | None = None,
) -> Path:
    """Extract one regular-file ``member`` of a (compressed) tar ``archive`` to ``target``.

    Every member of the archive is checked first: an absolute path, a ``..``
    component or a link pointing outside the archive raises
    :class:`UnsafeArchiveError` and nothing is written. The member is streamed
    to a temporary file next to ``target``, its sha256 checked when given
    (:class:`DataIntegrityError`), and only then renamed onto ``target``.

    Example::

        extract_member("v", "JsonToRoot/prueba.json", "cms/TTjets_json.json",
                       sha256="0a0c81bc...")
    """
    archive = Path(archive)
    target = Path(target)
    try:
        with tarfile.open(archive, "r:*") as tar:
            _extract_from(tar, archive, member, target, sha256)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{archive}: not a readable tar archive ({exc})") from exc
    return target


def _extract_from(
    tar: tarfile.TarFile, archive: Path, member: str, target: Path, sha256: str | None
) -> None:
    members = _check_tar_members(tar, archive)
    info = members.get(posixpath.normpath(member))
    if info is None:
        raise DataFormatError(
            f"{archive}: member {member!r} not found (the archive holds "
            f"{len(members)} members); the source may have changed"
        )
    if not info.isfile():
        raise UnsafeArchiveError(f"{archive}: member {member!r} is not a regular file")
    src = tar.extractfile(info)
    assert src is not None  # regular files always have data
    with atomic_path(target) as tmp:
        digest = hashlib.sha256()
        with src, open(tmp, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        got = digest.hexdigest()
        if sha256 is not None and got != sha256:
            raise DataIntegrityError(
                f"sha256 mismatch for member {member!r} of {archive.name}: expected "
                f"{sha256}, got {got}. Nothing was saved: the archive is corrupted or the "
                "source changed; fetch again, and report it if it persists."
            )
        _publish(tmp)


# --------------------------------------------------------------------------- formats


def _check_json(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            obj = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("Event"), dict):
        keys = list(obj)[:5] if isinstance(obj, dict) else type(obj).__name__
        raise DataFormatError(
            f"{path}: expected a CMS event JSON with top-level key 'Event' "
            f"(an object of events), found {keys}"
        )
    if not obj["Event"]:
        raise DataFormatError(f"{path}: 'Event' holds no events")


def _check_zip(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        raise DataFormatError(f"{path}: not a zip archive")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            for name in names:
                _safe_member_name(name, path)
            pngs = [n for n in names if n.lower().endswith(".png")]
            if not pngs:
                raise DataFormatError(f"{path}: the zip holds no PNG images ({len(names)} members)")
            bad = zf.testzip()
            if bad is not None:
                raise DataFormatError(f"{path}: member {bad!r} is corrupted (CRC mismatch)")
            with zf.open(pngs[0]) as fh:
                head = fh.read(len(_PNG_SIGNATURE))
            if head != _PNG_SIGNATURE:
                raise DataFormatError(f"{path}: member {pngs[0]!r} is not a PNG image")
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{path}: damaged zip archive ({exc})") from exc


def _check_labels(path: Path) -> None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc})") from exc
    rows = 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(";")]
        if len(parts) != 2 or not parts[0]:
            raise DataFormatError(
                f"{path}, line {lineno}: expected 'name;label', found {line.strip()!r}"
            )
        if parts[1] not in OPAL_LABELS:
            raise DataFormatError(
                f"{path}, line {lineno}: label {parts[1]!r} is not one of q, e, m, t"
            )
        rows += 1
    if rows == 0:
        raise DataFormatError(f"{path}: no 'name;label' rows")


_CHECKERS: dict[str, Callable[[Path], None]] = {
    ".json": _check_json,
    ".zip": _check_zip,
    ".csv": _check_labels,
}


def check_format(path: str | os.PathLike[str]) -> None:
    """Check a data file by its suffix; raise :class:`DataFormatError` if it is wrong.

    ``.json``: parses, top-level key ``"Event"`` with at least one event.
    ``.zip``: a valid zip with safe member names and PNG members.
    ``.csv``: ``name;label`` rows, labels in q/e/m/t.

    Example::

        check_format("../shared/data/opal/events_list.csv")
    """
    path = Path(path)
    checker = _CHECKERS.get(path.suffix.lower())
    if checker is None:
        raise ValueError(f"{path}: no format check for files ending in {path.suffix!r}")
    checker(path)


# --------------------------------------------------------------------------- fetching


def _download(url: str, out: Path, expected: str, label: str, bar: bool) -> None:
    """Download ``url`` to ``out`` with pooch and check its sha256 (``out`` is a temp path)."""
    import pooch

    downloader = pooch.HTTPDownloader(progressbar=bar, timeout=_basics.DOWNLOAD_TIMEOUT)
    try:
        downloader(url, str(out), None)
    except OSError as exc:  # requests' errors are OSErrors too
        if _local_write_error(exc):  # full disk, no permission: not an offline situation
            raise
        raise DownloadError(
            f"could not download {label} from {url}: {exc}. Nothing was saved. Check the "
            "connection and retry, or use local copies with --mirror DIR / EVENTCNN_DATA_MIRROR."
        ) from exc
    got = pooch.file_hash(str(out), alg="sha256")
    if got != expected:
        raise DataIntegrityError(
            f"sha256 mismatch for {label} downloaded from {url}: expected {expected}, got {got}. "
            "Nothing was saved. The download was corrupted or the file changed at the source: "
            "retry; if it persists, use --mirror DIR with known-good copies and report it."
        )


def _local_write_error(exc: OSError) -> bool:
    """True for an error writing the local file (not a network problem)."""
    import errno

    import requests

    if isinstance(exc, requests.RequestException):
        return False
    return isinstance(exc, (PermissionError, IsADirectoryError, NotADirectoryError)) or exc.errno in (
        errno.ENOSPC, errno.EDQUOT, errno.EROFS,
    )


def _fetch_download(src: Source, target: Path, base_url: str | None, bar: bool) -> None:
    url = src.url(base_url)
    if src.member is None:
        with atomic_path(target) as tmp:
            _download(url, tmp, src.sha256, src.relpath, bar)
            _publish(tmp)
        return
    # Archive: download into a private temp folder next to the target, extract the member.
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{src.key}-", dir=target.parent) as tmpdir:
        archive = Path(tmpdir) / posixpath.basename(src.path)
        _download(url, archive, src.sha256, f"{src.relpath} (archive {src.path})", bar)
        extract_member(archive, src.member, target, sha256=src.member_sha256)


def _fetch_mirror(src: Source, mirror: Path, target: Path) -> None:
    origin = mirror / src.mirror_relpath
    if not origin.is_file():
        raise FileNotFoundError(
            f"{origin} not found: the mirror {mirror} must hold {src.mirror_relpath} "
            "(layout like ../shared/data); drop --mirror / EVENTCNN_DATA_MIRROR to download instead"
        )
    with atomic_path(target) as tmp:
        shutil.copyfile(origin, tmp)
        _check_copy(tmp, origin)
        _publish(tmp)


def _check_copy(tmp: Path, origin: Path) -> None:
    """Format-check the copy of ``origin`` (errors name the mirror file, not the temp file)."""
    checker = _CHECKERS[origin.suffix.lower()]
    try:
        checker(tmp)
    except (DataFormatError, UnsafeArchiveError) as exc:
        raise type(exc)(str(exc).replace(str(tmp), str(origin))) from None


def origin_path(target: str | os.PathLike[str]) -> Path:
    """Sidecar ``<file>.origin.json`` recording where a fetched file came from.

    Example::

        >>> origin_path("cache/opal/events_list.csv").name
        'events_list.csv.origin.json'
    """
    target = Path(target)
    return target.with_name(target.name + ".origin.json")


def _record_origin(target: Path, origin: str, check: str) -> None:
    """Write the sidecar of ``target``: its origin, sha256 and the check it passed."""
    record = {"origin": origin, "sha256": sha256sum(target), "check": check}
    with atomic_path(origin_path(target)) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        _publish(tmp)


def cached_origin(target: str | os.PathLike[str]) -> str | None:
    """Where ``target`` came from when its sidecar matches it (it passed its checks), else None.

    A file copied from a mirror is format-checked, not hash-checked (mirrors may
    hold subsets); its sidecar says so, and :func:`fetch` then uses it offline
    whatever mirror it came from, as long as the file is unchanged since.

    Example::

        >>> cached_origin(cache_dir() / "opal" / "events_list.csv")  # doctest: +SKIP
        'mirror /work/shared/data/opal/events_list.csv (format checked)'
    """
    target = Path(target)
    side = origin_path(target)
    if not (target.is_file() and side.is_file()):
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
        origin, digest, check = str(record["origin"]), str(record["sha256"]), str(record["check"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable sidecar: treat the file as unknown
    if digest != sha256sum(target):
        return None
    return f"{origin} ({check})"


def _is_present(src: Source, target: Path, mirror: Path | None) -> bool:
    """True when ``target`` is the published file, or (mirror mode) the mirror's copy."""
    if not target.is_file():
        return False
    digest = sha256sum(target)
    if digest == src.final_sha256:
        return True
    if mirror is not None:
        origin = mirror / src.mirror_relpath
        return (
            origin.is_file()
            and origin.stat().st_size == target.stat().st_size
            and sha256sum(origin) == digest
        )
    return False


def fetch(
    name: str,
    dest: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    *,
    quiet: bool = False,
    base_url: str | None = None,
    sources: Sequence[Source] | None = None,
) -> dict[str, Path]:
    """Fetch the public data set ``name`` (``"cms"``, ``"opal"``, ``"all"`` = both, or ``"nano"``).

    ``"nano"`` fetches the 2016 NanoAOD files in full (see :func:`eventcnn.events.opendata.fetch_nano`
    for ``max_events`` and key selection).

    Files land at ``<dest>/<dataset>/<file>`` (``dest`` defaults to
    :func:`cache_dir`) and are returned by key: ``ttjets``, ``wjets`` (cms),
    ``zip``, ``labels`` (opal). A file already there with the published sha256
    (or, in mirror mode, identical to the mirror's file) is not fetched again.
    A file copied from a mirror gets a sidecar ``<file>.origin.json`` (origin,
    sha256, check passed); without a mirror, a cached copy whose sidecar still matches
    is used as it is, whatever mirror it came from, so a classroom that fetched
    once from a mirror works offline afterwards (the message names the origin).

    Parameters
    ----------
    name : ``"cms"``, ``"opal"`` or ``"all"``.
    dest : destination folder; default ``EVENTCNN_CACHE`` or the user cache dir.
    mirror : local folder laid out like ``../shared/data`` to copy from instead of
        downloading (default ``EVENTCNN_DATA_MIRROR``). Mirror files may be
        subsets: their format is checked, not their hash.
    quiet : print nothing; otherwise say what happens (stderr) and show download
        bars when interactive (``progress=`` is the deprecated old name).
    base_url : download from ``<base_url>/<repo>/<commit>/<path>`` instead of raw
        GitHub (default ``EVENTCNN_DATA_BASE_URL``).
    sources : registry to use instead of :data:`REGISTRY` (tests, private mirrors).

    Raises
    ------
    DataIntegrityError
        A download or archive member has the wrong sha256 (nothing is saved).
    DataFormatError
        A mirror file has the wrong format.
    DownloadError
        Network / HTTP failure or truncated transfer (nothing is saved).

    Example::

        >>> paths = fetch("cms", mirror="../shared/data", quiet=True)  # doctest: +SKIP
        >>> sorted(paths)  # doctest: +SKIP
        ['ttjets', 'wjets']
    """
    if name == "nano":  # the 2016 NanoAOD files: eventcnn.events.opendata (full files are GBs, not in "all")
        from eventcnn.events.opendata import fetch_nano

        return fetch_nano("all", dest=dest, mirror=mirror, quiet=quiet, base_url=base_url)
    chosen = _select(name, REGISTRY if sources is None else sources)
    root = (Path(dest).expanduser() if dest is not None else cache_dir()).absolute()
    mirror_dir = _mirror_from_env(mirror)
    if mirror_dir is not None and not mirror_dir.is_dir():
        raise FileNotFoundError(
            f"mirror folder {mirror_dir} not found (from --mirror or EVENTCNN_DATA_MIRROR)"
        )
    base_url = base_url or os.environ.get("EVENTCNN_DATA_BASE_URL") or None
    bar = _want_bar(quiet)

    say = sayer(quiet, stderr=True)

    out: dict[str, Path] = {}
    for src in chosen:
        target = root / src.relpath
        if _is_present(src, target, mirror_dir):
            origin = cached_origin(target)
            say(f"{src.relpath}: already present at {target}" + (f", from {origin}" if origin else ""))
            out[src.key] = target
            continue
        origin = cached_origin(target) if mirror_dir is None else None
        if origin is not None:  # an earlier mirror copy that passed its checks: works offline
            say(f"{src.relpath}: using the cached copy at {target}, from {origin}")
            out[src.key] = target
            continue
        if target.is_file():  # never replaced without a word
            ref = "the mirror's copy" if mirror_dir is not None else "the published sha256"
            say(f"{src.relpath}: {target} differs from {ref}; replacing it")
        if mirror_dir is not None:
            say(f"{src.relpath}: copying from mirror {mirror_dir}")
            _fetch_mirror(src, mirror_dir, target)
            _record_origin(target, f"mirror {mirror_dir / src.mirror_relpath}",
                           "format checked")
        else:
            say(f"{src.relpath}: downloading {src.url(base_url)}")
            _fetch_download(src, target, base_url, bar)  # the published sha256 says it all
        out[src.key] = target
    return out


# --------------------------------------------------------------------------- listing


def format_registry(
    sources: Iterable[Source] | None = None, dest: str | os.PathLike[str] | None = None
) -> str:
    """Human-readable registry: one block per file with source, sha256, licence, status.

    Example::

        print(format_registry())
    """
    root = Path(dest).expanduser() if dest is not None else cache_dir()
    blocks = []
    for src in REGISTRY if sources is None else sources:
        target = root / src.relpath
        lines = [
            f"{src.relpath}  (key {src.key!r}): {src.description}",
            f"  source:   {src.url()}",
        ]
        if src.member:
            lines.append(f"  member:   {src.member} of that gzipped tar")
            lines.append(f"  sha256:   {src.member_sha256} (archive {src.sha256})")
        else:
            lines.append(f"  sha256:   {src.sha256}")
        lines.append(f"  licence:  {src.licence}")
        lines.append(f"  local:    {target} ({_local_status(src, target)})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _local_status(src: Source, target: Path) -> str:
    """'not fetched', 'present, sha256 verified' or a loud note that the local copy differs."""
    if not target.is_file():
        return "not fetched"
    if sha256sum(target) == src.final_sha256:
        return "present, sha256 verified"
    origin = cached_origin(target)
    if origin is not None:
        return f"present, from {origin}"
    return ("present, but its sha256 differs from the registry: a mirror subset or a damaged copy; "
            "'eventcnn data fetch' without --mirror replaces it")
