"""Bundles: a data file that its source publishes as many small files, fetched one by one.

The Manchester OPAL displays are published as 1,040 GIFs in
QuarkNet-HEP/opal-masterclass (``static/data/<file>.gif``), not as an archive.
eventcnn keeps them as one zip per set (``opal_manchester/z_displays.zip``, the
997 displays of the Z challenge; ``opal_manchester/examples.zip``, the 43
teaching examples), laid out as the development mirror holds them. A *bundle* is
such a zip: the file list with each file's published sha256 and size ships with
eventcnn (``opal_manchester_files.csv``), so that

- **downloading** fetches each file from its own URL (``<base>/<repo>/<commit>/<folder>/<file>``),
  checks its sha256 (pooch), keeps the checked files in ``<zip>.parts/`` (an
  interrupted fetch resumes there), and only when every file is in writes the
  zip (sorted, stored, fixed dates: the same files give the same zip) atomically,
  with a ``<zip>.origin.json`` saying where it came from;
- **a mirror's zip** is checked member by member: a safe name, a member the
  list knows, and its published sha256 (a mirror may hold a subset; a member
  the list does not know, or a changed one, is a :class:`DataFormatError`).

Example::

    from eventcnn.events.bundles import bundle_files
    files = bundle_files("z_displays.zip")        # [(name, sha256, bytes), ...] 997 entries
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from eventcnn._io import atomic_path
from eventcnn.events.download import DataFormatError, pooch_download, record_origin

__all__ = ["MANIFEST", "bundle_files", "check_bundle_zip", "fetch_bundle", "write_bundle_zip"]

#: the file lists of the bundles (bundle, file, sha256, bytes), shipped with eventcnn
MANIFEST = Path(__file__).resolve().parent / "opal_manchester_files.csv"

_DATE = (2020, 1, 1, 0, 0, 0)  # one date for every member: the same files give the same zip


@lru_cache(maxsize=8)
def bundle_files(bundle: str) -> tuple[tuple[str, str, int], ...]:
    """``(file, sha256, bytes)`` of every file of ``bundle`` (a zip name of the manifest).

    Example::

        >>> len(bundle_files("examples.zip"))
        43
    """
    rows = []
    with open(MANIFEST, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            if row["bundle"] == bundle:
                rows.append((row["file"], row["sha256"], int(row["bytes"])))
    if not rows:
        raise DataFormatError(f"{MANIFEST.name}: no files listed for bundle {bundle!r}")
    return tuple(rows)


def write_bundle_zip(files: dict[str, Path], target: str | os.PathLike[str]) -> Path:
    """Pack ``{member name: file}`` into the zip ``target`` (sorted, stored, fixed dates), atomically."""
    target = Path(target)
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name].read_bytes())
    return target


def fetch_bundle(bundle: str, url_of: Callable[[str], str], target: str | os.PathLike[str], *,
                 label: str, bar: bool = False, say: Callable[..., None] = lambda *a, **k: None) -> Path:
    """Download every file of ``bundle`` (``url_of(file)``), each checked by sha256, then zip them.

    Files already checked in ``<target>.parts/`` are not downloaded again; the
    folder is removed once the zip is written. A failed download raises
    (``DownloadError`` / ``DataIntegrityError``) and leaves the zip as it was.
    """
    from tqdm.auto import tqdm

    target = Path(target)
    parts = target.with_name(target.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    listed = bundle_files(bundle)
    todo = [(name, digest, size) for name, digest, size in listed
            if not _part_ok(parts / name, digest, size)]
    if len(todo) < len(listed):
        say(f"{label}: {len(listed) - len(todo)} of {len(listed)} files already downloaded in {parts}")
    for name, digest, _ in tqdm(todo, desc=label, unit="file", disable=not bar):
        pooch_download(url_of(name), parts / name, sha256=digest, label=f"{label}: {name}", bar=False)
    for name, _, _ in listed:
        files[name] = parts / name
    write_bundle_zip(files, target)
    record_origin(target, f"{len(listed)} files downloaded from {url_of('<file>')}",
                  "every file's published sha256 checked")
    shutil.rmtree(parts, ignore_errors=True)
    return target


def _part_ok(path: Path, sha256: str, size: int) -> bool:
    if not path.is_file() or path.stat().st_size != size:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def check_bundle_zip(path: str | os.PathLike[str], bundle: str) -> None:
    """Check a zip of ``bundle``: valid, safe names, every member listed and with its published sha256.

    A subset of the files is fine (development mirrors); an empty zip, an unknown
    or a changed member is a :class:`DataFormatError` naming the zip and the member.
    """
    path = Path(path)
    known = {name: (digest, size) for name, digest, size in bundle_files(bundle)}
    if not zipfile.is_zipfile(path):
        raise DataFormatError(f"{path}: not a zip archive")
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if not members:
                raise DataFormatError(f"{path}: the zip holds no files")
            for info in members:
                name = info.filename
                if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
                    raise DataFormatError(f"{path}: member {name!r} has an unsafe path")
                if name not in known:
                    raise DataFormatError(f"{path}: member {name!r} is not a file of {bundle} "
                                          f"(QuarkNet-HEP/opal-masterclass, {MANIFEST.name})")
                digest, size = known[name]
                if info.file_size != size:
                    raise DataFormatError(f"{path}: member {name!r} has {info.file_size} bytes, "
                                          f"the published file {size}")
                with zf.open(info) as fh:
                    got = hashlib.sha256(fh.read(size + 1)).hexdigest()
                if got != digest:
                    raise DataFormatError(f"{path}: member {name!r} differs from the published file "
                                          f"(sha256 {got}, published {digest})")
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{path}: damaged zip archive ({exc})") from exc
