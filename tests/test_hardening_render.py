"""Issue 10 (part A): bad labels, concurrent renders, dropped events, broken PNGs,
unwritable output folders. Every case here failed or misbehaved before the fix."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from eventcnn.cli import main
from eventcnn.events import write_events
from eventcnn.images.render import (
    RenderConfig,
    check_label,
    label_from_path,
    png_looks_complete,
    render_to_dir,
)

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


def test_labels_from_file_names_are_always_safe():
    for name in ["..json", "a b.json", "x/.._json.json.gz", ".json", "é\x01.json", "con.json", "NUL_json.json.gz"]:
        assert check_label(label_from_path(name)) == label_from_path(name)
    assert check_label("w_jets-2") == "w_jets-2"
    assert label_from_path("con.json") == "con_events"


@pytest.mark.parametrize("label", ["CON", "nul", "com1", "Lpt9", "aux.txt", "ttjets.", "ttjets "])
def test_labels_that_break_folders_on_windows_are_refused(label):
    with pytest.raises(ValueError, match="Windows"):
        check_label(label)
    assert check_label("console") == "console" and check_label("com10") == "com10"


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
        assert "--jobs) must be a whole number of at least 1" in capsys.readouterr().err
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
