"""Opening the ``Events`` TTree or RNTuple of a ROOT file, with one clear error for everything it may not be.

Not a ROOT file (said what it looks like: JSON, gzip, zip, PNG, text, empty), a
truncated or damaged one, a URL that cannot be opened, a file without ``Events``:
each is an :class:`~eventcnn.events.EventFormatError` (or ``DownloadError``) that
names the file.

Example::

    file, tree = open_tree("tt.root")          # doctest: +SKIP
    file.close()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventcnn.events.cms_json import EventFormatError
from eventcnn.events.download import DownloadError
from eventcnn.events.nanoaod_layout import uproot_module

__all__ = ["open_tree", "truncated"]


#: the first bytes of every ROOT file
_ROOT_MAGIC = b"root"


def _not_root_reason(path: str) -> str | None:
    """Why a local file is not a ROOT file (its first bytes), or None when it starts like one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except IsADirectoryError:
        return "a folder, not an event file: give .json, .json.gz or .root files"
    if head.startswith(_ROOT_MAGIC):
        return None
    if not head:
        return "not a ROOT file (the file is empty: an interrupted download or copy?)"
    text = head.lstrip()
    looks = ("it looks like JSON text: name it .json" if text[:1] in (b"{", b"[") else
             "it looks like a gzip file (.json.gz?)" if head[:2] == b"\x1f\x8b" else
             "it looks like a zip archive" if head[:2] == b"PK" else
             "it looks like a PNG image" if head[:4] == b"\x89PNG" else
             "it looks like text" if all(32 <= c < 127 or c in (9, 10, 13) for c in head) else
             "its first bytes are not ROOT's signature 'root'")
    return f"not a ROOT file ({looks})"


def truncated(exc: BaseException) -> bool:
    """True for uproot's error when a file ends before the data it announces."""
    return isinstance(exc, OSError) and "received" in str(exc) and "expected" in str(exc)


def open_tree(path: str) -> tuple[Any, Any]:
    """``(file, Events tree or RNTuple)`` or a clear :class:`EventFormatError` naming the file."""
    uproot = uproot_module()
    is_url = "://" in path
    if not is_url:
        if not Path(path).exists():
            raise FileNotFoundError(f"event file not found: {path}")
        if reason := _not_root_reason(path):
            raise EventFormatError(f"{path}: {reason}")
    try:
        file = uproot.open(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # uproot raises ValueError, OSError, ... for non-ROOT input
        if is_url:

            raise DownloadError(
                f"could not open {path} ({type(exc).__name__}: {exc}). root:// URLs need a network and "
                "'pip install fsspec-xrootd'; or fetch a local copy (eventcnn data fetch) / use --mirror"
            ) from None
        if truncated(exc):
            raise EventFormatError(f"{path}: truncated or corrupt ROOT file (it ends before the data it "
                                   "announces: an incomplete download or copy?); fetch it again") from None
        raise EventFormatError(f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})") from None
    try:
        tree = file["Events"]
    except KeyError:
        keys = sorted({k.split(";")[0] for k in file.keys(recursive=False)})[:8]
        file.close()
        if not keys:
            raise EventFormatError(f"{path}: a ROOT file with no objects at all (empty); NanoAOD keeps "
                                   "events in an 'Events' tree") from None
        raise EventFormatError(f"{path}: no 'Events' tree (NanoAOD keeps events in 'Events'); found {keys}") from None
    except Exception as exc:  # a damaged directory or object
        file.close()
        what = "truncated or corrupt ROOT file" if truncated(exc) else "damaged ROOT file"
        raise EventFormatError(f"{path}: {what}: cannot read its 'Events' object "
                               f"({type(exc).__name__}: {exc})") from None
    if not hasattr(tree, "iterate") or not hasattr(tree, "keys"):
        file.close()
        raise EventFormatError(f"{path}: 'Events' is a {type(tree).__name__}, not a TTree or an RNTuple")
    return file, tree
