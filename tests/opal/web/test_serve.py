"""The ``eventcnn class`` command: serve (addresses, lock, options, signals), export, results, combine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="eventcnn class needs the 'class' extra (FastAPI)")

from eventcnn.cli import main  # noqa: E402
from eventcnn.opal import read_labels  # noqa: E402
from eventcnn.opal.ids import display_id  # noqa: E402
from eventcnn.opal.web.session import open_session  # noqa: E402

from ._server import start_class_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, zip_path: Path, port: int, *extra: str, db: str = "c.sqlite"):
    """``eventcnn class serve`` in its own process; returns (process, printed lines) once it listens."""
    return start_class_server(tmp_path, zip_path, port, *extra, db=db)


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _token(out: str) -> str:
    return out.split("token=")[1].split()[0]


def test_serve_prints_addresses_and_answers(tmp_path: Path, class_displays) -> None:
    port = _free_port()
    proc, out = _serve(tmp_path, class_displays[0], port)
    try:
        # 127.0.0.1 (the default) reaches nobody else: said in one line, with the fix
        assert "students:" not in out.replace("students (this computer only):", "")
        assert f"students (this computer only): http://127.0.0.1:{port}/" in out
        assert "warning: --host 127.0.0.1 is this computer only" in out and "--host 0.0.0.0" in out
        assert f"board:    http://127.0.0.1:{port}/board" in out and "/teacher?token=" in out
        assert "▀" in out or "█" in out  # the QR code in the terminal
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as r:
            assert json.loads(r.read()) == {"ok": True}
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/teacher", timeout=10)
        assert e.value.code == 401
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/teacher/status",
                                     headers={"X-Teacher-Token": _token(out)})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["student_urls"] == [f"http://127.0.0.1:{port}/"]
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_second_server_on_the_same_database_is_refused(tmp_path: Path, class_displays, capsys) -> None:
    port = _free_port()
    proc, out = _serve(tmp_path, class_displays[0], port)
    try:
        code = main(["class", "serve", "--data", str(class_displays[0]), "--db", str(tmp_path / "c.sqlite"),
                     "--port", str(_free_port()), "--n", "8", "--size", "64"])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1
        assert "in use by another `eventcnn class serve`" in err and f"http://127.0.0.1:{port}/" in err
        assert str(proc.pid) in err
    finally:
        proc.terminate()
        proc.wait(20)
    assert not (tmp_path / "c.sqlite.lock").exists()  # given back at the end


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_after_any_stop_the_database_file_alone_holds_every_vote(tmp_path: Path, class_displays, how: str) -> None:
    port = _free_port()
    proc, out = _serve(tmp_path, class_displays[0], port)
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        for i in range(3):
            nd = _post(f"{base}/api/join", {"name": f"s{i}"})
            sid, k = nd["student"], 0
            while nd["display"] is not None:
                r = _post(f"{base}/api/students/{sid}/votes",
                          {"display": nd["display"], "label": "qemt"[k % 4], "vote_id": f"v{i}-{k}-xxxx"})
                nd = r["next"]
                k += 1
                sent += 1
    finally:
        proc.send_signal(getattr(signal, how))
        rest = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0 and "every vote is in" in rest, rest
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tmp_path / "c.sqlite", alone / "c.sqlite")  # the .sqlite file alone, no -wal beside it
    con = sqlite3.connect(alone / "c.sqlite")
    assert sent == 24 and con.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == sent
    con.close()
    assert not (tmp_path / "c.sqlite.lock").exists()


def test_a_killed_server_restarts_with_every_vote(tmp_path: Path, class_displays) -> None:
    """SIGKILL mid-class (no clean shutdown): the restarted server has the votes, the token, the student."""
    port = _free_port()
    proc, out = _serve(tmp_path, class_displays[0], port)
    token = _token(out)
    base = f"http://127.0.0.1:{port}"
    try:
        first = _post(f"{base}/api/join", {"name": "Ada"})
        _post(f"{base}/api/students/{first['student']}/votes",
              {"display": first["display"], "label": "m", "vote_id": "vote-before-the-kill"})
    finally:
        proc.kill()  # no shutdown hook runs
        proc.wait(20)
    proc, out = _serve(tmp_path, class_displays[0], port)  # the lock died with the process
    try:
        assert _token(out) == token
        req = urllib.request.Request(f"{base}/api/teacher/status", headers={"X-Teacher-Token": token})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["progress"]["votes"] == 1
        with urllib.request.urlopen(f"{base}/api/students/{first['student']}", timeout=10) as r:
            assert json.loads(r.read())["answered"] == 1
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize(("extra", "words"), [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--students", "0"], "--students must be at least 1"),
    (["--per-student", "-2"], "--per-student must be at least 1"),
    (["--idle", "1"], "--idle must be 10 to 86400"),
    (["--size", "4"], "--size"),
    (["--url", "not a url"], "--url must be an address"),
    (["--port", "70000"], "--port must be 1 to 65535"),
    (["--out", "{db}"], "--out"),
    (["--out", "{data}"], "--out"),
    (["--out", "{tmp}"], "holds"),
    (["--db", "{data}"], "--db"),
    (["--reference", "{tmp}/none.csv"], "none.csv"),
])
def test_options_are_checked_at_start(tmp_path: Path, class_displays, capsys, extra, words) -> None:
    zip_path = class_displays[0]
    db = tmp_path / "class.sqlite"
    fill = {"db": str(db), "data": str(zip_path), "tmp": str(tmp_path)}
    argv = ["class", "serve", "--data", str(zip_path), "--db", str(db), "--port", str(_free_port()),
            "--n", "8", "--size", "64", *[e.format(**fill) for e in extra]]
    if "--db" in extra:
        argv = argv[:4] + argv[6:]  # the --db of the case replaces the default one
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err and "Error:" not in err
    assert zip_path.stat().st_size > 0 and not (tmp_path / "class.sqlite.lock").exists()


def test_export_refuses_what_is_not_a_class(tmp_path: Path, class_displays, capsys) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    session = open_session(class_displays[0], tmp_path / "empty.sqlite", n=8, size=64, quiet=True)
    session.close()  # a class with displays but no vote
    for db, words in ((notes, "not an SQLite file"), (other, "not a class database"),
                      (tmp_path / "none.sqlite", "not found"), (tmp_path / "empty.sqlite", "without any vote"),
                      (tmp_path, "folder")):
        code = main(["class", "export", "--db", str(db), "--out", str(tmp_path / "labels.csv")])
        err = capsys.readouterr().err
        assert code == 1 and words in err and err.count("\n") == 1, (db, err)
        assert not (tmp_path / "labels.csv").exists()


def test_export_never_replaces_the_database(tmp_path: Path, class_displays, capsys) -> None:
    zip_path, truth = class_displays
    session = open_session(zip_path, tmp_path / "class.sqlite", n=8, per_student=4, size=64, quiet=True)
    sid = session.join("Ada")
    while (nd := session.next_display(sid))["display"] is not None:
        session.store.vote(sid, nd["display"], truth[session.store.display_name(nd["display"])], f"x-{nd['index']}xxx")
    session.close()
    db = tmp_path / "class.sqlite"
    before = db.read_bytes()
    for argv in (["--out", str(db)], ["--out", str(tmp_path / "l.csv"), "--votes", str(db)],
                 ["--out", str(tmp_path / "l.csv"), "--votes", str(tmp_path / "l.csv")]):
        assert main(["class", "export", "--db", str(db), *argv]) == 1
        assert capsys.readouterr().err.count("\n") == 1
    assert db.read_bytes() == before
    assert main(["class", "export", "--db", str(db), "--out", str(tmp_path / "l.csv"),
                 "--votes", str(tmp_path / "v.csv")]) == 0
    labels = read_labels(tmp_path / "l.csv")
    assert labels == {f"{display_id(n)}.png": v for n, v in truth.items()
                      if f"{display_id(n)}.png" in labels} and len(labels) == 4
    assert "4 class labels" in capsys.readouterr().out
    assert main(["class", "export", "--db", str(db), "--out", str(tmp_path / "l.csv")]) == 1  # exists
    assert "--overwrite" in capsys.readouterr().err


def test_export_while_the_server_runs(tmp_path: Path, class_displays, capsys) -> None:
    port = _free_port()
    proc, out = _serve(tmp_path, class_displays[0], port)
    base = f"http://127.0.0.1:{port}"
    try:
        nd = _post(f"{base}/api/join", {"name": "Ada"})
        sid = nd["student"]
        for k in range(2):
            nd = _post(f"{base}/api/students/{sid}/votes", {"display": nd["display"], "label": "q",
                                                            "vote_id": f"live-{k}-xxxx"})["next"]
        assert main(["class", "export", "--db", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "l.csv"),
                     "--votes", str(tmp_path / "v.csv")]) == 0
        assert (tmp_path / "v.csv").read_text().count("\n") == 3  # header + the 2 committed votes
    finally:
        proc.terminate()
        proc.wait(20)


def _fake_lesson(run: Path, seed: int = 0) -> None:
    """A lesson.json as the training job writes it (a CNN that is right 90 % of the time)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    truth = rng.choice(list("qemt"), size=400, p=[0.874, 0.042, 0.042, 0.042])
    pred = np.where(rng.random(400) < 0.9, truth, rng.choice(list("qemt"), size=400))
    held_true = np.repeat(list("qemt"), [16, 8, 8, 8])
    held_pred = np.where(rng.random(40) < 0.9, held_true, rng.choice(list("qemt"), size=40))
    run.mkdir(parents=True, exist_ok=True)
    (run / "lesson.json").write_text(json.dumps({
        "version": 1, "labels": 125, "per_class": {"q": 60, "e": 20, "m": 22, "t": 23}, "trained_on": 85,
        "validation": 17, "heldout": [[f"d{i:08d}", t, p] for i, (t, p) in enumerate(zip(held_true, held_pred))],
        "measured": [[f"d{i + 100:08d}", p] for i, p in enumerate(pred)],
        "history": [{"loss": 1.0, "val_loss": 0.8, "accuracy": 0.7, "val_accuracy": 0.8}], "best_epoch": 1,
        "epochs_max": 12, "pretrained": {"weights": "sim", "said": "x"}, "settings": {"epochs": 12},
        "tta_copies": 1, "heldout_share": 0.3, "seconds": 50.0, "unsure": [], "occlusion": []}))
    (run / "class_labels.csv").write_text("".join(f"d{i:08d}.png;{t}\n" for i, t in enumerate(held_true)))


