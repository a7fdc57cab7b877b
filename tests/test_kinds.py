"""Tests of eventcnn.kinds: run folders are handled by the package their recorded kind names."""

from __future__ import annotations

import json

import pytest

from eventcnn import kinds
from eventcnn.errors import UserError


def _run(path, **cfg):
    path.mkdir(parents=True)
    base = {"train": {"data_dir": "d", "out_dir": str(path), "model": "small"}, "class_names": ["a", "b"],
            "image_size": 8}
    (path / "config.json").write_text(json.dumps({**base, **cfg}))
    return path


def test_kind_is_read_from_the_run_config(tmp_path):
    assert kinds.kind_of(_run(tmp_path / "cms", kind="cms")) == "cms"
    assert kinds.kind_of(_run(tmp_path / "opal", kind="opal")) == "opal"
    old = _run(tmp_path / "old", train={"data_dir": "d", "out_dir": "o", "model": "opal"})
    assert kinds.kind_of(old) == "opal"  # written before `kind` was recorded
    with pytest.raises(UserError, match="unknown kind 'atlas'"):
        kinds.kind_of(_run(tmp_path / "x", kind="atlas"))


def test_a_bare_keras_file_is_told_by_its_network(tmp_path):
    from eventcnn.opal.model import build_model

    build_model((64, 64, 3), augment=False).save(tmp_path / "m.keras")
    assert kinds.kind_of(tmp_path / "m.keras") == "opal"
    (tmp_path / "broken.keras").write_bytes((tmp_path / "m.keras").read_bytes()[:100])
    assert kinds.kind_of(tmp_path / "broken.keras") == "cms"  # the loader then says it is truncated
    with pytest.raises(UserError, match="corrupt or truncated"):
        kinds.explain(tmp_path / "broken.keras", [], out=tmp_path / "x")


def test_predict_with_an_opal_run_points_to_opal_predict(tmp_path):
    run = _run(tmp_path / "opal", kind="opal")
    with pytest.raises(UserError, match="eventcnn opal predict"):
        kinds.predict(run, ["x.png"], tmp_path / "p.csv")
