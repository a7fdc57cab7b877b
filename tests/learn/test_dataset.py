"""Tests of eventcnn.learn.dataset: listing, stratified seeded splits, the streaming PyDataset."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest

from eventcnn.learn.dataset import (
    ImageSequence,
    balanced_class_weight,
    epoch_indices,
    get_split,
    list_images,
    load_arrays,
    load_split,
    make_split,
    make_toy_images,
    oversample_factors,
    read_image,
    save_split,
    split_arrays,
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_images(tmp_path_factory.mktemp("toy"), n_per_class=20, size=32, seed=3)


def test_list_images_manifest_and_folder_fallback(toy, tmp_path):
    items, names = list_images(toy)
    assert names == ["bottom", "top"] and len(items) == 40
    bare = make_toy_images(tmp_path / "bare", n_per_class=4, size=16, manifest=False)
    items2, names2 = list_images(bare)
    assert names2 == ["bottom", "top"] and len(items2) == 8 and items2[0].file.endswith(".png")


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="eventcnn render"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        list_images(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.csv").write_text("path,label\nx.png,a\n")
    with pytest.raises(ValueError, match=r"manifest.csv: missing column"):
        list_images(tmp_path / "bad")


def test_split_stratified_reproducible_saved(toy, tmp_path):
    items, names = list_images(toy)
    a = make_split(items, names, seed=7)
    b = make_split(items, names, seed=7)
    c = make_split(items, names, seed=8)
    assert a == b and a["train"] != c["train"]
    counts = {k: Counter(r["class"] for r in a[k]) for k in ("train", "val", "test")}
    assert counts["train"] == {"top": 14, "bottom": 14}
    assert counts["val"] == {"top": 3, "bottom": 3} and counts["test"] == {"top": 3, "bottom": 3}
    files = [r["file"] for k in ("train", "val", "test") for r in a[k]]
    assert len(set(files)) == 40  # disjoint and complete
    path = save_split(a, tmp_path / "split.json")
    assert load_split(path) == json.loads(path.read_text()) == a
    # an existing split file is re-used, whatever the seed
    assert get_split(toy, path, seed=99) == a
    with pytest.raises(ValueError, match="fractions"):
        make_split(items, names, fractions=(0.5, 0.2, 0.2))


def test_sequence_uint8_batches_and_deterministic_reshuffle(toy):
    items, names = list_images(toy)
    split = make_split(items, names, seed=1)
    seq = ImageSequence.from_split(split, "train", toy, batch_size=8, shuffle=True, seed=5, size=24)
    assert len(seq) == 4  # 28 images
    x, y = seq[0]
    assert x.dtype == np.uint8 and x.shape == (8, 24, 24, 3) and y.dtype == np.int32
    assert seq[3][0].shape == (4, 24, 24, 3)  # last, partial batch
    order0 = seq._order.copy()
    seq.on_epoch_end()
    order1 = seq._order.copy()
    assert sorted(order0) == sorted(order1) and not np.array_equal(order0, order1)
    again = ImageSequence.from_split(split, "train", toy, batch_size=8, shuffle=True, seed=5, size=24)
    assert np.array_equal(again._order, order0)
    again.set_epoch(1)
    assert np.array_equal(again._order, order1)
    # labels follow the images: the disc is in the top half for class "top"
    files, labels = split_arrays(split, "train", toy)
    xs = load_arrays(files[:6])
    red_top = (xs[:, :16, :, 1] < 100).sum(axis=(1, 2)) > (xs[:, 16:, :, 1] < 100).sum(axis=(1, 2))
    assert list(red_top) == [names[c] == "top" for c in labels[:6]]
    with pytest.raises(IndexError):
        seq[4]


def test_oversampling_and_class_weights():
    labels = np.array([0] * 10 + [1] * 4)
    f = oversample_factors(labels, 2)
    assert f == {0: 1.0, 1: 2.5}
    idx = epoch_indices(labels, seed=0, epoch=0, oversample=f)
    assert Counter(labels[idx]) == {0: 10, 1: 10}
    assert np.array_equal(idx, epoch_indices(labels, seed=0, epoch=0, oversample=f))
    w = balanced_class_weight(labels, 2)
    assert w[0] == pytest.approx(14 / 20) and w[1] == pytest.approx(14 / 8)


def test_sequence_class_weight_and_oversample(toy):
    items, names = list_images(toy)
    # an imbalanced subset: all "top", a quarter of "bottom"
    rows = [it for it in items if it.cls == "top"] + [it for it in items if it.cls == "bottom"][:5]
    split = make_split(rows, names, seed=0, fractions=(1.0, 0.0, 0.0))
    seq = ImageSequence.from_split(split, "train", toy, batch_size=64, oversample="balanced", class_weight="balanced")
    x, y, w = seq[0]
    assert Counter(y.tolist()) == {0: 20, 1: 20} and seq.num_samples == 40
    assert w.dtype == np.float32 and w[y == 0][0] == pytest.approx(25 / 10)


def test_read_errors_name_the_file(tmp_path):
    bad = tmp_path / "a.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="a.png"):
        ImageSequence([bad], [0], batch_size=1)[0]


@pytest.mark.parametrize("n, fractions", [(7, (0.0, 0.5, 0.5)), (3, (0.2, 0.4, 0.4)), (5, (0.1, 0.45, 0.45))])
def test_split_never_overlaps(tmp_path, n, fractions):
    items, _ = list_images(make_toy_images(tmp_path / "t", n_per_class=n, size=16, seed=0))
    split = make_split(items, fractions=fractions, seed=1)
    files = {name: {row["file"] for row in split[name]} for name in ("train", "val", "test")}
    assert not files["train"] & files["test"] and not files["train"] & files["val"] and not files["val"] & files["test"]
    assert sum(len(f) for f in files.values()) == 2 * n


def test_common_image_formats_are_read_and_other_files_named(tmp_path):
    from PIL import Image

    root = tmp_path / "d"
    for cls, fmt in (("a", "gif"), ("a", "png"), ("b", "bmp"), ("b", "webp")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (200, 10, 10)).convert("P").save(root / cls / f"x.{fmt}")
    (root / "a" / "notes.txt").write_text("x")
    (root / "a" / ".DS_Store").write_bytes(b"\0")
    (root / ".ipynb_checkpoints").mkdir()
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\) that are not images.*a/notes.txt"):
        items, names = list_images(root)
    assert names == ["a", "b"] and sorted(it.file for it in items) == ["a/x.gif", "a/x.png", "b/x.bmp", "b/x.webp"]
    img = read_image(root / "a" / "x.gif", size=8)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8  # palette GIF converted to RGB


def test_images_missing_from_the_manifest_are_counted_and_named(tmp_path):
    root = make_toy_images(tmp_path / "toy", n_per_class=3, size=16)


    for i in range(7):
        shutil.copy(root / "top" / "top_event_0.png", root / "top" / f"extra_{i}.png")
    with pytest.warns(UserWarning, match=r"7 image file\(s\) on disk are not in manifest.csv.*top/extra_0.png"):
        items, _ = list_images(root)
    assert len(items) == 6  # the manifest decides what is used


def test_empty_or_truncated_image_names_the_file(tmp_path):
    from PIL import Image

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = tmp_path / "good.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:60])
    for path in (empty, cut):
        with pytest.raises(ValueError, match=rf"image {path} could not be decoded"):
            read_image(path)


def test_load_split_names_a_damaged_split_file(tmp_path):
    """A split file that is not JSON, not an object, or has malformed rows: one line naming the file and field."""
    from eventcnn.errors import UserError
    from eventcnn.learn.dataset import load_split

    path = tmp_path / "split.json"
    good = {"class_names": ["a", "b"], "train": [{"file": "a/1.png", "class": "a"}], "val": [], "test": []}
    path.write_text(json.dumps(good))
    assert load_split(path) == good
    path.write_text(json.dumps({**good, "train": ["d00000001", "d00000002"]}))  # an OPAL run: display ids
    assert load_split(path)["train"] == ["d00000001", "d00000002"]
    for text, words in (("{not json", "not JSON"), ("[1, 2]", "got list"),
                        (json.dumps({**good, "test": [{"file": "x.png"}]}), "field 'test'"),
                        (json.dumps({**good, "val": "a.png"}), "field 'val'")):
        path.write_text(text)
        with pytest.raises(UserError, match=words) as info:
            load_split(path)
        assert str(path) in str(info.value)
