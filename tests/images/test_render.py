"""Tests of eventcnn.images.render (the driver: folders, tasks, shards, concurrency) and the render CLI."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import colored, jet, lep
from PIL import Image

from eventcnn.cli import main
from eventcnn.events import events_from_records, read_events, write_events
from eventcnn.images.etaphi import RenderConfig, render_events
from eventcnn.images.png import png_looks_complete
from eventcnn.images.render import render_to_dir


def _tiny_files(tmp_path):
    recs = {}
    for n in range(6):
        recs[str(100 + n)] = {"met": 30.0 + n, "met_phi": 0.1 * n,
                              "muon": {"0": lep(30.0 + n, 0.2, 0.5)},
                              "jet": {"0": jet(40 + n, -1.0, 2.0)}}
    a = tmp_path / "A_json.json"
    write_events(a, {"Event": recs})
    b = tmp_path / "b.json.gz"
    write_events(b, {"Event": {k: v for k, v in list(recs.items())[:3]}})
    return a, b


def test_render_to_dir_manifest_rerun_and_jobs(tmp_path):
    a, b = _tiny_files(tmp_path)
    out1 = tmp_path / "out1"
    cfg = RenderConfig(size=32)
    s = render_to_dir([(a, "alpha"), (b, "beta")], out1, cfg, quiet=True, chunk_size=2)
    assert s.written == {"alpha": 6, "beta": 3}
    assert (out1 / "alpha" / "alpha_event_100.png").exists()
    assert not (out1 / ".eventcnn.lock").exists()  # the lock file is not left in the output folder
    rows = list(csv.DictReader((out1 / "manifest.csv").open()))
    assert len(rows) == 9 and set(rows[0]) == {"file", "class", "source", "event"}
    assert {r["class"] for r in rows} == {"alpha", "beta"}
    assert json.loads((out1 / "render_config.json").read_text())["size"] == 32
    from eventcnn.events.selection import Selection, get_selection

    assert get_selection(str(out1 / "selection.json")) == Selection()  # the paper default
    img = np.asarray(Image.open(out1 / "alpha" / "alpha_event_101.png"))
    assert img.shape == (32, 32, 3)
    # re-run: nothing rewritten
    s2 = render_to_dir([(a, "alpha"), (b, "beta")], out1, cfg, quiet=True)
    assert sum(s2.written.values()) == 0 and s2.skipped == {"alpha": 6, "beta": 3}
    # jobs=2 gives identical bytes
    out2 = tmp_path / "out2"
    render_to_dir([(a, "alpha"), (b, "beta")], out2, cfg, jobs=2, quiet=True, chunk_size=2)
    for f in sorted(out1.glob("*/*.png")):
        assert (out2 / f.parent.name / f.name).read_bytes() == f.read_bytes()
    # other settings into the same folder: clear error, nothing overwritten
    with pytest.raises(ValueError, match="other settings"):
        render_to_dir([(a, "alpha")], out1, RenderConfig(size=64), quiet=True)
    with pytest.raises(ValueError, match="another selection"):
        render_to_dir([(a, "alpha")], out1, cfg, selection="none", quiet=True)
    assert not (out1 / ".eventcnn.lock").exists()  # not after a refused run either
    out3 = tmp_path / "out3"
    render_to_dir([(b, "beta")], out3, cfg, selection="none", quiet=True)
    assert get_selection(str(out3 / "selection.json")) is None


def test_interrupted_run_leaves_no_partial_png(tmp_path, monkeypatch):
    a, _ = _tiny_files(tmp_path)
    import eventcnn.images.render_tasks as render  # where the PNGs are encoded and written

    calls = {"n": 0}
    real = render.encode_png

    def flaky(image, compress_level=1):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(image, compress_level)

    monkeypatch.setattr(render, "encode_png", flaky)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        render_to_dir([(a, "alpha")], out, RenderConfig(size=32), quiet=True)
    pngs = sorted(out.glob("alpha/*.png"))
    assert len(pngs) == 3
    assert not list(out.rglob("*.tmp"))
    for p in pngs:
        Image.open(p).verify()
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 3  # the manifest lists exactly the images on disk
    monkeypatch.setattr(render, "encode_png", real)
    s = render_to_dir([(a, "alpha")], out, RenderConfig(size=32), quiet=True)
    assert s.written == {"alpha": 3} and s.skipped == {"alpha": 3}


def test_cli_render_labels_and_errors(tmp_path, capsys):
    a, b = _tiny_files(tmp_path)
    out = tmp_path / "imgs"
    rc = main(["render", str(a), str(b), "--out", str(out), "--size", "32", "--selection", "none", "--quiet"])
    assert rc == 0
    assert (out / "a" / "a_event_100.png").exists() and (out / "b" / "b_event_100.png").exists()
    assert "images in" in capsys.readouterr().out
    rc = main(["render", str(a), "--label", f"{a.name}=sig", "--out", str(out), "--size", "32", "-q",
               "--selection", "none"])
    assert rc == 0
    rc = main(["render", str(a), str(b), "--label", "x", "--label", "y", "--label", "z",
               "--out", str(out), "-q"])
    assert rc == 1
    assert "3 labels for 2 inputs" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"Event": {"1": {"met": -3, "met_phi": 0}, "2": {"met": 3, "met_phi": 0}}}')
    none = ["--selection", "none"]
    assert main(["render", str(bad), "--out", str(out), "-q", "--size", "32", *none]) == 1
    assert "event 1, field 'met'" in capsys.readouterr().err
    assert main(["render", str(bad), "--out", str(out), "-q", "--size", "32", "--skip-bad", *none]) == 0
    assert "event 1, field 'met'" in capsys.readouterr().out  # the dropped event is named
    assert main(["render", str(a), "--out", str(out), "-q", "--size", "32"]) == 1
    assert "another selection" in capsys.readouterr().err


@pytest.mark.shared_data
def test_real_sample_images(cms_ttjets, tmp_path):
    from eventcnn.events.selection import Selection

    ev, _ = Selection().apply(read_events(cms_ttjets))
    imgs = render_events(ev[:50], RenderConfig(size=64))
    assert imgs.shape == (50, 64, 64, 3)
    # every image shows something besides the background, and some red jets
    assert np.all((imgs != 255).any(axis=(1, 2, 3)))
    assert colored(imgs, (255, 125, 125)).sum() > 0


def test_read_manifest_validates_columns_and_rows(tmp_path):
    from eventcnn.images.folder import read_manifest

    path = tmp_path / "manifest.csv"
    path.write_text("file,class,source,event\na/a_event_1.png,a,x.json,1\n,a,x.json,2\n")
    with pytest.raises(ValueError, match=r"manifest.csv row 3: empty field\(s\) \['file'\]"):
        read_manifest(path)
    assert len(read_manifest(path, required=("class",))) == 2
    path.write_text("name,label\nx,y\n")
    with pytest.raises(ValueError, match="missing column"):
        read_manifest(path)
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")


# --------------------------------------------------------------------------- parallel tasks (Dask) and shards


def _random_records(n, seed, first=1):
    rng = np.random.default_rng(seed)
    recs = {}
    for i in range(n):
        rec = {"met": float(rng.uniform(5, 150)), "met_phi": float(rng.uniform(-3.1, 3.1))}
        rec["jet"] = {str(j): jet(float(rng.uniform(20, 300)), float(rng.uniform(-2.8, 2.8)),
                                  float(rng.uniform(-3.1, 3.1)), float(rng.uniform(0, 1)))
                      for j in range(int(rng.integers(0, 6)))}
        if rng.random() < 0.7:
            rec["muon"] = {"0": lep(float(rng.uniform(10, 90)), float(rng.uniform(-2, 2)), float(rng.uniform(-3, 3)))}
        recs[str(first + i)] = rec
    return recs


def _inputs(tmp_path):
    """A JSON file and a NanoAOD file (split into several entry ranges by the tests)."""
    from eventcnn.events.nanoaod_write import write_nanoaod

    a = tmp_path / "a.json"
    write_events(a, {"Event": _random_records(23, 1)})
    b = tmp_path / "b.root"
    write_nanoaod(b, events_from_records({"Event": _random_records(41, 2, first=500)}))
    return [(a, "alpha"), (b, "beta")]


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".eventcnn.lock"}


def _temps(folder):
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def cluster_address():
    """A scheduler + 2 worker processes on loopback, shared by the tests that name its address."""
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def test_dask_cluster_renders_byte_identical_pngs_and_manifest(tmp_path, cluster_address, monkeypatch):
    inputs = _inputs(tmp_path)
    cfg = RenderConfig(size=24)
    kw = {"selection": "lepton", "quiet": True, "chunk_size": 3, "entries_per_task": 7}
    one = render_to_dir(inputs, tmp_path / "one", cfg, **kw)
    assert one.selected["beta"] > 10 and one.written == one.selected
    many = render_to_dir(inputs, tmp_path / "many", cfg, scheduler=cluster_address, **kw)
    monkeypatch.setenv("EVENTCNN_SCHEDULER", cluster_address)  # the address from the environment
    env = render_to_dir(inputs, tmp_path / "env", cfg, selection="lepton", quiet=True, entries_per_task=5)
    expected = _tree(tmp_path / "one")
    assert len([k for k in expected if k.endswith(".png")]) == sum(one.selected.values())
    for out in ("many", "env"):
        assert _tree(tmp_path / out) == expected, out
    assert many.cutflows == one.cutflows == env.cutflows
    assert not _temps(tmp_path)


def _dying_draw(task):
    """Draw task that kills its worker process on the first attempt (mid-write of a PNG)."""
    import importlib
    from pathlib import Path

    marker = Path(task.out).parent / "killed-once"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        label = task.pieces[0].label
        (Path(task.out) / label / f".{label}_event_0.png.{os.getpid()}.tmp").write_bytes(b"\x89PNG half")
        os._exit(1)
    return importlib.import_module("eventcnn.images.render_tasks").draw_task(task)  # the real one, in the worker


def test_a_worker_killed_mid_run_loses_no_image(tmp_path, monkeypatch):
    cloudpickle = pytest.importorskip("cloudpickle")
    import sys

    import eventcnn.images.render as render

    inputs = _inputs(tmp_path)
    cfg = RenderConfig(size=24)
    kw = {"selection": "none", "quiet": True, "chunk_size": 4, "entries_per_task": 10}
    render_to_dir(inputs, tmp_path / "one", cfg, **kw)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        monkeypatch.setattr(render, "draw_task", _dying_draw)
        s = render_to_dir(inputs, tmp_path / "two", cfg, jobs=2, **kw)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert (tmp_path / "killed-once").exists()  # a worker did die
    assert s.written == {"alpha": 23, "beta": 41}
    assert _tree(tmp_path / "two") == _tree(tmp_path / "one")
    assert not _temps(tmp_path / "two")


def test_shards_round_trip_to_the_png_arrays_and_do_not_depend_on_jobs(tmp_path):
    from eventcnn.images.folder import open_rgb
    from eventcnn.images.shards import ShardRows, read_index, shard_ref

    inputs = _inputs(tmp_path)
    cfg = RenderConfig(size=24, style="channels")
    kw = {"selection": "lepton", "quiet": True, "entries_per_task": 9}
    png = render_to_dir(inputs, tmp_path / "png", cfg, **kw)
    sh = render_to_dir(inputs, tmp_path / "sh", cfg, format="shards", shard_size=10, **kw)
    assert sh.written == png.written and sh.selected == png.selected
    n = sum(png.written.values())
    shards = sorted((tmp_path / "sh").glob("shard-*.npy"))
    assert len(shards) == -(-n // 10) and {np.load(f).shape[0] for f in shards[:-1]} == {10}
    rows = read_index(tmp_path / "sh")
    assert len(rows) == n and list(rows[0]) == ["event", "class", "source", "entry", "shard", "row"]
    manifest = {(r["class"], r["event"]): r["file"] for r in csv.DictReader((tmp_path / "png" / "manifest.csv").open())}
    images = ShardRows([str(tmp_path / "sh" / shard_ref(int(r["shard"]), int(r["row"]))) for r in rows])
    for g, r in enumerate(rows):
        assert (int(r["shard"]), int(r["row"])) == divmod(g, 10)
        decoded = np.asarray(open_rgb(tmp_path / "png" / manifest[(r["class"], r["event"])]))
        np.testing.assert_array_equal(images[g], decoded)
    beta = [int(r["entry"]) for r in rows if r["class"] == "beta"]
    assert beta == sorted(beta) and all(0 <= e < 41 for e in beta)  # NanoAOD entry numbers
    assert json.loads((tmp_path / "sh" / "render_config.json").read_text())["style"] == "channels"
    # --jobs 2 and a re-run give the same bytes; a larger shard size leaves no stale shard behind
    render_to_dir(inputs, tmp_path / "sh2", cfg, format="shards", shard_size=10, jobs=2, **kw)
    assert _tree(tmp_path / "sh2") == _tree(tmp_path / "sh")
    render_to_dir(inputs, tmp_path / "sh2", cfg, format="shards", shard_size=10_000, **kw)
    assert sorted(p.name for p in (tmp_path / "sh2").glob("shard-*")) == ["shard-00000.npy"]
    assert not _temps(tmp_path)
    with pytest.raises(ValueError, match="already holds image shards"):
        render_to_dir(inputs, tmp_path / "sh", cfg, **kw)
    with pytest.raises(ValueError, match="already holds PNG images"):
        render_to_dir(inputs, tmp_path / "png", cfg, format="shards", **kw)


def test_render_cli_format_shards(tmp_path, capsys):
    (a, _), _ = _inputs(tmp_path)
    out = tmp_path / "out"
    assert main(["render", str(a), "--out", str(out), "--format", "shards", "--size", "16",
                 "--selection", "none", "-q"]) == 0
    assert np.load(out / "shard-00000.npy").shape == (23, 16, 16, 3)
    assert (out / "shards.csv").exists() and not (out / "manifest.csv").exists()


def test_render_files_for_predict_is_the_same_on_a_cluster(tmp_path, cluster_address):
    from eventcnn.images.render import render_files

    inputs = _inputs(tmp_path)
    sources = [src for src, _ in inputs]
    cfg = RenderConfig(size=16)
    one = render_files(sources, cfg, "lepton", quiet=True, entries_per_task=8)
    many = render_files(sources, cfg, "lepton", quiet=True, entries_per_task=8, scheduler=cluster_address)
    for a, b in zip(one, many):
        assert a.source == b.source and a.n_read == b.n_read and a.rejected == b.rejected
        assert a.images.tobytes() == b.images.tobytes() and np.array_equal(a.numbers, b.numbers)
    assert one[1].n_read == 41 and len(one[1].numbers) + len(one[1].rejected) == 41
    # the same pixels as the whole file rendered at once, after the same selection
    whole, _ = get_selection_apply(sources[1])
    assert render_events(whole, cfg).tobytes() == one[1].images.tobytes()


def test_iter_rendered_streams_parts_of_chunk_events_with_the_pixels_of_render_files(tmp_path, cluster_address):
    """predict's streaming: in process every part holds at most `chunk` events (JSON read once, NanoAOD in
    entry ranges); on a cluster the parts are its tasks; either way the same images, numbers and rejections."""
    from eventcnn.images.render import iter_rendered, render_files

    sources = [src for src, _ in _inputs(tmp_path)]
    cfg = RenderConfig(size=16)
    whole = render_files(sources, cfg, "lepton", quiet=True)

    def joined(parts):
        by = {k: [p for i, p in parts if i == k] for k in range(len(sources))}
        return [(np.concatenate([p.images for p in by[k]]), np.concatenate([p.numbers for p in by[k]]),
                 [r for p in by[k] for r in p.rejected], sum(p.n_read for p in by[k])) for k in by]

    streamed = list(iter_rendered(sources, cfg, "lepton", chunk=5, quiet=True))
    assert max(p.n_read for _, p in streamed) == 5 and [k for k, _ in streamed] == sorted(k for k, _ in streamed)
    assert sum(1 for k, _ in streamed if k == 0) == 5  # the 23 JSON events: read once, drawn 5 at a time
    on_cluster = list(iter_rendered(sources, cfg, "lepton", chunk=5, quiet=True, scheduler=cluster_address))
    for parts in (streamed, on_cluster):
        for (images, numbers, rejected, n_read), ref in zip(joined(parts), whole):
            assert images.tobytes() == ref.images.tobytes() and np.array_equal(numbers, ref.numbers)
            assert rejected == ref.rejected and n_read == ref.n_read
    with pytest.raises(ValueError, match="chunk"):
        next(iter_rendered(sources, cfg, chunk=0))


def get_selection_apply(path):
    from eventcnn.events.selection import get_selection

    return get_selection("lepton").apply(read_events(path))


def test_limit_stops_reading_a_nanoaod_file_early_with_the_same_first_events(tmp_path, monkeypatch):
    import eventcnn.images.render as render

    inputs = _inputs(tmp_path)
    cfg = RenderConfig(size=16)
    full = render_to_dir(inputs, tmp_path / "full", cfg, selection="none", quiet=True, entries_per_task=5)
    read = []
    real = render.scan
    monkeypatch.setattr(render, "scan", lambda t: read.append(t.start) or real(t))
    s = render_to_dir(inputs, tmp_path / "lim", cfg, selection="none", quiet=True, entries_per_task=5, limit=7)
    assert s.selected == {"alpha": 7, "beta": 7} and full.selected == {"alpha": 23, "beta": 41}
    assert s.read["beta"] == 10 and sorted(read) == [0, 0, 5]  # the JSON, then 2 of the 9 NanoAOD ranges
    names = sorted(p.name for p in (tmp_path / "lim" / "beta").glob("*.png"))
    assert names == sorted(f"beta_event_{n}.png" for n in range(500, 507))
def test_a_folder_as_input_and_a_failed_start_leave_no_output_folder(tmp_path, capsys):
    from eventcnn.cli import main

    folder = tmp_path / "not_events"
    folder.mkdir()
    out = tmp_path / "fresh"
    assert main(["render", str(folder), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder: give an event file" in err and "cannot access" not in err
    assert not out.exists()  # nothing was drawn: no empty folder (nor lock file) left behind
    existing = tmp_path / "kept"
    existing.mkdir()
    assert main(["render", str(folder), "--out", str(existing)]) == 1
    assert existing.is_dir()  # a folder the user had is never removed


# ---- (was test_hardening_render.py)

CFG = RenderConfig(size=16)


def _lep(pt: float) -> dict:
    return {"pt": pt, "eta": 0.2, "phi": 0.5, "px": pt * math.cos(0.5), "py": pt * math.sin(0.5),
            "pz": 0.0, "tightID": True, "tightIso": True}


def _file(path: Path, n: int = 4, first: int = 100, bad: int = 0, leptons: bool = True) -> Path:
    """``n`` events passing the paper selection (unless ``leptons=False``), then ``bad`` with met < 0."""
    recs = {}
    for k in range(n):
        rec = {"met": 30.0 + k, "met_phi": 0.1 * k,
               "jet": {"0": {"pt": 40.0 + k, "eta": -1.0, "phi": 2.0, "CSV": 0.1, "tightID": True}}}
        if leptons:
            rec["muon"] = {"0": _lep(30.0 + k)}
        recs[str(first + k)] = rec
    for k in range(bad):
        recs[str(first + n + k)] = {"met": -1.0 - k, "met_phi": 0.0}
    write_events(path, {"Event": recs})
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- 1. labels


@pytest.mark.parametrize("label", ["", " ", ".", "..", "../x", "/abs/path", "a/b", "a\\b", "c:x",
                                   "a\x00b", "a\nb"])
def test_unsafe_labels_are_refused_before_anything_is_written(tmp_path, label):
    src = _file(tmp_path / "a.json")
    out = tmp_path / "deep" / "out"
    with pytest.raises(ValueError, match="class label .* one folder name"):
        render_to_dir([(src, label)], out, CFG, quiet=True)
    assert not (tmp_path / "deep").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


@pytest.mark.parametrize("how", ["plain-empty", "dotdot", "absolute", "mapping-empty"])
def test_cli_label_cannot_leave_out(tmp_path, capsys, how):
    src = _file(tmp_path / "a.json")
    out = tmp_path / "out"
    label = {"plain-empty": "", "dotdot": "../x", "absolute": str(tmp_path / "abs"),
             "mapping-empty": "a.json="}[how]
    assert main(["render", str(src), "--label", label, "--out", str(out), "-q", "--size", "16"]) == 1
    err = capsys.readouterr().err
    assert "class label" in err and "one folder name" in err and "Errno" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # nothing at all written


# --------------------------------------------------------------------------- 2. concurrency

_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from eventcnn.images.render import RenderConfig, render_to_dir
    src, label, out, size, go = sys.argv[1:6]
    Path(go + "." + label).touch()          # ready
    while not Path(go).exists():             # start together
        time.sleep(0.01)
    render_to_dir([(src, label)], out, RenderConfig(size=int(size)), quiet=True, chunk_size=4)
""")


