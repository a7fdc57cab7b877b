"""Tests of eventcnn.events: schema, quirks, bad input, speed on the real sample."""

from __future__ import annotations

import gzip
import json
import time

import numpy as np
import pytest

from eventcnn.events import (
    EventFormatError,
    concat_events,
    events_from_records,
    read_events,
    to_records,
    write_events,
)


def make_doc(**overrides):
    """A tiny valid document: event 7 with 2 jets, 1 electron; event 9 with nothing but MET."""
    doc = {
        "Event": {
            "7": {
                "jet": {
                    "0": {"pt": 50.0, "eta": 0.5, "phi": 1.0, "CSV": 0.9, "tightID": True},
                    "1": {"pt": 35.0, "eta": -1.0, "phi": -2.0, "CSV": -100.0, "tightID": False},
                },
                "electron": {
                    "0": {"pt": 30.0, "eta": 0.1, "phi": 0.0, "px": 0.0, "py": 30.0, "pz": 3.0,
                          "tightID": True, "tightIso": True},
                },
                "met": 40.0, "met_phi": 0.5, "sumet": 200.0, "njet": 2, "numel": 1, "nummu": 0,
                "xsec": 10.0, "isMC": 1, "lumi": 3, "run": 1,
            },
            "9": {"met": 0.5, "met_phi": -1.0, "sumet": 10.0, "njet": 0, "numel": 0, "nummu": 0,
                  "xsec": 10.0, "isMC": 1, "lumi": 3, "run": 1},
        }
    }
    doc["Event"]["7"].update(overrides)
    return doc


def write(tmp_path, doc, name="ev.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_columnar_layout_and_missing_collections(tmp_path):
    ev = read_events(write(tmp_path, make_doc()))
    assert len(ev) == 2
    assert ev.event.tolist() == [7, 9]
    assert ev.jet.counts.tolist() == [2, 0]
    assert ev.electron.counts.tolist() == [1, 0]
    assert ev.muon.counts.tolist() == [0, 0]  # absent collection = empty
    assert ev.jet.event_index.tolist() == [0, 0]
    assert ev.jet["pt"].tolist() == [50.0, 35.0]
    assert ev.jet["tight_id"].tolist() == [True, False]
    assert ev.met.tolist() == [40.0, 0.5]


def test_quirks_phi_recomputed_and_csv_no_value(tmp_path):
    ev = read_events(write(tmp_path, make_doc()))
    # electron phi written as 0.0 with px=0, py=30 -> phi = pi/2
    assert ev.electron["phi"][0] == pytest.approx(np.pi / 2)
    csv = ev.jet["csv"]
    assert csv[0] == pytest.approx(0.9)
    assert np.isnan(csv[1])  # -100 means no b-tag value


@pytest.mark.parametrize("value", [-100.0, -10.0, -1.0])
def test_all_no_value_csv_codes(tmp_path, value):
    doc = make_doc()
    doc["Event"]["7"]["jet"]["0"]["CSV"] = value
    assert np.isnan(read_events(write(tmp_path, doc)).jet["csv"][0])


def test_gzip_and_subset_and_roundtrip(tmp_path):
    path = tmp_path / "ev.json.gz"
    path.write_bytes(gzip.compress(json.dumps(make_doc()).encode()))
    ev = read_events(path)
    sub = ev[np.array([False, True])]
    assert sub.event.tolist() == [9] and sub.jet.n_objects == 0
    back = tmp_path / "back.json"
    write_events(back, ev)
    again = read_events(back)
    np.testing.assert_array_equal(again.jet["pt"], ev.jet["pt"])
    np.testing.assert_array_equal(again.event, ev.event)
    assert to_records(again)["Event"]["7"]["njet"] == 2


def test_concat(tmp_path):
    ev = read_events(write(tmp_path, make_doc()))
    both = concat_events([ev, ev])
    assert len(both) == 4 and both.jet.counts.tolist() == [2, 0, 2, 0]


@pytest.mark.parametrize(
    "mutate, field, words",
    [
        (lambda e: e["jet"]["1"].pop("pt"), "jet[1].pt", "missing"),
        (lambda e: e["jet"]["0"].__setitem__("eta", "abc"), "jet[0].eta", "not a number"),
        (lambda e: e["electron"]["0"].__setitem__("pt", -5.0), "electron[0].pt", "negative"),
        (lambda e: e.__setitem__("met", "NaN"), "met", "not a number"),
        (lambda e: e.pop("met_phi"), "met_phi", "missing"),
    ],
)
def test_bad_values_name_file_event_and_field(tmp_path, mutate, field, words):
    doc = make_doc()
    mutate(doc["Event"]["7"])
    path = write(tmp_path, doc)
    with pytest.raises(EventFormatError) as err:
        read_events(path)
    msg = str(err.value)
    assert str(path) in msg and "event 7" in msg and field in msg and words in msg


def test_nan_and_inf_rejected(tmp_path):
    path = tmp_path / "nan.json"
    text = json.dumps(make_doc()).replace('"pt": 50.0', '"pt": NaN').replace('"met": 0.5', '"met": Infinity')
    path.write_text(text)
    with pytest.raises(EventFormatError, match=r"event 7, field 'jet\[0\].pt': not finite"):
        read_events(path)
    ev = read_events(path, skip_bad=True)
    assert len(ev) == 0 and {b.event for b in ev.bad} == {"7", "9"}


def test_skip_bad_drops_and_reports(tmp_path):
    doc = make_doc()
    doc["Event"]["7"]["jet"]["0"]["phi"] = None
    ev = read_events(write(tmp_path, doc), skip_bad=True)
    assert ev.event.tolist() == [9]
    assert len(ev.bad) == 1 and ev.bad[0].field == "jet[0].phi"
    assert "event 7" in str(ev.bad[0])


def test_not_json_truncated_and_wrong_top_level(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("this is not json")
    with pytest.raises(EventFormatError, match="not valid JSON"):
        read_events(bad)
    full = json.dumps(make_doc())
    trunc = tmp_path / "trunc.json"
    trunc.write_text(full[: len(full) // 2])
    with pytest.raises(EventFormatError, match="truncated"):
        read_events(trunc)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"Events": {}}))
    with pytest.raises(EventFormatError, match="top-level key 'Event'"):
        read_events(wrong)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_events(tmp_path / "nope.json")
    with pytest.raises(EventFormatError, match="not an integer"):
        events_from_records({"Event": {"x1": make_doc()["Event"]["9"]}}, source="mem")


@pytest.mark.shared_data
def test_real_sample_loads_fast_with_quirks(cms_ttjets, cms_wjets, tmp_path):
    t0 = time.perf_counter()
    tt = read_events(cms_ttjets)
    elapsed = time.perf_counter() - t0
    assert len(tt) == 3500 and tt.jet.n_objects == 15646
    assert elapsed < 2.0, f"reading {cms_ttjets} took {elapsed:.2f} s"
    w = read_events(cms_wjets)
    assert len(w) == 3497
    for ev in (tt, w):
        for lep in (ev.electron, ev.muon):
            assert np.all(np.isfinite(lep["phi"]))
            # phi agrees with atan2(py, px) wherever px/py are given (quirk repaired)
            ok = (lep["px"] != 0) | (lep["py"] != 0)
            dphi = np.angle(np.exp(1j * (lep["phi"][ok] - np.arctan2(lep["py"][ok], lep["px"][ok]))))
            assert np.max(np.abs(dphi)) < 1e-3
        csv = ev.jet["csv"]
        assert np.all(np.isnan(csv) | (csv >= 0))


@pytest.mark.shared_data
@pytest.mark.slow
def test_ten_megabyte_file_of_5000_events_under_two_seconds(cms_ttjets, tmp_path):
    doc = json.loads(cms_ttjets.read_text())["Event"]
    items = list(doc.values())
    big = {str(i): items[i % len(items)] for i in range(5000)}
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"Event": big}, indent=1))
    assert path.stat().st_size > 7_000_000
    t0 = time.perf_counter()
    ev = read_events(path)
    assert len(ev) == 5000
    assert time.perf_counter() - t0 < 2.0


