"""`eventcnn class` without a web server: the SQLite store, the assignment, the exports."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from eventcnn.errors import UserError
from eventcnn.opal import read_labels
from eventcnn.opal.web.assign import assign, capacity_note
from eventcnn.opal.web.export import labels_text, snapshot, votes_text, write_exports
from eventcnn.opal.web.store import ClassStore, StoreError, clean_name, majority

ROOT = Path(__file__).resolve().parents[3]
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
    with pytest.raises(StoreError, match="1 to 40"):
        store.add_student("\u200b\x07 \u202e", per_student=3)  # nothing visible left


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
    from eventcnn.opal.ids import display_id

    assert read_labels(tmp_path / "labels.csv") == {f"{display_id(NAMES[0])}.png": "q",
                                                   f"{display_id(NAMES[3])}.png": "t"}
    assert not any(n in (tmp_path / "labels.csv").read_text() + (tmp_path / "votes.csv").read_text()
                   for n in NAMES)  # names begin with the class: never in an export
    assert labels_text(store) == (tmp_path / "labels.csv").read_text()
    rows = (tmp_path / "votes.csv").read_text().splitlines()
    assert rows[0] == "display;label;student;time" and len(rows) == 9
    assert all(len(r.split(";")) == 4 for r in rows)  # the ';' in a name cannot break a row
    assert "Bo,b X (#2)" in votes_text(store)


def test_web_modules_import_without_fastapi_or_keras() -> None:
    code = ("import sys\n"
            "import eventcnn.opal.web, eventcnn.opal.web.store, eventcnn.opal.web.assign\n"
            "import eventcnn.opal.web.session, eventcnn.opal.web.export, eventcnn.opal.web.supervisor\n"
            "import eventcnn.opal.web.results, eventcnn.opal.web.network, eventcnn.opal.web.settings\n"
            "bad = sorted(m for m in ('fastapi', 'starlette', 'keras', 'tensorflow') if m in sys.modules)\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_names_lose_control_and_invisible_characters() -> None:
    assert clean_name("  Ada\u200b \x07Love\u202elace\n") == "Ada Lovelace"
    assert clean_name("Zoë") == "Zoë" and clean_name("Zoe\u0308") == "Zoë"  # NFC
    assert clean_name("李 小龙") == "李 小龙"
    for bad in ("", "   ", "\u200b\u200d", "\x00\x1b[31m"[:1], "x" * 41):
        with pytest.raises(StoreError) as e:
            clean_name(bad)
        assert e.value.status == 422 and e.value.code == "name_invalid"


def test_undo_gives_the_display_back(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.add_student("Ada", per_student=3)
    assert store.undo(sid) == {"undone": False, "display": None, "label": None}
    first = store.next_display(sid)["display"]
    store.vote(sid, first, "m", "undo-1xxxx")
    second = store.next_display(sid)["display"]
    store.vote(sid, second, "q", "undo-2xxxx")
    done = store.undo(sid)
    assert done == {"undone": True, "display": second, "label": "q"}
    nd = store.next_display(sid)
    assert (nd["display"], nd["index"], nd["answered"]) == (second, 2, 1)
    assert store.undo(sid)["display"] == first and store.next_display(sid)["display"] == first
    assert store.votes() == []
    assert store.vote(sid, first, "e", "undo-3xxxx")["status"] == "new"


def test_silent_students_give_their_displays_back_and_get_new_ones(tmp_path: Path) -> None:
    store = _store(tmp_path, [f"d{i}" for i in range(8)])
    a = store.add_student("Ada", per_student=4, overlap=1)
    b = store.add_student("Bo", per_student=4, overlap=1)
    store.vote(a, store.next_display(a)["display"], "q", "idle-1xxxx")
    ada_left = {r[0] for r in store._all("SELECT display FROM assignments WHERE student=?", (a,))}
    now = time.time()
    store.last_seen[a], store.last_seen[b] = now - 100, now  # Ada went silent, Bo is labelling
    assert store.release_idle(60, now=now) == 3  # Ada's three unanswered displays
    ada_kept = {r[0] for r in store._all("SELECT display FROM assignments WHERE student=?", (a,))}
    assert len(ada_kept) == 1 and store.votes()[0]["display_id"] in ada_kept  # her answer stays
    c = store.add_student("Cy", per_student=4, overlap=1)
    cy = {r[0] for r in store._all("SELECT display FROM assignments WHERE student=?", (c,))}
    assert ada_left - ada_kept <= cy  # the freed displays go to the next student
    back = store.next_display(a, per_student=4, overlap=1)  # Ada comes back: topped up to 4 again
    assert back["total"] == 4 and back["answered"] == 1 and back["display"] is not None


def test_teacher_removes_a_student(tmp_path: Path) -> None:
    store = _store(tmp_path, NAMES[:4])
    a = store.add_student("Ada", per_student=4)
    b = store.add_student("Troll", per_student=4)
    for sid, lab in ((a, "q"), (b, "t")):
        _answer_all(store, sid, lab)
    assert store.labels() == {}  # q vs t on every display: ties
    out = store.remove_student(2)
    assert out["name"] == "Troll" and out["displays_freed"] == 0
    assert set(store.labels().values()) == {"q"} and len(store.progress()["students"]) == 1
    assert store.progress()["removed"] == 1
    with pytest.raises(StoreError) as e:
        store.vote(b, store.pool()[0][0], "t", "after-removal")
    assert e.value.status == 410 and e.value.code == "removed"
    with pytest.raises(StoreError, match="no student number 7"):
        store.remove_student(7)


def test_joins_are_bounded(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for i in range(3):
        store.add_student(f"s{i}", per_student=2, max_students=3)
    with pytest.raises(StoreError) as e:
        store.add_student("one too many", per_student=2, max_students=3)
    assert e.value.status == 429 and e.value.code == "class_full"
    store.remove_student(1)
    store.add_student("in again", per_student=2, max_students=3)  # removal frees a place


def test_more_displays_for_a_finished_student(tmp_path: Path) -> None:
    store = _store(tmp_path, [f"d{i}" for i in range(6)])
    a = store.add_student("Ada", per_student=2, overlap=1)
    _answer_all(store, a)
    assert store.more(a, 2, overlap=1) == 2 and store.next_display(a)["display"] is not None
    _answer_all(store, a)
    assert store.more(a, 5, overlap=1) == 2  # only 2 displays left below the overlap
    _answer_all(store, a)
    assert store.more(a, 5, overlap=1) == 0


def test_practice_answers_are_checked(tmp_path: Path) -> None:
    store = _store(tmp_path, NAMES[:4])
    store.set_extras([(NAMES[4], "e")], [(NAMES[5], "m")])
    with pytest.raises(UserError, match="not be in the pool"):
        fresh = ClassStore(tmp_path / "other.sqlite")
        fresh.set_pool(NAMES[:4], "set-a")
        fresh.set_extras([(NAMES[0], "q")], [])
    sid = store.add_student("Ada", per_student=2)
    practice = store.extras("practice")[0]["id"]
    assert store.practice_answer(sid, practice, "t") == {"correct": False, "label": "m"}
    assert store.practice_answer(sid, practice, "m") == {"correct": True, "label": "m"}
    assert store.student_summary(sid)["practice"] == {"answered": 1, "correct": 0}  # the first answer counts
    with pytest.raises(StoreError) as e:
        store.practice_answer(sid, store.extras("example")[0]["id"], "e")
    assert e.value.status == 404
    assert store.display_name(practice) == NAMES[5]


def test_student_summary_counts_agreement_with_classmates(tmp_path: Path) -> None:
    store = _store(tmp_path, NAMES[:3])
    a = store.add_student("Ada", per_student=3)
    b = store.add_student("Bo", per_student=3)
    by_name = {n: i for i, n in store.pool()}
    for sid, labels in ((a, "qes"), (b, "qmt")):
        for name, lab in zip(NAMES[:3], labels):
            store.vote(sid, by_name[name], "skip" if lab == "s" else lab, f"{sid[:6]}-{name}")
    s = store.student_summary(a)
    assert (s["answered"], s["compared"], s["agree"]) == (3, 2, 1)
    assert s["per_class"] == {"q": 1, "e": 1, "m": 0, "t": 0, "skip": 1}


def test_close_leaves_every_vote_in_the_database_file(tmp_path: Path) -> None:
    import shutil

    store = _store(tmp_path)
    sid = store.add_student("Ada", per_student=3)
    _answer_all(store, sid, "e")
    assert (tmp_path / "class.sqlite-wal").stat().st_size > 0  # the votes are in the log so far
    store.close()
    assert not (tmp_path / "class.sqlite-wal").exists() or (tmp_path / "class.sqlite-wal").stat().st_size == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(tmp_path / "class.sqlite", copy / "class.sqlite")  # the file alone
    assert sqlite3.connect(copy / "class.sqlite").execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 3


def test_checkpoint_copies_the_log_into_the_file(tmp_path: Path) -> None:
    import shutil

    store = _store(tmp_path)
    sid = store.add_student("Ada", per_student=2)
    _answer_all(store, sid, "m")
    store.checkpoint()
    shutil.copy(tmp_path / "class.sqlite", tmp_path / "alone.sqlite")
    assert sqlite3.connect(tmp_path / "alone.sqlite").execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 2


def test_a_vanished_database_refuses_writes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.add_student("Ada", per_student=2)
    (tmp_path / "class.sqlite").unlink()
    assert "deleted or moved" in store.check_file()
    with pytest.raises(StoreError) as e:
        store.vote(sid, store.next_display(sid)["display"], "q", "lost-vote")
    assert e.value.status == 503 and e.value.code == "db_gone"
    store.close()  # no checkpoint into a file nobody will find, no error


def test_files_that_are_not_class_databases(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(UserError, match="not a class database .not an SQLite file"):
        ClassStore(text)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE people (name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="not a class database .its tables: people"):
        ClassStore(other)
    assert [r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")] == ["people"]  # untouched
    with pytest.raises(UserError, match="is a folder"):
        ClassStore(tmp_path)
    for path, words in ((text, "not an SQLite file"), (other, "not a class database"),
                        (tmp_path / "none.sqlite", "not found")):
        with pytest.raises(UserError, match=words):
            snapshot(path)
    empty = ClassStore(tmp_path / "empty.sqlite")
    empty.close()
    with pytest.raises(UserError, match="holds no class yet"):
        snapshot(tmp_path / "empty.sqlite")


def test_snapshot_is_consistent_while_another_connection_writes(tmp_path: Path) -> None:
    store = _store(tmp_path, [f"d{i}" for i in range(40)])
    sids = [store.add_student(f"s{i}", per_student=4) for i in range(10)]
    stop = threading.Event()

    def write() -> None:
        k = 0
        while not stop.is_set():
            for sid in sids:
                nd = store.next_display(sid)
                if nd["display"] is None:
                    store.undo(sid)
                else:
                    store.vote(sid, nd["display"], "q", f"w{k}-{sid[:8]}")
                k += 1

    t = threading.Thread(target=write)
    t.start()
    try:
        for _ in range(20):
            snap = snapshot(tmp_path / "class.sqlite")
            votes = snap.votes()
            progress = snap.progress()
            assert progress["votes"] == len(votes) == sum(s["answered"] for s in progress["students"])
            snap.close()
    finally:
        stop.set()
        t.join(30)


def test_the_choice_of_displays_is_cached(tmp_path: Path, class_displays, monkeypatch) -> None:
    from eventcnn.opal.web import assign as assign_module
    from eventcnn.opal.web.assign import choose_pool, pool_cache_key

    zip_path = class_displays[0]
    first = choose_pool(zip_path, 8, seed=1)
    assert len(first) == 8

    def boom(*a, **k):
        raise AssertionError("suggest ran again")

    monkeypatch.setattr(assign_module, "suggest", boom)
    assert choose_pool(zip_path, 8, seed=1) == first  # from the cache: a new class starts at once
    key = pool_cache_key(zip_path, 8, 1)
    assert key != pool_cache_key(zip_path, 8, 2) and key != pool_cache_key(zip_path, 9, 1)
    with open(zip_path, "ab") as fh:  # other bytes: another key, the choice is made again
        fh.write(b"\0")
    assert pool_cache_key(zip_path, 8, 1) != key
    with pytest.raises(AssertionError, match="suggest ran again"):
        choose_pool(zip_path, 8, seed=1)
    monkeypatch.undo()
    assert choose_pool(zip_path, 8, seed=1, cache=False) == first