def _race(tmp_path: Path, jobs: list[tuple[Path, str, int]], out: Path) -> list[subprocess.CompletedProcess]:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(src), label, str(out), str(size), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for src, label, size in jobs]
    import time

    deadline = time.monotonic() + 120
    while not all((tmp_path / f"go.{label}").exists() for _, label, _ in jobs):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    go.touch()
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return results


def test_two_processes_into_one_folder_leave_a_complete_manifest(tmp_path):
    a = _file(tmp_path / "a.json", n=60, first=1000)
    b = _file(tmp_path / "b.json", n=50, first=5000)
    out = tmp_path / "out"
    results = _race(tmp_path, [(a, "alpha", 16), (b, "beta", 16)], out)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    rows = _rows(out / "manifest.csv")
    by_class = {c: sum(r["class"] == c for r in rows) for c in ("alpha", "beta")}
    assert by_class == {"alpha": 60, "beta": 50}
    assert len({r["file"] for r in rows}) == 110
    assert all((out / r["file"]).is_file() for r in rows)
    assert json.loads((out / "render_config.json").read_text())["size"] == 16
    assert not list(out.rglob("*.tmp"))


def test_concurrent_runs_with_other_settings_one_is_refused(tmp_path):
    a = _file(tmp_path / "a.json", n=20, first=1000)
    b = _file(tmp_path / "b.json", n=20, first=5000)
    out = tmp_path / "out"
    results = _race(tmp_path, [(a, "alpha", 16), (b, "beta", 24)], out)
    codes = sorted(r.returncode for r in results)
    assert codes[0] == 0 and codes[1] != 0
    loser = next(r for r in results if r.returncode != 0)
    assert "other settings" in loser.stderr
    size = json.loads((out / "render_config.json").read_text())["size"]
    winner = "alpha" if size == 16 else "beta"
    assert {r["class"] for r in _rows(out / "manifest.csv")} == {winner}
    for png in out.glob("*/*.png"):  # no image of the loser's size was written
        assert Image.open(png).size == (size, size)