def test_results_and_combine(tmp_path: Path, class_displays, capsys) -> None:
    paths = []
    for k in range(2):
        session = open_session(class_displays[0], tmp_path / f"class{k}.sqlite", n=8, size=64, quiet=True,
                               out=tmp_path / f"run{k}")
        session.close()
        code = main(["class", "results", "--db", str(tmp_path / f"class{k}.sqlite"), "--out",
                     str(tmp_path / f"r{k}.json")])
        assert code == 1 and "has not trained yet" in capsys.readouterr().err
        _fake_lesson(tmp_path / f"run{k}", seed=k)
        assert main(["class", "results", "--db", str(tmp_path / f"class{k}.sqlite"), "--out",
                     str(tmp_path / f"r{k}.json"), "--name", f"school {k}"]) == 0
        assert "displays measured" in capsys.readouterr().out
        paths.append(tmp_path / f"r{k}.json")
    res = json.loads(paths[0].read_text())
    assert res["format"] == "eventcnn-class-results" and res["version"] == 1 and res["name"] == "school 0"
    m = res["measurement"]
    assert m["n_displays"] == 400 + 125 and all(m["fractions"][c]["stat"] > 0 for c in "qemt")
    assert res["training"]["confusion_from"].startswith("held-out") and res["training"]["heldout"] == 40
    assert res["counts"]["classified_by_cnn"] == 400 and res["counts"]["labelled"] == 125
    assert main(["class", "combine", *map(str, paths), "--out", str(tmp_path / "all")]) == 0
    combined = json.loads((tmp_path / "all" / "combined.json").read_text())
    assert combined["n_inputs"] == 2 and combined["n_displays"] == 2 * 525
    assert combined["fractions"]["m"]["total"] < min(json.loads(p.read_text())["measurement"]["fractions"]["m"]
                                                     ["total"] for p in paths)
    assert [i["name"] for i in combined["inputs"]] == ["school 0", "school 1"]
    assert (tmp_path / "all" / "combined.png").stat().st_size > 1000
    assert main(["class", "combine", str(paths[0]), "--out", str(tmp_path / "all")]) == 1  # no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    assert main(["class", "combine", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")]) == 1
    assert "holds no measurement" in capsys.readouterr().err


