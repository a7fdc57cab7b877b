"""eventcnn.opal.web.supervisor: the training job seen from the server (plan by opaque id, resume, plain errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventcnn.opal.ids import display_id
from eventcnn.opal.web.store import ClassStore
from eventcnn.opal.web.supervisor import LESSON_FILE, STATUS_FILE, TrainingJob, figure_file

NAMES = [f"e{i}_{i * 7}" for i in range(12)]


def _store(tmp_path: Path) -> ClassStore:
    store = ClassStore(tmp_path / "class.sqlite")
    store.set_pool(NAMES, fingerprint="set-a")
    return store


def test_figure_keys_map_to_fixed_files() -> None:
    assert figure_file("unsure3") == "unsure_3.png" and figure_file("occlusion0") == "occlusion_0.png"
    for bad in ("unsure", "unsure12", "../x", "lesson0", "unsure-1", "occlusion_0"):
        assert figure_file(bad) is None


def test_a_restarted_server_shows_the_last_training(tmp_path: Path) -> None:
    store = _store(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / STATUS_FILE).write_text(json.dumps({"state": "done", "runs": 2, "finished": 1.0}))
    (run / LESSON_FILE).write_text(json.dumps({"labels": 9, "heldout": [], "measured": []}))
    job = TrainingJob(store, out=run, source=tmp_path / "displays.zip")
    assert job.status()["state"] == "done" and job.status()["runs"] == 2 and job.lesson()["labels"] == 9
    (run / LESSON_FILE).write_text("{damaged")
    assert TrainingJob(store, out=run, source=tmp_path / "displays.zip").status()["state"] == "idle"


def test_too_few_labels_and_a_failed_child_are_plain_words(tmp_path: Path) -> None:
    store = _store(tmp_path)
    job = TrainingJob(store, out=tmp_path / "new", source=tmp_path / "displays.zip")
    assert job.status()["state"] == "idle"
    assert job.start() and (job.join(30) or True)
    failed = job.status()
    assert failed["state"] == "failed" and "at least 4" in failed["error"]
    sids = [store.add_student(f"s{i}", per_student=12) for i in range(2)]
    for sid in sids:
        while (nd := store.next_display(sid))["display"] is not None:
            store.vote(sid, nd["display"], "q", f"{sid[:6]}-{nd['index']}xx")
    assert job.labels() == {display_id(n): "q" for n in NAMES}  # by opaque id
    assert job.start() and (job.join(120) or True)  # the displays file does not exist: the child says so
    failed = job.status()
    assert failed["state"] == "failed" and "displays.zip" in failed["error"], failed
    assert "Error" not in failed["error"] and "Traceback" not in failed["error"]
    plan = json.loads((tmp_path / "new" / "lesson_plan.json").read_text())
    assert set(plan["labels"]) == {display_id(n) for n in NAMES} and not any(n in json.dumps(plan) for n in NAMES)


def test_the_standby_process_makes_the_simulated_displays_ahead_and_ends_with_the_server(tmp_path: Path) -> None:
    pytest.importorskip("pythia8mc", reason="simulated displays need Pythia 8 (pip install pythia8mc)")
    from eventcnn.opal.lesson_job import SIM_POOL_FILE, pool_ready
    from eventcnn.opal.web.supervisor import STANDBY_LOG

    store = _store(tmp_path)
    settings = {"epochs": 1, "weights": "sim", "sim_displays": 8}
    job = TrainingJob(store, out=tmp_path / "run", source=tmp_path / "displays.zip", seed=7, settings=settings)
    assert job.prepare() and not job.prepare()  # one at a time
    assert job._standby.wait(120) == 1  # the pool first; then the displays file is missing: it gives up
    assert pool_ready(tmp_path / "run" / SIM_POOL_FILE, 8, 7)  # the pool of this class's seed and settings
    assert "displays.zip" in (tmp_path / "run" / STANDBY_LOG).read_text()
    assert job.prepare()  # again (it had ended): finds the pool there
    job.stop()  # the server closes: the process ends with it, and nothing new starts
    assert job._standby.poll() is not None and not job.prepare()


@pytest.mark.slow
def test_train_now_hands_the_plan_to_the_process_on_standby(tmp_path: Path, class_displays) -> None:
    from eventcnn.opal.web.supervisor import STANDBY_LOG

    zip_path, _ = class_displays
    store = _store(tmp_path)  # labels of displays that are not in the zip: the job says so, by plan
    sids = [store.add_student(f"s{i}", per_student=12) for i in range(2)]
    for sid in sids:
        while (nd := store.next_display(sid))["display"] is not None:
            store.vote(sid, nd["display"], "q", f"{sid[:6]}-{nd['index']}xx")
    job = TrainingJob(store, out=tmp_path / "run", source=zip_path, size=64, settings={"epochs": 1, "weights": "none"})
    assert job.prepare()
    standby = job._standby
    assert job.start() and (job.join(300) or True)
    failed = job.status()
    assert failed["state"] == "failed" and "label some events first" in failed["error"], failed
    assert job._proc is None and standby.poll() == 1  # that process trained (and said why it could not)
    assert (tmp_path / "run" / "class_training.log").is_file()
    assert job._standby is not standby and job._standby.poll() is None  # the next one is on standby
    job.stop()
    assert job._standby.poll() is not None
    assert (tmp_path / "run" / STANDBY_LOG).is_file()
