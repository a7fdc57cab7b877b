"""fetch() works offline with a copy an earlier fetch took from a mirror (sidecar with its origin)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventcnn.events import sources as data


def _no_network(*args, **kwargs):
    raise data.DownloadError("network disabled in this test")


def test_mirror_copy_is_used_offline_afterwards(shared_data: Path, tmp_path: Path, monkeypatch,
                                                capsys) -> None:
    monkeypatch.delenv("EVENTCNN_DATA_MIRROR", raising=False)
    monkeypatch.delenv("EVENTCNN_DATA_BASE_URL", raising=False)
    first = data.fetch("opal", out=tmp_path, mirror=shared_data)
    side = json.loads(data.origin_path(first["labels"]).read_text())
    assert side["origin"].startswith("mirror ") and side["check"] == "format checked"
    assert side["sha256"] == data.sha256sum(first["labels"])
    capsys.readouterr()

    monkeypatch.setattr(data, "pooch_download", _no_network)
    again = data.fetch("opal", out=tmp_path)  # no mirror, no network
    assert again == first
    err = capsys.readouterr().err
    assert err.count("from mirror ") == 2 and str(shared_data) in err
    assert "present, from mirror" in data.format_registry(
        [s for s in data.REGISTRY if s.dataset == "opal"], out=tmp_path)

    # a copy changed since (damaged, edited) no longer counts: fetch tries the network
    with open(first["labels"], "a", encoding="utf-8") as fh:
        fh.write("x.png;q\n")
    assert data.cached_origin(first["labels"]) is None
    with pytest.raises(data.DownloadError, match="network disabled"):
        data.fetch("opal", out=tmp_path, quiet=True)


def test_bad_sidecar_is_ignored(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("a.png;q\n")
    data.origin_path(f).write_text("not json")
    assert data.cached_origin(f) is None
    data.origin_path(f).write_text(json.dumps({"origin": "x", "sha256": data.sha256sum(f),
                                               "check": "format checked"}))
    assert data.cached_origin(f) == "x (format checked)"
