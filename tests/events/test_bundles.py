"""Tests of eventcnn.events.bundles and the Manchester displays' source entries: offline.

Downloads go to a local HTTP server on 127.0.0.1 serving small files with their
real sha256 (a made-up bundle list); mirror tests use the real ../shared/data.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from eventcnn.events import bundles
from eventcnn.events import sources as data
from eventcnn.events.sources import (
    DataFormatError,
    DataIntegrityError,
    DownloadError,
    Source,
    fetch,
)
from tests.events import test_sources as _local_server
from tests.events.test_sources import COMMIT, REPO, Server

server = _local_server.server  # the local HTTP server fixture of test_sources

FILES = {"a1_1.gif": b"GIF89a" + b"\x01" * 30, "b2_2.gif": b"GIF89a" + b"\x02" * 40}


def sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


@pytest.fixture
def small_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Source:
    """A bundle 'small.zip' of two files, listed in a private manifest."""
    manifest = tmp_path / "files.csv"
    lines = ["# test bundle", "bundle,file,sha256,bytes"]
    lines += [f"small.zip,{n},{sha(b)},{len(b)}" for n, b in FILES.items()]
    manifest.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(bundles, "MANIFEST", manifest)
    bundles.bundle_files.cache_clear()
    yield Source(key="displays", dataset="opal_manchester", filename="small.zip", repo=REPO, commit=COMMIT,
                 path="static/data", bundle="small.zip")
    bundles.bundle_files.cache_clear()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EVENTCNN_DATA_MIRROR", raising=False)
    monkeypatch.delenv("EVENTCNN_DATA_BASE_URL", raising=False)


def test_registry_lists_the_manchester_files_with_licence_note() -> None:
    src = {s.key: s for s in data.REGISTRY if s.dataset == "opal_manchester"}
    assert set(src) == {"displays", "challenge", "examples", "examples_list"}
    for s in src.values():
        assert s.repo == "QuarkNet-HEP/opal-masterclass"
        assert s.commit == "ca665e18517e6701b092ce5a31d654b4941ee0a8"
        assert "no licence stated" in s.licence and "ask its authors before redistributing" in s.licence
    assert src["displays"].url() == ("https://raw.githubusercontent.com/QuarkNet-HEP/opal-masterclass/"
                                     "ca665e18517e6701b092ce5a31d654b4941ee0a8/static/data")
    assert src["challenge"].path == "data/Z-challenge.csv" and src["examples_list"].path == "scripts/examples.csv"
    assert len(bundles.bundle_files("z_displays.zip")) == 997
    assert len(bundles.bundle_files("examples.zip")) == 43


def test_registry_agrees_with_shared_data_readme(shared_data: Path) -> None:
    flat = " ".join((shared_data / "README.md").read_text().split())
    for s in data.REGISTRY:
        if s.dataset == "opal_manchester" and s.sha256:
            assert s.sha256 in flat and s.path in flat


def test_download_each_file_checked_then_zipped(server: Server, small_bundle: Source, tmp_path: Path) -> None:
    for name, blob in FILES.items():
        server.add(f"static/data/{name}", blob)
    out = fetch("manchester", out=tmp_path / "d", base_url=server.base_url, sources=[small_bundle], quiet=True)
    target = out["displays"]
    assert target == tmp_path / "d" / "opal_manchester" / "small.zip"
    with zipfile.ZipFile(target) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == FILES
    assert not target.with_name("small.zip.parts").exists()
    assert "sha256 checked" in data.cached_origin(target)
    n = len(server.requests)
    fetch("manchester", out=tmp_path / "d", base_url=server.base_url, sources=[small_bundle], quiet=True)
    assert len(server.requests) == n  # nothing downloaded twice
    again = tmp_path / "e"
    fetch("opal_manchester", out=again, base_url=server.base_url, sources=[small_bundle], quiet=True)
    assert (again / "opal_manchester" / "small.zip").read_bytes() == target.read_bytes()  # the same zip


def test_a_changed_file_at_the_source_saves_no_zip(server: Server, small_bundle: Source, tmp_path: Path) -> None:
    server.add("static/data/a1_1.gif", FILES["a1_1.gif"])
    server.add("static/data/b2_2.gif", b"GIF89a changed")
    with pytest.raises(DataIntegrityError, match="b2_2.gif"):
        fetch("manchester", out=tmp_path, base_url=server.base_url, sources=[small_bundle], quiet=True)
    assert not (tmp_path / "opal_manchester" / "small.zip").exists()
    # the good file is kept for the next try; the retry fetches only the missing one
    parts = tmp_path / "opal_manchester" / "small.zip.parts"
    assert (parts / "a1_1.gif").read_bytes() == FILES["a1_1.gif"]
    server.routes[f"/{REPO}/{COMMIT}/static/data/b2_2.gif"] = FILES["b2_2.gif"]
    server.requests.clear()
    fetch("manchester", out=tmp_path, base_url=server.base_url, sources=[small_bundle], quiet=True)
    assert server.requests == [f"/{REPO}/{COMMIT}/static/data/b2_2.gif"]


def test_a_missing_file_is_a_download_error_naming_it(server: Server, small_bundle: Source, tmp_path: Path) -> None:
    server.add("static/data/a1_1.gif", FILES["a1_1.gif"])
    with pytest.raises(DownloadError, match="b2_2.gif"):
        fetch("manchester", out=tmp_path, base_url=server.base_url, sources=[small_bundle], quiet=True)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return path


def test_mirror_zip_is_checked_member_by_member(small_bundle: Source, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "opal_manchester"
    mirror.mkdir(parents=True)
    _zip(mirror / "small.zip", {"a1_1.gif": FILES["a1_1.gif"]})  # a subset is fine
    out = fetch("manchester", out=tmp_path / "d", mirror=tmp_path / "mirror", sources=[small_bundle], quiet=True)
    assert out["displays"].is_file()
    _zip(mirror / "small.zip", {"a1_1.gif": b"GIF89a" + b"\x03" * 30})  # same size, other bytes
    with pytest.raises(DataFormatError, match=r"a1_1.gif.*differs from the published file"):
        fetch("manchester", out=tmp_path / "e", mirror=tmp_path / "mirror", sources=[small_bundle], quiet=True)
    _zip(mirror / "small.zip", {"a1_1.gif": b"GIF89a"})
    with pytest.raises(DataFormatError, match=r"a1_1.gif.*has 6 bytes, the published file 36"):
        fetch("manchester", out=tmp_path / "e", mirror=tmp_path / "mirror", sources=[small_bundle], quiet=True)
    _zip(mirror / "small.zip", {"c3_3.gif": b"GIF89a"})
    with pytest.raises(DataFormatError, match="c3_3.gif.*is not a file of small.zip"):
        fetch("manchester", out=tmp_path / "f", mirror=tmp_path / "mirror", sources=[small_bundle], quiet=True)
    assert not (tmp_path / "f" / "opal_manchester" / "small.zip").exists()


@pytest.mark.shared_data
def test_fetch_manchester_from_the_real_mirror(shared_data: Path, tmp_path: Path) -> None:
    out = fetch("manchester", out=tmp_path, mirror=shared_data, quiet=True)
    assert set(out) == {"displays", "challenge", "examples", "examples_list"}
    with zipfile.ZipFile(out["displays"]) as zf:
        assert len(zf.namelist()) == 997  # every member checked against its published sha256
    assert out["challenge"].read_text().startswith("file_name,event_id")


def test_csv_mirror_with_wrong_columns_is_a_clear_error(tmp_path: Path) -> None:
    src = next(s for s in data.REGISTRY if s.key == "challenge")
    mirror = tmp_path / "m" / "opal_manchester"
    mirror.mkdir(parents=True)
    (mirror / "z_challenge.csv").write_text("name;label\na;q\n")
    with pytest.raises(DataFormatError, match="line 1: expected the columns file_name,event_id"):
        fetch("manchester", out=tmp_path / "d", mirror=tmp_path / "m", sources=[src], quiet=True)
