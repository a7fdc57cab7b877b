"""Tests of eventcnn.events.sources (public data fetching) and ``eventcnn data``: offline, fast.

Downloads go to a local HTTP server on 127.0.0.1 serving files made in tmp_path,
with their real sha256; mirror tests use the real ../shared/data.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from eventcnn.cli import main
from eventcnn.events import download as _download
from eventcnn.events import sources as data
from eventcnn.events.sources import (
    DataFormatError,
    DataIntegrityError,
    DownloadError,
    Source,
    UnsafeArchiveError,
    extract_member,
    fetch,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # signature is what the format check reads
REPO, COMMIT = "owner/repo", "0123456789abcdef0123456789abcdef01234567"


def sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


# --------------------------------------------------------------------------- local server


class Server:
    """Serves ``routes[path] = bytes`` on 127.0.0.1; ``truncate`` paths stop half-way."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.truncate:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 5
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, body: bytes, truncate: bool = False) -> None:
        url_path = f"/{REPO}/{COMMIT}/{path}"
        self.routes[url_path] = body
        if truncate:
            self.truncate.add(url_path)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(_download, "DOWNLOAD_TIMEOUT", 5.0)
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Isolate from the caller's mirror / base URL and never touch the real cache."""
    monkeypatch.delenv("EVENTCNN_DATA_MIRROR", raising=False)
    monkeypatch.delenv("EVENTCNN_DATA_BASE_URL", raising=False)
    monkeypatch.setenv("EVENTCNN_CACHE", str(tmp_path / "default-cache"))


def plain_source(body: bytes, path: str = "dir/Wjets_json.json", digest: str | None = None):
    return Source(
        key="wjets",
        dataset="cms",
        filename="Wjets_json.json",
        repo=REPO,
        commit=COMMIT,
        path=path,
        sha256=digest or sha(body),
    )


