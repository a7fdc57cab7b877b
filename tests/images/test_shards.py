"""Tests of eventcnn.images.shards: shard names, the memory-mapped rows, the index, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from eventcnn.errors import UserError
from eventcnn.images.shards import (
    ShardRows,
    is_shard_folder,
    parse_ref,
    read_index,
    read_shard_image,
    shard_name,
    shard_ref,
    write_index,
)


def _shards(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8) for n in (3, 2)]
    for k, a in enumerate(arrays):
        np.save(tmp_path / shard_name(k), a)
    return arrays


def test_names_and_refs():
    assert shard_name(7) == "shard-00007.npy" and shard_ref(7, 12) == "shard-00007.npy#12"
    assert parse_ref("a/b/shard-00007.npy#12") == ("a/b/shard-00007.npy", 12)
    assert parse_ref("a/b/x.png") is None and parse_ref("shard-00007.npy") is None


def test_rows_gather_across_shards_without_copying_them(tmp_path):
    arrays = _shards(tmp_path)
    refs = [str(tmp_path / shard_ref(k, r)) for k, r in ((1, 1), (0, 0), (0, 2), (1, 0))]
    rows = ShardRows(refs)
    assert rows.shape == (4, 4, 4, 3) and len(rows) == 4 and rows.dtype == np.uint8
    np.testing.assert_array_equal(rows[np.array([2, 0, 3])], np.stack([arrays[0][2], arrays[1][1], arrays[1][0]]))
    np.testing.assert_array_equal(rows[1], arrays[0][0])
    np.testing.assert_array_equal(read_shard_image(refs[0]), arrays[1][1])


def test_bad_refs_and_shards_are_clear_errors(tmp_path):
    _shards(tmp_path)
    with pytest.raises(UserError, match="the shard has only 2 images"):
        read_shard_image(tmp_path / shard_ref(1, 5))
    with pytest.raises(UserError, match="row 9 listed but the shard has 3 images"):
        ShardRows([str(tmp_path / shard_ref(0, 9))])
    with pytest.raises(FileNotFoundError, match="shard-00004.npy not found"):
        ShardRows([str(tmp_path / shard_ref(4, 0))])
    np.save(tmp_path / shard_name(5), np.zeros((2, 4, 4), np.float32))
    with pytest.raises(UserError, match="not an image shard"):
        read_shard_image(tmp_path / shard_ref(5, 0))


def test_index_round_trip_and_checked_columns(tmp_path):
    assert not is_shard_folder(tmp_path)
    rows = [{"event": "7", "class": "tt", "source": "a.root", "entry": "3", "shard": "0", "row": "0"}]
    write_index(tmp_path / "shards.csv", rows)
    assert is_shard_folder(tmp_path) and read_index(tmp_path) == rows
    (tmp_path / "shards.csv").write_text("event,class\n1,tt\n")
    with pytest.raises(UserError, match="missing column"):
        read_index(tmp_path)