def test_shipped_example_files_read_and_render():
    from eventcnn.events.sources import example_files
    from eventcnn.images.render import RenderConfig, render_events

    files = example_files()
    assert sorted(files) == ["dy", "ttjets", "wjets"]
    for path in files.values():
        ev = read_events(path)
        assert len(ev) == 60
        assert render_events(ev[:3], RenderConfig(size=32)).shape == (3, 32, 32, 3)


@pytest.mark.parametrize(
    "collection, key, value",
    [
        ("electron", "tightID", "false"),
        ("electron", "tightIso", "true"),
        ("jet", "tightID", "false"),
        ("jet", "tightID", 2),
        ("electron", "tightID", 0.5),
        ("electron", "tightIso", [1]),
    ],
)
def test_flag_of_wrong_type_is_an_error_not_true(tmp_path, collection, key, value):
    doc = make_doc()
    doc["Event"]["7"][collection]["0"][key] = value
    path = write(tmp_path, doc)
    with pytest.raises(EventFormatError) as err:
        read_events(path)
    msg = str(err.value)
    assert str(path) in msg and "event 7" in msg and f"{collection}[0].{key}" in msg
    assert "not a boolean" in msg and "true/false or 0/1" in msg
    ev = read_events(path, skip_bad=True)  # the bad lepton never passes as tight
    assert ev.event.tolist() == [9] and ev.bad[0].field == f"{collection}[0].{key}"


def test_flags_accept_true_false_zero_one_and_null(tmp_path):
    doc = make_doc()
    jets = doc["Event"]["7"]["jet"]
    jets["0"]["tightID"], jets["1"]["tightID"] = 1, 0
    doc["Event"]["7"]["electron"]["0"]["tightIso"] = None
    ev = read_events(write(tmp_path, doc))
    assert ev.jet["tight_id"].tolist() == [True, False]
    assert ev.electron["tight_id"].tolist() == [True] and ev.electron["tight_iso"].tolist() == [False]


@pytest.mark.parametrize("cut", ["body", "tail"])
def test_corrupt_gzip_names_the_file(tmp_path, cut):
    data = bytearray(gzip.compress(json.dumps(make_doc()).encode()))
    if cut == "body":  # flip bytes inside the deflate stream: zlib.error on current main
        for k in range(12, 40):
            data[k] ^= 0xFF
    else:  # truncated copy: EOFError
        data = data[: len(data) // 2]
    path = tmp_path / "ev.json.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(EventFormatError, match="corrupt or truncated gzip") as err:
        read_events(path)
    assert str(path) in str(err.value)
