"""The image-folder format (images.folder): its names, the one manifest writer and reader, the metadata."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import eventcnn
from eventcnn.errors import UserError
from eventcnn.images import folder
from eventcnn.images.folder import (
    FOLDER_METADATA,
    MANIFEST,
    RENDER_CONFIG,
    SKIPPED,
    image_folder_of,
    manifest_by_file,
    read_manifest,
    read_render_config,
    write_manifest,
    write_skipped,
)


def test_manifest_round_trip_in_the_order_written(tmp_path):
    rows = [{"file": "b/b_event_2.png", "class": "b", "source": "b.json", "event": "2"},
            {"file": "a/a_event_1.png", "class": "a", "source": "a.json", "event": "1"}]
    path = write_manifest(tmp_path / MANIFEST, rows)
    assert path.read_text().splitlines()[0] == "file,class,source,event"
    assert read_manifest(path) == rows
    assert list(manifest_by_file(path)) == ["b/b_event_2.png", "a/a_event_1.png"]
    assert image_folder_of(tmp_path / "a" / "a_event_1.png") == tmp_path


def test_render_config_reader(tmp_path):
    assert read_render_config(tmp_path) is None
    (tmp_path / RENDER_CONFIG).write_text('{"size": 32}')
    assert read_render_config(tmp_path) == {"size": 32}
    (tmp_path / RENDER_CONFIG).write_text('{"size": 3')
    with pytest.raises(UserError, match="render_config.json: not a readable render configuration"):
        read_render_config(tmp_path)
    (tmp_path / RENDER_CONFIG).write_text("[1]")
    with pytest.raises(UserError, match="a JSON object is expected"):
        read_render_config(tmp_path)


def test_skipped_rows_merge_and_replace_their_sources(tmp_path):
    path = tmp_path / SKIPPED
    write_skipped(path, [], set())
    assert not path.exists()  # nothing to list, no file
    write_skipped(path, [{"source": "a.json", "event": "1", "field": "pt", "reason": "NaN"},
                         {"source": "b.json", "event": "7", "field": "eta", "reason": "missing"}], {"a.json"})
    write_skipped(path, [{"source": "a.json", "event": "3", "field": "phi", "reason": "text"}], {"a.json"})
    lines = path.read_text().splitlines()
    assert lines == ["source,event,field,reason", "a.json,3,phi,text", "b.json,7,eta,missing"]


def test_the_format_is_named_only_here():
    """No other module writes the metadata file names as literals: they import them from images.folder."""
    package = Path(eventcnn.__file__).parent
    names = "|".join(re.escape(n) for n in FOLDER_METADATA if not n.startswith("."))
    pattern = re.compile(rf"[\"']({names})[\"']")
    found = [f"{p.relative_to(package)}: {m.group(0)}" for p in package.rglob("*.py")
             if p != Path(folder.__file__) for m in pattern.finditer(p.read_text())
             if m.group(1) != "shards.csv" or p.name != "shards.py"]  # the shard index is shards.py's
    assert not found, found


def test_one_manifest_reader_keyed_by_file(tmp_path):
    from eventcnn.images import folder as imagefiles

    path = tmp_path / "manifest.csv"
    assert imagefiles.manifest_by_file(path) == {}  # no manifest yet
    path.write_text("file,class,source,event\n./a/a_event_1.png,a,x.json,1\nb/b_event_2.png,b,x.json,2\n")
    rows = imagefiles.manifest_by_file(path)
    assert list(rows) == ["a/a_event_1.png", "b/b_event_2.png"] and rows["b/b_event_2.png"]["event"] == "2"
    path.write_text("file,class\nc.png,\n")
    with pytest.raises(ValueError, match="row 2"):
        imagefiles.manifest_by_file(path)
    assert imagefiles.manifest_by_file(path, required=("file",))["c.png"]["class"] == ""
