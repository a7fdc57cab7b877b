"""Tests for eventcnn.opal.suggest (active learning) and ``eventcnn opal suggest``."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn import opal
from eventcnn.cli import main
from eventcnn.opal import ids, suggest


@pytest.fixture(scope="module")
def displays(opal_zip, opal_labels) -> opal.OpalData:
    """The real development set at 48x48 pixels (fast), with the reference labels."""
    return opal.load_displays(opal_zip, opal_labels, size=48, quiet=True)


def test_features_shape_and_dtype(displays):
    f = suggest.image_features(displays.images[:20])
    assert f.shape[0] == 20 and f.dtype == np.float32 and np.isfinite(f).all()
    with pytest.raises(ValueError, match="must be"):
        suggest.image_features(displays.images[0])


def test_first_batch_covers_more_classes_than_name_order(displays):
    idx = suggest.suggest_indices(displays.images, None, n=10, seed=0)
    assert len(idx) == 10 and len(set(idx.tolist())) == 10
    chosen = set(displays.labels[idx])
    name_order = set(displays.labels[np.argsort(displays.names)[:10]])
    assert len(chosen) > len(name_order)
    assert len(chosen) >= 3  # hadrons plus at least two of the rare leptonic classes


def test_suggestions_are_new_unique_and_deterministic(displays):
    sub = displays[np.arange(0, len(displays), 3)]  # a third of the set
    labels = np.full(len(sub), "", dtype="<U1")
    first = suggest.suggest_indices(sub.images, labels, n=8, seed=1)
    labels[first] = sub.labels[first]  # the oracle answers
    second = suggest.suggest_indices(sub.images, labels, n=8, seed=1)
    assert len(set(second.tolist())) == 8
    assert not set(second.tolist()) & set(first.tolist())
    np.testing.assert_array_equal(second, suggest.suggest_indices(sub.images, labels, n=8, seed=1))
    # the labelled classes are rare so far; the second batch is not all hadronic
    assert set(sub.labels[second]) != {"q"}


def test_suggest_names_with_opal_data(displays):
    labels = np.full(len(displays), "", dtype="<U1")
    labels[:40] = displays.labels[:40]
    data = opal.OpalData(displays.images, displays.names, labels)
    names = suggest.suggest(data, n=6, seed=0)
    assert len(names) == len(set(names)) == 6
    known = {f"{n}.png" for n in displays.names}
    already = {f"{n}.png" for n in displays.names[:40]}
    assert set(names) <= known and not set(names) & already


def test_bad_labels_and_n_rejected(displays):
    with pytest.raises(ValueError, match="unknown class"):
        suggest.suggest_indices(displays.images[:5], np.array(["q", "x", "", "", ""]), n=2)
    with pytest.raises(ValueError, match="n must be"):
        suggest.suggest_indices(displays.images[:5], None, n=0)


def test_cli_suggest(opal_zip, opal_labels, tmp_path, capsys):
    labels = tmp_path / "my_labels.csv"
    ref = list(opal.read_labels(opal_labels).items())[:12]
    labels.write_text("".join(f"{n};{c}\n" for n, c in ref))
    assert main(["opal", "suggest", "--data", str(opal_zip), "--labels", str(labels),
                 "--n", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out.split()
    assert len(out) == len(set(out)) == 5
    assert all(n.endswith(".png") for n in out)
    # opaque ids, never the display names (their prefixes give the class away)
    assert all(ids.is_display_id(n) for n in out)
    names = opal.load_displays(opal_zip, size=8, quiet=True).names
    table = ids.id_table(names)
    assert all(n[:-4] in table for n in out)
    assert not {table[n[:-4]].lower() for n in out} & {n.lower()[:-4] for n, _ in ref}
    # no label file yet: a first batch
    assert main(["opal", "suggest", "--data", str(opal_zip), "--labels", str(tmp_path / "none.csv"),
                 "--n", "4"]) == 0
    assert len(capsys.readouterr().out.split()) == 4


def test_cli_suggest_more_than_there_are(folder_of_displays, capsys):
    d, labels = folder_of_displays
    assert main(["opal", "suggest", "--data", str(d), "--labels", str(labels), "--n", "100000"]) == 0
    cap = capsys.readouterr()
    assert len(cap.out.split()) == 3  # 6 displays, 3 labelled
    assert "only 3 unlabelled displays left: suggesting all of them (not 100000)" in cap.err
    assert main(["opal", "suggest", "--data", str(d), "--n", "0"]) == 1
    assert "--n must be at least 1" in capsys.readouterr().err


def test_cli_suggest_names_a_broken_display(folder_of_displays, capsys):
    d, labels = folder_of_displays
    good = (d / "ev1.png").read_bytes()
    (d / "broken.png").write_bytes(good[: len(good) // 2])  # truncated PNG
    (d / "empty.png").write_bytes(b"")
    assert main(["opal", "suggest", "--data", str(d), "--labels", str(labels), "--n", "2"]) == 0
    err = capsys.readouterr().err
    assert "2 display file(s) could not be read" in err and "broken.png" in err and "empty.png" in err


@pytest.fixture()
def folder_of_displays(tmp_path):
    from PIL import Image

    d = tmp_path / "displays"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(d / f"ev{i}.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("ev0.png;q\nev1.png;e\nev2.png;m\n")
    return d, labels


@pytest.fixture(scope="module")
def features(displays):
    return suggest.embed(suggest.image_features(displays.images), seed=0)


@pytest.mark.parametrize("before", ["2 of the first batch", "60 hadrons", "the whole first batch",
                                    "30 at random"])
def test_a_resumed_batch_stays_class_balanced(displays, features, before):
    """Labelling stopped after a few events, then a new batch: still every class (the reference says).

    The report: 2 labelled, a new batch of 48 gave 44 hadronic, 3 muon, 1 electron, 0 tau.
    """
    ref = displays.labels
    first = suggest.suggest_indices(displays.images, None, n=50, seed=0, features=features)
    done = {"2 of the first batch": first[:2], "60 hadrons": np.flatnonzero(ref == "q")[:60],
            "the whole first batch": first,
            "30 at random": np.random.default_rng(1).choice(len(ref), 30, replace=False)}[before]
    labels = np.full(len(ref), "", dtype="<U1")
    labels[done] = ref[done]
    idx = suggest.suggest_indices(displays.images, labels, n=48, seed=0, features=features)
    mix = {c: int(np.sum(ref[idx] == c)) for c in opal.CLASS_NAMES}
    assert len(set(idx.tolist())) == 48 and not set(idx.tolist()) & set(done.tolist())
    assert min(mix[c] for c in "emt") >= 5, mix  # each rare class, 4 % of the set, is >= 10 % here
    assert mix["q"] <= 30, mix


def test_pseudo_labels_keep_given_labels(displays):
    sub = displays[np.arange(0, len(displays), 3)]
    labels = np.full(len(sub), "", dtype="<U1")
    idx = suggest.suggest_indices(sub.images, None, n=10, seed=0)
    labels[idx] = sub.labels[idx]
    out = suggest.pseudo_labels(sub.images, labels, threshold=0.8)
    np.testing.assert_array_equal(out[idx], labels[idx])
    guessed = (labels == "") & (out != "")
    assert guessed.sum() >= 20  # confident guesses even from 10 labels
    assert np.mean(out[guessed] == sub.labels[guessed]) > 0.8
    assert len(set(out[labels == ""]) - {"", *opal.CLASS_NAMES}) == 0
    with pytest.raises(ValueError, match="threshold"):
        suggest.pseudo_labels(sub.images, labels, threshold=0)
