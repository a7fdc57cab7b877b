"""eventcnn.learn.intervals: every figure {value, ci95}, paired differences, seed summaries, printing."""

import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, precision_score, recall_score, roc_auc_score

from eventcnn import stats
from eventcnn.errors import UserError
from eventcnn.learn.intervals import (
    fmt,
    is_estimate,
    metrics_with_intervals,
    paired_metrics,
    seed_summaries,
    value_of,
)


def _scores(n=600, k=2, sep=1.5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += sep
    logits = np.round(logits, 1)  # ties
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p


def _walk(tree, path=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, tree


def test_every_figure_has_a_value_and_an_interval_and_matches_sklearn():
    y, p = _scores()
    m = metrics_with_intervals(y, p, ["w", "tt"], n_boot=300)
    json.dumps(m)  # plain JSON
    assert m["auc"]["value"] == pytest.approx(roc_auc_score(y, p[:, 1]), abs=1e-12)
    assert m["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(y, p.argmax(1)))
    assert m["per_class"]["tt"]["efficiency"]["value"] == pytest.approx(recall_score(y, p.argmax(1)))
    assert m["per_class"]["tt"]["precision"]["value"] == pytest.approx(precision_score(y, p.argmax(1)))
    for name in ("accuracy", "balanced_accuracy", "auc"):
        lo, hi = m[name]["ci95"]
        assert lo <= m[name]["value"] <= hi and hi - lo > 0
    rej = m["background_rejection"]["tt"]["sig_eff=0.7"]
    # rejection = 1 / background efficiency at the cut keeping 70 % of the signal
    s_sig, s_bkg = np.sort(p[y == 1, 1])[::-1], p[y == 0, 1]
    cut = s_sig[int(np.ceil(0.7 * len(s_sig))) - 1]
    assert rej["value"] == pytest.approx(1 / np.mean(s_bkg >= cut))
    assert rej["ci95"][0] <= rej["value"] <= rej["ci95"][1]
    # 3 background events pass at 50 %: resamples with none make the upper end unbounded (null, printed ∞)
    tight = m["background_rejection"]["tt"]["sig_eff=0.5"]
    assert tight["ci95"][1] is None and fmt(tight).endswith(", ∞]")
    # every float of the result sits inside an estimate, except the bootstrap's own settings
    for path, v in _walk(m):
        if isinstance(v, float) and not path.startswith("/bootstrap"):
            assert "/value" in path or "/ci95" in path, path


def test_seeded_and_multiclass():
    y, p = _scores(800, k=4, seed=2)
    a = metrics_with_intervals(y, p, list("qemt"), n_boot=200, seed=5)
    b = metrics_with_intervals(y, p, list("qemt"), n_boot=200, seed=5)
    c = metrics_with_intervals(y, p, list("qemt"), n_boot=200, seed=6)
    assert a == b and a["accuracy"]["ci95"] != c["accuracy"]["ci95"]
    macro = np.mean([roc_auc_score(y == k, p[:, k]) for k in range(4)])
    assert a["roc_auc"]["macro"]["value"] == pytest.approx(macro)
    assert "auc" not in a and a["confusion_matrix"]["normalized"][0][0]["ci95"][1] <= 1


def test_interval_width_shrinks_like_one_over_root_n():
    y1, p1 = _scores(400, seed=1)
    y2, p2 = _scores(6400, seed=1)
    w1 = np.diff(metrics_with_intervals(y1, p1, ["a", "b"], n_boot=400)["accuracy"]["ci95"])[0]
    w2 = np.diff(metrics_with_intervals(y2, p2, ["a", "b"], n_boot=400)["accuracy"]["ci95"])[0]
    assert 2.5 < w1 / w2 < 6  # 4 expected


def test_paired_difference_sees_a_real_difference_and_no_difference():
    y, good = _scores(1500, sep=2.5, seed=3)
    _, bad = _scores(1500, sep=0.5, seed=4)
    d = paired_metrics(y, good, bad, ["a", "b"], n_boot=300)
    assert d["auc"]["ci95"][0] > 0  # a real difference is resolved
    same = paired_metrics(y, good, good, ["a", "b"], n_boot=100)
    assert same["accuracy"] == {"value": 0.0, "ci95": [0.0, 0.0]}
    # pairing: the interval of the difference is narrower than the two unpaired intervals together
    _, close = _scores(1500, sep=2.4, seed=3)
    dd = paired_metrics(y, good, close, ["a", "b"], n_boot=300)["auc"]["ci95"]
    single = metrics_with_intervals(y, good, ["a", "b"], n_boot=300)["auc"]["ci95"]
    assert dd[1] - dd[0] < 2 * (single[1] - single[0])


def test_no_background_passing_gives_an_open_rejection():
    y = np.array([0] * 50 + [1] * 50)
    p1 = np.r_[np.linspace(0, 0.4, 50), np.linspace(0.6, 1, 50)]
    m = metrics_with_intervals(y, np.c_[1 - p1, p1], ["b", "s"], n_boot=50)
    rej = m["background_rejection"]["s"]["sig_eff=0.5"]
    assert rej["value"] is None and fmt(rej) == "–"
    assert m["auc"]["value"] == 1.0


def test_seed_summaries_and_printing():
    runs = [metrics_with_intervals(*_scores(300, seed=s), ["a", "b"], n_boot=50) for s in range(3)]
    s = seed_summaries(runs)
    accs = [r["accuracy"]["value"] for r in runs]
    assert s["accuracy"]["mean"] == pytest.approx(np.mean(accs)) and s["accuracy"]["n"] == 3
    assert s["accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1))
    assert fmt(s["accuracy"]).endswith("(3 seeds)") and "+-" in fmt(s["accuracy"])
    assert fmt({"value": 0.5, "ci95": [0.4, 0.6]}, 2) == "0.50 [0.40, 0.60]"
    assert fmt(0.5) == "0.500 (no interval)" and fmt(None) == "–"
    assert value_of({"value": 0.3, "ci95": [0, 1]}) == 0.3 and value_of(0.2) == 0.2 and value_of(None) is None
    assert is_estimate(s["accuracy"]) and not is_estimate(0.3)


def test_bad_input_is_a_clear_error():
    with pytest.raises(UserError, match="shape"):
        metrics_with_intervals([0, 1], [[0.5, 0.5, 0.0]] * 2, ["a", "b"])
    with pytest.raises(UserError, match="empty"):
        metrics_with_intervals([], np.zeros((0, 2)), ["a", "b"])


def test_stats_mapping_bootstrap_uses_one_set_of_resamples():
    y, p = _scores(300)
    both = stats.bootstrap({"auc": stats.roc_auc, "auc2": stats.roc_auc}, y, p[:, 1], n_boot=100, strata=y)
    assert both["auc"] == both["auc2"] == stats.bootstrap(stats.roc_auc, y, p[:, 1], n_boot=100, strata=y)
