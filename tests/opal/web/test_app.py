"""`eventcnn class` over HTTP (TestClient): students, the teacher's cookie, the board, input checks, bounds."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="eventcnn class needs the 'class' extra (FastAPI)")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from eventcnn.opal.web.app import BackgroundServer, create_app  # noqa: E402
from eventcnn.opal.web.auth import COOKIE  # noqa: E402
from eventcnn.opal.web.session import open_session  # noqa: E402
from eventcnn.opal.web.student import JoinLimiter  # noqa: E402

URL = "http://127.0.0.1:8000/"


def _reference(tmp_path: Path, truth: dict[str, str]) -> Path:
    ref = tmp_path / "answer_key.csv"
    ref.write_text("".join(f"{k}.png;{v}\n" for k, v in truth.items()))
    return ref


def _session(tmp_path: Path, zip_path: Path, **kw):
    kw = {"n": 16, "per_student": 4, "overlap": 2, "size": 64, "epochs": 1, **kw}
    return open_session(zip_path, tmp_path / "class.sqlite", out=tmp_path / "run", quiet=True, **kw)


def _client(session, **kw) -> TestClient:
    return TestClient(create_app(session, URL, **kw))


def _teacher(client: TestClient, session) -> TestClient:
    r = client.get(f"/teacher?token={session.store.teacher_token}", follow_redirects=False)
    assert r.status_code == 303
    return client


def _label_all(client: TestClient, sid: str, truth: dict[str, str], session, first: dict) -> list[str]:
    """Answer every display of a student with its true class; returns the texts received."""
    seen = []
    nd = first
    k = 0
    while nd["display"] is not None:
        img = client.get(f"/api/displays/{nd['display']}")
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
        seen.append(" ".join(f"{k}={v}" for k, v in img.headers.items()))
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
    texts = [client.get("/").text, client.get("/static/student.js").text, client.get("/api/lesson").text]
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
    texts.append(client.get(f"/api/students/{sid}/summary").text)
    texts.append(client.get("/api/board").text)
    assert len(session.store.votes()) == 4
    received = "\n".join(texts).lower()
    for name in truth:
        assert name.lower() not in received and "ev0" not in received
    assert '"label":' not in received  # the server never sends a pool display's label to a student
    assert "final/" not in received and ".png" not in received


def test_undo_takes_back_the_last_answer(tmp_path: Path, class_displays) -> None:
    session = _session(tmp_path, class_displays[0])
    client = _client(session)
    first = client.post("/api/join", json={"name": "Ada"}).json()
    sid = first["student"]
    r = client.post(f"/api/students/{sid}/votes", json={"display": first["display"], "label": "t",
                                                        "vote_id": "mis-tap-xx"}).json()
    assert r["next"]["index"] == 2
    u = client.post(f"/api/students/{sid}/undo").json()
    assert (u["undone"], u["label"], u["next"]["display"], u["next"]["index"]) == (True, "t", first["display"], 1)
    assert session.store.votes() == []


def test_the_teacher_token_becomes_a_cookie_and_leaves_the_address(tmp_path: Path, class_displays) -> None:
    session = _session(tmp_path, class_displays[0])
    client = _client(session)
    token = session.store.teacher_token
    routes = [("GET", "/api/teacher/status"), ("POST", "/api/teacher/train"),
              ("GET", "/api/teacher/figures/unsure0"), ("GET", "/api/teacher/results"),
              ("GET", "/api/teacher/labels.csv"), ("GET", "/api/teacher/votes.csv"),
              ("POST", "/api/teacher/students/1/remove")]
    for method, url in routes:
        assert client.request(method, url).status_code == 401, url
        assert client.request(method, url, headers={"X-Teacher-Token": token[:-1] + "x"}).status_code == 403
        client.cookies.set(COOKIE, "forged")
        assert client.request(method, url).status_code == 403
        client.cookies.clear()
        assert client.request(method, url + f"?token={token}").status_code == 401, url  # never in an address
    assert client.get("/teacher").status_code == 401 and "teacher" in client.get("/teacher").text
    assert client.get("/teacher?token=wrong").status_code == 403
    r = client.get(f"/teacher?token={token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/teacher"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and token.lower() not in cookie
    page = client.get("/teacher")  # the client keeps the cookie
    assert page.status_code == 200 and token not in page.text and "teacher.js" in page.text
    status = client.get("/api/teacher/status")
    assert status.status_code == 200 and status.json()["student_url"] == URL
    for asset in ("/", "/board", "/static/teacher.js", "/static/board.js", "/api/board", "/api/qr.svg"):
        assert token not in client.get(asset).text
    other_site = client.post("/api/teacher/train", headers={"Origin": "http://evil.example"})
    assert other_site.status_code == 403  # a cross-site form cannot use the cookie


def test_the_board_needs_no_secret_and_shows_no_names(tmp_path: Path, class_displays) -> None:
    zip_path, truth = class_displays
    session = _session(tmp_path, zip_path)
    client = _client(session)
    first = client.post("/api/join", json={"name": "Zebediah"}).json()
    _label_all(client, first["student"], truth, session, first)
    assert client.get("/board").status_code == 200
    board = client.get("/api/board")
    assert board.status_code == 200
    data = board.json()
    assert data["progress"]["students"] == 1 and data["progress"]["votes"] == 4
    text = board.text
    assert "Zebediah" not in text and not any(n in text for n in truth)
    assert not any(d in text for d, _ in session.store.pool())  # no display ids either
    assert client.get("/api/qr.svg").content.lstrip().startswith(b"<svg")


@pytest.mark.parametrize("url", [
    "/static/../app.py", "/static/..%2f..%2fpyproject.toml", "/static/%2e%2e%2fstore.py",
    "/static/%2E%2E/%2E%2E/pyproject.toml", "/static//etc/passwd", "/static/%2Fetc%2Fpasswd",
    "/static/i18n/..%2f..%2fapp.py.json", "/static/i18n/xx.json", "/static/i18n/..%2fapp.css",
    "/api/displays/..%2F..%2F..%2Fetc%2Fpasswd", "/api/displays/%2e%2e", "/api/teacher/figures/..%2Fconfig",
    "/api/teacher/figures/lesson0", "/../../pyproject.toml", "/%2e%2e/%2e%2e/pyproject.toml", "//etc/passwd",
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
        ("/api/join", {"name": "\u200b\u200b"}, 422, "name"),
        ("/api/join", {"name": "Ada", "admin": True}, 422, "admin"),
        (f"/api/students/{sid}/votes", {"display": d, "label": "z", "vote_id": "abcdefgh"}, 422, "label"),
        (f"/api/students/{sid}/votes", {"display": d, "label": "q", "vote_id": "short"}, 422, "vote_id"),
        (f"/api/students/{sid}/votes", {"display": "../../x", "label": "q", "vote_id": "abcdefgh"}, 422,
         "display"),
        ("/api/students/nobody-at-all/votes", {"display": d, "label": "q", "vote_id": "abcdefgh"}, 404,
         "unknown student"),
        (f"/api/students/{sid}/practice", {"display": d, "answer": "q"}, 404, "not a practice display"),
    ]
    for url, body, status, word in cases:
        r = client.post(url, json=body)
        assert r.status_code == status, (url, body, r.text)
        assert word in r.json()["detail"], r.json()
        assert r.json()["code"]  # the pages translate the code
    r = client.post("/api/join", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]
    r = client.post("/api/join", content=b"x" * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no content-length: the limit holds for a streamed body too
        for _ in range(10):
            yield b"x" * 1000

    r = client.post("/api/join", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_flood_of_joins_gets_429(tmp_path: Path, class_displays) -> None:
    session = _session(tmp_path, class_displays[0], students=4)
    client = _client(session, join_limiter=JoinLimiter(per_client=(100, 1.0), overall=(10, 60.0)))
    codes = [client.post("/api/join", json={"name": f"bot {i}"}).status_code for i in range(40)]
    assert codes[:10] == [200] * 10 and set(codes[10:]) == {429}
    assert session.store.active_students() == 10
    limiter = JoinLimiter(per_client=(3, 10.0), overall=(60, 0.1))
    assert [limiter.allow("1.2.3.4", now=0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("5.6.7.8", now=0.0) and limiter.allow("1.2.3.4", now=10.0)  # refilled
    flood = JoinLimiter()  # the defaults: a class of 30 at once passes, 300 in a second do not
    assert all(flood.allow(f"10.0.0.{i}", now=0.0) for i in range(30))
    assert sum(flood.allow(f"10.0.1.{i % 250}", now=0.5) for i in range(300)) < 40


def test_joins_stop_at_the_class_size_bound(tmp_path: Path, class_displays) -> None:
    session = _session(tmp_path, class_displays[0], students=2, max_students=3)
    client = _client(session)
    codes = [client.post("/api/join", json={"name": f"s{i}"}).status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.post("/api/join", json={"name": "late"}).json()["code"] == "class_full"


def test_teacher_removes_a_student_and_the_student_is_told(tmp_path: Path, class_displays) -> None:
    session = _session(tmp_path, class_displays[0])
    client = _teacher(_client(session), session)
    first = client.post("/api/join", json={"name": "Troll"}).json()
    r = client.post("/api/teacher/students/1/remove")
    assert r.status_code == 200 and r.json()["displays_freed"] == 4
    gone = client.get(f"/api/students/{first['student']}")
    assert gone.status_code == 410 and gone.json()["code"] == "removed"
    assert client.post("/api/teacher/students/1/remove").status_code == 404
    assert client.get("/api/teacher/status").json()["progress"]["removed"] == 1


def test_learning_practice_and_summary(tmp_path: Path, class_displays) -> None:
    zip_path, truth = class_displays
    session = _session(tmp_path, zip_path, reference=_reference(tmp_path, truth), examples=1, practice=4)
    client = _client(session)
    lesson = client.get("/api/lesson").json()
    assert sorted(e["label"] for e in lesson["examples"]) == ["e", "m", "q", "t"]  # one of each, by design
    assert len(lesson["practice"]) == 4 and set(lesson["layers"]) >= {"tracks", "ecal", "hcal", "muon"}
    pool = {d for d, _ in session.store.pool()}
    assert pool.isdisjoint(lesson["practice"]) and pool.isdisjoint(e["display"] for e in lesson["examples"])
    first = client.post("/api/join", json={"name": "Ada"}).json()
    sid = first["student"]
    right = 0
    for did in lesson["practice"]:
        assert client.get(f"/api/displays/{did}").status_code == 200
        answer = truth[session.store.display_name(did)]
        r = client.post(f"/api/students/{sid}/practice", json={"display": did, "answer": answer}).json()
        right += r["correct"]
        assert r["label"] == answer
    assert right == 4
    _label_all(client, sid, truth, session, first)
    s = client.get(f"/api/students/{sid}/summary").json()
    assert s["summary"]["answered"] == 4 and s["summary"]["practice"] == {"answered": 4, "correct": 4}
    assert s["training"]["state"] == "idle" and s["results"] is None


def test_restart_keeps_votes_token_and_student(tmp_path: Path, class_displays) -> None:
    zip_path, truth = class_displays
    session = _session(tmp_path, zip_path)
    client = _client(session)
    token = session.store.teacher_token
    first = client.post("/api/join", json={"name": "Ada"}).json()
    sid = first["student"]
    client.post(f"/api/students/{sid}/votes", json={"display": first["display"], "label": "m",
                                                     "vote_id": "before-restart"})
    session.close()
    session2 = _session(tmp_path, zip_path)
    client2 = _client(session2)
    assert session2.store.teacher_token == token
    nd = client2.get(f"/api/students/{sid}").json()
    assert (nd["index"], nd["answered"]) == (2, 1)
    assert client2.get(f"/api/displays/{first['display']}").status_code == 200  # same opaque ids
    status = client2.get("/api/teacher/status", headers={"X-Teacher-Token": token}).json()
    assert status["progress"]["votes"] == 1
    session2.close()


@pytest.mark.slow
def test_train_now_gives_a_physics_result_on_every_screen(tmp_path: Path, class_displays) -> None:
    from conftest import make_class_displays

    zip_path, truth = make_class_displays(tmp_path, n=64)
    session = _session(tmp_path, zip_path, n=32, students=16, reference=_reference(tmp_path, truth),
                       examples=1, practice=2, epochs=5)  # 5 epochs: the easy synthetic classes are learnt
    client = _teacher(_client(session, join_limiter=JoinLimiter(per_client=(100, 1.0))), session)
    r = client.post("/api/teacher/train")
    assert r.status_code == 400 and "at least 4" in r.json()["detail"]
    sids = []
    for i in range(16):
        first = client.post("/api/join", json={"name": f"s{i}"}).json()
        sids.append(first["student"])
        _label_all(client, first["student"], truth, session, first)
    r = client.post("/api/teacher/train")
    assert r.status_code == 202, r.text
    assert client.post("/api/teacher/train").status_code in (202, 409)
    deadline = time.monotonic() + 240
    fractions = []
    while (t := client.get("/api/teacher/status").json()["training"])["state"] == "running":
        fractions.append(t["fraction"])
        assert time.monotonic() < deadline, t
        time.sleep(0.3)
    assert t["state"] == "done", t
    assert fractions == sorted(fractions)
    res = client.get("/api/teacher/results").json()
    m = res["results"]["measurement"]
    assert m is not None, res["results"]["problem"]
    assert set(m["fractions"]) == set("qemt") and all(f["stat"] > 0 and f["total"] >= f["stat"]
                                                       for f in m["fractions"].values())
    assert abs(sum(f["value"] for f in m["fractions"].values()) - 1) < 1e-9
    assert m["pdg"]["fractions"]["q"] == pytest.approx(0.8738, abs=1e-3)
    assert set(m["universality"]) >= {"share_e", "share_m", "share_t"}
    held = res["results"]["heldout"]
    assert held["displays"] >= 4 and sum(map(sum, held["confusion"]["class_x_cnn"])) == held["displays"]
    assert res["results"]["reference"]["class_vs_key"]["n"] == 32  # the class labelled every display right
    assert res["results"]["reference"]["class_vs_key"]["k"] == 32
    curves = res["curves"]
    assert 1 <= len(curves["epochs"]) <= 5 and curves["validation"] >= 1 and curves["val_accuracy_ci95"][0]
    assert len(res["unsure"]) == 6 and len(res["occlusion"]) == 3
    for fig in res["unsure"] + res["occlusion"]:
        png = client.get(f"/api/teacher/figures/{fig['figure']}")
        assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (64, 64)
    board = client.get("/api/board").json()["results"]
    student = client.get(f"/api/students/{sids[0]}/summary").json()["results"]
    assert board["measurement"]["fractions"] == student["measurement"]["fractions"] == m["fractions"]
    assert "reference" not in json.dumps(board) and "reference" not in json.dumps(student)  # teacher only
    run = tmp_path / "run"
    text = (run / "predictions.csv").read_text() + (run / "class_labels.csv").read_text() + \
        (run / "split.json").read_text() + (run / "lesson.json").read_text()
    assert not any(name in text for name in truth)  # the class's run names displays by opaque id
    labels = client.get("/api/teacher/labels.csv").text
    assert labels.count("\n") == 32 and not any(name in labels for name in truth)
    session.close()


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_thirty_students_at_once_lose_no_vote(tmp_path: Path, class_displays) -> None:
    """30 students label 4 displays each at the same time over loopback, every answer sent twice."""
    session = _session(tmp_path, class_displays[0], n=32, per_student=4, students=30)
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
        progress = session.store.progress()
    assert not errors, errors[:3]
    assert len(times) == 120 and elapsed < 60
    assert progress["votes"] == 120 and len(progress["students"]) == 30
    assert all(s["answered"] == 4 for s in progress["students"])


def test_students_see_the_full_display_where_one_exists(tmp_path: Path, class_displays) -> None:
    from eventcnn.images.display_originals import DisplayOriginals

    zip_path, truth = class_displays
    full = tmp_path / "full"
    full.mkdir()
    for name in sorted(truth)[::2]:  # every other display has a full version of 150 x 120 pixels
        Image.new("RGB", (150, 120), (0, 0, 200)).convert("P", palette=Image.Palette.ADAPTIVE).save(full / f"{name}.gif")
    originals = DisplayOriginals(full)
    session = _session(tmp_path, zip_path, originals=originals)
    sizes = {}
    with _client(session) as client:
        for display_id, name in session.store.pool():
            r = client.get(f"/api/displays/{display_id}")
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            im = Image.open(io.BytesIO(r.content))
            assert not getattr(im, "text", {})  # no name rides along with the full display either
            sizes[name] = im.size
    assert sizes and all(size == ((150, 120) if name in originals.names else (64, 64)) for name, size in sizes.items())
    assert {(150, 120), (64, 64)} <= set(sizes.values())
