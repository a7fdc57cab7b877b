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
from eventcnn.events.convert import convert  # noqa: E402
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
    paths = fetch_nano("tt", out=tmp_path / "d", base_url=server, sources=[good], quiet=True)
    assert paths["tt"].read_bytes() == origin.read_bytes()
    assert len(read_events(paths["tt"])) == 60
    # present: not fetched again (the server is not needed)
    assert fetch_nano("tt", out=tmp_path / "d", base_url="http://127.0.0.1:9", sources=[good],
                      quiet=True) == paths  # fmt: skip


@pytest.mark.parametrize("field", ["size", "adler32"])
def test_wrong_size_or_checksum_is_an_error_and_saves_nothing(server: str, mirror: Path, tmp_path: Path,
                                                              field: str) -> None:
    src = NANO_REGISTRY[0]
    bad = local(src, **({"size": 123} if field == "size" else {"adler32": "00000001"}))
    with pytest.raises(DataIntegrityError, match=f"{field} mismatch for nano/{src.filename}"):
        fetch_nano("tt", out=tmp_path / "d", base_url=server, sources=[bad], quiet=True)
    assert not list((tmp_path / "d").rglob("*.root")) and not list((tmp_path / "d").rglob("*.tmp"))


def test_unverified_file_is_fetched_with_a_loud_warning(server: str, tmp_path: Path, capsys) -> None:
    src = local(NANO_REGISTRY[1])
    assert src.adler32 is None
    with pytest.warns(UnverifiedWarning, match="UNVERIFIED"):
        paths = fetch_nano("wjets", out=tmp_path / "d", base_url=server, sources=[src], quiet=True)
    err = capsys.readouterr().err
    assert "WARNING: UNVERIFIED" in err and adler32sum(paths["wjets"]) in err  # even when quiet


def test_not_a_root_file_from_the_server_is_a_format_error(server: str, mirror: Path, tmp_path: Path) -> None:
    (mirror / "nano" / "junk.root").write_text("<html>not found</html>")
    src = replace(NANO_REGISTRY[2], filename="junk.root", path="/nano/junk.root")
    with pytest.raises(DataFormatError, match="not a (readable )?ROOT file"):
        fetch_nano("dy", out=tmp_path / "d", base_url=server, sources=[src], quiet=True)
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
                 "--out", str(tmp_path / "d"), "-q"]) == 0  # fmt: skip
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
    fetch_nano("tt", out=tmp_path / "d", base_url=server, sources=[good], quiet=quiet)
    assert asked == [quiet]


# --------------------------------------------------------------------------- whole records: file index, --files

from eventcnn.errors import UserError  # noqa: E402
from eventcnn.events.opendata import NANO_RECORDS, https_url, parse_file_index  # noqa: E402

EOS = "root://eospublic.cern.ch//eos/opendata/cms/mc/RunIISummer20UL16NanoAODv9/X/NANOAODSIM/v1"


def test_parse_file_index_in_the_portal_formats() -> None:
    txt = f"{EOS}/1/a.root\n\n{EOS}/1/b.root\n{EOS}/1/a.root\n"
    assert [e.filename for e in parse_file_index(txt)] == ["a.root", "b.root"]  # order kept, no duplicate
    assert parse_file_index(txt)[0].adler32 is None  # TXT indexes carry no checksums
    listing = [{"uri": f"{EOS}/1/a.root", "size": 123, "checksum": "adler32:0A1B2C3D"},
               {"uri": f"{EOS}/1/readme.txt", "size": 5, "checksum": "adler32:00000001"}]
    (entry,) = parse_file_index(json.dumps(listing))
    assert (entry.size, entry.adler32, entry.uri) == (123, "0a1b2c3d", f"{EOS}/1/a.root")
    api = {"metadata": {"recid": 1, "_file_indices": [{"key": "x_file_index.json", "files": listing},
                                                      {"files": [{"uri": f"{EOS}/2/c.root", "size": "7"}]}]}}
    assert [(e.filename, e.size) for e in parse_file_index(json.dumps(api))] == [("a.root", 123), ("c.root", 7)]
    page = {"index_files": {"files": [{"files": listing}]}}
    assert parse_file_index(json.dumps(page))[0].adler32 == "0a1b2c3d"
    assert https_url(f"{EOS}/1/a.root", "http://h:1/") == "http://h:1/eos/opendata/cms/mc/" \
        "RunIISummer20UL16NanoAODv9/X/NANOAODSIM/v1/1/a.root"
    assert https_url("https://h/eos/a.root", "http://other") == "https://h/eos/a.root"
    with pytest.raises(UserError, match="not an EOS open data path"):
        https_url("root://host//store/a.root")


