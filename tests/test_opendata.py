"""Tests of the NanoAOD part of the registry (eventcnn.events.sources / opendata): offline, local HTTP server and mirror."""

from __future__ import annotations

import functools
import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("uproot", reason="NanoAOD needs uproot and awkward (pip install eventcnn[nano])")

from eventcnn.cli import main  # noqa: E402
from eventcnn.events import download as _download  # noqa: E402
from eventcnn.events import read_events  # noqa: E402
from eventcnn.events.nanoaod import convert  # noqa: E402
from eventcnn.events.sources import (  # noqa: E402
    REGISTRY,
    DataFormatError,
    DataIntegrityError,
    Source,
    UnverifiedWarning,
    adler32sum,
    example_files,
    format_registry,
)
from eventcnn.events.sources import fetch as fetch_nano  # noqa: E402  (one fetch for every data set)

NANO_REGISTRY = tuple(s for s in REGISTRY if s.dataset == "nano")

KEYS = {"tt": "ttjets", "wjets": "wjets", "dy": "dy"}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EVENTCNN_DATA_MIRROR", raising=False)
    monkeypatch.delenv("EVENTCNN_NANO_BASE_URL", raising=False)
    monkeypatch.setenv("EVENTCNN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror laid out like ``<mirror>/nano/<file>``, from the packaged example events."""
    root = tmp_path_factory.mktemp("mirror")
    ex = example_files()
    for src in NANO_REGISTRY:
        if src.key in KEYS:
            convert(ex[KEYS[src.key]], root / "nano" / src.filename)
    return root


@pytest.fixture
def server(mirror: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Serves the mirror folder over HTTP on 127.0.0.1 (files at /nano/<file>)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(_download, "DOWNLOAD_TIMEOUT", 5.0)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(mirror)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def local(src: Source, **kw) -> Source:
    """The registry entry, served from the test server at /nano/<file>."""
    return replace(src, path=f"/nano/{src.filename}", **kw)


def test_registry_has_the_three_classes_and_collision_data() -> None:
    keys = {s.key: s for s in NANO_REGISTRY}
    assert set(keys) == {"tt", "wjets", "dy", "singlemuon"}
    assert {keys[k].label for k in ("tt", "wjets", "dy")} == {"ttjets", "wjets", "dy"}
    for s in NANO_REGISTRY:
        assert s.xrootd_url().startswith("root://eospublic.cern.ch//eos/opendata/cms/")
        assert s.https_url().startswith("https://eospublic.cern.ch/eos/opendata/cms/")
        assert s.path.endswith(".root") and "NanoAODv9" in s.path
        # nothing invented: a checksum is either a real 8-hex adler32 or None (unverified)
        assert s.adler32 is None or len(s.adler32) == 8
    assert keys["tt"].record == 67993 and keys["singlemuon"].record == 30563
    text = format_registry()
    assert "UNVERIFIED" in text and "https://opendata.cern.ch/record/67993" in text


def test_adler32sum_matches_zlib(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 5000
    (tmp_path / "b").write_bytes(blob)
    assert adler32sum(tmp_path / "b") == f"{zlib.adler32(blob):08x}"


def test_download_verified_by_size_and_adler32(server: str, mirror: Path, tmp_path: Path) -> None:
    src = NANO_REGISTRY[0]
    origin = mirror / "nano" / src.filename
    good = local(src, size=origin.stat().st_size, adler32=adler32sum(origin))
    paths = fetch_nano("tt", dest=tmp_path / "d", base_url=server, sources=[good], quiet=True)
    assert paths["tt"].read_bytes() == origin.read_bytes()
    assert len(read_events(paths["tt"])) == 60
    # present: not fetched again (the server is not needed)
    assert fetch_nano("tt", dest=tmp_path / "d", base_url="http://127.0.0.1:9", sources=[good],
                      quiet=True) == paths  # fmt: skip


@pytest.mark.parametrize("field", ["size", "adler32"])
def test_wrong_size_or_checksum_is_an_error_and_saves_nothing(server: str, mirror: Path, tmp_path: Path,
                                                              field: str) -> None:
    src = NANO_REGISTRY[0]
    bad = local(src, **({"size": 123} if field == "size" else {"adler32": "00000001"}))
    with pytest.raises(DataIntegrityError, match=f"{field} mismatch for nano/{src.filename}"):
        fetch_nano("tt", dest=tmp_path / "d", base_url=server, sources=[bad], quiet=True)
    assert not list((tmp_path / "d").rglob("*.root")) and not list((tmp_path / "d").rglob("*.tmp"))


def test_unverified_file_is_fetched_with_a_loud_warning(server: str, tmp_path: Path, capsys) -> None:
    src = local(NANO_REGISTRY[1])
    assert src.adler32 is None
    with pytest.warns(UnverifiedWarning, match="UNVERIFIED"):
        paths = fetch_nano("wjets", dest=tmp_path / "d", base_url=server, sources=[src], quiet=True)
    err = capsys.readouterr().err
    assert "WARNING: UNVERIFIED" in err and adler32sum(paths["wjets"]) in err  # even when quiet


def test_not_a_root_file_from_the_server_is_a_format_error(server: str, mirror: Path, tmp_path: Path) -> None:
    (mirror / "nano" / "junk.root").write_text("<html>not found</html>")
    src = replace(NANO_REGISTRY[2], filename="junk.root", path="/nano/junk.root")
    with pytest.raises(DataFormatError, match="not a readable ROOT file"):
        fetch_nano("dy", dest=tmp_path / "d", base_url=server, sources=[src], quiet=True)
    assert not (tmp_path / "d" / "nano" / "junk.root").exists()


def test_mirror_and_max_events(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTCNN_DATA_MIRROR", str(mirror))
    full = fetch_nano("three-class", quiet=True)
    assert sorted(full) == ["dy", "tt", "wjets"]
    assert all(p.parent == tmp_path / "cache" / "nano" for p in full.values())
    part = fetch_nano("three-class", max_events=25, quiet=True)
    assert all(len(read_events(p)) == 25 and ".first25." in p.name for p in part.values())
    with pytest.raises(FileNotFoundError, match="singlemuon|SingleMuon"):
        fetch_nano("singlemuon", quiet=True)
    with pytest.raises(ValueError, match="unknown data set 'zz'"):
        fetch_nano("zz", quiet=True)


def test_cli_fetch_and_list(mirror: Path, tmp_path: Path, capsys) -> None:
    assert main(["data", "fetch", "three-class", "--max-events", "10", "--mirror", str(mirror),
                 "--dest", str(tmp_path / "d"), "-q"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.count(".first10.root") == 3 and "tt: " in out
    assert main(["data", "fetch", "cms", "--max-events", "10"]) == 1
    assert "NanoAOD files only" in capsys.readouterr().err
    assert main(["data", "list"]) == 0
    assert "record/30563" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_real_nano_three_classes_from_mirror(mirror: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVENTCNN_DATA_MIRROR", str(mirror))
    out = tmp_path / "demo"
    assert main(["demo", "--tiny", "--real", "nano", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == ["dy", "ttjets", "wjets"]
    assert summary["config"]["nano"] is True and all(v >= 10 for v in summary["events_selected"].values())
    assert "2016 NanoAOD" in (out / "report.md").read_text()


@pytest.mark.slow
def test_demo_runs_on_generated_nanoaod(tmp_path: Path, monkeypatch) -> None:
    """generate --format nano -> a mirror -> demo --tiny --real nano: the whole path, no download."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    mirror = tmp_path / "mirror"
    for k, src in enumerate(s for s in NANO_REGISTRY if s.key in KEYS):
        out = mirror / "nano" / src.filename
        assert main(["generate", src.key, "--events", "100", "--seed", str(10 + k), "--fast",
                     "--format", "nano", "--out", str(out), "--quiet"]) == 0  # fmt: skip
        assert len(read_events(out)) == 100
    monkeypatch.setenv("EVENTCNN_DATA_MIRROR", str(mirror))
    out = tmp_path / "demo"
    assert main(["demo", "--tiny", "--real", "nano", "--nano-events", "100", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == ["dy", "ttjets", "wjets"] and summary["config"]["nano_events"] == 100


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_decides_the_download_bar(server: str, mirror: Path, tmp_path: Path, monkeypatch, quiet) -> None:
    from eventcnn.events import download as _download

    monkeypatch.delenv("EVENTCNN_QUIET", raising=False)
    asked = []
    monkeypatch.setattr(_download, "want_bar", lambda q: asked.append(q) or False)
    src = NANO_REGISTRY[0]
    origin = mirror / "nano" / src.filename
    good = local(src, size=origin.stat().st_size, adler32=adler32sum(origin))
    fetch_nano("tt", dest=tmp_path / "d", base_url=server, sources=[good], quiet=quiet)
    assert asked == [quiet]