def test_serve_help_and_documented_commands(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["class", "serve", "--help"])
    text = capsys.readouterr().out
    for opt in ("--host", "--port", "--students", "--url", "--reference", "0.0.0.0"):
        assert opt in text
    guide = (ROOT / "docs" / "opal.md").read_text()
    for cmd in ("eventcnn class serve", "eventcnn class export", "eventcnn class results", "eventcnn class combine",
                "/board", "--students", "--url", "--reference"):
        assert cmd in guide, cmd


def test_the_class_labels_what_opal_suggest_picks(tmp_path: Path, class_displays, capsys) -> None:
    session = open_session(class_displays[0], tmp_path / "class.sqlite", n=12, size=64, quiet=True)
    assert main(["opal", "suggest", "--data", str(class_displays[0]), "--n", "12"]) == 0  # the same default seed
    printed = capsys.readouterr().out.split()
    assert [f"{display_id(name)}.png" for _, name in session.store.pool()] == printed
    session.close()


def test_lock_file_names_the_first_server(tmp_path: Path, class_displays) -> None:
    first = open_session(class_displays[0], tmp_path / "class.sqlite", n=8, size=64, quiet=True,
                         address="http://10.1.2.3:8000/")
    try:
        info = json.loads((tmp_path / "class.sqlite.lock").read_text())
        assert info["address"] == "http://10.1.2.3:8000/" and info["pid"] == os.getpid()
        with pytest.raises(Exception, match="http://10.1.2.3:8000/"):
            open_session(class_displays[0], tmp_path / "class.sqlite", n=8, size=64, quiet=True)
    finally:
        first.close()
    open_session(class_displays[0], tmp_path / "class.sqlite", n=8, size=64, quiet=True).close()
