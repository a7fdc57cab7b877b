"""Tests of eventcnn.learn.cache: invalidation, identical batches, damage detection, fixed shapes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventcnn.learn.cache import (
    CachedImageSequence,
    cache_key,
    default_cache_dir,
    ensure_cache,
    training_sequences,
)
from eventcnn.learn.dataset import (
    ImageSequence,
    list_images,
    make_split,
    make_toy_images,
    split_arrays,
)


@pytest.fixture()
def toy(tmp_path):
    data = make_toy_images(tmp_path / "toy", n_per_class=9, size=20, seed=3)
    items, names = list_images(data)
    files = [data / it.file for it in items]
    labels = np.array([names.index(it.cls) for it in items], dtype=np.int32)
    return data, files, labels


def _cache(files, tmp_path, size=16, **kw):
    return ensure_cache(files, size, tmp_path / "cache", name="train", quiet=True, **kw)


def test_cache_reused_then_rebuilt_when_an_image_or_the_size_changes(toy, tmp_path):
    _, files, _ = toy
    first = _cache(files, tmp_path)
    assert first.built and first.array.shape == (len(files), 16, 16, 3)
    again = _cache(files, tmp_path)
    assert not again.built and again.path == first.path
    # new content (and mtime) in one image: a new cache with the new pixels
    Image.new("RGB", (20, 20), (0, 0, 255)).save(files[4])
    st = os.stat(files[4])
    os.utime(files[4], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = _cache(files, tmp_path)
    assert changed.built and changed.path != first.path
    assert np.all(changed.array[4] == (0, 0, 255))
    assert not first.path.exists()  # the stale cache of the same name and size is removed
    bigger = _cache(files, tmp_path, size=8)
    assert bigger.built and bigger.array.shape[1:3] == (8, 8)
    fewer = _cache(files[:-1], tmp_path)
    assert fewer.built and len(fewer) == len(files) - 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_sidecar", "bad_sidecar"])
def test_damaged_or_partial_cache_is_detected_and_rebuilt(toy, tmp_path, damage, capsys):
    _, files, _ = toy
    good = _cache(files, tmp_path)
    expected = np.array(good.array)
    meta = good.path.with_suffix(".json")
    del good
    if damage == "truncate":  # a copy or a crash that stopped half-way
        with open(meta.with_suffix(".npy"), "r+b") as fh:
            fh.truncate(os.path.getsize(meta.with_suffix(".npy")) - 100)
    elif damage == "flip":  # same size, wrong bytes in the first image
        with open(meta.with_suffix(".npy"), "r+b") as fh:
            fh.seek(-expected.size, os.SEEK_END)
            head = fh.read(30)
            fh.seek(-expected.size, os.SEEK_END)
            fh.write(bytes(255 - b for b in head))
    elif damage == "no_sidecar":
        meta.unlink()
    else:
        meta.write_text("{not json")
    rebuilt = ensure_cache(files, 16, tmp_path / "cache", name="train", quiet=False)
    assert rebuilt.built
    np.testing.assert_array_equal(rebuilt.array, expected)
    if damage != "no_sidecar":
        assert "rebuilding" in capsys.readouterr().out


def test_failed_build_leaves_no_cache(toy, tmp_path):
    _, files, _ = toy
    files[5].write_bytes(b"not a png")
    with pytest.raises(ValueError, match=files[5].name):
        _cache(files, tmp_path)
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("kw", [{}, {"shuffle": True, "seed": 5, "oversample": "balanced"},
                                {"shuffle": True, "seed": 1, "class_weight": "balanced"}])
def test_cached_batches_equal_decoded_batches(toy, tmp_path, kw):
    _, files, labels = toy
    labels = labels.copy()
    labels[:3] = 1  # imbalanced, so oversampling and weights matter
    cache = _cache(files, tmp_path)
    png = ImageSequence(files, labels, batch_size=4, size=16, **kw)
    cached = CachedImageSequence(cache, labels, batch_size=4, **kw)
    for _epoch in range(2):
        assert len(png) == len(cached)
        for i in range(len(png)):
            a, b = png[i], cached[i]
            assert len(a) == len(b)
            for u, v in zip(a, b):
                assert u.dtype == v.dtype
                np.testing.assert_array_equal(u, v)
        png.on_epoch_end()
        cached.on_epoch_end()


def test_fixed_shapes_drop_in_training_and_pad_in_validation(toy, tmp_path):
    _, files, labels = toy
    cache = _cache(files, tmp_path)  # 18 images
    train = CachedImageSequence(cache, labels, batch_size=4, shuffle=True, seed=0, drop_remainder=True)
    assert len(train) == 4 and {train[i][0].shape[0] for i in range(4)} == {4}
    seen = set()
    for _ in range(6):  # a new permutation every epoch: the dropped images change
        seen |= {train[i][0][j].tobytes() for i in range(len(train)) for j in range(4)}
        train.on_epoch_end()
    assert len({x.tobytes() for x in cache.array}) == 18 and len(seen) == 18
    val = CachedImageSequence(cache, labels, batch_size=4, pad_to_batch=True)
    x, y, w = val[len(val) - 1]
    assert x.shape[0] == 4 and w.tolist() == [1.0, 1.0, 0.0, 0.0]
    np.testing.assert_array_equal(x[:2], cache.array[16:18])
    assert sum(float(val[i][2].sum()) for i in range(len(val))) == 18


def test_training_sequences_cache_location_and_no_cache(toy, tmp_path):
    data, _, _ = toy
    items, names = list_images(data)
    split = make_split(items, names, seed=0)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    tr, va = training_sequences(split, data, 16, batch_size=4, quiet=True)
    # the cache lives in the user's cache folder (EVENTCNN_CACHE here), never in the image folder
    assert isinstance(tr, CachedImageSequence) and tr.cache.path.parent == default_cache_dir(data)
    assert default_cache_dir(data).is_relative_to(Path(os.environ["EVENTCNN_CACHE"]) / "images")
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing written there
    files, labels = split_arrays(split, "val", data)
    np.testing.assert_array_equal(va[0][0], ImageSequence(files, labels, batch_size=4, size=16)[0][0])
    side = json.loads(tr.cache.path.with_suffix(".json").read_text())
    assert side["shape"] == [len(split["train"]), 16, 16, 3] and len(side["crc32"]) == len(split["train"])
    tr2, _ = training_sequences(split, data, 16, batch_size=4, cache=False)
    assert type(tr2) is ImageSequence


def _png_and_shard_folders(tmp_path, size=16):
    """The same random events rendered as PNGs and as shards (3 images per shard)."""
    from eventcnn.events import events_from_records, write_events
    from eventcnn.images.render import RenderConfig, render_to_dir

    rng = np.random.default_rng(5)
    inputs = []
    for label, njet in (("few", 1), ("many", 4)):
        recs = {str(i + 1): {"met": float(rng.uniform(10, 90)), "met_phi": float(rng.uniform(-3, 3)),
                             "jet": {str(j): {"pt": float(rng.uniform(30, 200)), "eta": float(rng.uniform(-2, 2)),
                                              "phi": float(rng.uniform(-3, 3)), "CSV": 0.1, "tightID": True}
                                     for j in range(njet)}} for i in range(8)}
        write_events(tmp_path / f"{label}.json", events_from_records({"Event": recs}))
        inputs.append((tmp_path / f"{label}.json", label))
    cfg = RenderConfig(size=size)
    render_to_dir(inputs, tmp_path / "png", cfg, selection="none", quiet=True)
    render_to_dir(inputs, tmp_path / "sh", cfg, selection="none", quiet=True, format="shards", shard_size=3)
    return tmp_path / "png", tmp_path / "sh"


def test_shard_folder_trains_from_the_memory_mapped_shards_with_the_png_batches(tmp_path):
    from eventcnn.images.shards import ShardRows

    png, sh = _png_and_shard_folders(tmp_path)
    items, names = list_images(sh)
    assert names == ["few", "many"] and len(items) == 16 and items[4].file == "shard-00001.npy#1"
    p_items, _ = list_images(png)
    # the same split (the items are in the same class/event order) from both folders
    key = {(it.cls, it.event): it.file for it in p_items}
    split_sh = make_split(items, names, seed=1)
    split_png = {k: ([{**r, "file": key[(r["class"], r["event"])]} for r in split_sh[k]]
                     if k in ("train", "val", "test") else v) for k, v in split_sh.items()}
    tr_sh, va_sh = training_sequences(split_sh, sh, 16, batch_size=4, seed=2, cache_dir=tmp_path / "c1")
    tr_png, va_png = training_sequences(split_png, png, 16, batch_size=4, seed=2, cache_dir=tmp_path / "c2")
    assert isinstance(tr_sh.cache.array, ShardRows)  # no copy, no PNG decoding
    assert not (tmp_path / "c1").exists()
    for a, b in ((tr_sh, tr_png), (va_sh, va_png)):
        assert len(a) == len(b)
        for i in range(len(a)):
            for x, y in zip(a[i], b[i]):
                np.testing.assert_array_equal(x, y)
    # another training size goes through the decoded-image cache, resizing the shard rows
    tr8, _ = training_sequences(split_sh, sh, 8, batch_size=4, seed=2, cache_dir=tmp_path / "c3")
    assert tr8[0][0].shape == (4, 8, 8, 3) and any((tmp_path / "c3").glob("train_8x8_*.npy"))
    # the streaming sequence reads shard rows too (no cache)
    streamed_sh = ImageSequence(split_arrays(split_sh, "train", sh)[0], None, batch_size=5, size=16)
    streamed_png = ImageSequence(split_arrays(split_png, "train", png)[0], None, batch_size=5, size=16)
    np.testing.assert_array_equal(streamed_sh[0][0], streamed_png[0][0])
def test_cache_is_keyed_by_content_not_by_names_or_times(toy, tmp_path, monkeypatch):
    data, files, _ = toy
    key = cache_key(files, 16)
    for f in files:  # new times, same bytes: the same key
        os.utime(f, ns=(1, 10**18))
    assert cache_key(files, 16) == key
    copy = shutil.copytree(data, tmp_path / "copy")  # a copied folder: the same images, the same key
    assert cache_key([copy / f.relative_to(data) for f in files], 16) == key
    # the same bytes size and time, other pixels: a new key (mtime-based keys missed this)
    st = os.stat(files[0])
    raw = bytearray(files[0].read_bytes())
    raw[-20] ^= 0xFF
    files[0].write_bytes(bytes(raw))
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(files[0]).st_size == st.st_size and cache_key(files, 16) != key
    assert cache_key(list(reversed(files)), 16) != cache_key(files, 16)  # order matters (rows)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        cache_key([tmp_path / "missing.png"], 16)


def test_cache_falls_back_to_the_run_folder_when_the_cache_root_is_not_writable(toy, tmp_path, monkeypatch):
    data, _, _ = toy
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache root should be")
    monkeypatch.setenv("EVENTCNN_CACHE", str(blocker))
    assert default_cache_dir(data, tmp_path / "run") == tmp_path / "run" / "cache"
    monkeypatch.setenv("EVENTCNN_CACHE", str(tmp_path / "c"))
    assert default_cache_dir(data, tmp_path / "run").parent == tmp_path / "c" / "images"


def test_a_cache_larger_than_the_free_disk_is_refused_before_decoding(toy, tmp_path, monkeypatch):
    import eventcnn.learn.cache as cache_mod
    from eventcnn.limits import ResourceLimitError

    _, files, _ = toy
    monkeypatch.setattr(cache_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    with pytest.raises(ResourceLimitError, match=r"needs about 13.8 kB of disk .* only 1.0 kB is free"):
        _cache(files, tmp_path)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("*.npy"))
