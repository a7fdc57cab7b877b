"""Tests of eventcnn.events.nanoaod: NanoAOD in and out, equivalence with the JSON path, clear errors.

The layouts (TTree, flat RNTuple, RNTuple with collection fields) are tests/events/test_nanoaod_layout.py.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("uproot", reason="NanoAOD needs uproot and awkward (pip install eventcnn[nano])")
import awkward as ak  # noqa: E402
import uproot  # noqa: E402

from eventcnn.cli import main  # noqa: E402
from eventcnn.events import EventFormatError, read_events  # noqa: E402
from eventcnn.events.convert import convert  # noqa: E402
from eventcnn.events.nanoaod import is_root_path, iter_events, read_nanoaod  # noqa: E402
from eventcnn.events.nanoaod_write import write_nanoaod  # noqa: E402
from eventcnn.events.read import read_selected  # noqa: E402
from eventcnn.events.selection import Selection, get_selection  # noqa: E402
from eventcnn.images.render import RenderConfig, render_events, render_to_dir  # noqa: E402


def raw_nano(path, n_jets=(2, 0, 1), btag="Jet_btagDeepFlavB", drop=(), override=None):
    """A NanoAOD-like file as CMS writes it: float32 kinematics, uint64 event, nJet counters."""
    n = len(n_jets)
    jet_counts = np.array(n_jets)
    total = int(jet_counts.sum())
    jets = {"pt": np.linspace(40, 80, total).astype(np.float32), "eta": np.zeros(total, np.float32),
            "phi": np.linspace(-1, 1, total).astype(np.float32),
            "jetId": np.full(total, 6, np.int32),
            btag.removeprefix("Jet_"): np.linspace(0.2, 0.9, total).astype(np.float32)}
    mu = {"pt": np.float32([30.0] * n), "eta": np.float32([0.5] * n), "phi": np.float32([1.0] * n),
          "tightId": np.array([True, False, True]), "pfRelIso04_all": np.float32([0.05, 0.01, 0.3])}
    el = {"pt": np.float32([25.0] * n), "eta": np.float32([-0.5] * n), "phi": np.float32([2.0] * n),
          "cutBased": np.int32([4, 3, 1])}
    branches = {
        "run": np.uint32([1, 1, 2]), "luminosityBlock": np.uint32([5, 5, 6]),
        "event": np.uint64([11, 12, 13]), "MET_pt": np.float32([50, 60, 70]),
        "MET_phi": np.float32([0.1, 0.2, 0.3]), "MET_sumEt": np.float32([500, 600, 700]),
        "genWeight": np.float32([1, 1, 1]),
        "Jet": ak.unflatten(ak.zip(jets), jet_counts),
        "Muon": ak.unflatten(ak.zip(mu), np.ones(n, np.int64)),
        "Electron": ak.unflatten(ak.zip(el), np.ones(n, np.int64)),
    }
    branches.update(override or {})
    for d in drop:
        branches.pop(d)
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {k: (v.type if hasattr(v, "layout") else v.dtype) for k, v in branches.items()})
        tree.extend(branches)
    return path


def test_reads_nanoaod_branches_with_the_documented_mapping(tmp_path):
    ev = read_events(raw_nano(tmp_path / "x.root"))
    assert ev.btag == "deepflavb" and len(ev) == 3
    assert ev.event.tolist() == [11, 12, 13] and ev.lumi.tolist() == [5, 5, 6] and ev.is_mc.all()
    assert ev.jet.counts.tolist() == [2, 0, 1] and ev.jet["pt"].dtype == np.float64
    # muons: tight ID from Muon_tightId, isolation from pfRelIso04_all < 0.15
    assert ev.muon["tight_id"].tolist() == [True, False, True]
    assert ev.muon["tight_iso"].tolist() == [True, True, False]
    # electrons: cutBased >= 4 means ID and isolation
    assert ev.electron["tight_id"].tolist() == [True, False, False] == ev.electron["tight_iso"].tolist()
    np.testing.assert_allclose(ev.muon["px"], 30 * np.cos(1.0), rtol=1e-6)
    np.testing.assert_allclose(ev.muon["pz"], 30 * np.sinh(0.5), rtol=1e-6)
    assert np.isnan(ev.xsec).all()


def test_btag_working_point_follows_the_discriminant(tmp_path):
    deep = read_events(raw_nano(tmp_path / "deep.root", n_jets=(3, 0, 0)))
    csvv2 = read_events(raw_nano(tmp_path / "csv.root", n_jets=(3, 0, 0), btag="Jet_btagCSVV2"))
    assert (deep.btag, csvv2.btag) == ("deepflavb", "csvv2")
    values = deep.jet["csv"]  # 0.2, 0.55, 0.9 in both files
    sel = Selection()
    assert sel.btagged(deep.jet, deep.btag).tolist() == (values > 0.3093).tolist() == [False, True, True]
    assert sel.btagged(csvv2.jet, csvv2.btag).tolist() == [False, False, True]  # CSVv2 medium 0.8484
    flow = Selection(n_leptons=None, min_bjets=1).select(deep).cutflow
    assert "deepflavb > 0.3093" in flow.steps[-1][0] and flow.steps[-1][1] == 1


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.write_text("not a root file") and p, r"not a ROOT file \(it looks like text\)"),
        (lambda p: p.write_text('{"Event": {}}') and p, r"not a ROOT file \(it looks like JSON text: name it .json\)"),
        (lambda p: p.write_bytes(b"") and p, r"not a ROOT file \(the file is empty"),
        (lambda p: raw_nano(p, override={"Muon": ak.unflatten(ak.zip(
            {"pt": np.ones(3), "phi": np.ones(3)}), [1, 1, 1])}), r"Muon has pt, phi but no eta \(looked for Muon_eta"),
        (lambda p: raw_nano(p, drop=("MET_phi",)), "MET_phi missing from the 'Events' TTree"),
        (lambda p: raw_nano(p, drop=("Muon", "Jet", "Electron", "MET_pt", "MET_phi")),
         "none of the collections eventcnn reads"),
        (lambda p: raw_nano(p, override={"MET_pt": ak.Array([[1.0], [2.0], [3.0]])}),
         r"MET_pt in the 'Events' TTree has type .*one value per event"),
        (lambda p: raw_nano(p, override={"Electron": ak.unflatten(ak.zip(
            {"pt": np.ones(3), "eta": np.ones(3), "phi": np.ones(3), "cutBased": np.ones(3)}), [1, 1, 1])}),
         r"Electron_cutBased in the 'Events' TTree has type .*expected integer"),
        (lambda p: raw_nano(p, override={"event": ak.Array([[1], [2], [3]])}), "event in the 'Events' TTree has type"),
    ],
)
def test_bad_input_is_a_clear_error_naming_file_and_branch(tmp_path, make, needle):
    path = tmp_path / "bad.root"
    make(path)
    with pytest.raises(EventFormatError, match=needle) as info:
        read_events(path)
    assert str(path) in str(info.value)


def test_truncated_file_and_empty_tree(tmp_path):
    small = read_events(raw_nano(tmp_path / "x.root"))
    whole = write_nanoaod(tmp_path / "big.root", small[np.arange(30_000) % 3])
    blob = whole.read_bytes()
    (tmp_path / "cut.root").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(EventFormatError, match="cut.root: truncated or corrupt ROOT file"):
        read_events(tmp_path / "cut.root")
    (tmp_path / "head.root").write_bytes(blob[:300])  # cut inside the header
    with pytest.raises(EventFormatError, match="head.root: truncated or corrupt ROOT file"):
        read_events(tmp_path / "head.root")
    empty = write_nanoaod(tmp_path / "empty.root", read_events(whole)[np.zeros(0, dtype=int)])
    assert len(read_events(empty)) == 0


def test_no_events_tree_and_no_btag_are_clear_errors(tmp_path):
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f.mktree("Runs", {"run": np.uint32}).extend({"run": np.uint32([1])})
    with pytest.raises(EventFormatError, match=r"other.root: no 'Events' tree.*Runs"):
        read_events(other)
    with pytest.raises(EventFormatError, match="no b-tag discriminant for the jets"):
        read_events(raw_nano(tmp_path / "nob.root", btag="Jet_btagDeepB"))
    with pytest.raises(FileNotFoundError):
        read_events(tmp_path / "missing.root")


def test_json_converted_to_nanoaod_gives_the_same_events_and_identical_images(cms_ttjets, cms_wjets, tmp_path):
    """The Done-when test: real CMS JSON -> NanoAOD -> same selection, byte-identical images."""
    for src in (cms_ttjets, cms_wjets):
        js = read_events(src)
        root = convert(src, tmp_path / f"{src.stem}.root")
        nano = read_events(root)
        assert nano.btag == "csv"  # marked: the 2011 CSV values keep their 0.679 working point
        assert np.array_equal(js.event, nano.event)
        assert np.array_equal(js.jet["csv"], nano.jet["csv"], equal_nan=True)
        for preset in ("paper", "lepton", "paper+jet"):
            sel = get_selection(preset)
            a, flow_a = sel.apply(js)
            b, flow_b = sel.apply(nano)
            assert flow_a.steps == flow_b.steps and len(a) > 100
            assert np.array_equal(a.event, b.event)
            for style in ("paper", "channels"):
                cfg = RenderConfig(size=48, style=style)
                assert render_events(a, cfg).tobytes() == render_events(b, cfg).tobytes()
        # no selection: every object is drawn, whatever its flags
        cfg = RenderConfig(size=32)
        assert render_events(js[:500], cfg).tobytes() == render_events(nano[:500], cfg).tobytes()


def test_render_to_dir_from_root_with_jobs_writes_the_same_pngs_as_json(cms_wjets, tmp_path):
    root = convert(cms_wjets, tmp_path / "Wjets.root")
    cfg = RenderConfig(size=32)
    js = render_to_dir([(cms_wjets, "wjets")], tmp_path / "a", cfg, limit=40, quiet=True)
    nano = render_to_dir([(root, "wjets")], tmp_path / "b", cfg, limit=40, jobs=2, chunk_size=8, quiet=True)
    assert js.selected == nano.selected == {"wjets": 40} and js.read == nano.read
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "wjets").glob("*.png"))
    assert len(files) == 40
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_streaming_in_chunks_equals_one_read(cms_ttjets, tmp_path):
    root = convert(cms_ttjets, tmp_path / "tt.root")
    whole = read_nanoaod(root, quiet=True)
    chunks = list(iter_events(root, step_size=1000, quiet=True))
    assert [len(c) for c in chunks] == [1000, 1000, 1000, 500]
    assert np.array_equal(np.concatenate([c.event for c in chunks]), whole.event)
    assert np.array_equal(np.concatenate([c.jet["pt"] for c in chunks]), whole.jet["pt"])
    assert len(read_nanoaod(root, max_events=123, quiet=True)) == 123
    one, flow = Selection().apply(whole)
    streamed, flow2 = read_selected(root, "paper", step_size=700)
    assert flow.steps == flow2.steps and np.array_equal(one.event, streamed.event)


def test_write_is_atomic_and_round_trips_exactly(tmp_path):
    ev = read_events(raw_nano(tmp_path / "x.root"))
    out = write_nanoaod(tmp_path / "y.root", ev, step_size=2)  # two extend() calls
    back = read_events(out)
    assert back.btag == "deepflavb" and np.array_equal(back.jet["csv"], ev.jet["csv"], equal_nan=True)
    assert np.array_equal(back.muon["tight_iso"], ev.muon["tight_iso"])
    assert np.array_equal(back.met, ev.met) and np.array_equal(back.sumet, ev.sumet)
    # a failing write leaves the earlier file intact and no temp file behind
    before = out.read_bytes()
    with pytest.raises(KeyError):
        write_nanoaod(out, ev.__class__(**{**ev.__dict__, "btag": "nonsense"}))
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["x.root", "y.root"]


def test_cli_convert_and_render(cms_wjets, tmp_path, capsys):
    out = tmp_path / "W.root"
    assert main(["data", "convert", str(cms_wjets), str(out)]) == 0
    assert str(out) in capsys.readouterr().out and len(read_events(out)) == len(read_events(cms_wjets))
    assert main(["data", "convert", str(tmp_path / "nope.json"), str(out)]) == 1
    assert "not found" in capsys.readouterr().err


def test_is_root_path():
    assert is_root_path("a/b.ROOT") and is_root_path("root://host//x") and is_root_path("https://h/x.root?x=1")
    assert not is_root_path("x.json.gz")


def test_generate_format_nano_reads_back(tmp_path):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    out = tmp_path / "dy.root"
    assert main(["generate", "dy", "--events", "30", "--seed", "3", "--format", "nano", "--out", str(out),
                 "--quiet"]) == 0
    ev = read_events(out)
    assert len(ev) == 30 and ev.btag == "csv"
    js = tmp_path / "dy.json"
    assert main(["generate", "dy", "--events", "30", "--seed", "3", "--out", str(js), "--quiet"]) == 0
    ref = read_events(js)
    assert np.array_equal(ref.event, ev.event) and np.array_equal(ref.muon["pt"], ev.muon["pt"])
    assert main(["generate", "dy", "--events", "3", "--format", "nano", "--out", str(tmp_path / "x.json")]) == 1


def test_unreachable_url_is_a_download_error_that_says_what_to_do():
    from eventcnn.events.sources import DownloadError

    with pytest.raises(DownloadError, match=r"root://127.0.0.1:1//x.root.*fsspec-xrootd"):
        read_events("root://127.0.0.1:1//x.root")


def test_entry_ranges_and_parallel_convert_give_the_same_events(tmp_path):
    from eventcnn.events import events_from_records, write_events
    from eventcnn.events.nanoaod import num_entries, read_entries

    rng = np.random.default_rng(3)
    recs = {str(i + 1): {"met": float(rng.uniform(5, 90)), "met_phi": float(rng.uniform(-3, 3)),
                         "jet": {str(j): {"pt": float(rng.uniform(20, 90)), "eta": 0.1 * j, "phi": 0.2 * j,
                                          "CSV": 0.5, "tightID": True} for j in range(i % 4)}}
            for i in range(37)}
    src = tmp_path / "a.json"
    write_events(src, events_from_records({"Event": recs}))
    root = convert(src, tmp_path / "a.root")
    whole = read_nanoaod(root, quiet=True)
    assert num_entries(root) == 37
    parts = [read_entries(root, a, a + 10) for a in range(0, 37, 10)]
    assert [len(p) for p in parts] == [10, 10, 10, 7] and len(read_entries(root, 40, 50)) == 0
    assert np.array_equal(np.concatenate([p.event for p in parts]), whole.event)
    assert np.array_equal(np.concatenate([p.jet["pt"] for p in parts]), whole.jet["pt"])
    with pytest.raises(FileNotFoundError):
        read_entries(tmp_path / "nope.root", 0, 5)
    # data convert --jobs 2 (entry ranges on a local Dask cluster) writes the same JSON as --jobs 1
    assert main(["data", "convert", str(root), str(tmp_path / "one.json"), "-q"]) == 0
    assert main(["data", "convert", str(root), str(tmp_path / "two.json"), "--jobs", "2", "-q"]) == 0
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
    assert len(read_events(tmp_path / "two.json")) == 37
def test_a_slimmed_file_names_what_it_lacks_and_reads_it_as_none_only_when_told(tmp_path):
    path = raw_nano(tmp_path / "slim.root", drop=("Jet", "Electron", "event", "MET_pt", "MET_phi", "MET_sumEt"))
    with pytest.raises(EventFormatError) as err:
        read_events(path)  # never "absent" read as "none"
    msg = str(err.value)
    assert str(path) in msg and "Jet (looked for Jet_pt or Jet.pt" in msg and "Electron" in msg
    assert "MET (looked for MET_pt or MET.pt" in msg and "The file has run, luminosityBlock" in msg
    assert "--absent Jet,Electron,MET" in msg
    with pytest.warns(UserWarning, match=r"slim.root: a slimmed file: no event \(event = entry number") as rec:
        ev = read_events(path, absent="Jet,electron,MET")
    assert len(rec) == 1
    assert len(ev) == 3 and ev.jet.counts.tolist() == [0, 0, 0] and ev.electron.counts.tolist() == [0, 0, 0]
    assert ev.event.tolist() == [0, 1, 2] and ev.run.tolist() == [1, 1, 2] and ev.met.tolist() == [0, 0, 0]
    assert ev.muon["tight_id"].tolist() == [True, False, True]  # what is there is read as usual
    # a flag the selection needs is an error too, unless absent on purpose or not needed
    path = raw_nano(tmp_path / "noflags.root", override={"Muon": ak.unflatten(ak.zip(
        {"pt": np.ones(3), "eta": np.ones(3), "phi": np.ones(3)}), [1, 1, 1])})
    with pytest.raises(EventFormatError, match=r"Muon_tightId \(for muon.tight_id; looked for .*\); Muon_pfRelIso04_all"):
        read_events(path)
    ev = read_events(path, absent=["Muon_tightId", "Muon_pfRelIso04_all"])
    assert not ev.muon["tight_id"].any() and not ev.muon["tight_iso"].any()
    none, _ = read_selected(path, None)  # no selection: no flag needed
    assert len(none) == 3
    with pytest.raises(EventFormatError, match="Muon_tightId"):
        read_selected(path, "paper")


RNTUPLE = "nano/Run2012BC_DoubleMuParked_Muons_1000evts_rntuple.root"


@pytest.mark.shared_data
def test_real_cms_rntuple_file_is_read_like_a_ttree(shared_data, tmp_path):
    """CMS open data as RNTuple (muon-only skim): read, rendered and converted, slimming named."""
    path = shared_data / RNTUPLE
    if not path.exists():
        pytest.skip(f"{path} absent")
    with pytest.raises(EventFormatError, match=r"--absent Jet,Electron,Muon_tightId,Muon_pfRelIso04_all,MET"):
        read_events(path)
    with pytest.warns(UserWarning, match="a slimmed file: no event, run, luminosityBlock"):
        ev = read_events(path, absent="Jet,Electron,MET,Muon_tightId,Muon_pfRelIso04_all")
    f = uproot.open(path)
    mu = f["Events"].arrays(["Muon_pt", "nMuon"], library="ak")
    assert len(ev) == 1000 == f["Events"].num_entries
    assert ev.muon.counts.tolist() == ak.to_list(mu["nMuon"])
    np.testing.assert_allclose(ev.muon["pt"], ak.to_numpy(ak.flatten(mu["Muon_pt"])), rtol=1e-6)
    from eventcnn.events.formats import ReadOptions

    chunks = list(iter_events(path, step_size=300, quiet=True, options=ReadOptions.make("Jet,Electron,MET",
                                                                                          selection=None)))
    assert [len(c) for c in chunks] == [300, 300, 300, 100] and chunks[1].event[0] == 300
    # render: without --absent a clear error; the default selection needs tight isolated leptons (not in
    # this skim): a clear error too; --selection none draws the muons
    assert main(["render", str(path), "--out", str(tmp_path / "img"), "--size", "32", "-q"]) == 1
    assert main(["render", str(path), "--out", str(tmp_path / "img"), "--size", "32", "-q",
                 "--absent", "Jet,Electron,MET"]) == 1
    assert main(["render", str(path), "--out", str(tmp_path / "img"), "--size", "32", "--selection", "none",
                 "--absent", "Jet,Electron,MET", "-q"]) == 0
    assert len(list((tmp_path / "img").rglob("*.png"))) == 1000
    assert main(["data", "convert", str(path), str(tmp_path / "mu.json"),
                 "--absent", "Jet,Electron,MET,Muon_tightId,Muon_pfRelIso04_all"]) == 0
    back = read_events(tmp_path / "mu.json")
    np.testing.assert_allclose(back.muon["pt"], ev.muon["pt"])


def test_convert_refuses_to_write_onto_its_input_or_an_existing_file(tmp_path, capsys):
    src = write_nanoaod(tmp_path / "a.root", read_events(raw_nano(tmp_path / "x.root")))
    before = src.read_bytes()
    assert main(["data", "convert", str(src), str(src)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is the input" in err and src.read_bytes() == before
    assert main(["data", "convert", str(src), str(tmp_path / "b.json")]) == 0
    made = (tmp_path / "b.json").read_bytes()
    assert main(["data", "convert", str(src), str(tmp_path / "b.json")]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["data", "convert", str(src), str(tmp_path / "b.json"), "--overwrite"]) == 0
    assert (tmp_path / "b.json").read_bytes() == made
    assert main(["data", "convert", str(src), str(tmp_path / "b.txt")]) == 1
    assert "b.txt: not an event file" in capsys.readouterr().err and not (tmp_path / "b.txt").exists()
