"""Tests of event generation (Pythia 8 + fastjet + detector model): few events each."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pythia8mc", reason="event generation needs pythia8mc (pip install eventcnn[generate])")
pytest.importorskip("fastjet", reason="event generation needs fastjet (pip install eventcnn[generate])")

from eventcnn.events.generate import (  # noqa: E402
    generate,
    generate_to_file,
    pythia_settings,
)
from eventcnn.seeds import pythia_seed  # noqa: E402

N_PHYS = 200  # events per process for the physics sanity checks


@pytest.fixture(scope="module")
def samples() -> dict[str, dict]:
    return {p: generate(p, N_PHYS, seed=2, quiet=True) for p in ("tt", "wjets", "dy")}


def _leptons(rec: dict) -> list[tuple[str, dict]]:
    return [("e", x) for x in rec.get("electron", {}).values()] + [
        ("m", x) for x in rec.get("muon", {}).values()
    ]


def _good(rec: dict) -> list[tuple[str, dict]]:
    return [(f, x) for f, x in _leptons(rec) if x["pt"] > 20 and x["tightIso"]]


def _has_z(rec: dict) -> bool:
    good = _good(rec)
    for i, (fa, a) in enumerate(good):
        for fb, b in good[i + 1 :]:
            if fa != fb or a["charge"] == b["charge"]:
                continue
            e = sum(np.sqrt(x["px"] ** 2 + x["py"] ** 2 + x["pz"] ** 2) for x in (a, b))
            p2 = sum((a[k] + b[k]) ** 2 for k in ("px", "py", "pz"))
            if abs(np.sqrt(max(e**2 - p2, 0.0)) - 91.0) < 15.0:
                return True
    return False


def _frac(data: dict, fn) -> float:
    return float(np.mean([fn(r) for r in data["Event"].values()]))


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="n_events must be a positive integer"):
        generate("tt", 0)
    with pytest.raises(ValueError, match="jobs must be"):
        generate("tt", 5, jobs=0)
    with pytest.raises(ValueError, match="must end in .json"):
        generate_to_file("tt", 5, tmp_path / "out.txt")


def test_settings_seed_and_fast_mode():
    s = pythia_settings("dy", 42, fast=True)
    assert "Random:seed = 42" in s and "PartonLevel:MPI = off" in s
    assert "PhaseSpace:mHatMin = 50." in s
    assert "PartonLevel:MPI = off" not in pythia_settings("dy", 42)
    seeds = {pythia_seed(s, c) for s in range(3) for c in range(3)}
    assert len(seeds) == 9 and all(1 <= x <= 900_000_000 for x in seeds)


def test_same_seed_identical_different_seed_differs():
    a = generate("dy", 25, seed=5, quiet=True)
    b = generate("dy", 25, seed=5, quiet=True)
    c = generate("dy", 25, seed=6, quiet=True)
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(c)
    assert list(a["Event"]) == [str(i) for i in range(1, 26)]


def test_jobs_do_not_change_the_result():
    one = generate("wjets", 45, seed=9, jobs=1, quiet=True, chunk_size=15)
    two = generate("wjets", 45, seed=9, jobs=2, quiet=True, chunk_size=15)
    assert json.dumps(one) == json.dumps(two)
    assert len(one["Event"]) == 45


def test_schema_matches_real_files(samples):
    data = samples["tt"]
    assert set(data) == {"Event"}
    scalar_types = {"met": float, "met_phi": float, "sumet": float, "xsec": float,
                    "njet": int, "numel": int, "nummu": int, "isMC": int, "lumi": int, "run": int}  # fmt: skip
    seen = set()
    for rec in data["Event"].values():
        for key, typ in scalar_types.items():
            assert isinstance(rec[key], typ), key
        assert rec["njet"] == len(rec.get("jet", {}))
        assert rec["numel"] == len(rec.get("electron", {}))
        assert rec["nummu"] == len(rec.get("muon", {}))
        for coll in ("jet", "electron", "muon"):
            if coll in rec:
                seen.add(coll)
                objs = rec[coll]
                assert objs, f"empty {coll} collections must be absent"
                assert list(objs) == [str(i) for i in range(len(objs))]
                pts = [o["pt"] for o in objs.values()]
                assert pts == sorted(pts, reverse=True)
        for j in rec.get("jet", {}).values():
            assert set(j) == {"pt", "eta", "phi", "CSV", "tightID"}
            assert j["pt"] > 30 and abs(j["eta"]) < 4.7
            assert (0 <= j["CSV"] <= 1) if abs(j["eta"]) < 2.4 else j["CSV"] == -100.0
        for _, lep in _leptons(rec):
            assert set(lep) == {"pt", "eta", "phi", "px", "py", "pz", "tightID", "tightIso", "charge"}
            assert lep["charge"] in (-1, 1) and isinstance(lep["tightIso"], bool)
            assert lep["pt"] == pytest.approx(np.hypot(lep["px"], lep["py"]), abs=2e-3)
    assert seen == {"jet", "electron", "muon"}
    xsec = {r["xsec"] for r in data["Event"].values()}
    assert len(xsec) == 1 and 50 < xsec.pop() < 300  # pb: LO tt at 7 TeV is ~100 pb


def test_round_trip_through_reader(tmp_path):
    events_mod = pytest.importorskip("eventcnn.events")
    out = generate_to_file("tt", 30, tmp_path / "tt_json.json.gz", seed=4, quiet=True)
    assert gzip.decompress(out.read_bytes())[:1] == b"{"
    raw = json.loads(gzip.decompress(out.read_bytes()))
    ev = events_mod.read_events(out)
    assert len(ev) == 30
    recs = list(raw["Event"].values())
    np.testing.assert_array_equal(ev.jet.counts, [r["njet"] for r in recs])
    np.testing.assert_array_equal(ev.muon.counts, [r["nummu"] for r in recs])
    np.testing.assert_allclose(ev.met, [r["met"] for r in recs])
    np.testing.assert_array_equal(ev.event, np.arange(1, 31))
    assert not list(tmp_path.glob(".*.tmp"))


def test_ttjets_has_more_jets_than_drell_yan(samples):
    def njet(d: dict) -> float:
        return _frac(d, lambda r: r["njet"])

    assert njet(samples["tt"]) > 3.0
    assert njet(samples["tt"]) > njet(samples["dy"]) + 2.0


def test_drell_yan_has_z_peak_opposite_sign_pairs(samples):
    dy = _frac(samples["dy"], _has_z)
    assert dy > 0.15
    assert dy > 3 * _frac(samples["tt"], _has_z)
    assert dy > 3 * _frac(samples["wjets"], _has_z) + 0.1


def test_wjets_has_exactly_one_lepton_more_often(samples):
    def one_lep(r: dict) -> bool:
        return len(_good(r)) == 1

    def w_like(r: dict) -> bool:
        return len(_good(r)) == 1 and r["met"] > 25

    assert _frac(samples["wjets"], one_lep) > _frac(samples["dy"], one_lep)
    assert _frac(samples["wjets"], w_like) > 2 * _frac(samples["dy"], w_like)
    assert _frac(samples["wjets"], one_lep) > 0.2


def _lepton_jet_fraction(data: dict) -> float:
    """Fraction of isolated leptons (pT > 20) with a jet within dR < 0.3."""
    hits = []
    for rec in data["Event"].values():
        jets = list(rec.get("jet", {}).values())
        for _, lep in _good(rec):
            dr = [np.hypot(j["eta"] - lep["eta"], (j["phi"] - lep["phi"] + np.pi) % (2 * np.pi) - np.pi)
                  for j in jets]  # fmt: skip
            hits.append(bool(dr) and min(dr) < 0.3)
    return float(np.mean(hits))


def test_isolated_leptons_are_clustered_into_jets_like_cms_pf(samples):
    from eventcnn.events.detector import DetectorConfig

    # real CMS files: ~80 % of isolated leptons above 20 GeV sit inside a jet
    assert _lepton_jet_fraction(samples["wjets"]) > 0.6
    clean = generate("wjets", 100, seed=2, quiet=True,
                     config=DetectorConfig(jets_include_leptons=False))  # fmt: skip
    assert _lepton_jet_fraction(clean) < 0.1
    njet = _frac(clean, lambda r: r["njet"])
    assert njet < _frac(samples["wjets"], lambda r: r["njet"])


def test_zz_events_have_a_z_to_leptons():
    data = generate("zz", 20, seed=1, quiet=True)
    n_lep = _frac(data, lambda r: len(_leptons(r)) >= 1)
    assert n_lep > 0.5
    assert 0.1 < next(iter(data["Event"].values()))["xsec"] < 5.0  # pb


def test_progress_and_banner_do_not_flood_stdout():
    # a fresh process: the fastjet banner is printed on the first clustering only
    code = "from eventcnn.events.generate import generate; generate('dy', 5, seed=3)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""  # no fastjet banner, no Pythia banner or statistics
    assert "5/5" in res.stderr  # the tqdm progress bar goes to stderr


def test_cli_writes_file(tmp_path):
    from eventcnn.cli import main

    out = tmp_path / "json_files" / "DY_json.json"
    assert main(["generate", "dy", "--events", "10", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert len(data["Event"]) == 10
    assert main(["generate", "dy", "--events", "-1", "--out", str(out), "--quiet", "--overwrite"]) == 1
    assert json.loads(out.read_text()) == data  # a failed run leaves the earlier output intact


def test_existing_output_is_refused_without_overwrite(tmp_path, capsys):
    from eventcnn.cli import main

    out = tmp_path / "DY_json.json"
    out.write_text("precious")
    assert main(["generate", "dy", "--events", "3", "--seed", "1", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err and "already exists" in err
    assert out.read_text() == "precious"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate_to_file("dy", 3, out, seed=1, quiet=True)
    assert main(["generate", "dy", "--events", "3", "--seed", "1", "--out", str(out), "--quiet",
                 "--overwrite"]) == 0
    assert len(json.loads(out.read_text())["Event"]) == 3

