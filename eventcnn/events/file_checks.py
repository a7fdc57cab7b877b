"""Checks of the files eventcnn fetches: safe extraction from archives, and the format of each kind of file.

A mirror copy cannot be checked against the published sha256 (a mirror may hold a
subset), so its format is checked instead (:func:`check_format`: JSON events, a zip
of PNG displays, a label list, a NanoAOD file); an archive member is extracted only
after every member of the archive was checked to stay inside it
(:func:`extract_member`).

Example::

    check_format("../shared/data/opal/events_list.csv")
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from eventcnn._io import atomic_path, sha256sum
from eventcnn.errors import UserError
from eventcnn.events.download import DataFormatError, DataIntegrityError, UnsafeArchiveError
from eventcnn.events.opendata import check_root
from eventcnn.names import OPAL_CLASSES

__all__ = ["CHECKERS", "check_format", "extract_member"]

OPAL_LABELS = frozenset(OPAL_CLASSES)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
        with src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        got = sha256sum(tmp)
        if sha256 is not None and got != sha256:
            raise DataIntegrityError(
                f"sha256 mismatch for member {member!r} of {archive.name}: expected "
                f"{sha256}, got {got}. Nothing was saved: the archive is corrupted or the "
                "source changed; fetch again, and report it if it persists."
            )


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


def _check_root(path: Path) -> None:
    check_root(path)


CHECKERS: dict[str, Callable[[Path], None]] = {
    ".json": _check_json,
    ".zip": _check_zip,
    ".csv": _check_labels,
    ".root": _check_root,
}


def check_format(path: str | os.PathLike[str]) -> None:
    """Check a data file by its suffix; raise :class:`DataFormatError` if it is wrong.

    ``.json``: parses, top-level key ``"Event"`` with at least one event.
    ``.zip``: a valid zip with safe member names and PNG members.
    ``.csv``: ``name;label`` rows, labels in q/e/m/t.
    ``.root``: a NanoAOD ``Events`` tree with the branches eventcnn reads.

    Example::

        check_format("../shared/data/opal/events_list.csv")
    """
    path = Path(path)
    checker = CHECKERS.get(path.suffix.lower())
    if checker is None:
        raise UserError(f"{path}: no format check for files ending in {path.suffix!r}")
    checker(path)
