"""Tests of eventcnn.learn.runs.load_keras_file: damaged model files say what is wrong."""

from __future__ import annotations

import zipfile

import pytest

from eventcnn.cli import main
from eventcnn.learn.runs import ModelFileError, load_keras_file, load_run_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    import keras

    path = tmp_path_factory.mktemp("model") / "m.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    return path


def test_a_whole_model_loads(model_file):
    assert load_keras_file(model_file).output_shape == (None, 2)


def test_damaged_model_files_name_the_problem(model_file, tmp_path):
    blob = model_file.read_bytes()
    cases = {"truncated.keras": (blob[: len(blob) // 2], "corrupt or truncated model file"),
             "empty.keras": (b"", "empty model file"),
             "text.keras": (b"not a model at all", r"not a Keras model file \(not a .keras zip\)")}
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError, match=words) as info:
            load_keras_file(tmp_path / name)
        assert "File not found" not in str(info.value) and name in str(info.value)
    # a whole zip whose weights file is cut short
    with zipfile.ZipFile(model_file) as src, zipfile.ZipFile(tmp_path / "weights.keras", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[:100] if info.filename.endswith(".h5") else data)
    with pytest.raises(ModelFileError, match="corrupt or truncated model file"):
        load_keras_file(tmp_path / "weights.keras")
    with pytest.raises(ModelFileError, match="is a folder, not a .keras model file"):
        load_keras_file(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_keras_file(tmp_path / "missing.keras")


def test_a_truncated_best_keras_is_one_clear_line_on_the_command_line(model_file, tmp_path, capsys):
    blob = model_file.read_bytes()
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.keras").write_bytes(blob[:1000])
    with pytest.raises(ModelFileError, match="best.keras: corrupt or truncated"):
        load_run_model(run)
    from PIL import Image

    Image.new("RGB", (16, 16)).save(tmp_path / "x.png")  # a good image: the damaged model is what fails
    assert main(["explain", str(run / "best.keras"), str(tmp_path / "x.png"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "best.keras: corrupt or truncated model file" in err


# ---- (was tests/test_kinds.py: the run's kind picks the branch of evaluate, explain and predict)


def _run(path, **cfg):
    import json

    path.mkdir(parents=True)
    base = {"train": {"data_dir": "d", "out_dir": str(path), "model": "small"}, "class_names": ["a", "b"],
            "image_size": 8}
    (path / "config.json").write_text(json.dumps({**base, **cfg}))
    return path


def test_kind_is_read_from_the_run_config(tmp_path):
    from eventcnn.errors import UserError
    from eventcnn.learn.runs import run_kind

    assert run_kind(_run(tmp_path / "cms", kind="cms")) == "cms"
    assert run_kind(_run(tmp_path / "opal", kind="opal")) == "opal"
    old = _run(tmp_path / "old", train={"data_dir": "d", "out_dir": "o", "model": "opal"})
    assert run_kind(old) == "opal"  # written before `kind` was recorded
    with pytest.raises(UserError, match="unknown kind 'atlas'"):
        run_kind(_run(tmp_path / "x", kind="atlas"))


def test_a_bare_keras_file_is_told_by_its_network(tmp_path):
    from eventcnn.learn.explain import explain_files
    from eventcnn.learn.models import build_model
    from eventcnn.learn.runs import run_kind

    build_model("masterclass", input_shape=(64, 64, 3)).save(tmp_path / "m.keras")
    assert run_kind(tmp_path / "m.keras") == "opal"
    assert isinstance(load_run_model(tmp_path / "m.keras").layers[0], object)  # a file loads like a run
    (tmp_path / "broken.keras").write_bytes((tmp_path / "m.keras").read_bytes()[:100])
    assert run_kind(tmp_path / "broken.keras") == "cms"  # the loader then says it is truncated
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        explain_files(tmp_path / "broken.keras", [], out=tmp_path / "x")
