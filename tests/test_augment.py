"""Tests of eventcnn.images.augment: exact eta-phi symmetries, Keras layers, the Augmentor folder pipeline."""

from __future__ import annotations

import csv
import hashlib

import keras
import numpy as np
import pytest
from PIL import Image

from eventcnn.cli import main as cli_main
from eventcnn.images.augment import AugmentorConfig, augment_folder, physics_augment_numpy
from eventcnn.learn.augment import (
    PhysicsAugmentation,
    RandomEtaFlip,
    RandomPhiFlip,
    RandomPhiShift,
    physics_augmentation,
)


def _np(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(16, 24, 10, 3), dtype=np.uint8)


def _shift_of(out: np.ndarray, img: np.ndarray) -> int | None:
    """The k with out == roll(img, -k) along phi, or None."""
    for k in range(img.shape[0]):
        if np.array_equal(out, np.roll(img, -k, axis=0)):
            return k
    return None


def test_phi_shift_is_exact_cyclic_roll(batch):
    out = _np(RandomPhiShift(seed=1)(batch, training=True))
    assert out.dtype == np.uint8 and out.shape == batch.shape
    shifts = [_shift_of(o, b) for o, b in zip(out, batch)]
    assert None not in shifts  # every image is an exact cyclic roll
    # nothing lost: per column the multiset of pixel values is preserved
    np.testing.assert_array_equal(np.sort(out, axis=1), np.sort(batch, axis=1))
    # per sample, not per batch
    assert len(set(shifts)) > 4


def test_phi_shift_float_keeps_dtype(batch):
    x = batch.astype("float32") / 255
    out = _np(RandomPhiShift(seed=2)(x, training=True))
    assert out.dtype == np.float32
    assert all(_shift_of(o, b) is not None for o, b in zip(out, x))


def test_flips_are_exact_and_per_sample(batch):
    out = _np(RandomEtaFlip(seed=3)(batch, training=True))
    flipped = [np.array_equal(o, b[:, ::-1]) for o, b in zip(out, batch)]
    same = [np.array_equal(o, b) for o, b in zip(out, batch)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 0 < sum(flipped) < len(batch)
    out = _np(RandomPhiFlip(seed=3)(batch, training=True))
    flipped = [np.array_equal(o, b[::-1]) for o, b in zip(out, batch)]
    same = [np.array_equal(o, b) for o, b in zip(out, batch)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 0 < sum(flipped) < len(batch)


@pytest.mark.parametrize("geometry", ["etaphi", "endview"])
def test_inference_is_identity(batch, geometry):
    layer = physics_augmentation(geometry, seed=0)
    np.testing.assert_array_equal(_np(layer(batch)), batch)
    np.testing.assert_array_equal(_np(layer(batch, training=False)), batch)
    out = _np(layer(batch, training=True))
    assert out.dtype == batch.dtype and out.shape == batch.shape
    assert not np.array_equal(out, batch)


def test_combined_etaphi_is_exact(batch):
    out = _np(physics_augmentation(seed=11)(batch, training=True))
    kinds = set()
    for o, b in zip(out, batch):
        variants = {"none": b, "eta": b[:, ::-1], "phi": b[::-1], "both": b[::-1, ::-1]}
        hits = [k for k, v in variants.items() if _shift_of(o, v) is not None]
        assert hits, "output is not a rolled/mirrored copy of its input"
        kinds.update(hits)
    assert len(kinds) >= 3  # the mirrors are drawn per sample


def test_seeded_layers_are_deterministic(batch):
    a = _np(physics_augmentation(seed=7)(batch, training=True))
    b = _np(physics_augmentation(seed=7)(batch, training=True))
    c = _np(physics_augmentation(seed=8)(batch, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_endview_rotation_fills_background():
    img = np.full((1, 32, 32, 3), 255, dtype=np.uint8)
    out = _np(
        physics_augmentation("endview", seed=1, background=0)(np.repeat(img, 8, 0), training=True)
    )
    # rotated corners come from outside the image: filled with the background value
    assert (out[:, 0, 0] == 0).any()


def test_model_with_augmentation_round_trips_as_keras(tmp_path, batch):
    model = keras.Sequential(
        [
            keras.Input(batch.shape[1:]),
            physics_augmentation(seed=5, phi_flip=False),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    aug = loaded.layers[0]
    assert isinstance(aug, PhysicsAugmentation)
    assert aug.get_config()["seed"] == 5 and aug.get_config()["phi_flip"] is False
    np.testing.assert_allclose(_np(loaded(batch)), _np(model(batch)), rtol=1e-6)


def test_bad_geometry_and_rank():
    with pytest.raises(ValueError, match="geometry"):
        physics_augmentation("xy")
    with pytest.raises(ValueError, match="NHWC"):
        RandomPhiShift(seed=0)(np.zeros((4, 4, 3), np.uint8), training=True)


def test_numpy_version_is_exact(batch):
    out = physics_augment_numpy(batch, np.random.default_rng(0))
    assert out.dtype == batch.dtype
    for o, b in zip(out, batch):
        variants = [b, b[:, ::-1], b[::-1], b[::-1, ::-1]]
        assert any(_shift_of(o, v) is not None for v in variants)
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
    assert "separate folder" in capsys.readouterr().err


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
