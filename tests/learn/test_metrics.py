"""Tests of eventcnn.learn.metrics: values against scikit-learn, normalisation, plots, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from eventcnn.learn.metrics import (
    comparison_table,
    compute_metrics,
    plot_confusion_matrix,
    plot_efficiency_rejection,
    plot_history,
    plot_misclassified,
    plot_roc,
    signal_efficiency_at,
)

NAMES3 = ["TTjets", "Wjets", "DY"]


@pytest.fixture(scope="module")
def three_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def test_perfect_classifier():
    y = np.array([0, 1, 1, 0, 1])
    p = np.eye(2)[y] * 0.8 + 0.1
    m = compute_metrics(y, p, ["tt", "W"])
    assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0
    assert m["auc"] == 1.0 and m["roc_auc"]["macro"] == 1.0
    assert m["signal_efficiency"]["W"]["bkg_eff=0.1"] == 1.0
    assert m["confusion_matrix"]["counts"] == [[2, 0], [0, 3]]


def test_matches_sklearn(three_class):
    y, p = three_class
    m = compute_metrics(y, p, NAMES3)
    pred = p.argmax(1)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    f1 = f1_score(y, pred, average=None)
    for i, name in enumerate(NAMES3):
        assert m["per_class"][name]["f1"] == pytest.approx(f1[i])
        assert m["per_class"][name]["support"] == int((y == i).sum())
        assert m["roc_auc"][name] == pytest.approx(roc_auc_score(y == i, p[:, i]))
    assert m["roc_auc"]["macro"] == pytest.approx(
        roc_auc_score(y, p, multi_class="ovr", average="macro")
    )
    assert "auc" not in m
    json.dumps(m)  # plain python types only


def test_known_small_example():
    y = [0, 0, 1, 1]
    p1 = [0.1, 0.4, 0.35, 0.8]
    m = compute_metrics(y, p1, ["bkg", "sig"])  # 1-d positive-class probability
    assert m["auc"] == pytest.approx(0.75)
    assert m["confusion_matrix"]["counts"] == [[2, 0], [1, 1]]
    assert m["per_class"]["sig"]["recall"] == pytest.approx(0.5)
    assert m["per_class"]["sig"]["precision"] == pytest.approx(1.0)


def test_confusion_normalisation_rows_sum_to_one(three_class):
    m = compute_metrics(*three_class, NAMES3)
    np.testing.assert_allclose(np.sum(m["confusion_matrix"]["normalized"], axis=1), 1.0)


def test_signal_efficiency_at():
    bkg = np.linspace(0, 1, 1001)
    sig = np.array([0.995, 0.5, 0.999, 0.2])
    assert signal_efficiency_at(sig, bkg, 0.01) == pytest.approx(0.5)
    assert signal_efficiency_at(sig, bkg, 0.6) == pytest.approx(0.75)


def test_class_name_labels_and_absent_class():
    m = compute_metrics(
        ["a", "a", "b"], [[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]], ["a", "b", "c"]
    )
    assert m["roc_auc"]["c"] is None and m["per_class"]["c"]["support"] == 0
    assert m["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 1], [[0.5, 0.5]], "number of samples"),
        ([0, 1], [[0.5, 0.2, 0.3], [0.1, 0.1, 0.8]], r"shape \(n, 2\)"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], "outside 0..1"),
        ([[0, 1, 0]], [[0.5, 0.5]], "1-d"),
        ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], "NaN"),
        (["x", "a"], [[0.5, 0.5], [0.5, 0.5]], "not among the class names"),
    ],
)
def test_bad_input(y, p, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(y, p, ["a", "b"])


def _png(path):
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots(tmp_path, three_class):
    y, p = three_class
    cm = compute_metrics(y, p, NAMES3)["confusion_matrix"]["counts"]
    for normalize in (False, True):
        for log in (False, True):
            _png(
                plot_confusion_matrix(
                    cm, NAMES3, tmp_path / f"cm_{normalize}_{log}.png", normalize, log
                )
            )
    _png(
        plot_confusion_matrix(
            [[5, 0], [0, 0]], ["a", "b"], tmp_path / "cm_zero.png", normalize=True, log=True
        )
    )
    _png(plot_roc(y, p, NAMES3, tmp_path / "roc.png"))
    _png(plot_efficiency_rejection(y, p, NAMES3, tmp_path / "rej.png"))
    images = np.random.default_rng(0).integers(0, 256, (300, 8, 8, 3), dtype=np.uint8)
    _png(plot_misclassified(images, y, p, NAMES3, tmp_path / "wrong.png", max_images=6))
    _png(
        plot_misclassified(
            images[:2], [0, 1], [[1, 0, 0], [0, 1, 0]], NAMES3, tmp_path / "none.png"
        )
    )
    _png(
        plot_history(
            {"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.8, 0.7], "accuracy": [0.5, 0.6, 0.7]},
            tmp_path / "h.png",
        )
    )
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        plot_confusion_matrix([[1, 2], [3, 4]], NAMES3, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="images"):
        plot_misclassified(images[:5], y, p, NAMES3, tmp_path / "bad.png")


def test_comparison_table():
    text = comparison_table(
        [{"model": "CNN", "auc": 0.91234}, {"model": "BDT", "auc": 0.8, "note": "a|b"}]
    )
    assert text.splitlines() == [
        "| model | auc | note |",
        "|---|---|---|",
        "| CNN | 0.912 |  |",
        "| BDT | 0.800 | a\\|b |",
    ]
    with pytest.raises(ValueError):
        comparison_table([])


def _capture(monkeypatch):
    import eventcnn.learn.metrics as M

    figs = []
    real = M.write_figure_png

    def keep(fig, path, *a, **k):
        figs.append(fig)
        return real(fig, path, *a, **k)

    monkeypatch.setattr(M, "write_figure_png", keep)
    return figs


def test_misclassified_title_counts_what_is_shown(tmp_path, monkeypatch):
    figs = _capture(monkeypatch)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    y = np.zeros(16, int)
    p = np.tile([0.2, 0.8], (16, 1))  # the 16 shown are all wrong
    plot_misclassified(images, y, p, ["a", "b"], tmp_path / "w.png", total_wrong=26, total=484)
    assert figs[-1]._suptitle.get_text() == "16 of 26 misclassified images shown (26 of 484 wrong)"
    plot_misclassified(images, y, p, ["a", "b"], tmp_path / "w.png", max_images=4)
    assert figs[-1]._suptitle.get_text() == "4 of 16 misclassified images shown (16 of 16 wrong)"
    plot_misclassified(images, y, p, ["a", "b"], tmp_path / "w.png")
    assert figs[-1]._suptitle.get_text() == "misclassified: 16 of 16 images"


def test_rejection_curve_has_a_band_and_stops_where_statistics_end(tmp_path, monkeypatch):
    figs = _capture(monkeypatch)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    s = np.clip(0.6 * y + rng.normal(0.2, 0.2, 400), 0, 1)
    plot_efficiency_rejection(y, np.stack([1 - s, s], 1), ["a", "b"], tmp_path / "r.png")
    ax = figs[-1].axes[0]
    n_bkg = int(np.sum(y == 0))
    rej = ax.lines[0].get_ydata()
    assert rej.max() <= n_bkg / 5 + 1e-9  # never beyond 5 background events passing
    assert len(ax.collections) == 1  # the uncertainty band
    assert "statistical uncertainty" in ax.get_title() and f"{n_bkg} background events" in ax.get_legend().texts[0].get_text()
    # too few test events for any curve: said in the picture, no empty legend (and no warning)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_efficiency_rejection([0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]], ["a", "b"],
                                  tmp_path / "few.png")
    ax = figs[-1].axes[0]
    assert ax.get_legend() is None and "too few test events" in ax.texts[0].get_text()


def test_balanced_accuracy_without_sklearn_warning_when_a_prediction_is_absent_from_the_truth():
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])  # says class 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compute_metrics(y, p, NAMES3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p.argmax(1)))
