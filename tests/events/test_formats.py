"""The registry of event formats (events.formats): what a path is, and a new format in one module + one line.

A toy format registered here is read by ``read_events``, split into entry-range tasks and drawn by
``render``, rendered in memory for ``predict`` (``render_files``, streamed by ``iter_rendered``), and recognised as an event file by
every stage (``is_event_file``), without a change anywhere else.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from eventcnn.cli import main
from eventcnn.errors import UserError
from eventcnn.events import Events, events_from_records, read_events
from eventcnn.events.formats import (
    BUILTIN,
    EventFormat,
    ReadOptions,
    count_entries,
    event_formats,
    event_suffixes,
    format_of,
    is_event_file,
    read_range,
    register_format,
    unregister_format,
)
from eventcnn.images.render import RenderConfig, iter_rendered, render_files, render_to_dir


def _rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _events(rows: list[dict[str, str]], source: str) -> Events:
    recs = {r["event"]: {"met": float(r["met"]), "met_phi": float(r["met_phi"]),
                         "muon": {"0": {"pt": float(r["mu_pt"]), "eta": float(r["mu_eta"]), "phi": float(r["mu_phi"]),
                                        "px": 0.0, "py": 0.0, "pz": 0.0, "tightID": True, "tightIso": True}}}
            for r in rows}
    return events_from_records({"Event": recs}, source=source)


def _read(path: str, options: ReadOptions) -> Events:
    return _events(_rows(path), path)


def _range(path: str, start: int, stop: int, options: ReadOptions) -> Events:
    return _events(_rows(path)[start:stop], path)


TOY = EventFormat(name="toy", description="toy muon CSV", suffixes=(".toy",), read=_read,
                  count=lambda path: len(_rows(path)), read_range=_range)


@pytest.fixture()
def toy(tmp_path):
    register_format(TOY)
    rng = np.random.default_rng(4)
    path = tmp_path / "muons.toy"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["event", "met", "met_phi", "mu_pt", "mu_eta", "mu_phi"])
        for i in range(25):
            w.writerow([i + 1, *np.round(rng.uniform([5, -3, 21, -2, -3], [80, 3, 90, 2, 3]), 3)])
    yield path
    unregister_format("toy")


def test_builtin_formats_and_what_a_path_is():
    assert [f.name for f in event_formats()] == ["cms-json", "nanoaod"]
    assert len(BUILTIN) == 2 and set(event_suffixes()) == {".json", ".json.gz", ".root"}
    assert format_of("a/TT.JSON.GZ").name == "cms-json" and format_of("root://h//x").name == "nanoaod"
    assert format_of("https://h/x.root?a=1").name == "nanoaod" and format_of("x.root").ranged
    assert not format_of("x.json").ranged
    assert is_event_file("x.json") and not is_event_file("x.png") and not is_event_file("x.toy")
    with pytest.raises(UserError, match=r"x.txt: not an event file eventcnn reads; event files are: CMS open-data "
                                        r"JSON \(.json, .json.gz\); CMS NanoAOD .*\(.root, root://...\)"):
        format_of("x.txt")


def test_a_registered_format_is_read_rendered_and_predicted_everywhere(toy, tmp_path):
    assert is_event_file(toy) and format_of(toy) is TOY and ".toy" in event_suffixes()
    ev = read_events(toy)
    assert len(ev) == 25 and ev.muon.counts.tolist() == [1] * 25
    assert count_entries(toy) == 25 and len(read_range(toy, 20, 30)) == 5
    cfg = RenderConfig(size=16)
    # render: entry-range tasks of 7 entries; the same images as the events drawn in one piece
    summary = render_to_dir([(toy, "mu")], tmp_path / "img", cfg, selection="lepton", entries_per_task=7, quiet=True)
    assert summary.read == {"mu": 25} and summary.selected["mu"] == 25
    assert len(list((tmp_path / "img" / "mu").glob("*.png"))) == 25
    whole = render_to_dir([(toy, "mu")], tmp_path / "img2", cfg, selection="lepton", quiet=True)
    assert whole.selected == summary.selected
    # predict's input: rendered in memory
    [rendered] = render_files([toy], cfg, selection=None, entries_per_task=10)
    assert rendered.images.shape == (25, 16, 16, 3) and rendered.numbers.tolist() == list(range(1, 26))
    # and streamed for predict: entry ranges of 7 read through the registry, the same pixels
    parts = [part for _, part in iter_rendered([toy], cfg, selection=None, chunk=7)]
    assert [p.n_read for p in parts] == [7, 7, 7, 4]
    assert np.concatenate([p.images for p in parts]).tobytes() == rendered.images.tobytes()
    # the command line takes it like any event file
    assert main(["render", str(toy), "--out", str(tmp_path / "cli"), "--size", "16", "-q"]) == 0
    assert len(list(Path(tmp_path / "cli").rglob("*.png"))) == 25


def test_names_are_unique_and_an_unwritable_format_says_so(toy, tmp_path):
    with pytest.raises(UserError, match="already registered"):
        register_format(TOY)
    from eventcnn.events.formats import write_file

    with pytest.raises(UserError, match="reads toy muon CSV but does not write it"):
        write_file(tmp_path / "x.toy", read_events(toy))


def test_read_options_from_user_input():
    from eventcnn.events.selection import Selection

    opts = ReadOptions.make(" electron, MET ,Muon_tightId", selection=None, skip_bad=True)
    assert opts.absent == {"Electron", "MET", "Muon_tightId"} and opts.needs == frozenset() and opts.skip_bad
    assert not opts.needed("muon.tight_id")
    assert ReadOptions.make().needed("jet.tight_id")  # default: every flag is needed
    assert ReadOptions.make(selection=Selection(jet_tight_id=False)).needs == {
        "electron.tight_id", "muon.tight_id", "electron.tight_iso", "muon.tight_iso"}


@pytest.mark.parametrize("absent", ["Nope", "electron,Muons_pt", "Jet, 42", "MET-pt"])
def test_absent_names_that_name_nothing_are_refused(absent: str) -> None:
    from eventcnn.events.formats import ReadOptions

    with pytest.raises(UserError, match="not a collection"):
        ReadOptions.make(absent)


def test_absent_names_of_collections_and_their_fields() -> None:
    from eventcnn.events.formats import ReadOptions

    made = ReadOptions.make("jets, electron,MET, Muon_tightId,Muon_pfRelIso04_all")
    assert made.absent == {"Jet", "Electron", "MET", "Muon_tightId", "Muon_pfRelIso04_all"}
