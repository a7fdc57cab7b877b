"""eventcnn.opal.lesson_job: the classroom's training job (held-out part, run by opaque id, plain errors)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eventcnn.opal.lesson_job import HELDOUT_SHARE, LESSON_FILE, PREFIX, heldout_mask

ROOT = Path(__file__).resolve().parents[2]


def test_the_heldout_part_is_stratified_and_never_a_class_s_only_label() -> None:
    labels = np.array(["q"] * 40 + ["e"] * 5 + ["m"] * 2 + ["t"] + [""] * 30)
    m = heldout_mask(labels, HELDOUT_SHARE, seed=3)
    assert not m[labels == ""].any()  # only class-labelled displays are held out
    per = {c: int(m[labels == c].sum()) for c in "qemt"}
    assert per["q"] == 12 and 1 <= per["e"] <= 2 and per["m"] == 1 and per["t"] == 0
    assert (m == heldout_mask(labels, HELDOUT_SHARE, seed=3)).all()  # seeded
    assert not (m == heldout_mask(labels, HELDOUT_SHARE, seed=4)).all()
    assert not heldout_mask(np.array(["", ""]), 0.3, 1).any()


def test_the_job_reports_a_user_mistake_in_plain_words(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"labels": {}, "seed": 1, "settings": {}}))
    out = subprocess.run([sys.executable, "-m", "eventcnn.opal.lesson_job", "--data", str(tmp_path / "none.zip"),
                          "--plan", str(plan), "--out", str(tmp_path / "run")], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "EVENTCNN_QUIET": "1"}, timeout=120)
    assert out.returncode == 1
    msg = json.loads([line for line in out.stdout.splitlines() if line.startswith(PREFIX)][-1][len(PREFIX):])
    assert "none.zip" in msg["error"] and "Error" not in msg["error"] and "Traceback" not in msg["error"]
    assert not (tmp_path / "run" / LESSON_FILE).exists()


@pytest.mark.slow
def test_run_lesson_trains_by_id_and_holds_a_part_out(tmp_path: Path, class_displays) -> None:
    from eventcnn.opal import load_displays
    from eventcnn.opal.ids import display_ids
    from eventcnn.opal.lesson_job import run_lesson

    zip_path, truth = class_displays
    data = load_displays(zip_path, None, size=64, quiet=True)
    ids = np.array(display_ids(data.names))
    names = list(data.names)
    labelled = {i: truth[n] for i, n in zip(ids, names)}
    labels = dict(list(labelled.items())[:20])
    exclude = list(ids[20:22])
    stages = []
    lesson = run_lesson(data.images, ids, {"labels": labels, "exclude": exclude, "seed": 1,
                                           "settings": {"epochs": 1}, "n_unsure": 2, "n_occlusion": 1},
                        tmp_path / "run", report=lambda stage, f, **kw: stages.append(stage))
    assert json.loads((tmp_path / "run" / LESSON_FILE).read_text()) == json.loads(json.dumps(lesson))
    held = {i for i, _, _ in lesson["heldout"]}
    measured = {i for i, _ in lesson["measured"]}
    assert len(held) == 8 and held <= set(labels) and not held & measured  # 30 % of 5 per class: 2 each
    assert measured == set(ids) - set(labels) - set(exclude)  # every display nobody labelled, no extra
    assert lesson["trained_on"] == 12 and lesson["labels"] == 20
    assert all(t == labels[i] for i, t, _ in lesson["heldout"])
    assert "epoch" in stages and "occlusion" in stages
    assert (tmp_path / "run" / "unsure_1.png").is_file() and (tmp_path / "run" / "occlusion_0.png").is_file()
    text = "".join(p.read_text(errors="ignore") for p in (tmp_path / "run").glob("*.*") if p.suffix in (".csv", ".json"))
    assert not any(n in text for n in names)  # the run names displays by opaque id only


@pytest.mark.slow
def test_the_simulated_displays_made_in_their_own_process_are_those_train_would_make(tmp_path: Path) -> None:
    pytest.importorskip("pythia8mc", reason="simulated displays need Pythia 8 (pip install pythia8mc)")
    from eventcnn.learn import train_arrays as opal_model  # where training looks the pool up
    from eventcnn.learn.recipes import RecipeConfig
    from eventcnn.opal import lesson_job

    proc = lesson_job.start_simulation(8, 3, tmp_path / "pool.zip")
    assert proc is not None and proc.wait(300) == 0
    pngs, codes = lesson_job._read_pool(tmp_path / "pool.zip")
    here = opal_model.simulated_batch_pool(RecipeConfig(sim_displays=8, seed=3))
    assert pngs == here[0] and codes.tolist() == here[1].tolist()  # byte for byte
    calls = []
    original = opal_model.simulated_batch_pool
    with lesson_job._use_pool(proc, tmp_path / "pool.zip", 8, 3):
        assert opal_model.simulated_batch_pool(RecipeConfig(sim_displays=8, seed=3))[0] == pngs
        opal_model_pool = opal_model.simulated_batch_pool
        assert opal_model_pool is not original
        calls.append(len(opal_model.simulated_batch_pool(RecipeConfig(sim_displays=4, seed=3))[0]))
    assert calls == [4] and opal_model.simulated_batch_pool is original  # other settings: made in place; restored


def _pool_zip(path: Path, n: int, seed: int) -> tuple[list[bytes], list[int]]:
    """A pool file as ``prepare`` writes it, with made-up PNG bytes (no Pythia)."""
    from eventcnn.opal import lesson_job

    pngs, codes = [f"png{k}".encode() for k in range(n)], [k % 4 for k in range(n)]
    with zipfile.ZipFile(path, "w") as zf:
        for k, png in enumerate(pngs):
            zf.writestr(f"{k:05d}.png", png)
        zf.writestr("codes.txt", " ".join(map(str, codes)))
        zf.writestr(lesson_job.POOL_META, json.dumps(lesson_job._pool_meta(n, seed)))
    return pngs, codes


def test_a_pool_made_ahead_is_used_only_for_exactly_its_settings(tmp_path: Path) -> None:
    from eventcnn.learn import train_arrays as opal_model
    from eventcnn.learn.recipes import RecipeConfig
    from eventcnn.opal import lesson_job

    path = tmp_path / lesson_job.SIM_POOL_FILE
    assert not lesson_job.pool_ready(path, 8, 3)  # nothing there
    pngs, codes = _pool_zip(path, 8, 3)
    assert lesson_job.pool_ready(path, 8, 3)
    assert not lesson_job.pool_ready(path, 8, 4) and not lesson_job.pool_ready(path, 12, 3)
    original = opal_model.simulated_batch_pool
    made: list[int] = []
    opal_model.simulated_batch_pool = lambda config: (made.append(config.sim_displays), ([b"x"] * 4, np.zeros(4)))[1]
    try:
        with lesson_job._use_pool(None, path, 8, 3):  # no simulation process: the file made ahead
            got, got_codes = opal_model.simulated_batch_pool(RecipeConfig(sim_displays=8, seed=3))
            assert got == pngs and got_codes.tolist() == codes and made == []
            opal_model.simulated_batch_pool(RecipeConfig(sim_displays=4, seed=3))  # other settings: made here
            assert made == [4]
        with lesson_job._use_pool(None, path, 8, 4):  # a pool of another seed is never taken
            opal_model.simulated_batch_pool(RecipeConfig(sim_displays=8, seed=4))
            assert made == [4, 8]
    finally:
        opal_model.simulated_batch_pool = original
    path.write_bytes(b"not a zip")  # a damaged file counts as missing
    assert not lesson_job.pool_ready(path, 8, 3)


def test_the_standby_makes_the_pool_the_training_will_ask_for(tmp_path: Path) -> None:
    pytest.importorskip("pythia8mc", reason="simulated displays need Pythia 8 (pip install pythia8mc)")
    from eventcnn.learn import train_arrays as opal_model
    from eventcnn.learn.recipes import RecipeConfig
    from eventcnn.opal import lesson_job

    settings = {"epochs": 1, "weights": "sim", "sim_displays": 8}
    assert lesson_job._sim_plan(200, settings | {"seed": 5}) == (8, 5)
    cmd = [sys.executable, "-m", "eventcnn.opal.lesson_job", "--standby", json.dumps(settings), "--seed", "5",
           "--data", str(tmp_path / "none.zip"), "--out", str(tmp_path / "run")]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "EVENTCNN_QUIET": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert out.returncode == 1 and "none.zip" in out.stderr  # no displays: it gives up, the pool made all the same
    path = tmp_path / "run" / lesson_job.SIM_POOL_FILE
    assert lesson_job.pool_ready(path, 8, 5)
    pngs, codes = lesson_job._read_pool(path)
    here = opal_model.simulated_batch_pool(RecipeConfig(sim_displays=8, seed=5))
    assert pngs == here[0] and codes.tolist() == here[1].tolist()  # byte for byte what training would make
    stamp = path.stat().st_mtime_ns
    assert subprocess.run(cmd, capture_output=True, env=env, timeout=300, stdin=subprocess.DEVNULL).returncode == 1
    assert path.stat().st_mtime_ns == stamp  # there already: kept, not made again


def test_the_lesson_fine_tunes_pretrained_weights_at_its_own_learning_rate() -> None:
    from eventcnn.opal import lesson_job

    extra, info = lesson_job._pretrained(200, {"epochs": 4})
    assert info["weights"] != "none"  # the shipped 200-px weights
    assert extra["learning_rate"] == lesson_job.LESSON_LEARNING_RATE
    assert "learning_rate" not in lesson_job._pretrained(200, {"learning_rate": 3e-5})[0]  # given: kept as given
    assert "learning_rate" not in lesson_job._pretrained(200, {"weights": "none"})[0]  # from scratch: the recipe's
