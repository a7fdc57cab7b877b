"""`eventcnn class` over HTTP: the API (TestClient), a live server under load, training, the CLI."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="eventcnn class needs the 'class' extra (FastAPI)")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from eventcnn.cli import main  # noqa: E402
from eventcnn.opal import read_labels  # noqa: E402
from eventcnn.opal.web.app import BackgroundServer, create_app  # noqa: E402
from eventcnn.opal.web.session import open_session  # noqa: E402

URL = "http://127.0.0.1:8000/"


def _session(tmp_path: Path, zip_path: Path, **kw):
    kw = {"n": 16, "per_student": 4, "overlap": 2, "size": 64, "epochs": 1, **kw}
    return open_session(zip_path, tmp_path / "class.sqlite", out=tmp_path / "run", quiet=True, **kw)


def _client(session) -> TestClient:
    return TestClient(create_app(session, URL))


def _label_all(client: TestClient, sid: str, truth: dict[str, str], session, first: dict) -> list[str]:
    """Answer every display of a student with its true class; returns the texts received."""
    seen = []
    nd = first
    k = 0
    while nd["display"] is not None:
        img = client.get(f"/api/displays/{nd['display']}")
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
        seen.append(img.headers.get("etag", "") + " ".join(img.headers.keys()))
        label = truth[session.store.display_name(nd["display"])]  # the server knows, the browser not
        r = client.post(f"/api/students/{sid}/votes", json={"display": nd["display"], "label": label,
                                                            "vote_id": f"{sid}-{k}"})
        assert r.status_code == 200, r.text
        seen.append(r.text)
        nd = r.json()["next"]
        k += 1
    return seen


def test_student_flow_is_blind_and_double_taps_count_once(tmp_path: Path, class_displays) -> None:
    zip_path, truth = class_displays
    session = _session(tmp_path, zip_path)
    client = _client(session)
    texts = [client.get("/").text, client.get("/static/student.js").text, client.get("/api/hints").text]
    r = client.post("/api/join", json={"name": "Ada"})
    assert r.status_code == 200
    texts.append(r.text)
    first = r.json()
    sid = first["student"]
    assert (first["index"], first["total"], first["answered"]) == (1, 4, 0)
    png = client.get(f"/api/displays/{first['display']}").content
    im = Image.open(io.BytesIO(png))
    assert im.size == (64, 64) and not getattr(im, "text", {})  # no metadata riding along
    body = {"display": first["display"], "label": "q", "vote_id": "double-tap-1"}
    a = client.post(f"/api/students/{sid}/votes", json=body).json()
    b = client.post(f"/api/students/{sid}/votes", json=body).json()
    assert (a["status"], b["status"], a["answered"], b["answered"]) == ("new", "repeat", 1, 1)
    texts += [json.dumps(a), client.get(f"/api/students/{sid}").text]
    texts += _label_all(client, sid, truth, session, a["next"])
    assert client.get(f"/api/students/{sid}").json()["display"] is None  # done
    assert len(session.store.votes()) == 4
    received = "\n".join(texts).lower()
    for name in truth:
        assert name.lower() not in received and "ev0" not in received
    assert '"label":' not in received  # the server never sends a label to a student
    assert "final/" not in received and ".png" not in received


def test_teacher_routes_need_the_token(tmp_path: Path, class_displays) -> None:
    session = _session(tmp_path, class_displays[0])
    client = _client(session)
    token = session.store.teacher_token
    routes = [("GET", "/teacher"), ("GET", "/api/teacher/status"), ("GET", "/api/teacher/qr.svg"),
              ("POST", "/api/teacher/train"), ("GET", "/api/teacher/figures/overview"),
              ("GET", "/api/teacher/labels.csv"), ("GET", "/api/teacher/votes.csv")]
    for method, url in routes:
        assert client.request(method, url).status_code == 401, url
        assert client.request(method, url, headers={"X-Teacher-Token": token[:-1] + "x"}).status_code == 403
        assert client.request(method, url + "?token=wrong").status_code == 403
    ok = client.get("/api/teacher/status", headers={"X-Teacher-Token": token})
    assert ok.status_code == 200 and ok.json()["student_url"] == URL
    assert client.get(f"/teacher?token={token}").status_code == 200
    assert client.get(f"/api/teacher/qr.svg?token={token}").content.lstrip().startswith(b"<svg")
    assert token not in client.get("/").text and token not in client.get("/static/teacher.js").text


@pytest.mark.parametrize("url", [
    "/static/../app.py", "/static/..%2f..%2fpyproject.toml", "/static/%2e%2e%2fstore.py",
    "/static/%2E%2E/%2E%2E/pyproject.toml", "/static//etc/passwd", "/static/%2Fetc%2Fpasswd",
    "/api/displays/..%2F..%2F..%2Fetc%2Fpasswd", "/api/displays/%2e%2e", "/api/teacher/figures/..%2Fconfig",
    "/../../pyproject.toml", "/%2e%2e/%2e%2e/pyproject.toml", "//etc/passwd",
])
def test_no_path_escapes_the_package(tmp_path: Path, class_displays, url: str) -> None:
    session = _session(tmp_path, class_displays[0])
    client = _client(session)
    r = client.get(url, headers={"X-Teacher-Token": session.store.teacher_token})
    assert r.status_code in (401, 403, 404, 422)
    assert b"[project]" not in r.content and b"root:" not in r.content and b"import" not in r.content


def test_bad_input_gets_clear_4xx(tmp_path: Path, class_displays) -> None:
    session = _session(tmp_path, class_displays[0])
    client = _client(session)
    sid = client.post("/api/join", json={"name": "Ada"}).json()["student"]
    d = client.get(f"/api/students/{sid}").json()["display"]
    cases = [
        ("/api/join", {"name": ""}, 422, "name"),
        ("/api/join", {"name": "x" * 41}, 422, "name"),
        ("/api/join", {"name": "Ada", "admin": True}, 422, "admin"),
        (f"/api/students/{sid}/votes", {"display": d, "label": "z", "vote_id": "abcdefgh"}, 422, "label"),
        (f"/api/students/{sid}/votes", {"display": d, "label": "q", "vote_id": "short"}, 422, "vote_id"),
        (f"/api/students/{sid}/votes", {"display": "../../x", "label": "q", "vote_id": "abcdefgh"}, 422,
         "display"),
        ("/api/students/nobody-at-all/votes", {"display": d, "label": "q", "vote_id": "abcdefgh"}, 404,
         "unknown student"),
    ]
    for url, body, status, word in cases:
        r = client.post(url, json=body)
        assert r.status_code == status, (url, body, r.text)
        assert word in r.json()["detail"], r.json()
    r = client.post("/api/join", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]
    r = client.post("/api/join", content=b"x" * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no content-length: the limit holds for a streamed body too
        for _ in range(10):
            yield b"x" * 1000

    r = client.post("/api/join", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_restart_keeps_votes_token_and_student(tmp_path: Path, class_displays) -> None:
    zip_path, truth = class_displays
    session = _session(tmp_path, zip_path)
    client = _client(session)
    token = session.store.teacher_token
    first = client.post("/api/join", json={"name": "Ada"}).json()
    sid = first["student"]
    client.post(f"/api/students/{sid}/votes", json={"display": first["display"], "label": "m",
                                                     "vote_id": "before-restart"})
    session.store.close()
    session2 = _session(tmp_path, zip_path)
    client2 = _client(session2)
    assert session2.store.teacher_token == token
    nd = client2.get(f"/api/students/{sid}").json()
    assert (nd["index"], nd["answered"]) == (2, 1)
    assert client2.get(f"/api/displays/{first['display']}").status_code == 200  # same opaque ids
    status = client2.get("/api/teacher/status", headers={"X-Teacher-Token": token}).json()
    assert status["progress"]["votes"] == 1


@pytest.mark.slow
def test_train_now_runs_in_background_and_draws_the_pictures(tmp_path: Path, class_displays) -> None:
    zip_path, truth = class_displays
    session = _session(tmp_path, zip_path)
    client = _client(session)
    h = {"X-Teacher-Token": session.store.teacher_token}
    r = client.post("/api/teacher/train", headers=h)
    assert r.status_code == 400 and "at least 4" in r.json()["detail"]
    for i in range(4):
        first = client.post("/api/join", json={"name": f"s{i}"}).json()
        _label_all(client, first["student"], truth, session, first)
    r = client.post("/api/teacher/train", headers=h)
    assert r.status_code == 202, r.text
    assert client.post("/api/teacher/train", headers=h).status_code in (202, 409)
    deadline = time.monotonic() + 240
    fractions = []
    while (t := client.get("/api/teacher/status", headers=h).json()["training"])["state"] == "running":
        fractions.append(t["fraction"])
        assert time.monotonic() < deadline, t
        time.sleep(0.3)
    assert t["state"] == "done", t
    assert fractions == sorted(fractions)
    assert set(t["figures"]) == {"overview", "confusion", "unsure", "occlusion", "curves"}
    # the shipped simulation-pretrained weights are for 200 px displays; these are smaller
    assert t["summary"]["labels"] == 16 and "trained from scratch" in t["summary"]["pretrained"]
    for key in t["figures"]:
        png = client.get(f"/api/teacher/figures/{key}", headers=h)
        assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size[0] > 200
    assert client.get("/api/teacher/figures/nothing", headers=h).status_code == 404
    labels = client.get("/api/teacher/labels.csv", headers=h).text
    assert labels.count("\n") == 16 and all(line.split(";")[1] in "qemt" for line in labels.splitlines())
    assert (tmp_path / "run" / "predictions.csv").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_thirty_students_at_once_lose_no_vote(tmp_path: Path, class_displays) -> None:
    """30 students label 4 displays each at the same time over loopback, every answer sent twice."""
    session = _session(tmp_path, class_displays[0], n=32, per_student=4)
    errors: list[BaseException] = []
    times: list[float] = []
    with BackgroundServer(create_app(session, URL)) as server:
        go = threading.Barrier(30)

        def student(i: int) -> None:
            try:
                nd = _post(server.url + "api/join", {"name": f"student {i}"})
                sid = nd["student"]
                go.wait(30)
                k = 0
                while nd["display"] is not None:
                    body = {"display": nd["display"], "label": "qemt"[k % 4], "vote_id": f"{sid}-v{k}"}
                    t0 = time.perf_counter()
                    r = _post(server.url + f"api/students/{sid}/votes", body)
                    times.append(time.perf_counter() - t0)
                    assert _post(server.url + f"api/students/{sid}/votes", body)["status"] == "repeat"
                    nd = r["next"]
                    k += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        start = time.perf_counter()
        threads = [threading.Thread(target=student, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.perf_counter() - start
    assert not errors, errors[:3]
    assert len(times) == 120 and elapsed < 60
    progress = session.store.progress()
    assert progress["votes"] == 120 and len(progress["students"]) == 30
    assert all(s["answered"] == 4 for s in progress["students"])


def test_cli_export_and_serve(tmp_path: Path, class_displays, capsys) -> None:
    zip_path, truth = class_displays
    session = _session(tmp_path, zip_path)
    client = _client(session)
    for i in range(2):
        first = client.post("/api/join", json={"name": f"s{i}"}).json()
        _label_all(client, first["student"], truth, session, first)
    session.store.close()
    db = tmp_path / "class.sqlite"
    assert main(["class", "export", "--db", str(db), "--out", str(tmp_path / "l.csv"),
                 "--votes", str(tmp_path / "v.csv")]) == 0
    labels = read_labels(tmp_path / "l.csv")
    assert len(labels) == 8 and all(truth[k[:-4]] == v for k, v in labels.items())
    assert (tmp_path / "v.csv").read_text().startswith("display;label;student;time\n")
    assert "8 class labels" in capsys.readouterr().out
    assert main(["class", "export", "--db", str(tmp_path / "none.sqlite"), "--out", "x.csv"]) == 1
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["class", "serve", "--help"])
    assert "0.0.0.0" in capsys.readouterr().out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["class", "serve", "--data", str(zip_path), "--db", str(db), "--port", str(port)]) == 1
    assert "another --port" in capsys.readouterr().err
    assert main(["class", "serve", "--data", str(tmp_path / "none.zip"), "--db", str(tmp_path / "n.sqlite"),
                 "--port", str(_free_port())]) == 1
    assert "none.zip not found" in capsys.readouterr().err
    assert not (tmp_path / "n.sqlite").exists()  # no empty class for a wrong --data


def test_serve_command_starts_and_answers(tmp_path: Path, class_displays) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "eventcnn", "class", "serve", "--data", str(class_displays[0]),
                             "--db", str(tmp_path / "c.sqlite"), "--port", str(port), "--n", "8", "--size", "64"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "EVENTCNN_QUIET": "",
                                 "HOME": str(tmp_path)})
    try:
        lines = []
        while proc.stdout is not None and not any(line.startswith("ready") for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        out = "".join(lines)
        assert f"students: http://127.0.0.1:{port}/" in out and "/teacher?token=" in out
        assert "▀" in out or "█" in out  # the QR code in the terminal
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as r:
            assert json.loads(r.read()) == {"ok": True}
        token = out.split("token=")[1].split()[0]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/teacher", timeout=10)
        assert e.value.code == 401
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/teacher?token={token}", timeout=10) as r:
            assert b"teacher.js" in r.read()
    finally:
        proc.terminate()
        proc.wait(20)


def test_the_class_labels_what_opal_suggest_picks(tmp_path: Path, class_displays, capsys) -> None:
    session = _session(tmp_path, class_displays[0], n=12)
    assert main(["opal", "suggest", "--data", str(class_displays[0]), "--n", "12", "--seed", "0"]) == 0
    printed = capsys.readouterr().out.split()
    from eventcnn.opal.ids import display_ids

    assert [f"{i}.png" for i in display_ids([name for _, name in session.store.pool()])] == printed


def test_the_shipped_pretrained_weights_are_used_when_they_fit():
    from eventcnn.opal.web.training import pretrained_settings

    settings, said = pretrained_settings(200)
    assert settings == {"weights": "sim"} and "simulation-pretrained" in said
    settings, said = pretrained_settings(64)
    assert settings == {} and "200 px" in said and "trained from scratch" in said


def _serve(tmp_path: Path, zip_path: Path, port: int):
    """``eventcnn class serve`` in its own process; returns (process, teacher token) once it listens."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-m", "eventcnn", "class", "serve", "--data", str(zip_path),
                             "--db", str(tmp_path / "c.sqlite"), "--port", str(port), "--n", "8", "--size", "64"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "EVENTCNN_QUIET": "",
                                 "HOME": str(tmp_path)})
    lines = []
    while not any(line.startswith("ready") for line in lines):
        line = proc.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    return proc, "".join(lines).split("token=")[1].split()[0]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_a_killed_server_restarts_with_every_vote(tmp_path: Path, class_displays) -> None:
    """SIGKILL mid-class (no clean shutdown): the restarted server has the votes, the token, the student."""
    port = _free_port()
    proc, token = _serve(tmp_path, class_displays[0], port)
    try:
        base = f"http://127.0.0.1:{port}"
        first = _post(f"{base}/api/join", {"name": "Ada"})
        _post(f"{base}/api/students/{first['student']}/votes",
              {"display": first["display"], "label": "m", "vote_id": "vote-before-the-kill"})
    finally:
        proc.kill()  # no shutdown hook runs
        proc.wait(20)
    proc, token2 = _serve(tmp_path, class_displays[0], port)
    try:
        assert token2 == token
        req = urllib.request.Request(f"{base}/api/teacher/status", headers={"X-Teacher-Token": token})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["progress"]["votes"] == 1
        with urllib.request.urlopen(f"{base}/api/students/{first['student']}", timeout=10) as r:
            assert json.loads(r.read())["answered"] == 1
    finally:
        proc.terminate()
        proc.wait(20)
