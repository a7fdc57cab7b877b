"""NanoAOD in every layout the field writes (issue 33): the same real events as a TTree, an RNTuple with flat
fields and an RNTuple with collection fields (as CMSSW's RNTuple NanoAOD and uproot write them) render to
byte-identical images; what cannot be found is named, never read as none; fields of another type are named.

The files are written here with uproot directly (not with eventcnn's writer), from the real CMS JSON events.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("uproot", reason="NanoAOD needs uproot and awkward (pip install eventcnn[nano])")
import awkward as ak  # noqa: E402
import uproot  # noqa: E402

from eventcnn.cli import main  # noqa: E402
from eventcnn.events import EventFormatError, read_events, write_events  # noqa: E402
from eventcnn.events.nanoaod_layout import Layout, candidates  # noqa: E402
from eventcnn.events.nanoaod_write import WRITE_LAYOUTS, write_nanoaod  # noqa: E402
from eventcnn.images.render import RenderConfig, render_to_dir  # noqa: E402

N = 400  # real events per file


@pytest.fixture(scope="module")
def real(cms_ttjets):
    """The first N real tt+jets events (JSON) and their NanoAOD content as CMS names it."""
    ev = read_events(cms_ttjets)[:N]
    jet, el, mu = ev.jet, ev.electron, ev.muon

    def coll(objs, fields):
        return ak.unflatten(ak.zip(fields, depth_limit=1), objs.counts)

    content = {
        "run": ev.run.astype(np.uint32), "luminosityBlock": ev.lumi.astype(np.uint32),
        "event": ev.event.astype(np.uint64), "genWeight": np.ones(len(ev), np.float32),
        "MET": {"pt": ev.met, "phi": ev.met_phi, "sumEt": ev.sumet},
        "Jet": coll(jet, {"pt": jet["pt"], "eta": jet["eta"], "phi": jet["phi"],
                          "jetId": np.where(jet["tight_id"], 6, 0).astype(np.int32),
                          "btagCSVV2": np.where(np.isnan(jet["csv"]), -10.0, jet["csv"])}),
        "Electron": coll(el, {"pt": el["pt"], "eta": el["eta"], "phi": el["phi"],
                              "cutBased": np.where(el["tight_id"] & el["tight_iso"], 4, 0).astype(np.int32)}),
        "Muon": coll(mu, {"pt": mu["pt"], "eta": mu["eta"], "phi": mu["phi"], "tightId": mu["tight_id"],
                          "pfRelIso04_all": np.where(mu["tight_iso"], 0.05, 0.5)}),
    }
    return ev, content


def _ttree(path, c):
    data = {k: v for k, v in c.items() if k != "MET"} | {f"MET_{k}": v for k, v in c["MET"].items()}
    with uproot.recreate(path) as f:
        f.mktree("Events", {k: (v.type if hasattr(v, "layout") else v.dtype) for k, v in data.items()}).extend(data)
        f["eventcnn_btag"] = "csv"  # the 2011 CSV values keep their working point
    return path


def _flat_fields(c):
    data = {k: c[k] for k in ("run", "luminosityBlock", "event", "genWeight")}
    data |= {f"MET_{k}": v for k, v in c["MET"].items()}
    for coll in ("Jet", "Electron", "Muon"):
        data[f"n{coll}"] = np.asarray(ak.num(c[coll]), np.uint32)
        data |= {f"{coll}_{f}": c[coll][f] for f in c[coll].fields}
    return data


def _rntuple(path, data):
    with uproot.recreate(path) as f:
        f.mkrntuple("Events", ak.Array(data))
        f["eventcnn_btag"] = "csv"
    return path


def _collections(c):
    """CMSSW's RNTuple NanoAOD: a collection field per object type, a record per singleton (MET)."""
    return {k: c[k] for k in ("run", "luminosityBlock", "event", "genWeight")} | {
        "MET": ak.zip(c["MET"]), "Jet": c["Jet"], "Electron": c["Electron"], "Muon": c["Muon"]}


