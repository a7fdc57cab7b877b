"""Pixel-level tests of eventcnn.images.render, the folder writer and the render CLI."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image

from eventcnn.cli import main
from eventcnn.events import events_from_records, read_events, write_events
from eventcnn.images.render import (
    RenderConfig,
    diameters,
    encode_png,
    label_from_path,
    render_event,
    render_events,
    render_to_dir,
)

WHITE = (255, 255, 255)


def one(objects=None, met=(0.5, 2.5), **kw):
    """Events with one event holding the given objects (MET tiny by default)."""
    rec = {"met": met[0], "met_phi": met[1]}
    rec.update(objects or {})
    rec.update(kw)
    return events_from_records({"Event": {"1": rec}})


def jet(pt, eta, phi, csv=-100.0):
    return {"pt": pt, "eta": eta, "phi": phi, "CSV": csv, "tightID": True}


def lep(pt, eta, phi):
    return {"pt": pt, "eta": eta, "phi": phi, "px": pt * math.cos(phi), "py": pt * math.sin(phi),
            "pz": 0.0, "tightID": True, "tightIso": True}


def colored(image, color):
    return np.all(image == np.array(color, dtype=np.uint8), axis=-1)


def centroid(mask):
    rows, cols = np.nonzero(mask)
    return rows.mean(), cols.mean()


def test_object_at_origin_lands_at_centre_as_a_ring():
    img = render_event(one({"muon": {"0": lep(100.0, 0.0, 0.0)}}), 0)
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8
    green = colored(img, (0, 255, 0))
    r, c = centroid(green)
    assert abs(r - 112) < 1.5 and abs(c - 112) < 1.5
    assert tuple(img[112, 112]) == WHITE  # unfilled: the centre stays white
    d = math.log(100) / math.log(1.1)  # ~48 px
    rows = np.nonzero(green[:, 112])[0]
    assert abs((rows.max() - rows.min() + 1) - d) <= 2
    thickness = np.diff(np.nonzero(green[112])[0]) > 1
    assert thickness.sum() == 1  # two separate ring walls along the middle row
    wall = np.nonzero(green[112])[0]
    left_wall = wall[wall < 112]
    assert 3 <= len(left_wall) <= 5  # about 4 px thick


def test_axes_orientation_eta_right_phi_up():
    ev = one({"electron": {"0": lep(50.0, 2.0, 2.0)}})
    r, c = centroid(colored(render_event(ev, 0), (0, 0, 255)))
    assert c == pytest.approx((2.0 + 3) / 6 * 224, abs=1.5)
    assert r == pytest.approx((math.pi - 2.0) / (2 * math.pi) * 224, abs=1.5)


@pytest.mark.parametrize(
    "obj, color",
    [
        ({"electron": {"0": lep(60, 0, 0)}}, (0, 0, 255)),
        ({"muon": {"0": lep(60, 0, 0)}}, (0, 255, 0)),
        ({"jet": {"0": jet(60, 0, 0, csv=0.95)}}, (255, 0, 0)),
        ({"jet": {"0": jet(60, 0, 0, csv=0.2)}}, (255, 125, 125)),
        ({"jet": {"0": jet(60, 0, 0, csv=-100.0)}}, (255, 125, 125)),
    ],
)
def test_colours(obj, color):
    img = render_event(one(obj), 0)
    assert colored(img, color).sum() > 100
    others = ~colored(img, color) & ~colored(img, WHITE) & ~colored(img, (0, 0, 0))
    assert others.sum() == 0


def test_met_is_black_at_eta_zero():
    img = render_event(one(met=(80.0, -1.0)), 0)
    r, c = centroid(colored(img, (0, 0, 0)))
    assert c == pytest.approx(112, abs=1.5)
    assert r == pytest.approx((math.pi + 1.0) / (2 * math.pi) * 224, abs=1.5)


def test_size_grows_with_pt_and_never_negative():
    widths = []
    for pt in (5.0, 20.0, 80.0, 300.0):
        img = render_event(one({"muon": {"0": lep(pt, 0, 0)}}), 0)
        cols = np.nonzero(colored(img, (0, 255, 0)).any(axis=0))[0]
        widths.append(cols.max() - cols.min())
    assert widths == sorted(widths) and widths[0] < widths[-1]
    d = diameters(np.array([0.0, 0.5, 1.0, 1.1, 1e6]), RenderConfig())
    assert np.all(d >= 1.0) and d[3] == pytest.approx(1.0) and d[4] > 100
    # MET 0.3 GeV and pT 0.5 GeV draw (1 px), no crash
    img = render_event(one({"muon": {"0": lep(0.5, 1, 1)}}, met=(0.3, 0.0)), 0)
    assert colored(img, (0, 0, 0)).sum() >= 1


def test_phi_wraps_around():
    near_top = math.pi - 0.05
    img = render_event(one({"muon": {"0": lep(200.0, 0.0, near_top)}}), 0)
    green = colored(img, (0, 255, 0))
    top = green[:5].sum()
    bottom = green[-30:].sum()
    assert top > 0 and bottom > 0  # the ring continues at the bottom edge
    no_wrap = render_events(one({"muon": {"0": lep(200.0, 0.0, near_top)}}), RenderConfig(wrap_phi=False))[0]
    assert colored(no_wrap, (0, 255, 0))[-30:].sum() == 0
    # phi = +pi and phi = -pi are the same place
    a = render_event(one({"muon": {"0": lep(50.0, 0.0, math.pi)}}), 0)
    b = render_event(one({"muon": {"0": lep(50.0, 0.0, -math.pi)}}), 0)
    np.testing.assert_array_equal(a, b)


def test_size_option_scales_geometry():
    ev = one({"muon": {"0": lep(100.0, 1.5, 0.0)}})
    small = render_events(ev, RenderConfig(size=64))[0]
    assert small.shape == (64, 64, 3)
    r, c = centroid(colored(small, (0, 255, 0)))
    assert c == pytest.approx((1.5 + 3) / 6 * 64, abs=1.0) and r == pytest.approx(32, abs=1.0)


def test_channels_style_encodes_pt_in_intensity():
    cfg = RenderConfig(style="channels", size=64)
    soft = render_events(one({"jet": {"0": jet(40, 0, 0)}}), cfg)[0]
    hard = render_events(one({"jet": {"0": jet(160, 0, 0)}}), cfg)[0]
    assert soft[32, 32, 0] < hard[32, 32, 0]  # filled discs, brighter for higher pT
    assert hard[32, 32, 1] == 0  # light jet: not in the b channel
    bjet = render_events(one({"jet": {"0": jet(100, 0, 0, csv=0.9)}}), cfg)[0]
    assert bjet[32, 32, 1] > 0 and bjet[32, 32, 0] == 0
    both = render_events(one({"jet": {"0": jet(100, 0, 0), "1": jet(100, 0, 0)}}), cfg)[0]
    single = int(render_events(one({"jet": {"0": jet(100, 0, 0)}}), cfg)[0][32, 32, 0])
    assert abs(int(both[32, 32, 0]) - 2 * single) <= 1  # overlapping objects add up


def test_encode_png_is_lossless():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    import io

    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(img)))), img)


def test_config_roundtrip_and_validation(tmp_path):
    cfg = RenderConfig(size=64, style="channels")
    assert RenderConfig.from_json(cfg.to_json()) == cfg
    (tmp_path / "c.json").write_text(cfg.to_json())
    assert RenderConfig.from_json(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError, match="unknown style"):
        RenderConfig(style="fancy")
    with pytest.raises(ValueError, match="size"):
        RenderConfig(size=2)
    with pytest.raises(ValueError, match="unknown render settings"):
        RenderConfig.from_dict({"sise": 3})


def test_label_from_path():
    assert label_from_path("x/TTjets_json.json") == "ttjets"
    assert label_from_path("Wjets_json.json.gz") == "wjets"


def _tiny_files(tmp_path):
    recs = {}
    for n in range(6):
        recs[str(100 + n)] = {"met": 30.0 + n, "met_phi": 0.1 * n,
                              "muon": {"0": lep(30.0 + n, 0.2, 0.5)},
                              "jet": {"0": jet(40 + n, -1.0, 2.0)}}
    a = tmp_path / "A_json.json"
    write_events(a, {"Event": recs})
    b = tmp_path / "b.json.gz"
    write_events(b, {"Event": {k: v for k, v in list(recs.items())[:3]}})
    return a, b


def test_render_to_dir_manifest_rerun_and_jobs(tmp_path):
    a, b = _tiny_files(tmp_path)
    out1 = tmp_path / "out1"
    cfg = RenderConfig(size=32)
    s = render_to_dir([(a, "alpha"), (b, "beta")], out1, cfg, quiet=True, chunk_size=2)
    assert s.written == {"alpha": 6, "beta": 3}
    assert (out1 / "alpha" / "alpha_event_100.png").exists()
    rows = list(csv.DictReader((out1 / "manifest.csv").open()))
    assert len(rows) == 9 and set(rows[0]) == {"file", "class", "source", "event"}
    assert {r["class"] for r in rows} == {"alpha", "beta"}
    assert json.loads((out1 / "render_config.json").read_text())["size"] == 32
    from eventcnn.events.selection import Selection, get_selection

    assert get_selection(str(out1 / "selection.json")) == Selection()  # the paper default
    img = np.asarray(Image.open(out1 / "alpha" / "alpha_event_101.png"))
    assert img.shape == (32, 32, 3)
    # re-run: nothing rewritten
    s2 = render_to_dir([(a, "alpha"), (b, "beta")], out1, cfg, quiet=True)
    assert sum(s2.written.values()) == 0 and s2.skipped == {"alpha": 6, "beta": 3}
    # jobs=2 gives identical bytes
    out2 = tmp_path / "out2"
    render_to_dir([(a, "alpha"), (b, "beta")], out2, cfg, jobs=2, quiet=True, chunk_size=2)
    for f in sorted(out1.glob("*/*.png")):
        assert (out2 / f.parent.name / f.name).read_bytes() == f.read_bytes()
    # other settings into the same folder: clear error, nothing overwritten
    with pytest.raises(ValueError, match="other settings"):
        render_to_dir([(a, "alpha")], out1, RenderConfig(size=64), quiet=True)
    with pytest.raises(ValueError, match="another selection"):
        render_to_dir([(a, "alpha")], out1, cfg, selection="none", quiet=True)
    out3 = tmp_path / "out3"
    render_to_dir([(b, "beta")], out3, cfg, selection="none", quiet=True)
    assert get_selection(str(out3 / "selection.json")) is None


def test_interrupted_run_leaves_no_partial_png(tmp_path, monkeypatch):
    a, _ = _tiny_files(tmp_path)
    import eventcnn.images.render as render

    calls = {"n": 0}
    real = render.encode_png

    def flaky(image, compress_level=1):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(image, compress_level)

    monkeypatch.setattr(render, "encode_png", flaky)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        render_to_dir([(a, "alpha")], out, RenderConfig(size=32), quiet=True)
    pngs = sorted(out.glob("alpha/*.png"))
    assert len(pngs) == 3
    assert not list(out.rglob("*.tmp"))
    for p in pngs:
        Image.open(p).verify()
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 3  # the manifest lists exactly the images on disk
    monkeypatch.setattr(render, "encode_png", real)
    s = render_to_dir([(a, "alpha")], out, RenderConfig(size=32), quiet=True)
    assert s.written == {"alpha": 3} and s.skipped == {"alpha": 3}


def test_cli_render_labels_and_errors(tmp_path, capsys):
    a, b = _tiny_files(tmp_path)
    out = tmp_path / "imgs"
    rc = main(["render", str(a), str(b), "--out", str(out), "--size", "32", "--selection", "none", "--quiet"])
    assert rc == 0
    assert (out / "a" / "a_event_100.png").exists() and (out / "b" / "b_event_100.png").exists()
    assert "images in" in capsys.readouterr().out
    rc = main(["render", str(a), "--label", f"{a.name}=sig", "--out", str(out), "--size", "32", "-q",
               "--selection", "none"])
    assert rc == 0
    rc = main(["render", str(a), str(b), "--label", "x", "--label", "y", "--label", "z",
               "--out", str(out), "-q"])
    assert rc == 1
    assert "3 labels for 2 inputs" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"Event": {"1": {"met": -3, "met_phi": 0}, "2": {"met": 3, "met_phi": 0}}}')
    none = ["--selection", "none"]
    assert main(["render", str(bad), "--out", str(out), "-q", "--size", "32", *none]) == 1
    assert "event 1, field 'met'" in capsys.readouterr().err
    assert main(["render", str(bad), "--out", str(out), "-q", "--size", "32", "--skip-bad", *none]) == 0
    assert "event 1, field 'met'" in capsys.readouterr().out  # the dropped event is named
    assert main(["render", str(a), "--out", str(out), "-q", "--size", "32"]) == 1
    assert "another selection" in capsys.readouterr().err


@pytest.mark.shared_data
def test_real_sample_images(cms_ttjets, tmp_path):
    from eventcnn.events.selection import Selection

    ev, _ = Selection().apply(read_events(cms_ttjets))
    imgs = render_events(ev[:50], RenderConfig(size=64))
    assert imgs.shape == (50, 64, 64, 3)
    # every image shows something besides the background, and some red jets
    assert np.all((imgs != 255).any(axis=(1, 2, 3)))
    assert colored(imgs, (255, 125, 125)).sum() > 0


def test_read_manifest_validates_columns_and_rows(tmp_path):
    from eventcnn.images.render import read_manifest

    path = tmp_path / "manifest.csv"
    path.write_text("file,class,source,event\na/a_event_1.png,a,x.json,1\n,a,x.json,2\n")
    with pytest.raises(ValueError, match=r"manifest.csv row 3: empty field\(s\) \['file'\]"):
        read_manifest(path)
    assert len(read_manifest(path, required=("class",))) == 2
    path.write_text("name,label\nx,y\n")
    with pytest.raises(ValueError, match="missing column"):
        read_manifest(path)
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")


def test_one_manifest_reader_keyed_by_file(tmp_path):
    from eventcnn.images import folder as imagefiles
    from eventcnn.images import render

    assert render.read_manifest is imagefiles.read_manifest  # one reader, re-exported by render
    path = tmp_path / "manifest.csv"
    assert imagefiles.manifest_by_file(path) == {}  # no manifest yet
    path.write_text("file,class,source,event\n./a/a_event_1.png,a,x.json,1\nb/b_event_2.png,b,x.json,2\n")
    rows = imagefiles.manifest_by_file(path)
    assert list(rows) == ["a/a_event_1.png", "b/b_event_2.png"] and rows["b/b_event_2.png"]["event"] == "2"
    path.write_text("file,class\nc.png,\n")
    with pytest.raises(ValueError, match="row 2"):
        imagefiles.manifest_by_file(path)
    assert imagefiles.manifest_by_file(path, required=("file",))["c.png"]["class"] == ""


def test_a_folder_as_input_and_a_failed_start_leave_no_output_folder(tmp_path, capsys):
    from eventcnn.cli import main

    folder = tmp_path / "not_events"
    folder.mkdir()
    out = tmp_path / "fresh"
    assert main(["render", str(folder), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder, not an event file" in err and "cannot access" not in err
    assert not out.exists()  # nothing was drawn: no empty folder (nor lock file) left behind
    existing = tmp_path / "kept"
    existing.mkdir()
    assert main(["render", str(folder), "--out", str(existing)]) == 1
    assert existing.is_dir()  # a folder the user had is never removed
