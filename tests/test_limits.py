"""Tests of eventcnn.limits: upper bounds and memory estimates refuse big work up front, in one line."""

from __future__ import annotations

import json

import pytest

import eventcnn.limits
from eventcnn.cli import main
from eventcnn.limits import (
    MAX_IMAGE_SIZE,
    ResourceLimitError,
    available_memory,
    check_batch_size,
    check_count,
    check_image_size,
    check_memory,
    format_bytes,
    render_memory,
)


def _event_file(path):
    muon = {"pt": 30.0, "eta": 0.1, "phi": 0.2, "px": 29.4, "py": 5.9, "pz": 3.0, "tightID": True,
            "tightIso": True}
    event = {"muon": {"0": muon}, "met": 40.0, "met_phi": 0.1, "sumet": 100.0, "njet": 0, "numel": 0,
             "nummu": 1, "xsec": 1.0, "isMC": True, "lumi": 1, "run": 1}
    path.write_text(json.dumps({"Event": {"1": event, "2": event}}))
    return path


def test_bounds():
    assert check_image_size(8) == 8 and check_image_size(MAX_IMAGE_SIZE) == MAX_IMAGE_SIZE
    for bad, words in ((7, "at least 8"), (MAX_IMAGE_SIZE + 1, "too large"), (2.5, "whole number"),
                       (True, "whole number")):
        with pytest.raises(ResourceLimitError, match=words):
            check_image_size(bad)
    assert check_batch_size(64) == 64
    with pytest.raises(ResourceLimitError, match="--batch-size 100000 is too large: at most 4,096"):
        check_batch_size(100000)
    with pytest.raises(ResourceLimitError, match="--n must be at least 1, got 0"):
        check_count("--n", 0)
    assert format_bytes(22.8e9) == "22.8 GB" and format_bytes(512) == "512 bytes"


def test_memory_estimates():
    avail = available_memory()
    assert avail is None or avail > 0
    check_memory(1e6, "a little", available=10**9)
    with pytest.raises(ResourceLimitError, match=r"rendering needs about 5.0 GB of memory, but this machine "
                                                 r"has 2.0 GB available; use a smaller --size"):
        check_memory(5e9, "rendering", hint="use a smaller --size", available=2 * 10**9)
    assert render_memory(100000) > 8e10 > render_memory(1024, jobs=4) > render_memory(224)


def test_render_size_and_jobs_are_bounded_before_anything_is_read(tmp_path, capsys, monkeypatch):
    events = _event_file(tmp_path / "events.json")
    out = tmp_path / "images"
    assert main(["render", str(events), "--out", str(out), "--size", "100000"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--size 100000 is too large: at most 1024 pixels" in err
    assert "30.0 GB" in err and not out.exists()
    assert main(["render", str(events), "--out", str(out), "--jobs", "100000"]) == 1
    assert "--jobs 100000 is too large" in capsys.readouterr().err and not out.exists()
    # a machine with little memory: refused with the estimate, before any work
    monkeypatch.setattr(eventcnn.limits, "available_memory", lambda: 200 * 10**6)
    assert main(["render", str(events), "--out", str(out), "--size", "1024", "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs about 318.9 MB of memory, but this machine has 200.0 MB" in err
    assert not out.exists()


def test_generate_refuses_absurd_event_counts_with_an_estimate(tmp_path, capsys, monkeypatch):
    out = tmp_path / "g.json"
    assert main(["generate", "tt", "--events", "99999999999999", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--events 99999999999999 is too large" in err and not out.exists()
    monkeypatch.setattr(eventcnn.limits, "available_memory", lambda: 4 * 10**9)
    assert main(["generate", "tt", "--events", "5000000", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "generating 5,000,000 events needs about 40.0 GB of memory, but this machine has 4.0 GB" in err
    assert not out.exists()


def test_training_numbers_are_bounded(tmp_path, capsys):
    from eventcnn.learn.dataset import make_toy_images

    data = make_toy_images(tmp_path / "toy", n_per_class=3, size=16)
    for flag, value, words in (("--batch-size", "100000", "--batch-size 100000 is too large"),
                               ("--size", "5000", "--size 5000 is too large"),
                               ("--epochs", "0", "epochs (--epochs) must be at least 1"),
                               ("--workers", "100000", "--workers 100000 is too large")):
        assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), flag, value, "-q"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "run").exists()
