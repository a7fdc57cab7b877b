"""Tests of eventcnn.events.selection: object cuts, event cuts, cut flow, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eventcnn.events import events_from_records, read_events
from eventcnn.events.selection import Selection, get_selection


def lep(pt, tid=True, iso=True, eta=0.0):
    return {"pt": pt, "eta": eta, "phi": 0.3, "px": 1.0, "py": 1.0, "pz": 0.0, "tightID": tid, "tightIso": iso}


def jet(pt, eta=0.0, tid=True, csv=-100.0):
    return {"pt": pt, "eta": eta, "phi": 0.1, "CSV": csv, "tightID": tid}


def base(**kw):
    rec = {"met": 30.0, "met_phi": 0.0}
    rec.update(kw)
    return rec


@pytest.fixture
def events():
    records = {
        "1": base(electron={"0": lep(25)}, jet={"0": jet(40, csv=0.9), "1": jet(25), "2": jet(50, eta=3.0)}),
        "2": base(muon={"0": lep(25)}, electron={"0": lep(30)}),  # two leptons
        "3": base(muon={"0": lep(25, iso=False)}),  # not isolated
        "4": base(muon={"0": lep(15)}, jet={"0": jet(100)}),  # too soft
        "5": base(electron={"0": lep(40, tid=False)}, muon={"0": lep(22)},
                  jet={"0": jet(35, tid=False), "1": jet(60, csv=0.5)}),
    }
    return events_from_records({"Event": records}, source="mem")


def test_paper_selection_exactly_one_tight_lepton(events):
    result = Selection().select(events)
    assert result.passed.tolist() == [True, False, False, False, True]
    # jets: pT > 30, |eta| < 2.4, tightID
    assert result.jets.tolist() == [True, False, False, True, False, True]


def test_apply_drops_unselected_objects_and_counts_btags(events):
    sel, flow = Selection(min_jets=1, min_bjets=1).apply(events)
    assert sel.event.tolist() == [1]
    assert sel.jet.counts.tolist() == [1]  # only the 40 GeV b-tagged jet remains
    assert [s[1] for s in flow.steps] == [5, 2, 2, 1]
    table = flow.table()
    assert "b-tag" in table and "100.0%" in table and "20.0%" in table


def test_thresholds_are_configurable(events):
    loose = Selection(lepton_tight_iso=False, lepton_pt=10)
    assert loose.select(events).passed.tolist() == [True, False, True, True, True]
    assert Selection(n_leptons=None).select(events).passed.all()
    # the "lepton" preset: at least one tight isolated lepton (keeps dilepton events)
    assert get_selection("lepton").select(events).passed.tolist() == [True, True, False, False, True]


def test_presets_and_json_file(tmp_path):
    assert get_selection("none") is None
    assert get_selection("paper") == Selection()
    assert get_selection("paper+jet").min_jets == 1
    path = tmp_path / "sel.json"
    path.write_text(json.dumps({"jet_pt": 40.0}))
    assert get_selection(str(path)).jet_pt == 40.0
    path.write_text(json.dumps({"jetpt": 40.0}))
    with pytest.raises(ValueError, match="unknown selection settings"):
        get_selection(str(path))
    with pytest.raises(ValueError, match="unknown selection"):
        get_selection("tight")


@pytest.mark.shared_data
def test_real_sample_cutflow(cms_ttjets, cms_wjets):
    tt, _ = Selection().apply(read_events(cms_ttjets))
    w, _ = Selection().apply(read_events(cms_wjets))
    # measured on the development sample: 866 tt+jets and 1074 W+jets events
    assert len(tt) == 866 and len(w) == 1074
    for ev in (tt, w):
        n_lep = ev.electron.counts + ev.muon.counts
        assert np.all(n_lep == 1)
        assert np.all(ev.jet["pt"] > 30) and np.all(np.abs(ev.jet["eta"]) < 2.4)
    # tt+jets has more selected jets than W+jets
    assert tt.jet.counts.mean() > 2 * w.jet.counts.mean()


def test_failed_cut_names_the_first_cut_each_event_fails(events):
    res = Selection(min_jets=1).select(events)
    # 1: one electron + jets passes; 2: two leptons; 3: not isolated; 4: too soft; 5: one muon + one good jet
    assert res.passed.tolist() == [True, False, False, False, True]
    assert res.failed_cut[0] == "" and res.failed_cut[4] == ""
    assert all("lepton" in c for c in res.failed_cut[1:4])
    no_jet = Selection(min_jets=3).select(events)
    assert no_jet.failed_cut[0].startswith(">= 3 jet") and "lepton" in no_jet.failed_cut[1]
