"""Tests of eventcnn.images.augment: the numpy eta-phi symmetries and the Augmentor folder pipeline."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest
from conftest import shift_of
from PIL import Image

from eventcnn.cli import main as cli_main
from eventcnn.images.augment import AugmentorConfig, augment_folder, physics_augment_numpy


def test_numpy_version_is_exact(batch):
    out = physics_augment_numpy(batch, np.random.default_rng(0))
    assert out.dtype == batch.dtype
    for o, b in zip(out, batch):
        variants = [b, b[:, ::-1], b[::-1], b[::-1, ::-1]]
        assert any(shift_of(o, v) is not None for v in variants)
    np.testing.assert_array_equal(out, physics_augment_numpy(batch, np.random.default_rng(0)))
    single = physics_augment_numpy(batch[0], 1, phi_shift=False, phi_flip=False)
    assert single.shape == batch[0].shape
    assert np.array_equal(single, batch[0]) or np.array_equal(single, batch[0][:, ::-1])
    with pytest.raises(ValueError, match="shape"):
        physics_augment_numpy(np.zeros((3, 3)))


# ---------------------------------------------------------------- Augmentor on disk


@pytest.fixture()
def image_folder(tmp_path):
    src = tmp_path / "CreatedImages"
    rng = np.random.default_rng(1)
    rows = ["file,class,source,event"]
    for cls in ("TTjets", "Wjets"):
        (src / cls).mkdir(parents=True)
        for n in (11, 12):
            name = f"{cls}/{cls}_event_{n}.png"
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(src / name)
            rows.append(f"{name},{cls},data/{cls}.json,{n}")
    (src / "manifest.csv").write_text("\n".join(rows) + "\n")
    return src


def _hashes(folder) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_augment_folder_writes_separate_reproducible_output(image_folder, tmp_path):
    before = _hashes(image_folder)
    cfg = AugmentorConfig(samples=5, seed=3, rotate_probability=1.0)
    manifest = augment_folder(image_folder, tmp_path / "aug1", cfg, quiet=True)
    assert _hashes(image_folder) == before  # the source is untouched
    for cls in ("TTjets", "Wjets"):
        assert len(list((tmp_path / "aug1" / cls).glob("*.png"))) == 5
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and list(rows[0]) == ["file", "class", "source", "event"]
    for r in rows:
        assert (tmp_path / "aug1" / r["file"]).exists()
        assert r["file"].startswith(r["class"] + "/")
        src = image_folder / r["class"] / f"{r['class']}_event_{r['event']}.png"
        assert r["source"] == str(src.resolve())
    with Image.open(tmp_path / "aug1" / rows[0]["file"]) as im:
        assert im.size == (32, 32) and im.mode == "RGB"

    augment_folder(image_folder, tmp_path / "aug2", cfg, quiet=True)
    h1, h2 = _hashes(tmp_path / "aug1"), _hashes(tmp_path / "aug2")
    assert {k: v for k, v in h1.items() if k.endswith(".png")} == {
        k: v for k, v in h2.items() if k.endswith(".png")
    }
    augment_folder(image_folder, tmp_path / "aug3", AugmentorConfig(samples=5, seed=4), quiet=True)
    assert _hashes(tmp_path / "aug3") != h1


def test_augment_resume_and_refusals(image_folder, tmp_path):
    out = tmp_path / "aug"
    cfg = AugmentorConfig(samples=4, seed=0)
    augment_folder(image_folder, out, cfg, quiet=True)
    first = _hashes(out)
    victim = sorted((out / "Wjets").glob("*.png"))[2]
    victim.unlink()  # an interrupted run: resuming re-creates exactly the missing image
    augment_folder(image_folder, out, cfg, quiet=True)
    assert _hashes(out) == first
    # fewer samples: the extra images go, the others are untouched
    augment_folder(image_folder, out, AugmentorConfig(samples=2, seed=0), quiet=True)
    now = _hashes(out)
    assert len(list((out / "Wjets").glob("*.png"))) == 2
    assert all(first[k] == v for k, v in now.items() if k.endswith(".png"))
    with pytest.raises(ValueError, match="another configuration"):
        augment_folder(image_folder, out, AugmentorConfig(samples=4, seed=1), quiet=True)
    with pytest.raises(ValueError, match="separate folder"):
        augment_folder(image_folder, image_folder / "output", cfg, quiet=True)
    with pytest.raises(ValueError, match="samples"):
        AugmentorConfig(samples=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        augment_folder(tmp_path / "nope", out, cfg, quiet=True)


def test_cli_augment(image_folder, tmp_path, capsys):
    out = tmp_path / "cli_aug"
    rc = cli_main(
        [
            "augment",
            str(image_folder),
            "--out",
            str(out),
            "--samples",
            "3",
            "--seed",
            "2",
            "--no-flip",
            "--rotate",
            "3",
            "--quiet",
            "--classes",
            "Wjets",
        ]
    )
    assert rc == 0
    assert len(list((out / "Wjets").glob("*.png"))) == 3
    assert not (out / "TTjets").exists()
    assert (
        cli_main(["augment", str(image_folder), "--out", str(image_folder / "x"), "--quiet"]) == 1
    )
    err = capsys.readouterr().err  # the path rule of every command (cli/_paths.py)
    assert f"--out {image_folder / 'x'} is the image folder {image_folder} or inside it" in err


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"])
def test_cli_augment_names_an_empty_or_truncated_image(tmp_path, capsys, content):
    src = tmp_path / "src"
    (src / "A").mkdir(parents=True)
    (src / "A" / "A_event_1.png").write_bytes(content)
    out = tmp_path / "aug"
    assert cli_main(["augment", str(src), "--out", str(out), "--samples", "1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"eventcnn augment: error: image {src / 'A' / 'A_event_1.png'} could not be decoded")
    assert not list(out.rglob("*.png"))  # nothing half-written


def test_augment_reads_gif_and_names_skipped_files(tmp_path):
    src = tmp_path / "src"
    (src / "A").mkdir(parents=True)
    Image.new("RGB", (16, 16), (9, 200, 9)).convert("P").save(src / "A" / "A_event_1.gif")
    (src / "A" / "readme.txt").write_text("x")
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\).*A/readme.txt"):
        augment_folder(src, tmp_path / "aug", AugmentorConfig(samples=2, seed=0), quiet=True)
    assert len(list((tmp_path / "aug" / "A").glob("*.png"))) == 2