def _nested(c):
    """uproot writing a nested awkward record array: collections inside a record, a sub-collection per jet."""
    jets = c["Jet"]
    pf = ak.unflatten(ak.zip({"pt": ak.flatten(jets.pt) / 2, "charge": np.ones(len(ak.flatten(jets.pt)))}),
                      np.ones(len(ak.flatten(jets.pt)), np.int64))  # one constituent per jet (skipped)
    jets = ak.with_field(jets, ak.unflatten(pf, ak.num(jets)), "pf")
    reco = ak.zip({"Jet": jets, "Electron": c["Electron"], "Muon": c["Muon"]}, depth_limit=1)
    return {"event": c["event"], "run": c["run"], "luminosityBlock": c["luminosityBlock"],
            "genWeight": c["genWeight"], "MET": ak.zip(c["MET"]), "reco": reco}


def _imported(c):
    """ROOT's RNTupleImporter of a TTree: unnamed collections of Muon_pt, ... (here without flat copies)."""
    data = {k: c[k] for k in ("run", "luminosityBlock", "event", "genWeight")}
    data |= {f"MET_{k}": v for k, v in c["MET"].items()}
    for k, coll in enumerate(("Jet", "Electron", "Muon")):
        data[f"_collection{k}"] = ak.zip({f"{coll}_{f}": c[coll][f] for f in c[coll].fields})
    return data


