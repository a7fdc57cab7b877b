"""Tests of the representation study: roles, subsets, recipe, alignment of the three views, metrics, a tiny run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from eventcnn import stats
from eventcnn.errors import UserError
from eventcnn.events import read_events
from eventcnn.events.objects import object_arrays
from eventcnn.events.selection import get_selection
from eventcnn.images.render import RenderConfig, render_events
from eventcnn.learn import study_data as sd
from eventcnn.learn.representations import Recipe, epoch_budget, fit_predict
from eventcnn.learn.study import StudySettings, run_study
from eventcnn.learn.study_data import pools, subset
from eventcnn.learn.study_report import (
    AucCache,
    accuracy_metric,
    auc_metric,
    macro_auc,
    macro_auc_metric,
    rejection_metric,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "eventcnn" / "events" / "examples"


def test_roles_are_fixed_fractions_of_the_event_numbers():
    roles = sd.role_of(np.arange(1, 12_001))
    assert np.mean(roles == sd.ROLE_TEST) == pytest.approx(1 / 6)
    assert np.mean(roles == sd.ROLE_VAL) == pytest.approx(1 / 12)
    assert np.array_equal(sd.role_of(np.array([12, 18, 13, 14])), [2, 2, 1, 0])


def test_piece_seeds_are_distinct_and_bounded():
    seeds = {sd.piece_seed(1, p, k) for p in sd.PROCESSES for k in range(200)}
    assert len(seeds) == 600
    with pytest.raises(UserError):
        sd.piece_seed(1, "tt", 1000)


def test_recipe_keeps_enough_steps_for_small_samples():
    r = Recipe()
    epochs, batch, patience = r.plan("image", 300)
    assert batch == 32 and epochs * np.ceil(300 / 32) >= 500 and patience * np.ceil(300 / 32) >= 150
    epochs, batch, patience = r.plan("image", 300_000)
    assert batch == 128 and epochs == 2 and patience == 4
    assert epoch_budget(1000, 1e4, max_epochs=5) == 5
    with pytest.raises(UserError):
        r.plan("sets", 0)


def _fake_views(n_per_class=120, k=3, seed=0, image_size=16):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per_class)
    ev = np.tile(np.arange(1, n_per_class + 1), k)
    values = rng.normal(size=(len(y), 5, 4)).astype(np.float32)
    values[:, 0, 0] += 2.0 * y  # a learnable signal in every representation
    mask = np.ones((len(y), 5), bool)
    mask[:, 3:] = rng.random((len(y), 2)) < 0.5
    values[~mask] = 0
    feats = np.column_stack([y + rng.normal(0, 0.7, len(y)), rng.normal(size=len(y))]).astype(np.float32)
    images = rng.integers(0, 40, (len(y), image_size, image_size, 3), dtype=np.uint8)
    images[:, : image_size // 2, :, 0] += (60 * y)[:, None, None].astype(np.uint8)
    from eventcnn.events.objects import ObjectArrays

    views = sd.Views(images, ObjectArrays(values, mask, ("a", "b", "c", "d")), feats, ["f1", "f2"], y,
                     sd.role_of(ev), ["tt", "wjets", "dy"], np.array(["x"] * len(y)), ev)
    return views, images


def test_pools_are_balanced_and_subsets_nested():
    views, _ = _fake_views()
    pool = pools(views)
    assert len({len(r) for r in pool["test"]}) == 1 and len({len(r) for r in pool["val"]}) == 1
    for role, rows in pool.items():
        code = {"train": sd.ROLE_TRAIN, "val": sd.ROLE_VAL, "test": sd.ROLE_TEST}[role]
        assert all((views.roles[r] == code).all() for r in rows)
    small, v1 = subset(pool, 10, seed=3)
    large, v2 = subset(pool, 40, seed=3)
    assert set(small) <= set(large) and len(small) == 30 and len(large) == 3 * min(40, len(pool["train"][0]))
    assert np.bincount(views.labels[small]).tolist() == [10, 10, 10]
    assert not set(small) & set(np.concatenate(pool["test"])) and not set(v1) & set(small)
    assert not np.array_equal(subset(pool, 10, seed=4)[0], small)


@pytest.mark.slow
@pytest.mark.parametrize("rep", ["image", "sets", "trees"])
def test_fit_predict_learns_each_representation(rep):
    views, images = _fake_views()
    pool = pools(views)
    train, val = subset(pool, 60, seed=1)
    test = np.concatenate(pool["test"])
    recipe = Recipe(passes=(("image", 6000), ("sets", 6000)), min_steps=60, max_epochs=30)
    (p,), info = fit_predict(rep, views, train, val, [(views, test, images)], seed=1, images=images, recipe=recipe)
    assert p.shape == (len(test), 3) and np.allclose(p.sum(axis=1), 1.0, atol=1e-4)
    assert macro_auc(views.labels[test], p[:, None, :]) > 0.8, info
    assert info["n_train"] == 180 and info["seconds"] >= 0 and info["cpu_seconds"] >= 0
    with pytest.raises(UserError):
        fit_predict("pixels", views, train, val, [], seed=1)


def test_metrics_agree_with_direct_computations():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 900)
    logits = rng.normal(size=(900, 2, 3)) + 1.5 * np.eye(3)[y][:, None, :]
    P = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    direct = np.mean([[roc_auc_score(y == c, P[:, s, c]) for c in range(3)] for s in range(2)])
    assert macro_auc(y, P) == pytest.approx(direct)
    assert auc_metric(1)(y, P) == pytest.approx(np.mean([roc_auc_score(y == 1, P[:, s, 1]) for s in range(2)]))
    assert accuracy_metric(y, P) == pytest.approx(np.mean([(P[:, s].argmax(1) == y).mean() for s in range(2)]))
    # rejection: the background passing the cut that keeps half of the signal
    s0, sig = P[:, 0, 0], y == 0
    cut = np.sort(s0[sig])[::-1][int(np.ceil(0.5 * sig.sum())) - 1]
    expected = 1.0 / np.mean(s0[~sig] >= cut)
    got = rejection_metric(0, 0.5)(y, P[:, :1])
    assert got == pytest.approx(expected, rel=0.02)
    # the vectorised bootstrap path gives the plain value for weights of one
    w = np.ones((3, 900))
    assert np.allclose(rejection_metric(0)(y, P, weights=w), rejection_metric(0)(y, P))
    assert np.allclose(macro_auc(y, P, weights=w), macro_auc(y, P))
    cache = AucCache()
    w = stats.bootstrap_weights(900, 8, seed=2, strata=y)
    assert np.allclose(macro_auc_metric(cache)(y, P, weights=w), macro_auc(y, P, weights=w))
    n = len(cache.store)
    assert n == 6 and np.allclose(auc_metric(2, cache)(y, P, weights=w), auc_metric(2)(y, P, weights=w))
    assert len(cache.store) == n  # served from the cache
    est = stats.bootstrap(macro_auc, y, P, n_boot=50, seed=1, strata=y)
    assert est.ci95[0] < est.value < est.ci95[1]
    assert stats.paired_difference(macro_auc, y, P, P, n_boot=20, strata=y).value == 0.0


def _example_pieces(folder: Path) -> None:
    folder.mkdir(parents=True)
    pieces = {}
    for p, name in zip(sd.PROCESSES, ("ttjets", "wjets", "dy")):
        target = sd.piece_path(folder, p, 0)
        shutil.copy(EXAMPLES / f"example_{name}.json.gz", target)
        pieces[target.name] = {"process": p, "piece": 0, "seed": 0, "events": 60, "selected": 60}
    (folder / sd.PIECES_FILE).write_text(json.dumps(pieces))


def test_the_three_views_are_aligned(tmp_path):
    _example_pieces(tmp_path / "events")
    shards = sd.render_shards(tmp_path / "events", tmp_path / "shards", size=24, selection="lepton", quiet=True)
    views = sd.load_views(tmp_path / "events", shards, "lepton")
    sel = get_selection("lepton")
    for k, name in enumerate(("ttjets", "wjets", "dy")):
        events, _ = sel.apply(read_events(EXAMPLES / f"example_{name}.json.gz"))
        rows = np.flatnonzero(views.labels == k)
        assert np.array_equal(views.event[rows], events.event)
        assert np.array_equal(views.objects.values[rows], object_arrays(events, sel).values)
        assert np.array_equal(np.asarray(views.images[rows]), render_events(events, RenderConfig(size=24)))
    # drawn once: a second call with the same pieces does not redraw
    mtime = (shards / "shards.csv").stat().st_mtime_ns
    sd.render_shards(tmp_path / "events", tmp_path / "shards", size=24, selection="lepton", quiet=True)
    assert (shards / "shards.csv").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_run_study_writes_figures_with_intervals(tmp_path):
    _example_pieces(tmp_path / "events")
    shards = sd.render_shards(tmp_path / "events", tmp_path / "shards", size=16, selection="none", quiet=True)
    settings = StudySettings(sizes=(10, 20), seeds=(1,), reps=("sets", "trees"), size=16, selection="none",
                             cms=None, n_boot=30, quiet=True, recipe=Recipe(min_steps=10, max_epochs=10))
    report = run_study(settings, tmp_path / "events", shards, tmp_path / "out")
    assert {(p["rep"], p["size"]) for p in report["points"]} == {(r, s) for r in ("sets", "trees") for s in (10, 20)}
    point = report["points"][0]["macro_auc"]
    assert point["ci95"][0] <= point["value"] <= point["ci95"][1] and point["seeds"]["n"] == 1
    for name in ("results.json", "summary.md", "learning_curves.png", "differences.png"):
        assert (tmp_path / "out" / name).exists()
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["events"]["test"] == report["events"]["test"] > 0
    # cached: a second run trains nothing new
    lines = len(next((tmp_path / "out").glob("study_*/runs.jsonl")).read_text().splitlines())
    run_study(settings, tmp_path / "events", shards, tmp_path / "out")
    assert len(next((tmp_path / "out").glob("study_*/runs.jsonl")).read_text().splitlines()) == lines