@pytest.mark.parametrize(("text", "message"), [
    ("[{\"uri\": 1}", r"idx: not valid JSON"),
    ("[{\"size\": 3}]", r"idx: entry 1 has no 'uri'"),
    (json.dumps([{"uri": "root://h//eos/a.root", "checksum": "adler32:xyz"}]), r"idx: entry 1 has a malformed adler32"),
    (json.dumps([{"uri": "root://h//eos/a.root", "size": "big"}]), r"idx: entry 1 has a malformed size"),
    ("<html>Not found</html>", r"idx: expected one root:// URI a line, found '<html>"),
    ("root://h//eos/readme.txt\n", r"idx: the index lists no \.root files"),
    (json.dumps({"hits": []}), r"idx: no list of files found"),
])
def test_bad_file_index_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        parse_file_index(text, "idx")


class Portal:
    """A fake opendata.cern.ch + eospublic on 127.0.0.1: index files, the record API and the .root files."""

    def __init__(self, root: Path, nano_file: Path) -> None:
        self.root, self.nano_file, self.requests = root, nano_file, []

    def add_file(self, rel: str) -> tuple[str, int, str]:
        """A NanoAOD file at /eos/.../<rel>; returns its root:// URI, size and adler32."""
        path = self.root / "eos" / "opendata" / "cms" / "mc" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.nano_file.read_bytes())
        return f"root://eospublic.cern.ch//eos/opendata/cms/mc/{rel}", path.stat().st_size, adler32sum(path)

    def add(self, url_path: str, text: str) -> None:
        path = self.root / url_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def portal(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Portal, str]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(_download, "DOWNLOAD_TIMEOUT", 5.0)
    site = Portal(tmp_path / "portal", mirror / "nano" / NANO_REGISTRY[0].filename)
    site.root.mkdir()

    class Logged(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            site.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Logged, directory=str(site.root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("EVENTCNN_PORTAL_URL", url)
    monkeypatch.setenv("EVENTCNN_NANO_BASE_URL", url)
    try:
        yield site, url
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _tt_portal(site: Portal, bad_adler: bool = False) -> list[str]:
    """The tt record: group 1 has a JSON index (2 files, checksums), groups 2-5 only TXT (1 file each)."""
    rec = NANO_RECORDS["tt"]
    names = []
    listing = []
    for k in range(2):
        uri, size, adler = site.add_file(f"tt/120000/F{k}.root")
        listing.append({"uri": uri, "size": size, "checksum": f"adler32:{'00000001' if bad_adler else adler}"})
        names.append(f"F{k}.root")
    site.add(f"/record/67993/file_index/{rec.index_files[0].removesuffix('.txt')}.json", json.dumps(listing))
    for g, index in enumerate(rec.index_files[1:], start=2):
        uri, _, _ = site.add_file(f"tt/g{g}/G{g}.root")
        site.add(f"/record/67993/file_index/{index}", uri + "\n")
        names.append(f"G{g}.root")
    return names


def test_fetch_first_files_of_a_record_verified_from_the_json_index(portal, tmp_path: Path, capsys) -> None:
    site, _ = portal
    names = _tt_portal(site)
    with pytest.warns(UnverifiedWarning, match=r"UNVERIFIED: nano/tt/G2\.root"):  # 3rd file: TXT index
        paths = fetch_nano("tt", out=tmp_path / "d", files=3)
    assert list(paths) == ["tt/1", "tt/2", "tt/3"]
    assert [p.name for p in paths.values()] == names[:3]
    assert all(p.parent == tmp_path / "d" / "nano" / "tt" and len(read_events(p)) == 60 for p in paths.values())
    err = capsys.readouterr().err
    assert "the file index of tt lists 6 files; record 67993 should hold 138" in err  # said loudly
    assert err.count("UNVERIFIED") == 1  # files 1 and 2 were checked by size and adler32
    cached = tmp_path / "d" / "nano" / "tt" / "file_index.json"
    assert [e.filename for e in parse_file_index(cached.read_text())] == names
    assert json.loads((cached.parent / "file_index.json.origin.json").read_text())["origin"].endswith("/record/67993")
    n_requests = len(site.requests)
    again = fetch_nano(["nano", "tt"], out=tmp_path / "d", files=2, quiet=True)
    assert again == {k: paths[k] for k in ("tt/1", "tt/2")} and len(site.requests) == n_requests  # all cached
    assert not list((tmp_path / "d").rglob("*.tmp")) and not list((tmp_path / "d").rglob(".*.root.*"))


def test_record_file_with_a_wrong_checksum_is_not_kept(portal, tmp_path: Path) -> None:
    site, _ = portal
    _tt_portal(site, bad_adler=True)
    with pytest.raises(DataIntegrityError, match=r"adler32 mismatch for nano/tt/F0\.root .*expected 00000001"):
        fetch_nano("tt", out=tmp_path / "d", files=1, quiet=True)
    assert not (tmp_path / "d" / "nano" / "tt" / "F0.root").exists()
    with pytest.raises(UserError, match=r"--files 7: the file index of tt \(record 67993\) lists only 6 files"):
        fetch_nano("tt", out=tmp_path / "d", files=7, quiet=True)


def test_record_without_index_names_is_read_from_the_record_api(portal, tmp_path: Path) -> None:
    site, _ = portal
    uri, size, adler = site.add_file("dy/40000/D0.root")
    site.add("/api/records/35671", json.dumps({"id": 35671, "metadata": {"_file_indices": [
        {"key": "dy_file_index.json", "files": [{"uri": uri, "size": size, "checksum": f"adler32:{adler}"}]}]}}))
    paths = fetch_nano("dy", out=tmp_path / "d", files=1, quiet=True)
    assert paths["dy/1"].read_bytes() == (site.root / "eos/opendata/cms/mc/dy/40000/D0.root").read_bytes()
    assert "/api/records/35671" in site.requests


def test_record_files_from_a_mirror(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "m" / "nano" / "wjets"
    folder.mkdir(parents=True)
    (folder / "W0.root").write_bytes((mirror / "nano" / NANO_REGISTRY[1].filename).read_bytes())
    (folder / "file_index.txt").write_text(f"{EOS}/270000/W0.root\n{EOS}/270000/W1.root\n")
    monkeypatch.setenv("EVENTCNN_DATA_MIRROR", str(tmp_path / "m"))
    paths = fetch_nano("wjets", files=1, quiet=True)
    assert paths["wjets/1"] == tmp_path / "cache" / "nano" / "wjets" / "W0.root"
    side = json.loads((paths["wjets/1"].parent / "W0.root.origin.json").read_text())
    assert side["origin"] == f"mirror {folder / 'W0.root'}" and side["check"] == "format checked"
    with pytest.raises(FileNotFoundError, match=r"W1\.root not found: the mirror must hold nano/wjets/W1\.root"):
        fetch_nano("wjets", files=2, quiet=True)
    with pytest.raises(UserError, match="no whole record for singlemuon"):
        fetch_nano("singlemuon", files=1, quiet=True)


def test_cli_fetch_nano_sample_files(portal, tmp_path: Path, capsys) -> None:
    site, _ = portal
    _tt_portal(site)
    assert main(["data", "fetch", "nano", "tt", "--files", "2", "--out", str(tmp_path / "d"), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"tt/1: {tmp_path / 'd' / 'nano' / 'tt' / 'F0.root'}" in out and "tt/2: " in out
    assert main(["data", "fetch", "opal", "--files", "2"]) == 1
    assert "--files applies to NanoAOD files only" in capsys.readouterr().err
    assert main(["data", "list", "--out", str(tmp_path / "d")]) == 0
    listing = capsys.readouterr().out
    for rec in NANO_RECORDS.values():
        assert rec.dataset in listing and f"record/{rec.record}" in listing
    assert "nano/tt/  (sample 'tt'" in listing and "file index cached" in listing


def test_cms_and_nano_together_keep_both_wjets(mirror: Path, tmp_path: Path) -> None:
    cms = tmp_path / "m" / "cms"
    cms.mkdir(parents=True)
    (cms / "Wjets_json.json").write_text('{"Event": {"1": {"met": 1.0}}}')
    (cms / "TTjets_json.json").write_text('{"Event": {"2": {"met": 2.0}}}')
    nano = tmp_path / "m" / "nano"
    nano.mkdir()
    for src in NANO_REGISTRY[:3]:
        (nano / src.filename).write_bytes((mirror / "nano" / src.filename).read_bytes())
    paths = fetch_nano(["cms", "three-class"], out=tmp_path / "d", mirror=tmp_path / "m", quiet=True)
    assert paths["wjets"].name == "Wjets_json.json" and paths["nano/wjets"].name == NANO_REGISTRY[1].filename
    assert sorted(paths) == ["dy", "nano/wjets", "tt", "ttjets", "wjets"]
