"""Tests of eventcnn.learn.pretrain (``eventcnn pretrain``, ``eventcnn opal pretrain``) and loading what it exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eventcnn._io import sha256sum
from eventcnn.learn import weights as shipped

EXAMPLES = Path(__file__).resolve().parents[2] / "eventcnn" / "events" / "examples"


def _entry() -> dict:
    entries = [e for e in shipped.available() if e["backbone"] == "small"]
    assert entries, "no shipped weights for the small backbone in eventcnn/weights"
    return entries[0]


def test_build_model_sim_loads_the_shipped_backbone():
    from eventcnn.learn.models import build_backbone, build_model, get_backbone

    model = build_model("small", 2, (64, 64, 3), weights="sim", freeze="few")
    reference = build_backbone("small", (64, 64, 3), weights=shipped.WEIGHTS_DIR / f"{_entry()['name']}.weights.h5")
    random = build_model("small", 2, (64, 64, 3), weights=None)
    got, ref, rnd = (m.get_weights() for m in (get_backbone(model), reference, get_backbone(random)))
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(got, rnd))


# trainable conv layers of the 16-layer small backbone per policy (BatchNorm stays frozen unless "none")
TRAINABLE_CONVS = {"frozen": [], "few": [], "many": ["block3_conv", "block4_conv"],
                   "none": ["block1_conv", "block2_conv", "block3_conv", "block4_conv"]}


@pytest.mark.parametrize("policy", ["frozen", "few", "many", "none"])
def test_freeze_policies_work_with_sim(policy):
    from eventcnn.learn.models import build_model, get_backbone, set_freeze, trainable_fraction

    model = build_model("small", 2, (64, 64, 3), weights="sim", freeze=policy)
    plain = build_model("small", 2, (64, 64, 3), weights=None, freeze=policy)
    assert trainable_fraction(model) == trainable_fraction(plain)
    base = get_backbone(model)
    convs = [lay.name for lay in base.layers if lay.name.endswith("_conv") and lay.trainable and base.trainable]
    assert convs == TRAINABLE_CONVS[policy]
    bn_trainable = [lay.trainable for lay in base.layers if lay.name.endswith("_bn")]
    assert all(bn_trainable) if policy == "none" else not any(bn_trainable) or not base.trainable
    set_freeze(model, "frozen")  # the two-phase recipe: phase 1 frozen ...
    assert not get_backbone(model).trainable_weights
    set_freeze(model, policy)  # ... then the policy
    assert trainable_fraction(model) == trainable_fraction(plain)


def test_sim_refuses_other_size_and_model_with_what_is_available():
    from eventcnn.learn.models import build_backbone, build_model

    with pytest.raises(ValueError, match=r"64x64 images.*32x32.*available: .*sim_small_64"):
        build_model("small", 2, (32, 32, 3), weights="sim")
    with pytest.raises(ValueError, match=r"backbone 'vgg16'.*available: .*sim_small_64 \(backbone 'small', image size 64\)"):
        build_backbone("vgg16", (64, 64, 3), weights="sim")
    with pytest.raises(ValueError, match="no shipped weights named 'nope'"):
        build_backbone("small", (64, 64, 3), weights="sim:nope")


def test_train_config_keeps_sim_and_files_for_small():
    from eventcnn.learn.train import TrainConfig

    assert TrainConfig("d", "o", model="small", weights="sim").weights == "sim"
    assert TrainConfig("d", "o", model="small", weights="w.weights.h5").weights == "w.weights.h5"
    assert TrainConfig("d", "o", model="small", weights="imagenet").weights is None


@pytest.mark.slow
def test_pretrain_end_to_end_on_example_files(tmp_path):
    """The recipe on tiny settings: example JSON files, 32 px, one epoch; the export loads."""
    from eventcnn.cli import main
    from eventcnn.learn.models import build_model, get_backbone
    from eventcnn.learn.train import load_run_model

    out = tmp_path / "pt"
    export = tmp_path / "export"
    argv = ["pretrain", "--out", str(out), "--processes", "--size", "32", "--epochs", "1",
            "--batch-size", "16", "--export", str(export), "--quiet"]
    for label in ("ttjets", "wjets", "dy"):
        argv += ["--inputs", f"{label}={EXAMPLES / f'example_{label}.json.gz'}"]
    assert main(argv) == 0
    weights_file = out / "sim_small_32.weights.h5"
    meta = json.loads((out / "sim_small_32.json").read_text())
    assert meta["sha256"] == sha256sum(weights_file)
    assert meta["image_size"] == 32 and meta["class_names"] == ["dy", "ttjets", "wjets"]
    assert (export / "sim_small_32.weights.h5").read_bytes() == weights_file.read_bytes()
    for f in ("config.json", "history.json", "best.keras", "state.json"):
        assert (out / "run" / f).exists()
    # the exported file is what build_model(weights=<file>) loads, equal to the run's best backbone
    model = build_model("small", 2, (32, 32, 3), weights=str(weights_file), freeze="many")
    best = get_backbone(load_run_model(out / "run"))
    for a, b in zip(get_backbone(model).get_weights(), best.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the shipped-weights lookup finds it by name/size in its folder, hash-checked
    assert shipped.resolve_weights("sim", "small", (32, 32, 3), directory=export) == export / "sim_small_32.weights.h5"
    # the files --export holds (often the shipped weights folder) are replaced only with --overwrite
    exported = (export / "sim_small_32.weights.h5").read_bytes()
    assert main(argv) == 1
    assert (export / "sim_small_32.weights.h5").read_bytes() == exported
    # re-running resumes: the finished run is not retrained, the export is unchanged
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((out / "sim_small_32.json").read_text())["sha256"] == meta["sha256"]


def test_pretrain_config_errors(tmp_path):
    from eventcnn.learn.pretrain import PretrainConfig

    with pytest.raises(FileNotFoundError, match="missing.json"):
        PretrainConfig(str(tmp_path), inputs={"a": str(tmp_path / "missing.json")})
    with pytest.raises(ValueError, match="at least two classes"):
        PretrainConfig(str(tmp_path), processes=("tt",))
    with pytest.raises(ValueError, match="unknown|process"):
        PretrainConfig(str(tmp_path), processes=("tt", "higgs"))


@pytest.mark.slow
def test_train_with_sim_weights_two_phase(tmp_path):
    """``TrainConfig(weights="sim")``: phase 1 head only (backbone unchanged), phase 2 the policy trains it."""
    from eventcnn.learn.dataset import make_toy_images
    from eventcnn.learn.models import build_backbone, get_backbone
    from eventcnn.learn.train import TrainConfig, train

    data = make_toy_images(tmp_path / "toy", n_per_class=12, size=64, seed=0)
    shipped_bb = build_backbone("small", (64, 64, 3), weights="sim").get_weights()

    def conv_weights_equal(run_dir: Path, which: str) -> list[bool]:
        from eventcnn.learn.train import load_run_model

        got = get_backbone(load_run_model(run_dir, which)).get_weights()
        return [np.array_equal(a, b) for a, b in zip(got, shipped_bb)]

    run1 = train(TrainConfig(str(data), str(tmp_path / "frozen"), model="small", weights="sim", freeze="frozen",
                             epochs=1, batch_size=8, evaluate=False, baseline=False, quiet=True))
    assert run1.config.weights == "sim"
    assert all(conv_weights_equal(run1.out, "last"))  # frozen: the shipped backbone untouched
    run2 = train(TrainConfig(str(data), str(tmp_path / "many"), model="small", weights="sim", freeze="many",
                             epochs=1, fine_tune_epochs=1, fine_tune_lr=1e-3, batch_size=8, evaluate=False,
                             baseline=False, quiet=True))
    assert [h["phase"] for h in run2.history] == [1, 2]
    assert not all(conv_weights_equal(run2.out, "last"))  # phase 2 fine-tuned the last blocks
    with pytest.raises(ValueError, match="64x64"):
        train(TrainConfig(str(data), str(tmp_path / "bad"), model="small", weights="sim", size=32,
                          epochs=1, evaluate=False, baseline=False, quiet=True))


@pytest.mark.slow
def test_opal_pretrain_is_the_same_pretraining_on_simulated_displays(tmp_path, capsys):
    """`eventcnn opal pretrain` (the masterclass's words) runs learn.pretrain on the opal dataset."""
    pytest.importorskip("pythia8mc")
    from eventcnn.cli import main
    from eventcnn.learn.models import load_network_weights, masterclass_network

    out = tmp_path / "pt"
    argv = ["opal", "pretrain", "--out", str(out), "--events", "8", "--epochs", "1", "--steps", "1", "--seed", "3",
            "--quiet"]
    assert main(argv) == 0
    weights = out / "opal_sim.weights.h5"
    meta = json.loads((out / "opal_sim.json").read_text())
    assert meta["backbone"] == "masterclass" and meta["image_size"] == 200
    assert meta["sha256"] == sha256sum(weights) and meta["figures"]["epochs"] == 1
    assert meta["command"].startswith(f"eventcnn opal pretrain --out {out} --events 8 --seed 3 --epochs 1 --steps 1")
    assert shipped.resolve_weights("sim", "masterclass", (200, 200, 3), directory=out) == weights
    first = load_network_weights(masterclass_network(augment=True, seed=1), weights).get_weights()
    assert main(argv) == 0  # again: the simulation is reused, the finished run not retrained
    again = load_network_weights(masterclass_network(), weights).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # (HDF5 files carry their time: not bytes)
    assert json.loads((out / "run" / "state.json").read_text())["epoch"] == 1
    capsys.readouterr()
    assert main([*argv, "--name", "../escaped"]) == 1  # a name is a file name inside --out, never a path
    assert "--name: weights name '../escaped' contains '/'" in capsys.readouterr().err
    assert not (tmp_path / "escaped.weights.h5").exists()


@pytest.mark.parametrize("command", [["opal", "pretrain", "--events", "8"],
                                     ["pretrain", "--events", "8", "--processes", "tt", "dy"]])
def test_pretrain_simulates_on_the_one_executor_the_command_opens(tmp_path, monkeypatch, command):
    """--jobs / --scheduler: the command opens one executor and the simulation runs its tasks on it."""
    import eventcnn.learn.pretrain as pretrain
    from eventcnn.cli import main
    from eventcnn.executor import Executor

    seen = []

    def stage(*_a, executor=None, **_k):
        seen.append(executor)
        raise KeyboardInterrupt  # stop here: the executor is what this test looks at

    monkeypatch.setattr(pretrain, "simulate", stage)
    monkeypatch.setattr(pretrain, "generate_to_file", stage)
    assert main([*command, "--out", str(tmp_path / "pt"), "--jobs", "1", "--epochs", "1", "-q"]) == 130
    assert len(seen) == 1 and isinstance(seen[0], Executor) and seen[0].in_process
    # --scheduler: the stage gets the command's executor for that cluster (it connects at the first task)
    assert main([*command, "--out", str(tmp_path / "pt"), "--scheduler", "tcp://127.0.0.1:1", "-q"]) == 130
    assert len(seen) == 2 and not seen[1].in_process
