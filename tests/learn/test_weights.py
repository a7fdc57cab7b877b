"""Tests of eventcnn.learn.weights: one registry of the shipped weights of every network, sha256-checked."""

from __future__ import annotations

import json
import shutil

import pytest

from eventcnn._io import sha256sum
from eventcnn.errors import UserError
from eventcnn.learn import weights as shipped
from eventcnn.learn.weights import default_weights, resolve_weights, weights_image_size


def _entry() -> dict:
    entries = [e for e in shipped.available() if e["backbone"] == "small"]
    assert entries, "no shipped weights for the small backbone in eventcnn/learn/weights"
    return entries[0]


def test_shipped_metadata_is_complete_and_hash_matches():
    e = _entry()
    path = shipped.WEIGHTS_DIR / f"{e['name']}.weights.h5"
    assert e["image_size"] == 64
    assert path.stat().st_size < 1_000_000
    assert sha256sum(path) == e["sha256"]
    assert "eventcnn pretrain" in e["command"]
    assert set(e["class_names"]) >= {"ttjets", "wjets"}
    assert e["recipe"]["pretrain"]["seed"] == 1


def test_sim_refuses_a_damaged_file(tmp_path):
    e = _entry()
    for suffix in (".weights.h5", ".json"):
        shutil.copy(shipped.WEIGHTS_DIR / f"{e['name']}{suffix}", tmp_path)
    f = tmp_path / f"{e['name']}.weights.h5"
    data = bytearray(f.read_bytes())
    data[-100] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged: sha256"):
        shipped.resolve_weights("sim", "small", (64, 64, 3), directory=tmp_path)
    assert shipped.resolve_weights("sim", "small", (64, 64, 3)) == shipped.WEIGHTS_DIR / f"{e['name']}.weights.h5"


def test_shipped_weights_checked(tmp_path):
    path = resolve_weights("sim", "masterclass")
    meta = json.loads(path.with_name("opal_sim.json").read_text())
    assert meta["sha256"] == sha256sum(path)
    assert "eventcnn opal pretrain" in meta["command"]
    bad = tmp_path / "w"
    bad.mkdir()
    shutil.copy(path.with_name("opal_sim.json"), bad / "opal_sim.json")
    (bad / "opal_sim.weights.h5").write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(UserError, match="damaged"):
        resolve_weights("sim", "masterclass", directory=bad)
    with pytest.raises(UserError, match="no simulation-pretrained"):
        resolve_weights("sim", "masterclass", directory=tmp_path / "nothing")
    with pytest.raises(UserError, match="--weights"):
        resolve_weights("nonsense", "masterclass")


def test_weights_image_size_from_the_json_beside_them(tmp_path):
    assert weights_image_size(resolve_weights("sim", "masterclass")) == 200
    w = tmp_path / "mine.weights.h5"
    w.write_bytes(b"")
    assert weights_image_size(w) is None  # no .json beside them: nothing known
    (tmp_path / "mine.json").write_text('{"image_size": 64}')
    assert weights_image_size(w) == 64
    (tmp_path / "mine.json").write_text("[1, 2")
    with pytest.raises(UserError, match="mine.json: not the .json"):
        weights_image_size(w)


def test_pretrained_weights_of_another_size_are_refused_in_one_line():
    from eventcnn.learn.models import load_network_weights, masterclass_network

    model = masterclass_network((64, 64, 3))
    with pytest.raises(UserError, match="made for 200 px displays, these are 64 px") as err:
        load_network_weights(model, resolve_weights("sim", "masterclass"))
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_one_registry_holds_the_backbone_and_the_masterclass_network():
    names = {e["name"]: e["backbone"] for e in shipped.available()}
    assert names == {"opal_sim": "masterclass", "sim_small_64": "small"}
    assert resolve_weights("sim", "masterclass", (200, 200, 3)).name == "opal_sim.weights.h5"
    assert resolve_weights(None, "small") is None and resolve_weights("None", "masterclass") is None
    assert default_weights(200) == ("sim", "started from the simulation-pretrained weights opal_sim.weights.h5")
    weights, why = default_weights(64)
    assert weights == "none" and "200 px displays, these are 64 px" in why
