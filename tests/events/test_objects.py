"""Tests of eventcnn.events.objects: the padded object sets of the Deep Sets representation."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn.errors import UserError
from eventcnn.events import events_from_records, read_events
from eventcnn.events.objects import OBJECT_FEATURES, ObjectArrays, object_arrays
from eventcnn.events.selection import Selection, get_selection

F = {name: i for i, name in enumerate(OBJECT_FEATURES)}


def lep(pt, eta=0.0, phi=0.3, tid=True, iso=True):
    return {"pt": pt, "eta": eta, "phi": phi, "px": 1.0, "py": 1.0, "pz": 0.0, "tightID": tid, "tightIso": iso}


def jet(pt, eta=0.0, phi=0.1, csv=-100.0, tid=True):
    return {"pt": pt, "eta": eta, "phi": phi, "CSV": csv, "tightID": tid}


def make(records):
    return events_from_records({"Event": {str(i + 1): r for i, r in enumerate(records)}}, source="mem")


@pytest.fixture
def events():
    return make([
        {"met": 40.0, "met_phi": 2.0, "electron": {"0": lep(30, eta=-0.5, phi=1.0)},
         "muon": {"0": lep(45, eta=1.2, phi=-1.0)},
         "jet": {"0": jet(35, eta=-1.0, phi=3.0), "1": jet(80, eta=0.4, phi=0.5, csv=0.9), "2": jet(50)}},
        {"met": 5.0, "met_phi": -1.0},  # MET only
    ])


def test_slots_kinds_and_order(events):
    arr = object_arrays(events)
    assert arr.values.shape == (2, 15, len(OBJECT_FEATURES)) and arr.values.dtype == np.float32
    assert arr.mask.sum(axis=1).tolist() == [6, 1]
    v = arr.values[0]
    # slot 0: MET, then leptons by pT (muon 45, electron 30), then jets by pT (80 b-tagged, 50, 35)
    assert v[0, F["is_met"]] == 1 and v[0, F["eta"]] == 0
    assert v[1, F["is_muon"]] == 1 and v[2, F["is_electron"]] == 1
    jets = v[5:8]
    assert np.allclose(np.exp(jets[:, F["log_pt"]]), [80, 50, 35], rtol=1e-5)
    assert jets[:, F["is_bjet"]].tolist() == [1, 0, 0] and jets[:, F["is_jet"]].tolist() == [0, 1, 1]
    assert np.allclose(v[arr.mask[0]][:, 4:].sum(axis=1), 1.0)  # exactly one kind per object
    assert not arr.values[~arr.mask].any()  # padding is zero
    # the leading visible object (the 80 GeV jet) sits at phi = 0 with eta >= 0
    assert jets[0, F["cos_dphi"]] == pytest.approx(1.0) and jets[0, F["sin_dphi"]] == pytest.approx(0.0, abs=1e-6)
    assert v[0, F["sin_dphi"]] >= 0  # the MET is mirrored into the upper half


def test_met_only_event_is_rotated_onto_itself(events):
    v = object_arrays(events).values[1]
    assert v[0, F["log_pt"]] == pytest.approx(np.log(5.0))
    assert v[0, F["cos_dphi"]] == pytest.approx(1.0)


def _transform(records, dphi=0.0, flip_eta=False, flip_phi=False):
    out = []
    for r in records:
        r = {k: ({i: dict(o) for i, o in v.items()} if isinstance(v, dict) else v) for k, v in r.items()}
        r["met_phi"] = (-1 if flip_phi else 1) * r["met_phi"] + dphi
        for c in ("electron", "muon", "jet"):
            for o in r.get(c, {}).values():
                o["phi"] = float(np.angle(np.exp(1j * ((-1 if flip_phi else 1) * o["phi"] + dphi))))
                o["eta"] = -o["eta"] if flip_eta else o["eta"]
        out.append(r)
    return out


@pytest.mark.parametrize("kw", [{"dphi": 1.3}, {"dphi": -2.9}, {"flip_eta": True}, {"flip_phi": True},
                                {"dphi": 0.7, "flip_eta": True, "flip_phi": True}])
def test_rotations_and_mirrors_give_the_same_set(kw):
    rng = np.random.default_rng(3)
    records = [{"met": float(rng.uniform(5, 90)), "met_phi": float(rng.uniform(-3, 3)),
                "muon": {"0": lep(float(rng.uniform(20, 60)), float(rng.normal()), float(rng.uniform(-3, 3)))},
                "jet": {str(j): jet(float(rng.uniform(31, 150)), float(rng.normal()), float(rng.uniform(-3, 3)))
                        for j in range(int(rng.integers(0, 5)))}} for _ in range(20)]
    a = object_arrays(make(records)).values
    b = object_arrays(make(_transform(records, **kw))).values
    assert np.allclose(a, b, atol=1e-4)


def test_selection_object_cuts_and_truncation_are_counted():
    records = [{"met": 20.0, "met_phi": 0.0, "muon": {"0": lep(25), "1": lep(10)},
                "jet": {str(j): jet(100 - j, eta=0.1 * j) for j in range(13)}}]
    records[0]["jet"]["13"] = jet(20)  # below the 30 GeV jet cut
    arr = object_arrays(make(records), Selection())
    assert arr.mask.sum() == 1 + 1 + 10  # MET, the 25 GeV muon, 10 of the 13 selected jets
    assert arr.truncated == {"leptons": 0, "jets": 3}
    small = object_arrays(make(records), None, max_leptons=1, max_jets=2)
    assert small.values.shape[1] == 4 and small.truncated == {"leptons": 1, "jets": 12}
    with pytest.raises(UserError):
        object_arrays(make(records), max_jets=-1)


def test_take_and_concat(events):
    arr = object_arrays(events)
    both = ObjectArrays.concat([arr, arr.take(np.array([1]))])
    assert len(both) == 3 and np.array_equal(both.values[2], arr.values[1])
    with pytest.raises(UserError):
        ObjectArrays.concat([])


@pytest.mark.shared_data
def test_real_cms_events_columnar(cms_ttjets):
    sel = get_selection("lepton")
    events, _ = sel.apply(read_events(cms_ttjets))
    arr = object_arrays(events, sel)
    assert len(arr) == len(events) and np.isfinite(arr.values).all()
    n_lep = events.electron.counts + events.muon.counts
    expected = 1 + np.minimum(n_lep, 4) + np.minimum(events.jet.counts, 10)
    assert np.array_equal(arr.mask.sum(axis=1), expected)
    assert arr.truncated == {"leptons": int(np.maximum(n_lep - 4, 0).sum()),
                             "jets": int(np.maximum(events.jet.counts - 10, 0).sum())}
