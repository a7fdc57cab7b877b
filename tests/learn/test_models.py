"""Tests of eventcnn.learn.models: preprocessing, freeze policies, BatchNorm mode, weights, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from eventcnn.learn.models import (
    TRAINABLE_FRACTION,
    BackbonePreprocess,
    build_backbone,
    build_model,
    get_backbone,
    make_optimizer,
    set_freeze,
    trainable_fraction,
)
from eventcnn.learn.registry import min_input_size

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, size=(2, 32, 32, 3)).astype(np.uint8)


@pytest.mark.parametrize(
    ("mode", "family"),
    [
        ("caffe", keras.applications.vgg16),
        ("caffe", keras.applications.vgg19),
        ("caffe", keras.applications.resnet50),
        ("tf", keras.applications.inception_v3),
        ("tf", keras.applications.inception_resnet_v2),
        ("torch", keras.applications.densenet),
    ],
)
def test_preprocessing_matches_keras_applications(mode, family):
    ours = keras.ops.convert_to_numpy(BackbonePreprocess(mode)(IMAGE))
    ref = family.preprocess_input(IMAGE.astype("float32").copy())
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)


# each big backbone is built once (smallest allowed input, random weights)
@pytest.mark.slow
@pytest.mark.parametrize(
    ("backbone", "size", "mode"),
    [
        ("vgg16", 32, "caffe"),
        ("vgg19", 32, "caffe"),
        ("resnet50", 32, "caffe"),
        ("inceptionv3", 75, "tf"),
        ("inceptionresnetv2", 75, "tf"),
        ("efficientnetv2b0", 32, "none"),
        ("convnexttiny", 32, "none"),
    ],
)
def test_backbones_freeze_policies(backbone, size, mode):
    model = build_model(backbone, 3, (size, size, 3), weights=None, freeze="frozen", dropout=0.5)
    assert model.get_layer("preprocess").mode == mode
    assert model.output_shape == (None, 3)
    assert model.layers[-1].dtype_policy.name == "float32"
    base = get_backbone(model)
    inner = [la for la in base.layers if not isinstance(la, keras.layers.InputLayer)]
    head_params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert not base.trainable and trainable_fraction(model) == 0.0
    assert not any(w is v for w in model.trainable_weights for v in base.weights)
    for policy in ("few", "many"):
        set_freeze(model, policy)
        n_train = sum(la.trainable for la in inner)
        bn = [la for la in inner if isinstance(la, keras.layers.BatchNormalization)]
        expected = TRAINABLE_FRACTION[policy] * len(inner)
        # the trainable block is the tail; BatchNorm layers in it stay frozen
        tail = inner[len(inner) - round(expected):]
        assert n_train == sum(not isinstance(la, keras.layers.BatchNormalization) for la in tail)
        assert all(not la.trainable for la in bn)
        assert not any(la.trainable for la in inner[: len(inner) - round(expected)])
    set_freeze(model, "none")
    assert all(la.trainable for la in inner)
    set_freeze(model, "frozen")
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == head_params


def _bn_means(model):
    return [keras.ops.convert_to_numpy(la.moving_mean).copy() for la in get_backbone(model).layers
            if isinstance(la, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("policy", ["many", "none"])
def test_batchnorm_inference_mode_when_partly_frozen(policy):
    keras.utils.set_random_seed(0)
    model = build_model("small", 2, (32, 32, 3), freeze=policy)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    before = _bn_means(model)
    conv = get_backbone(model).get_layer("block4_conv")
    w_before = keras.ops.convert_to_numpy(conv.kernel).copy()
    model.train_on_batch(IMAGE, np.array([0, 1]))
    after = _bn_means(model)
    assert not np.allclose(keras.ops.convert_to_numpy(conv.kernel), w_before)  # the tail learns
    moved = any(not np.allclose(a, b) for a, b in zip(before, after))
    assert moved == (policy == "none")  # BN statistics move only when nothing is frozen


def test_weights_from_local_file(tmp_path):
    keras.utils.set_random_seed(1)
    src = build_backbone("vgg16", (32, 32, 3), weights=None)
    path = tmp_path / "vgg16_notop.weights.h5"
    src.save_weights(path)
    keras.utils.set_random_seed(2)
    model = build_model("vgg16", 2, (32, 32, 3), weights=str(path), freeze="frozen")
    for a, b in zip(src.get_weights(), get_backbone(model).get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="weights file"):
        build_backbone("vgg16", (32, 32, 3), weights=tmp_path / "nope.h5")
    with pytest.raises(ValueError, match="does not fit"):
        build_backbone("vgg19", (32, 32, 3), weights=path)


def test_offline_imagenet_gives_clear_error(monkeypatch, tmp_path):
    import keras.src.utils.file_utils as fu

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(fu, "get_file", offline)
    with pytest.raises(RuntimeError) as err:
        build_model("vgg16", 2, (32, 32, 3), weights="imagenet")
    msg = str(err.value)
    assert "keras.applications.VGG16" in msg and str(tmp_path) in msg and ".weights.h5" in msg


def test_corrupted_imagenet_download_gives_the_same_advice(monkeypatch, tmp_path):
    import keras.src.utils.file_utils as fu

    def corrupted(*args, **kwargs):  # what get_file raises when a proxy returns a wrong file
        raise ValueError("Incomplete or corrupted file detected. The sha256 file hash does not match")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(fu, "get_file", corrupted)
    with pytest.raises(RuntimeError, match="could not download the ImageNet weights"):
        build_model("vgg16", 2, (32, 32, 3), weights="imagenet")


def test_input_errors():
    with pytest.raises(ValueError, match="at least 75x75"):
        build_model("inceptionv3", 3, (32, 32, 3), weights=None)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model("alexnet", 3, (64, 64, 3))
    with pytest.raises(ValueError, match="freeze"):
        build_model("small", 3, (32, 32, 3), freeze="half")
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        build_model("small", 3, (32, 32))


def test_small_model_saves_and_loads(tmp_path):
    model = build_model("small", 3, (32, 32, 3), head="paper")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(IMAGE, verbose=0), model.predict(IMAGE, verbose=0), atol=1e-6)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
@pytest.mark.parametrize("schedule", ["constant", "cosine", "exponential"])
def test_optimizers_and_schedules(name, schedule):
    opt = make_optimizer(name, 1e-2, schedule, decay_steps=10)
    assert opt.__class__.__name__.lower() == name
    if schedule != "constant":
        assert isinstance(opt._learning_rate, keras.optimizers.schedules.LearningRateSchedule)
        assert float(opt._learning_rate(10)) < 1e-2
    with pytest.raises(ValueError):
        make_optimizer("adagrad")


def test_mixed_precision_keeps_float32_softmax():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("small", 2, (32, 32, 3))
        assert model.get_layer("preprocess").compute_dtype == "float16"
        out = model.predict(IMAGE, verbose=0)
        assert out.dtype == np.float32 and np.allclose(out.sum(axis=1), 1, atol=1e-3)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_freeze_table_counts_trainable_parameters_per_policy():
    from eventcnn.learn.models import FREEZE_POLICIES, freeze_table

    rows = freeze_table("small", 32)
    assert [r["freeze"] for r in rows] == list(FREEZE_POLICIES)
    by = {r["freeze"]: r for r in rows}
    assert by["frozen"]["trainable parameters"] < by["none"]["trainable parameters"]
    assert by["none"]["trainable backbone layers"] == "100%"


def test_model_has_masterclass_parameter_count() -> None:
    model = build_model("masterclass")
    assert model.count_params() == 204_100
    assert build_model("masterclass", augmentation=True, seed=1).count_params() == 204_100
    flat = next(layer for layer in model.layers if layer.name.startswith("flatten"))
    assert flat.output.shape[-1] == 2304


def test_min_input_size_follows_the_architecture() -> None:
    need = min_input_size()
    assert need == 53
    assert build_model("masterclass", input_shape=(need, need, 3)).output_shape == (None, 4)
    with pytest.raises(ValueError, match="at least 53 x 53"):
        build_model("masterclass", input_shape=(need - 1, need - 1, 3))