def make_tar(members: dict[str, bytes], links: dict[str, tuple[str, bytes]] | None = None) -> bytes:
    """gzipped tar with regular ``members``; ``links[name] = (linkname, SYMTYPE|LNKTYPE)``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for name, (linkname, kind) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = linkname
            tar.addfile(info)
    return buf.getvalue()


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


EVENT_JSON = json.dumps({"Event": {"1": {"met": 10.0, "run": 1}}}).encode()


# --------------------------------------------------------------------------- registry


GITHUB = tuple(s for s in data.REGISTRY if s.on_github and s.dataset in ("cms", "opal"))  # the CMS JSON and OPAL files


def test_registry_matches_spec_and_builds_raw_github_urls() -> None:
    by_key = {s.key: s for s in GITHUB}
    assert {s.dataset for s in data.REGISTRY} == {"cms", "opal", "opal_manchester", "nano"}
    assert all(s.dataset == "nano" for s in data.REGISTRY if not s.on_github)
    assert set(by_key) == {"ttjets", "wjets", "zip", "labels"}
    assert by_key["ttjets"].relpath == "cms/TTjets_json.json"
    assert by_key["wjets"].relpath == "cms/Wjets_json.json"
    assert by_key["zip"].relpath == "opal/centered-masked-rotated1.zip"
    # the answer key is stored apart from the displays students use; a mirror keeps shared/data's layout
    assert by_key["labels"].relpath == "opal/answer_key/events_list.csv"
    assert by_key["labels"].mirror_relpath == "opal/events_list.csv"
    assert by_key["wjets"].url() == (
        "https://raw.githubusercontent.com/jzyee/cms_image_classification/"
        "073e4b5fd91af26daa9cc8b3cd5e379bae1ac7d7/json_files/Wjets_json.json"
    )
    assert by_key["ttjets"].member == "JsonToRoot/prueba.json"
    assert by_key["ttjets"].final_sha256 == by_key["ttjets"].member_sha256
    assert by_key["wjets"].url("http://h/x/") == (
        "http://h/x/jzyee/cms_image_classification/"
        "073e4b5fd91af26daa9cc8b3cd5e379bae1ac7d7/json_files/Wjets_json.json"
    )
    for src in GITHUB:
        for digest in (src.sha256, src.member_sha256 or src.sha256):
            assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_registry_agrees_with_shared_data_readme(shared_data: Path) -> None:
    readme = (shared_data / "README.md").read_text()
    flat = " ".join(readme.split())
    for src in GITHUB:
        assert src.sha256 in flat, src.key
        assert src.commit in flat, src.key
        assert src.repo in flat, src.key
        if src.member:
            assert src.member_sha256 in flat and src.member in flat


def test_unknown_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown data set 'lep'.*cms, opal, all"):
        fetch("lep", out=tmp_path)


# --------------------------------------------------------------------------- downloads


def test_download_good_file_then_already_present(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add("dir/Wjets_json.json", EVENT_JSON)
    src = plain_source(EVENT_JSON)
    paths = fetch("cms", out=tmp_path / "d", base_url=server.base_url, sources=[src])
    assert paths == {"wjets": tmp_path / "d" / "cms" / "Wjets_json.json"}
    assert paths["wjets"].read_bytes() == EVENT_JSON
    assert all_files(tmp_path / "d") == [paths["wjets"]]  # no temp files left over
    assert len(server.requests) == 1

    capsys.readouterr()
    again = fetch("all", out=tmp_path / "d", base_url=server.base_url, sources=[src])
    assert again == paths
    assert len(server.requests) == 1  # not downloaded again
    assert "already present" in capsys.readouterr().err


def test_progress_bar_when_interactive(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.add("dir/Wjets_json.json", EVENT_JSON)
    monkeypatch.setattr(data, "_want_bar", lambda quiet: not quiet)  # as in a terminal
    fetch("cms", out=tmp_path, base_url=server.base_url, sources=[plain_source(EVENT_JSON)])
    err = capsys.readouterr().err
    assert "downloading http://127.0.0.1" in err
    assert "100%" in err  # tqdm bar from pooch

    (tmp_path / "cms" / "Wjets_json.json").unlink()
    fetch(
        "cms",
        out=tmp_path,
        base_url=server.base_url,
        sources=[plain_source(EVENT_JSON)],
        quiet=True,
    )
    assert capsys.readouterr().err == ""


def test_base_url_from_environment(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add("dir/Wjets_json.json", EVENT_JSON)
    monkeypatch.setenv("EVENTCNN_DATA_BASE_URL", server.base_url + "/")
    paths = fetch("cms", out=tmp_path, sources=[plain_source(EVENT_JSON)], quiet=True)
    assert paths["wjets"].read_bytes() == EVENT_JSON


def test_wrong_existing_file_is_replaced_by_download(server: Server, tmp_path: Path) -> None:
    server.add("dir/Wjets_json.json", EVENT_JSON)
    target = tmp_path / "cms" / "Wjets_json.json"
    target.parent.mkdir()
    target.write_bytes(b'{"Event": {}}')  # e.g. an older or partial copy
    fetch("cms", out=tmp_path, base_url=server.base_url, sources=[plain_source(EVENT_JSON)])
    assert target.read_bytes() == EVENT_JSON
    assert len(server.requests) == 1


def test_hash_mismatch_names_file_and_both_hashes_and_leaves_nothing(
    server: Server, tmp_path: Path
) -> None:
    corrupted = EVENT_JSON.replace(b"10.0", b"99.0")
    server.add("dir/Wjets_json.json", corrupted)
    src = plain_source(EVENT_JSON)  # registry hash of the good content
    with pytest.raises(DataIntegrityError) as err:
        fetch("cms", out=tmp_path / "d", base_url=server.base_url, sources=[src])
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "Wjets_json.json" in msg
    assert sha(EVENT_JSON) in msg and sha(corrupted) in msg
    assert "retry" in msg
    assert all_files(tmp_path / "d") == []


def test_truncated_download_is_an_error_and_leaves_nothing(server: Server, tmp_path: Path) -> None:
    body = EVENT_JSON * 2000
    server.add("dir/Wjets_json.json", body, truncate=True)
    with pytest.raises(DownloadError, match=r"could not download cms/Wjets_json.json from http"):
        fetch("cms", out=tmp_path / "d", base_url=server.base_url, sources=[plain_source(body)])
    assert all_files(tmp_path / "d") == []


def test_http_error_is_a_download_error_naming_the_url(server: Server, tmp_path: Path) -> None:
    src = plain_source(EVENT_JSON, path="missing.json")
    with pytest.raises(DownloadError, match=r"404.*missing\.json|missing\.json.*404"):
        fetch("cms", out=tmp_path / "d", base_url=server.base_url, sources=[src])
    assert all_files(tmp_path / "d") == []


def test_interrupted_download_leaves_previous_file_intact(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add("dir/Wjets_json.json", EVENT_JSON)
    target = tmp_path / "cms" / "Wjets_json.json"
    target.parent.mkdir()
    target.write_bytes(b"old")

    def interrupt(path: str, alg: str = "sha256") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("pooch.hashes.file_hash", interrupt)  # pooch's hash check, after the bytes arrived
    with pytest.raises(KeyboardInterrupt):
        fetch("cms", out=tmp_path, base_url=server.base_url, sources=[plain_source(EVENT_JSON)])
    assert target.read_bytes() == b"old"
    assert all_files(tmp_path) == [target]


# --------------------------------------------------------------------------- archives


def archive_source(archive: bytes, member_body: bytes) -> Source:
    return Source(
        key="ttjets",
        dataset="cms",
        filename="TTjets_json.json",
        repo=REPO,
        commit=COMMIT,
        path="AnalysisFW/plugins/v",
        sha256=sha(archive),
        member="JsonToRoot/prueba.json",
        member_sha256=sha(member_body),
    )


def test_archive_member_is_extracted_and_verified(server: Server, tmp_path: Path) -> None:
    archive = make_tar(
        {"JsonToRoot/other.txt": b"x", "./JsonToRoot/prueba.json": EVENT_JSON, "README": b"r"}
    )
    server.add("AnalysisFW/plugins/v", archive)
    paths = fetch(
        "cms",
        out=tmp_path / "d",
        base_url=server.base_url,
        sources=[archive_source(archive, EVENT_JSON)],
    )
    assert paths["ttjets"].read_bytes() == EVENT_JSON
    assert all_files(tmp_path / "d") == [paths["ttjets"]]  # archive and temp dir removed


def test_archive_member_hash_mismatch(server: Server, tmp_path: Path) -> None:
    archive = make_tar({"JsonToRoot/prueba.json": EVENT_JSON})
    server.add("AnalysisFW/plugins/v", archive)
    src = archive_source(archive, b"the expected member")
    with pytest.raises(DataIntegrityError) as err:
        fetch("cms", out=tmp_path / "d", base_url=server.base_url, sources=[src])
    assert "JsonToRoot/prueba.json" in str(err.value)
    assert sha(EVENT_JSON) in str(err.value) and src.member_sha256 in str(err.value)
    assert all_files(tmp_path / "d") == []


def test_missing_member_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "v"
    archive.write_bytes(make_tar({"JsonToRoot/other.json": EVENT_JSON}))
    with pytest.raises(DataFormatError, match=r"member 'JsonToRoot/prueba.json' not found"):
        extract_member(archive, "JsonToRoot/prueba.json", tmp_path / "out" / "t.json")
    assert not (tmp_path / "out" / "t.json").exists()


def test_not_a_tar_is_a_format_error(tmp_path: Path) -> None:
    archive = tmp_path / "v"
    archive.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataFormatError, match=r"not a readable tar archive"):
        extract_member(archive, "JsonToRoot/prueba.json", tmp_path / "t.json")


@pytest.mark.parametrize(
    ("members", "links", "bad"),
    [
        ({"../evil": b"pwned"}, None, "../evil"),
        ({"JsonToRoot/../../evil": b"pwned"}, None, "JsonToRoot/../../evil"),
        ({"/tmp/eventcnn-abs-evil": b"pwned"}, None, "/tmp/eventcnn-abs-evil"),
        ({}, {"JsonToRoot/link": ("../../evil", tarfile.SYMTYPE)}, "JsonToRoot/link"),
        ({}, {"JsonToRoot/link": ("/etc/passwd", tarfile.SYMTYPE)}, "JsonToRoot/link"),
        ({}, {"JsonToRoot/hard": ("../evil", tarfile.LNKTYPE)}, "JsonToRoot/hard"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-abs", "hardlink-out"],
)
def test_unsafe_archive_is_rejected_and_nothing_written(
    tmp_path: Path, members: dict[str, bytes], links: dict | None, bad: str
) -> None:
    work = tmp_path / "work"
    dest = work / "dest"
    archive = tmp_path / "v"
    archive.write_bytes(make_tar({"JsonToRoot/prueba.json": EVENT_JSON, **members}, links))
    with pytest.raises(UnsafeArchiveError) as err:
        extract_member(archive, "JsonToRoot/prueba.json", dest / "cms" / "TTjets_json.json")
    assert bad in str(err.value) and str(archive) in str(err.value)
    assert all_files(work) == []
    assert not (tmp_path / "evil").exists()
    assert not Path("/tmp/eventcnn-abs-evil").exists()


def test_unsafe_archive_via_fetch(server: Server, tmp_path: Path) -> None:
    archive = make_tar({"JsonToRoot/prueba.json": EVENT_JSON, "../evil": b"pwned"})
    server.add("AnalysisFW/plugins/v", archive)
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./evil'"):
        fetch(
            "cms",
            out=tmp_path / "d",
            base_url=server.base_url,
            sources=[archive_source(archive, EVENT_JSON)],
        )
    assert all_files(tmp_path / "d") == []
    assert not (tmp_path / "evil").exists()


def test_symlink_member_itself_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "v"
    archive.write_bytes(
        make_tar(
            {"JsonToRoot/real.json": EVENT_JSON},
            {"JsonToRoot/prueba.json": ("real.json", tarfile.SYMTYPE)},
        )
    )
    with pytest.raises(UnsafeArchiveError, match=r"not a regular file"):
        extract_member(archive, "JsonToRoot/prueba.json", tmp_path / "t.json")


# --------------------------------------------------------------------------- mirror


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "keys"), [("cms", {"ttjets", "wjets"}), ("opal", {"zip", "labels"})]
)
def test_mirror_copies_real_data(
    shared_data: Path,
    tmp_path: Path,
    name: str,
    keys: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = fetch(name, out=tmp_path, mirror=shared_data)
    assert set(paths) == keys
    for key, path in paths.items():
        src = next(s for s in data.REGISTRY if s.key == key)
        assert path == tmp_path / src.relpath
        assert path.read_bytes() == (shared_data / src.mirror_relpath).read_bytes()
        assert path.stat().st_mode & 0o444 == 0o444  # readable like an ordinary file
    assert "copying from mirror" in capsys.readouterr().err
    again = fetch(name, out=tmp_path, mirror=shared_data)
    assert again == paths
    assert capsys.readouterr().err.count("already present") == len(keys)


@pytest.mark.shared_data
def test_mirror_from_environment_into_cache_from_environment(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTCNN_DATA_MIRROR", str(shared_data))
    monkeypatch.setenv("EVENTCNN_CACHE", str(tmp_path / "cache"))
    assert data.cache_dir() == tmp_path / "cache"
    paths = fetch("opal", quiet=True)
    assert paths["labels"] == tmp_path / "cache" / "opal" / "answer_key" / "events_list.csv"
    assert not (paths["zip"].parent / "events_list.csv").exists()  # nothing next to the zip
    assert paths["labels"].read_bytes() == (shared_data / "opal" / "events_list.csv").read_bytes()


def test_cache_dir_defaults_to_pooch_os_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import pooch

    monkeypatch.delenv("EVENTCNN_CACHE")
    assert data.cache_dir() == Path(pooch.os_cache("eventcnn"))


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)


@pytest.mark.parametrize(
    ("relpath", "content", "message"),
    [
        ("cms/Wjets_json.json", b'{"events": {}}', r"top-level key 'Event'"),
        ("cms/Wjets_json.json", b'{"Event": {"1": {}', r"not valid JSON"),
        ("cms/Wjets_json.json", b'{"Event": {}}', r"holds no events"),
        ("opal/events_list.csv", b"1.png;q\n2.png;x\n", r"line 2: label 'x'"),
        ("opal/events_list.csv", b"1.png;q\n2.png\n", r"line 2: expected 'name;label'"),
        ("opal/events_list.csv", b"\n", r"no 'name;label' rows"),
        ("opal/centered-masked-rotated1.zip", b"PK not really", r"not a zip archive"),
        ("opal/centered-masked-rotated1.zip", {"a.txt": b"x"}, r"no PNG images"),
        ("opal/centered-masked-rotated1.zip", {"a.png": b"GIF89a"}, r"'a.png' is not a PNG"),
        ("opal/centered-masked-rotated1.zip", {"../a.png": PNG}, r"'\.\./a\.png'"),
    ],
)
def test_mirror_with_bad_format_is_a_clear_error(
    tmp_path: Path, relpath: str, content: bytes | dict[str, bytes], message: str
) -> None:
    mirror, dest = tmp_path / "mirror", tmp_path / "dest"
    bad = mirror / relpath
    bad.parent.mkdir(parents=True)
    if isinstance(content, dict):
        write_zip(bad, content)
    else:
        bad.write_bytes(content)
    src = next(s for s in data.REGISTRY if s.mirror_relpath == relpath)
    with pytest.raises(ValueError, match=message) as err:
        fetch(src.dataset, out=dest, mirror=mirror, sources=[src])
    assert str(bad) in str(err.value)  # names the mirror file, not a temp file
    assert all_files(dest) == []


def test_good_small_mirror_passes_format_checks(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "opal").mkdir(parents=True)
    write_zip(mirror / "opal" / "centered-masked-rotated1.zip", {"final/x1.png": PNG})
    (mirror / "opal" / "events_list.csv").write_text("1.png;q\r\n2.png;e\n3.png;m\n4.png;t\n")
    paths = fetch("opal", out=tmp_path / "d", mirror=mirror, quiet=True)
    assert paths["labels"].read_text().count(";") == 4


def test_mirror_missing_file_or_folder(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    with pytest.raises(FileNotFoundError, match=r"mirror.*must hold cms/"):
        fetch("cms", out=tmp_path / "d", mirror=tmp_path / "mirror")
    with pytest.raises(FileNotFoundError, match=r"mirror folder .*nowhere not found"):
        fetch("cms", out=tmp_path / "d", mirror=tmp_path / "nowhere")


# --------------------------------------------------------------------------- CLI


@pytest.mark.shared_data
def test_cli_fetch_with_mirror_prints_paths(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["data", "fetch", "cms", "--mirror", str(shared_data), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"ttjets: {tmp_path / 'cms' / 'TTjets_json.json'}" in out
    assert f"wjets: {tmp_path / 'cms' / 'Wjets_json.json'}" in out
    assert (tmp_path / "cms" / "TTjets_json.json").is_file()


def test_cli_quiet_and_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        ["data", "fetch", "opal", "-q", "--mirror", str(tmp_path / "no"), "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith(f"eventcnn data fetch: error: --mirror {tmp_path / 'no'} not found: give a local mirror "
                          "folder") and err.count("\n") == 1


def test_cli_list_shows_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for src in GITHUB:
        assert src.url() in out and src.sha256 in out and src.relpath in out
    assert "CC0" in out and "NTW-Muenster/opal-mc-ml" in out
    assert "not fetched" in out
    assert main(["data", "info"]) == 0


# --------------------------------------------------------------------------- no silent fallbacks


def _helpers():
    import sys

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    import helpers

    return helpers


@pytest.mark.parametrize(
    "exc",
    [
        DataIntegrityError("sha256 mismatch for cms/TTjets_json.json"),
        DataFormatError("cms/TTjets_json.json: not valid JSON"),
        PermissionError("cache not writable"),
        KeyError("bug"),
    ],
)
def test_cms_inputs_never_hides_a_checksum_mismatch_or_other_error(
    monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    helpers = _helpers()

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(data, "fetch", broken)
    with pytest.raises(type(exc)):
        helpers.cms_inputs()


@pytest.mark.parametrize("exc", [DownloadError("no network"), FileNotFoundError("mirror lacks it")])
def test_cms_inputs_falls_back_only_offline_loudly_and_recorded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception
) -> None:
    helpers = _helpers()

    def offline(*args, **kwargs):
        raise exc

    monkeypatch.setattr(data, "fetch", offline)
    inputs = helpers.cms_inputs()
    assert inputs.examples is True and set(inputs) == set(data.example_files())
    out = capsys.readouterr().out
    assert out.startswith("WARNING:") and "EXAMPLE events" in out and "NOT real CMS data" in out
    assert str(exc) in out and inputs.note in out


def test_cms_inputs_real_data_is_not_flagged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    helpers = _helpers()
    monkeypatch.setattr(data, "fetch", lambda *a, **k: {"ttjets": tmp_path / "t.json"})
    inputs = helpers.cms_inputs()
    assert inputs == {"ttjets": tmp_path / "t.json"} and inputs.examples is False
    assert capsys.readouterr().out == ""


def test_local_write_error_during_download_is_not_an_offline_error(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pooch

    server.add("dir/Wjets_json.json", EVENT_JSON)

    def disk_full(self, url, output_file, pooch_obj, check_only=False):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", disk_full)
    with pytest.raises(OSError, match="No space left") as err:
        fetch("cms", out=tmp_path / "d", base_url=server.base_url, sources=[plain_source(EVENT_JSON)])
    assert not isinstance(err.value, DownloadError)  # helpers must not fall back to examples on this


def test_replacing_a_wrong_cached_file_is_announced(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add("dir/Wjets_json.json", EVENT_JSON)
    target = tmp_path / "cms" / "Wjets_json.json"
    target.parent.mkdir()
    target.write_bytes(b'{"Event": {}}')
    fetch("cms", out=tmp_path, base_url=server.base_url, sources=[plain_source(EVENT_JSON)])
    assert f"{target} differs from the published sha256; replacing it" in capsys.readouterr().err


def test_cli_list_verifies_local_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = next(s for s in data.REGISTRY if s.key == "labels")
    target = tmp_path / src.relpath
    target.parent.mkdir(parents=True)
    target.write_text("ev1.png;q\n")  # not the published file
    assert main(["data", "list", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{target} (present, but its sha256 differs from the registry" in out


def test_certificate_error_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pooch
    import requests

    def cern_root_missing(self, url, output_file, pooch_obj, check_only=False):
        raise requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] unable to get local issuer")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", cern_root_missing)
    src = next(s for s in data.REGISTRY if s.key == "singlemuon")
    with pytest.raises(DownloadError, match=r"CERN Root Certification Authority 2.*REQUESTS_CA_BUNDLE"):
        fetch("singlemuon", out=tmp_path / "d", quiet=True)
    assert not (tmp_path / "d" / src.relpath).exists() and all_files(tmp_path / "d") == []


def test_cli_fetch_opal_keeps_the_answer_key_apart(shared_data: Path, tmp_path: Path, capsys) -> None:
    from eventcnn.cli import main

    assert main(["data", "fetch", "opal", "--out", str(tmp_path), "--mirror", str(shared_data), "-q"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "opal").iterdir()) == [
        "answer_key", "centered-masked-rotated1.zip", "centered-masked-rotated1.zip.origin.json"]
    assert (tmp_path / "opal" / "answer_key" / "events_list.csv").is_file()
    assert "answer key" in out and "Give students the zip only" in out


# ---- (was test_sources_offline.py)

def _no_network(*args, **kwargs):
    raise data.DownloadError("network disabled in this test")


def test_mirror_copy_is_used_offline_afterwards(shared_data: Path, tmp_path: Path, monkeypatch,
                                                capsys) -> None:
    monkeypatch.delenv("EVENTCNN_DATA_MIRROR", raising=False)
    monkeypatch.delenv("EVENTCNN_DATA_BASE_URL", raising=False)
    first = data.fetch("opal", out=tmp_path, mirror=shared_data)
    side = json.loads(data.origin_path(first["labels"]).read_text())
    assert side["origin"].startswith("mirror ") and side["check"] == "format checked"
    assert side["sha256"] == data.sha256sum(first["labels"])
    capsys.readouterr()

    monkeypatch.setattr(data, "pooch_download", _no_network)
    again = data.fetch("opal", out=tmp_path)  # no mirror, no network
    assert again == first
    err = capsys.readouterr().err
    assert err.count("from mirror ") == 2 and str(shared_data) in err
    assert "present, from mirror" in data.format_registry(
        [s for s in data.REGISTRY if s.dataset == "opal"], out=tmp_path)

    # a copy changed since (damaged, edited) no longer counts: fetch tries the network
    with open(first["labels"], "a", encoding="utf-8") as fh:
        fh.write("x.png;q\n")
    assert data.cached_origin(first["labels"]) is None
    with pytest.raises(data.DownloadError, match="network disabled"):
        data.fetch("opal", out=tmp_path, quiet=True)


def test_bad_sidecar_is_ignored(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("a.png;q\n")
    data.origin_path(f).write_text("not json")
    assert data.cached_origin(f) is None
    data.origin_path(f).write_text(json.dumps({"origin": "x", "sha256": data.sha256sum(f),
                                               "check": "format checked"}))
    assert data.cached_origin(f) == "x (format checked)"
