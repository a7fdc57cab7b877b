"""eventcnn.learn.comparison: compare runs with intervals, paired differences on common events, seed groups."""

import json

import numpy as np

from eventcnn.cli import main
from eventcnn.learn.comparison import compare
from eventcnn.learn.intervals import metrics_with_intervals
from eventcnn.learn.report import read_test_scores, write_test_scores


def _fake_run(root, name, seed, keys, y, prob, model="small"):
    """A run folder as `eventcnn train` + `evaluate` leave it (config, metrics.json, test_scores.csv)."""
    d = root / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "kind": "cms", "class_names": ["tt", "w"], "image_size": 32,
        "train": {"data_dir": "x", "out": str(d), "model": model, "seed": seed, "freeze": "none"}}))
    (d / "metrics.json").write_text(json.dumps(metrics_with_intervals(y, prob, ["tt", "w"], n_boot=100)))
    rows = [{"file": f"{k}.png", "source": "tt.json", "event": k} for k in keys]
    write_test_scores(d / "test_scores.csv", rows, y, ["tt", "w"], {"cnn": prob})
    return d


def _data(n, sep, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    s = 1 / (1 + np.exp(-(sep * (2 * y - 1) + rng.normal(0, 1, n))))
    return y, np.c_[1 - s, s]


def test_compare_pairs_runs_on_the_same_events_and_summarises_seeds(tmp_path, capsys):
    y, good = _data(400, 2.0, 0)
    _, bad = _data(400, 0.3, 1)
    a = _fake_run(tmp_path, "a", 1, range(400), y, good)
    b = _fake_run(tmp_path, "b", 2, range(400), y, bad)
    c = _fake_run(tmp_path, "c", 3, range(1000, 1400), y, good)  # other events
    scores = read_test_scores(a)
    assert scores.keys[0] == "tt.json#0" and np.allclose(scores.models["cnn"], good, atol=1e-6)
    result = compare([a, b, c])
    ab, ac = result["paired"]
    assert ab["same_events"] and ab["difference"]["auc"]["ci95"][1] < 0  # b is worse, resolved
    assert "difference" not in ac and "not scored on the same test events" in ac["note"]
    assert result["seed_groups"][0]["seeds"] == [1, 2, 3]
    assert result["seed_groups"][0]["figures"]["accuracy"]["n"] == 3
    assert main(["compare", str(a), str(b), str(c), "--out", str(tmp_path / "cmp.md")]) == 0
    out = capsys.readouterr().out
    assert "paired, 400 events: b - a" in out and "+-" in out and "[" in out
    saved = json.loads((tmp_path / "cmp.json").read_text())
    assert saved["runs"][0]["test_accuracy"].keys() == {"value", "ci95"}
    assert (tmp_path / "cmp.csv").read_text().splitlines()[0].count("_low") == 5


def test_compare_partial_overlap_and_runs_without_scores(tmp_path):
    y, p = _data(200, 1.0, 0)
    a = _fake_run(tmp_path, "a", 1, range(200), y, p)
    b = _fake_run(tmp_path, "b", 1, range(100, 300), np.r_[y[100:], y[:100]], np.r_[p[100:], p[:100]], model="x")
    pair = compare([a, b])["paired"][0]
    assert pair["n_common"] == 100 and not pair["same_events"] and "100 events both scored" in pair["note"]
    (b / "test_scores.csv").unlink()
    assert "evaluate" in compare([a, b])["paired"][0]["note"]