def _pngs(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def test_the_same_events_in_every_layout_render_byte_identical_images(real, tmp_path):
    ev, c = real
    files = {
        "ttree": _ttree(tmp_path / "ttree.root", c),
        "rntuple-flat": _rntuple(tmp_path / "flat.root", _flat_fields(c)),
        "rntuple-collections": _rntuple(tmp_path / "coll.root", _collections(c)),
        "rntuple-nested": _rntuple(tmp_path / "nested.root", _nested(c)),
        "rntuple-imported": _rntuple(tmp_path / "imported.root", _imported(c)),
    }
    layouts = {name: {Layout(uproot.open(p)["Events"], str(p)).find(n).layout for n in ("Muon_pt", "MET_pt")}
               for name, p in files.items()}
    assert layouts == {"ttree": {"flat"}, "rntuple-flat": {"flat"}, "rntuple-collections": {"collection"},
                       "rntuple-nested": {"collection"}, "rntuple-imported": {"imported", "flat"}}
    for name, path in files.items():
        back = read_events(path)
        assert np.array_equal(back.event, ev.event) and np.array_equal(back.muon.offsets, ev.muon.offsets), name
        assert np.array_equal(back.jet["csv"], ev.jet["csv"], equal_nan=True) and back.btag == "csv", name
    cfg = RenderConfig(size=40)
    json_file = write_events(tmp_path / "tt.json", ev)  # the same events as CMS JSON
    json_pngs = render_to_dir([(json_file, "tt")], tmp_path / "img-json", cfg, quiet=True)
    assert json_pngs.selected["tt"] > 80
    expected = _pngs(tmp_path / "img-json")
    for name, path in files.items():
        summary = render_to_dir([(path, "tt")], tmp_path / f"img-{name}", cfg, quiet=True)
        assert summary.selected == json_pngs.selected, name
        assert _pngs(tmp_path / f"img-{name}") == expected, name
    # no selection: every object drawn, the channels style
    cfg = RenderConfig(size=24, style="channels")
    ref = None
    for name, path in files.items():
        render_to_dir([(path, "tt")], tmp_path / f"all-{name}", cfg, selection=None, quiet=True)
        got = _pngs(tmp_path / f"all-{name}")
        assert len(got) == N and (ref is None or got == ref), name
        ref = got


def test_eventcnn_writes_the_three_layouts_and_reads_them_back_the_same(real, tmp_path, capsys):
    ev, _ = real
    back = {lay: read_events(write_nanoaod(tmp_path / f"{lay}.root", ev, step_size=150, layout=lay))
            for lay in WRITE_LAYOUTS}
    for lay, got in back.items():
        for attr in ("event", "met", "met_phi"):
            assert np.array_equal(getattr(got, attr), getattr(ev, attr)), (lay, attr)
        for coll in ("jet", "electron", "muon"):
            for f in ("pt", "eta", "phi") + (("tight_id",) if coll != "electron" else ()):
                assert np.array_equal(getattr(got, coll)[f], getattr(ev, coll)[f]), (lay, coll, f)
        tight = ev.electron["tight_id"] & ev.electron["tight_iso"]  # one NanoAOD flag for both (docs/data.md)
        assert np.array_equal(got.electron["tight_id"], tight), lay
    keys = set(uproot.open(tmp_path / "rntuple-collections.root")["Events"].keys())
    assert {"Muon.pt", "MET.pt", "Jet.btagCSVV2"} <= keys and "Muon_pt" not in keys
    assert "Muon_pt" in set(uproot.open(tmp_path / "rntuple.root")["Events"].keys())
    src = tmp_path / "ttree.root"
    assert main(["data", "convert", str(src), str(tmp_path / "c.root"), "--layout", "rntuple-collections",
                 "-q"]) == 0
    assert "Muon.pt" in set(uproot.open(tmp_path / "c.root")["Events"].keys())
    assert np.array_equal(read_events(tmp_path / "c.root").muon["pt"], ev.muon["pt"])


def test_a_collection_that_cannot_be_found_is_named_with_what_is_there(real, tmp_path):
    _, c = real
    data = _collections(c)
    del data["Electron"]
    path = _rntuple(tmp_path / "noel.root", data)
    with pytest.raises(EventFormatError) as err:
        read_events(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: the 'Events' RNTuple lacks") and "Electron (looked for Electron_pt or " \
        "Electron.pt or <collection>.Electron_pt, with eta, phi)" in msg
    assert "The file has run, luminosityBlock, event, genWeight, MET, Jet, Muon" in msg and "--absent Electron" in msg
    assert read_events(path, absent="Electron").electron.n_objects == 0  # said on purpose: read as none
    assert main(["render", str(path), "--out", str(tmp_path / "img"), "-q"]) == 1
    assert not (tmp_path / "img").exists()  # refused before anything was written
    assert main(["render", str(path), "--out", str(tmp_path / "img"), "--size", "16", "-q",
                 "--absent", "Electron"]) == 0


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d | {"MET": ak.Array([[{"pt": 1.0, "phi": 0.0}]] * N)},
         r"MET_pt \(stored as MET.pt\) in the 'Events' RNTuple has type list of .*one value per event"),
        (lambda d: d | {"Muon": ak.zip({"pt": ak.Array([[[1.0]]] * N), "eta": ak.Array([[0.0]] * N),
                                        "phi": ak.Array([[0.0]] * N), "tightId": ak.Array([[True]] * N),
                                        "pfRelIso04_all": ak.Array([[0.0]] * N)}, depth_limit=1)},
         r"Muon_pt \(stored as Muon.pt\) .*has type .*expected float or integer, one value per object"),
        (lambda d: d | {"Electron": ak.with_field(d["Electron"], d["Electron"].cutBased * 1.5, "cutBased")},
         r"Electron_cutBased \(stored as Electron.cutBased\) .*has type list of double; expected integer"),
        (lambda d: d | {"reco": ak.zip({"Muon": d["Muon"]}, depth_limit=1)},
         r"Muon_pt is in 2 places of the 'Events' RNTuple \(Muon.pt, reco.Muon.pt\)"),
    ],
)
def test_a_field_of_another_type_or_in_two_places_is_named(real, tmp_path, change, needle):
    _, c = real
    path = _rntuple(tmp_path / "odd.root", change(_collections(c)))
    with pytest.raises(EventFormatError, match=needle):
        read_events(path)


def test_candidates_say_where_each_layout_looks():
    assert candidates("Jet_btagDeepFlavB") == ["Jet_btagDeepFlavB", "Jet.btagDeepFlavB",
                                               "<collection>.Jet_btagDeepFlavB"]
    assert candidates("luminosityBlock") == ["luminosityBlock", "<collection>.luminosityBlock"]
