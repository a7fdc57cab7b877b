"""`eventcnn class` without a web server: the SQLite store, the assignment, the exports."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from eventcnn.errors import UserError
from eventcnn.opal import read_labels
from eventcnn.opal.web.assign import assign, capacity_note
from eventcnn.opal.web.export import labels_text, votes_text, write_exports
from eventcnn.opal.web.store import ClassStore, StoreError, majority

ROOT = Path(__file__).resolve().parents[1]
NAMES = [f"e{i}_{i * 7}" for i in range(12)]


def _store(tmp_path: Path, names=NAMES) -> ClassStore:
    store = ClassStore(tmp_path / "class.sqlite")
    store.set_pool(names, fingerprint="set-a")
    return store


def _answer_all(store: ClassStore, sid: str, label: str = "q") -> None:
    while (nd := store.next_display(sid))["display"] is not None:
        store.vote(sid, nd["display"], label, f"vote-{sid}-{nd['index']}")


def test_assign_covers_the_pool_before_repeating_and_caps_overlap() -> None:
    pool = [f"d{i}" for i in range(10)]
    coverage: dict[str, int] = {}
    given = []
    for student in range(1, 6):  # 5 students x 4 = 20 = 10 displays x 2
        mine = assign(pool, coverage, per_student=4, overlap=2, seed=3, student=student)
        assert len(set(mine)) == 4
        given.append(mine)
        for d in mine:
            coverage[d] = coverage.get(d, 0) + 1
    assert sorted(pool[:8]) == sorted(set(given[0] + given[1]))  # suggest order first
    assert {"d8", "d9"} <= set(given[2])  # the third student completes the first cover
    assert set(coverage.values()) == {2}  # each display to exactly two students
    again = assign(pool, coverage, per_student=4, overlap=2, seed=3, student=6)
    assert len(again) == 4  # beyond the overlap: still served, a third time
    assert assign(pool, {}, 4, seed=3, student=1) == assign(pool, {}, 4, seed=3, student=1)
    assert assign(pool, {}, 10, seed=3, student=1) != pool  # shown order shuffled
    with pytest.raises(ValueError, match="per_student"):
        assign(pool, {}, 0)
    assert "room for 10 students" in capacity_note(50, 10, 2)


def test_majority_skips_and_ties() -> None:
    assert majority(["q", "q", "t"]) == "q"
    assert majority(["q", "t"]) == "" and majority(["skip", "skip"]) == "" and majority([]) == ""
    assert majority(["skip", "m"]) == "m"


def test_store_wal_token_and_opaque_ids(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    token = store.teacher_token
    assert len(token) >= 30
    ids = [i for i, _ in store.pool()]
    assert [n for _, n in store.pool()] == NAMES and len(set(ids)) == len(ids)
    assert not any(n in i or i in n for i, n in store.pool())
    store.close()
    again = ClassStore(tmp_path / "class.sqlite")
    assert again.teacher_token == token and [i for i, _ in again.pool()] == ids
    other = ClassStore(tmp_path / "other.sqlite")
    other.set_pool(NAMES, fingerprint="set-a")
    assert {i for i, _ in other.pool()}.isdisjoint(ids)  # random, not derived from names
    assert other.teacher_token != token
    with pytest.raises(UserError, match="another set of displays"):
        again.set_pool(["x"], fingerprint="set-b")


def test_votes_once_per_display_double_tap_and_changes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.add_student("  Ada   Lovelace ", per_student=3, overlap=2)
    assert store.student(sid)["name"] == "Ada Lovelace"
    nd = store.next_display(sid)
    assert (nd["index"], nd["total"], nd["answered"]) == (1, 3, 0)
    d = nd["display"]
    assert store.vote(sid, d, "q", "tap-one-xx")["status"] == "new"
    assert store.vote(sid, d, "q", "tap-one-xx")["status"] == "repeat"  # double tap
    assert store.vote(sid, d, "t", "tap-one-xx")["status"] == "repeat"  # same id: no change
    assert [v["label"] for v in store.votes()] == ["q"]
    assert store.vote(sid, d, "e", "tap-two-xx")["status"] == "changed"
    assert [v["label"] for v in store.votes()] == ["e"]
    assert store.next_display(sid)["index"] == 2
    with pytest.raises(StoreError, match="label must be") as e:
        store.vote(sid, d, "x", "tap-3-xxxx")
    assert e.value.status == 422
    other = [i for i, _ in store.pool() if i not in {a for a in _assigned(store, sid)}][0]
    with pytest.raises(StoreError, match="not one of yours") as e:
        store.vote(sid, other, "q", "tap-4-xxxx")
    assert e.value.status == 403
    sid2 = store.add_student("Bo", per_student=3)
    with pytest.raises(StoreError, match="already used") as e:
        store.vote(sid2, store.next_display(sid2)["display"], "q", "tap-two-xx")
    assert e.value.status == 409
    with pytest.raises(StoreError, match="unknown student") as e:
        store.vote("nobody-here", d, "q", "tap-5-xxxx")
    assert e.value.status == 404
    with pytest.raises(StoreError, match="1 to 40"):
        store.add_student("x" * 41, per_student=3)


def _assigned(store: ClassStore, sid: str) -> list[str]:
    return [r[0] for r in store._db.execute("SELECT display FROM assignments WHERE student=?", (sid,))]


def test_restart_keeps_votes_and_students_go_on(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.add_student("Ada", per_student=4)
    first = store.next_display(sid)["display"]
    store.vote(sid, first, "m", "restart-1x")
    # a second process sees the committed vote at once (WAL, committed before returning)
    raw = sqlite3.connect(tmp_path / "class.sqlite")
    assert raw.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 1
    raw.close()
    store.close()
    again = ClassStore(tmp_path / "class.sqlite")
    nd = again.next_display(sid)
    assert nd["index"] == 2 and nd["answered"] == 1 and nd["display"] != first
    assert again.vote(sid, first, "m", "restart-1x")["status"] == "repeat"


def test_concurrent_votes_none_lost(tmp_path: Path) -> None:
    store = _store(tmp_path, [f"d{i}" for i in range(60)])
    sids = [store.add_student(f"s{i}", per_student=6) for i in range(20)]
    errors = []

    def work(sid: str) -> None:
        try:
            _answer_all(store, sid, "t")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(store.votes()) == 120
    p = store.progress()
    assert p["per_class"]["t"] == 120 and all(s["answered"] == 6 for s in p["students"])
    assert p["displays_twice"] == 60 and p["agreement"]["share"] == 1.0


def test_progress_agreement_and_exports(tmp_path: Path) -> None:
    store = _store(tmp_path, NAMES[:4])
    a = store.add_student("Ada", per_student=4, overlap=2)
    b = store.add_student("Bo;b\nX", per_student=4, overlap=2)
    by_name = {n: i for i, n in store.pool()}
    for sid, labels in ((a, ["q", "e", "skip", "t"]), (b, ["q", "m", "skip", "t"])):
        for name, lab in zip(NAMES[:4], labels):
            store.vote(sid, by_name[name], lab, f"{sid[:8]}-{name}")
    p = store.progress()
    assert p["agreement"] == {"pairs": 3, "agree": 2, "share": pytest.approx(2 / 3)}
    assert p["ties"] == 1 and p["per_class"]["skip"] == 2
    assert store.labels() == {NAMES[0]: "q", NAMES[3]: "t"}
    counts = write_exports(store, tmp_path / "labels.csv", tmp_path / "votes.csv")
    assert counts == {"labels": 2, "votes": 8, "undecided": 2}
    assert read_labels(tmp_path / "labels.csv") == {f"{NAMES[0]}.png": "q", f"{NAMES[3]}.png": "t"}
    assert labels_text(store) == (tmp_path / "labels.csv").read_text()
    rows = (tmp_path / "votes.csv").read_text().splitlines()
    assert rows[0] == "display;label;student;time" and len(rows) == 9
    assert all(len(r.split(";")) == 4 for r in rows)  # the ';' in a name cannot break a row
    assert "Bo,b X (#2)" in votes_text(store)


def test_web_modules_import_without_fastapi_or_keras() -> None:
    code = ("import sys\n"
            "import eventcnn.opal.web, eventcnn.opal.web.store, eventcnn.opal.web.assign\n"
            "import eventcnn.opal.web.session, eventcnn.opal.web.export, eventcnn.opal.web.training\n"
            "bad = sorted(m for m in ('fastapi', 'starlette', 'keras', 'tensorflow') if m in sys.modules)\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_training_job_shows_the_last_training_after_a_restart(tmp_path: Path) -> None:
    import json

    import numpy as np

    from eventcnn.opal.web.training import FIGURES, STATUS_FILE, TrainingJob

    store = _store(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / FIGURES["overview"]).write_bytes(b"png")
    (run / STATUS_FILE).write_text(json.dumps({"state": "done", "figures": ["overview", "unsure"],
                                               "summary": {"labels": 9}, "runs": 2}))
    job = TrainingJob(np.array(NAMES), store, out=run, source=tmp_path / "displays.zip")
    st = job.status()
    assert st["state"] == "done" and st["figures"] == ["overview"] and st["runs"] == 2  # missing file dropped
    fresh = TrainingJob(np.array(NAMES), store, out=tmp_path / "new", source=tmp_path / "displays.zip")
    assert fresh.status()["state"] == "idle"
    assert fresh.start() and (fresh.join(30) or True)
    failed = fresh.status()
    assert failed["state"] == "failed" and "at least 4" in failed["error"]  # no labels: a clear error