def test_sequential_runs_merge_and_a_rerun_does_not_drop_rows(tmp_path):
    a, b = _file(tmp_path / "a.json", n=3), _file(tmp_path / "b.json", n=2, first=500)
    out = tmp_path / "out"
    render_to_dir([(a, "alpha")], out, CFG, quiet=True)
    render_to_dir([(b, "beta")], out, CFG, quiet=True)
    render_to_dir([(a, "alpha")], out, CFG, quiet=True, limit=1)
    rows = _rows(out / "manifest.csv")
    assert sorted(r["class"] for r in rows) == ["alpha"] * 3 + ["beta"] * 2


# --------------------------------------------------------------------------- 5. output folder


def test_out_under_a_regular_file_is_one_clear_line(tmp_path, capsys):
    src = _file(tmp_path / "a.json")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for out in (blocker / "imgs", blocker):
        assert main(["render", str(src), "--out", str(out), "-q", "--size", "16"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(out) in err
        assert f"{blocker} is a file, not a folder" in err
    assert blocker.read_text() == "x"


def test_unwritable_out_folder_is_one_clear_line(tmp_path, capsys, monkeypatch):
    # root ignores permission bits, so the writability check itself is exercised
    src = _file(tmp_path / "a.json")
    out = tmp_path / "ro"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == out else real_access(p, mode, **kw))
    assert main(["render", str(src), "--out", str(out), "-q", "--size", "16"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"output folder {out} is not writable" in err
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- 6. dropped events


def test_skip_bad_names_dropped_events_and_writes_skipped_csv(tmp_path, capsys):
    src = _file(tmp_path / "a.json", n=3, bad=8)
    out = tmp_path / "out"
    assert main(["render", str(src), "--out", str(out), "-q", "--size", "16", "--skip-bad"]) == 0
    text = capsys.readouterr().out
    assert "dropped 8 bad event(s)" in text and "... and 3 more" in text
    assert text.count("field 'met': negative MET") == 5 and "event 103, field 'met'" in text
    assert str(out / "skipped.csv") in text
    rows = _rows(out / "skipped.csv")
    assert len(rows) == 8 and set(rows[0]) == {"source", "event", "field", "reason"}
    assert {r["event"] for r in rows} == {str(k) for k in range(103, 111)}
    assert all(r["field"] == "met" and "negative" in r["reason"] and r["source"] == str(src) for r in rows)
    # another input adds its rows; re-reading a source replaces (not duplicates) its rows
    other = _file(tmp_path / "b.json", n=2, first=900, bad=1)
    render_to_dir([(other, "beta")], out, CFG, skip_bad=True, quiet=True)
    render_to_dir([(src, "a")], out, CFG, skip_bad=True, quiet=True)
    rows = _rows(out / "skipped.csv")
    assert len(rows) == 9 and sum(r["source"] == str(other) for r in rows) == 1


def test_file_without_events_and_limit_below_one_are_errors(tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text('{"Event": {}}')
    out = tmp_path / "out"
    assert main(["render", str(empty), "--out", str(out), "-q", "--size", "16"]) == 1
    err = capsys.readouterr().err
    assert str(empty) in err and "holds no events" in err
    src = _file(tmp_path / "a.json")
    for value in ("0", "-3"):
        assert main(["render", str(src), "--out", str(out), "-q", "--size", "16", "--limit", value]) == 1
        assert "--limit must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="limit"):
        render_to_dir([(src, "a")], out, CFG, limit=0, quiet=True)
    for value in ("0", "-3"):
        assert main(["render", str(src), "--out", str(out), "-q", "--size", "16", "--jobs", value]) == 1
        assert "--jobs must be at least 1" in capsys.readouterr().err
    all_bad = _file(tmp_path / "bad.json", n=0, bad=2)
    with pytest.raises(ValueError, match="all 2 events are bad"):
        render_to_dir([(all_bad, "a")], out, CFG, skip_bad=True, quiet=True)
    assert not (out / "manifest.csv").exists()


def test_class_without_selected_events_is_an_error_with_the_cut_flow(tmp_path):
    good = _file(tmp_path / "good.json")
    none_pass = _file(tmp_path / "noleps.json", leptons=False)
    out = tmp_path / "out"
    with pytest.raises(ValueError) as err:
        render_to_dir([(good, "sig"), (none_pass, "bkg")], out, CFG, quiet=True)
    msg = str(err.value)
    assert "class 'bkg'" in msg and str(none_pass) in msg and "cut flow: all events: 4 -> " in msg
    assert "--selection" in msg
    assert not list(out.glob("*/*.png"))  # nothing rendered for a run that cannot be complete


# --------------------------------------------------------------------------- 7. broken PNGs


def test_broken_pngs_on_disk_are_redrawn(tmp_path):
    src = _file(tmp_path / "a.json", n=5)
    out = tmp_path / "out"
    render_to_dir([(src, "a")], out, CFG, quiet=True)
    pngs = sorted(out.glob("a/*.png"))
    assert all(png_looks_complete(p) for p in pngs)
    good = pngs[0].read_bytes()
    pngs[0].write_bytes(b"")  # 0 bytes
    pngs[1].write_bytes(pngs[1].read_bytes()[:-20])  # truncated
    pngs[2].write_bytes(b"GIF89a" + b"\0" * 100)  # not a PNG
    for p in pngs[:3]:
        assert not png_looks_complete(p)
    s = render_to_dir([(src, "a")], out, CFG, quiet=True)
    assert s.redrawn == {"a": 3} and s.written == {"a": 3} and s.skipped == {"a": 2}
    assert "redrew 3 broken image(s)" in s.table()
    assert pngs[0].read_bytes() == good
    for p in pngs:
        Image.open(p).verify()
