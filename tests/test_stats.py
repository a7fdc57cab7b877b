"""eventcnn.stats: bootstrap intervals, paired differences, seed spreads, binomial intervals."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from eventcnn import stats
from eventcnn.errors import UserError


def _binary(n=2000, sep=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.round(sep * y + rng.normal(0, 1, n), 1)  # rounded: many ties


def test_fast_metrics_equal_sklearn_including_ties():
    y, s = _binary()
    assert stats.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    rng = np.random.default_rng(1)
    t = rng.integers(0, 4, 400)
    p = np.where(rng.random(400) < 0.7, t, rng.integers(0, 4, 400))
    assert stats.balanced_accuracy(t, p) == pytest.approx(balanced_accuracy_score(t, p))
    assert stats.accuracy(t, p) == pytest.approx(np.mean(t == p))
    assert stats.recall(2)(t, p) == pytest.approx(np.mean(p[t == 2] == 2))


def test_weight_rows_equal_resampled_events():
    y, s = _binary(300)
    w = stats.bootstrap_weights(300, n_boot=5, seed=3, strata=y)
    fast = stats.roc_auc(y, s, weights=w)
    for row, value in zip(w, fast):
        idx = np.repeat(np.arange(300), row.astype(int))
        assert value == pytest.approx(roc_auc_score(y[idx], s[idx]), abs=1e-12)
    # stratified: each class keeps its size in every resample
    assert (w[:, y == 1].sum(axis=1) == (y == 1).sum()).all()


def test_bootstrap_is_seeded_and_brackets_the_value():
    y, s = _binary()
    a = stats.bootstrap(stats.roc_auc, y, s, seed=5, strata=y)
    b = stats.bootstrap(stats.roc_auc, y, s, seed=5, strata=y)
    c = stats.bootstrap(stats.roc_auc, y, s, seed=6, strata=y)
    assert a == b and a.ci95 != c.ci95
    assert a.ci95[0] < a.value < a.ci95[1]
    assert a.to_json() == {"value": a.value, "ci95": list(a.ci95)}
    # a generic callable (resampled per draw) agrees with the vectorised path in spread
    g = stats.bootstrap(lambda t, x: roc_auc_score(t, x), y, s, seed=5, strata=y, n_boot=300)
    assert g.std == pytest.approx(a.std, rel=0.25)


def test_interval_covers_the_truth_about_95_percent_of_the_time():
    truth = stats.roc_auc(*_binary(200_000, seed=99))
    covered = 0
    for k in range(60):
        y, s = _binary(400, seed=100 + k)
        lo, hi = stats.bootstrap(stats.roc_auc, y, s, seed=k, strata=y, n_boot=300).ci95
        covered += lo <= truth <= hi
    assert 50 <= covered <= 60  # 95 % of 60 = 57; binomial spread ~1.7


def test_interval_narrows_with_more_events():
    small = stats.bootstrap(stats.roc_auc, *_binary(500), strata=None)
    large = stats.bootstrap(stats.roc_auc, *_binary(20_000), strata=None)
    assert (large.ci95[1] - large.ci95[0]) < 0.4 * (small.ci95[1] - small.ci95[0])


def test_paired_difference_resolves_a_real_difference_and_not_a_fake_one():
    y, s = _binary(5000, sep=1.5)
    noisy = s + np.random.default_rng(2).normal(0, 1.0, len(s))
    d = stats.paired_difference(stats.roc_auc, y, s, noisy, strata=y)
    assert d.value > 0 and d.ci95[0] > 0
    same = stats.paired_difference(stats.roc_auc, y, s, s.copy(), strata=y)
    assert same.value == 0 and same.ci95 == (0.0, 0.0)
    # paired is tighter than two independent intervals
    ia = stats.bootstrap(stats.roc_auc, y, s, strata=y)
    ib = stats.bootstrap(stats.roc_auc, y, noisy, strata=y)
    assert d.std < np.hypot(ia.std, ib.std)


def test_binomial_interval_and_seed_summary():
    e = stats.binomial_interval(45, 50)
    assert e.format(2) == "0.90 [0.78, 0.97]"
    assert stats.binomial_interval(0, 10).ci95[0] == 0.0
    assert stats.binomial_interval(10, 10).ci95[1] == 1.0
    s = stats.seed_summary([0.95, 0.96, 0.94])
    assert s["mean"] == pytest.approx(0.95) and s["std"] == pytest.approx(0.01) and s["n"] == 3
    assert stats.seed_summary([0.9])["std"] is None


def test_bad_input_is_a_clear_error():
    with pytest.raises(UserError, match="different lengths"):
        stats.bootstrap(stats.roc_auc, [0, 1, 1], [0.1, 0.2])
    with pytest.raises(UserError, match="empty"):
        stats.bootstrap(stats.roc_auc, [], [])
    with pytest.raises(UserError, match="k <= n"):
        stats.binomial_interval(5, 3)
    with pytest.raises(UserError, match="one value per seed"):
        stats.seed_summary([])
