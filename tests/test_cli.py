"""Tests of the command line's error handling: one line per user error, bugs flagged, --debug."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventcnn import opal
from eventcnn.cli import EXIT_INTERNAL, main
from eventcnn.errors import EventcnnError, UserError, describe, is_user_error


def _fail_with(monkeypatch, exc: BaseException) -> None:
    """Make ``eventcnn compare r`` raise ``exc`` (compare needs no Keras; ``r`` is a folder, as the rules want)."""
    import tempfile

    import eventcnn.learn.comparison

    def boom(*_a, **_k):
        raise exc

    monkeypatch.setattr(eventcnn.learn.comparison, "compare_runs", boom)
    here = Path(tempfile.mkdtemp(prefix="eventcnn-cli-"))
    (here / "r").mkdir()
    monkeypatch.chdir(here)


@pytest.mark.parametrize("exc", [KeyError("class"), TypeError("bad operand"), AttributeError("x"),
                                 IndexError("list index out of range"), AssertionError("never"),
                                 ValueError("operands could not be broadcast together with shapes (3,) (4,)"),
                                 RuntimeError("XlaRuntimeError: INTERNAL: failed to compile")])
def test_internal_error_is_flagged_as_a_bug(monkeypatch, capsys, exc):
    _fail_with(monkeypatch, exc)
    monkeypatch.delenv("EVENTCNN_DEBUG", raising=False)
    assert main(["compare", "r"]) == EXIT_INTERNAL
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("eventcnn compare: internal error (a bug in eventcnn, please report it): "
                          f"{type(exc).__name__}")
    assert err.endswith("run again with --debug for the traceback")


def test_debug_flag_and_env_show_the_traceback(monkeypatch):
    _fail_with(monkeypatch, KeyError("class"))
    monkeypatch.delenv("EVENTCNN_DEBUG", raising=False)
    with pytest.raises(KeyError):
        main(["--debug", "compare", "r"])
    with pytest.raises(KeyError):
        main(["compare", "r", "--debug"])  # after the sub-command too
    monkeypatch.setenv("EVENTCNN_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["compare", "r"])


@pytest.mark.parametrize("exc, text", [
    (PermissionError(13, "Permission denied", "/x/y"), "cannot write /x/y: Permission denied"),
    (NotADirectoryError(20, "Not a directory", "/f/out"), "cannot create /f/out: Not a directory"),
    (FileNotFoundError("image folder x not found"), "image folder x not found"),
    (UserError("bad\nthing"), "bad; thing"),
    (EventcnnError("no GPU"), "no GPU"),
    (MemoryError(), "out of memory: use a smaller --size"),
])
def test_user_errors_are_one_line(monkeypatch, capsys, exc, text):
    _fail_with(monkeypatch, exc)
    monkeypatch.delenv("EVENTCNN_DEBUG", raising=False)
    assert main(["compare", "r"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"eventcnn compare: error: {text}")


def test_every_exception_class_of_the_package_derives_from_eventcnn_error():
    import importlib
    import inspect
    import pkgutil

    import eventcnn

    classes = set()
    for info in pkgutil.walk_packages(eventcnn.__path__, "eventcnn."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name and issubclass(obj, BaseException) and not issubclass(obj, Warning):
                classes.add(obj)
    assert len(classes) >= 10, classes  # EventFormatError, LabelFormatError, DownloadError, ...
    assert not [c for c in classes if not issubclass(c, EventcnnError)]


def test_is_user_error_and_describe():
    assert is_user_error(UserError("x")) and isinstance(UserError("x"), ValueError)
    assert not is_user_error(ValueError("x")) and not is_user_error(RuntimeError("x"))
    assert not is_user_error(KeyError("x")) and not is_user_error(NotImplementedError("x"))
    assert describe(PermissionError(13, "Permission denied", "/x/y")) == "cannot write /x/y: Permission denied"
    missing = ModuleNotFoundError("No module named 'uproot'", name="uproot")
    assert is_user_error(missing) and "pip install uproot" in describe(missing)
    assert not is_user_error(ModuleNotFoundError("No module named 'eventcnn.x'", name="eventcnn.x"))


def _fake_run(path, config) -> None:
    path.mkdir(parents=True)
    (path / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))


@pytest.mark.parametrize("config, lacks", [
    ({"train": {"data_dir": "d", "out_dir": "o"}, "image_size": 32}, "lacks 'class_names'"),
    ({"class_names": ["a", "b"], "image_size": 32}, "lacks 'train'"),
    ("{not json", "config.json is not JSON"),
])
def test_broken_run_config_is_named(tmp_path, capsys, config, lacks):
    run = tmp_path / "run"
    _fake_run(run, config)
    img = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(img)
    commands = [["predict", str(run), str(img), "--out", str(tmp_path / "p.csv")], ["evaluate", str(run)]]
    if "class_names" not in lacks:  # compare reads only the 'train' settings
        commands.append(["compare", str(run)])
    for argv in commands:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert f"{run} is not a run folder written by eventcnn train" in err and lacks in err, (argv, err)
        assert err.count("\n") == 1


def test_predict_checks_its_output_before_loading_the_model(tmp_path, capsys, monkeypatch):
    import eventcnn.learn.train

    run = tmp_path / "run"
    _fake_run(run, {"train": {"data_dir": "d", "out_dir": "o"}, "class_names": ["a", "b"], "image_size": 8})
    img = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(img)
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    loaded = []
    monkeypatch.setattr(eventcnn.learn.train, "load_run_model", lambda *a, **k: loaded.append(a))
    assert main(["predict", str(run), str(img), "--out", str(blocker / "sub" / "p.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write into folder {blocker / 'sub'}" in err
    assert loaded == []  # refused before the model was loaded
    assert main(["predict", str(run), str(img), "--out", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err and loaded == []
    assert main(["predict", str(run), str(img), "--out", str(blocker / "p.csv")]) == 1
    assert f"cannot write into {blocker} (for {blocker / 'p.csv'}): it is a file" in capsys.readouterr().err
    assert loaded == []


def test_train_and_augment_into_an_unwritable_folder(tmp_path, capsys):
    from eventcnn.learn.dataset import make_toy_images

    data = make_toy_images(tmp_path / "toy", n_per_class=3, size=16)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "--data", str(data), "--out", str(blocker / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write into folder {blocker / 'run'}" in err
    pytest.importorskip("Augmentor")
    assert main(["augment", str(data), "--out", str(blocker / "aug"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write into folder {blocker / 'aug'}" in err


def test_warnings_are_one_line_naming_the_command(tmp_path, capsys):
    run = tmp_path / "run"
    _fake_run(run, {"train": {"data_dir": "d", "out_dir": "o"}, "class_names": ["a", "b"], "image_size": 8})
    (tmp_path / "imgs" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "imgs" / "notes.txt").write_text("x")
    (tmp_path / "imgs" / "manifest.csv").write_text("file,class\n")  # eventcnn's metadata: not reported
    # no images at all: an error, after one warning line per kind of skipped entry
    assert main(["predict", str(run), str(tmp_path / "imgs")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "eventcnn predict: warning:" in err[0] and "1 hidden folder(s)/file(s): .ipynb_checkpoints/" in err[0]
    assert "1 file(s) that are not images" in err[1] and "notes.txt" in err[1] and "manifest" not in err[1]
    assert err[2].startswith("eventcnn predict: error: folder") and len(err) == 3


def test_evaluate_checks_the_run_folder_is_writable_before_loading(tmp_path, capsys, monkeypatch):
    import eventcnn.errors
    import eventcnn.learn.train

    run = tmp_path / "run"
    _fake_run(run, {"train": {"data_dir": str(tmp_path), "out_dir": str(run)}, "class_names": ["a", "b"],
                    "image_size": 8})
    (run / "split.json").write_text(json.dumps({"class_names": ["a", "b"], "train": [], "val": [],
                                                "test": [{"file": "a/x.png", "class": "a"}]}))

    def read_only(*_a, dir=None, **_k):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(eventcnn.errors.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(eventcnn.learn.train, "load_run_model", lambda *a, **k: pytest.fail("model loaded"))
    assert main(["evaluate", str(run), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == f"eventcnn evaluate: error: cannot write into folder {run} (for {run / 'metrics.json'}): " \
                  "Permission denied; make it writable or choose another output location\n"


def test_an_atomic_write_failure_names_the_target_not_the_temp_file():
    exc = PermissionError(13, "Permission denied", "/data/out/.metrics.json.a1b2_c3d.tmp")
    assert describe(exc) == "cannot write /data/out/metrics.json: Permission denied"


def test_size_is_the_one_image_size_option():
    """One name per concept: --size everywhere, no --image-size (not even hidden)."""
    from eventcnn.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "--data", "d", "--out", "o", "--size", "48"]).size == 48
    assert parser.parse_args(["render", "x.json", "--size", "32"]).size == 32
    assert parser.parse_args(["pretrain", "--out", "o", "--size", "40"]).size == 40
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--data", "d", "--out", "o", "--image-size", "48"])
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        assert "--image-size" not in sub.format_help(), name


def test_every_command_takes_quiet_and_seeds_share_one_default():
    """-q/--quiet on every command; every --seed defaults to eventcnn.DEFAULT_SEED (from the library)."""
    import argparse

    from eventcnn import DEFAULT_SEED
    from eventcnn.cli import build_parser

    def leaves(parser, prefix=""):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                    yield from leaves(sub, f"{prefix}{name} ") if nested else [(f"{prefix}{name}", sub)]

    commands = dict(leaves(build_parser()))
    assert {"render", "train", "opal train", "data fetch", "compare"} <= set(commands)
    no_quiet = [n for n, sub in commands.items()
                if not {"-q", "--quiet"} <= {o for a in sub._actions for o in a.option_strings}]
    assert not no_quiet, f"commands without -q/--quiet: {no_quiet}"
    seeds = {n: a.default for n, sub in commands.items() for a in sub._actions if "--seed" in a.option_strings}
    assert len(seeds) >= 6 and set(seeds.values()) == {DEFAULT_SEED}, seeds


# ---- (was test_opal_messages.py)

def _folder(tmp_path: Path, n: int = 4) -> Path:
    d = tmp_path / "displays"
    d.mkdir()
    for i in range(n):
        Image.fromarray(np.full((20, 20, 3), 40 * i, dtype=np.uint8)).save(d / f"ev{i}.png")
    return d


def test_unlabelled_images_are_an_info_line_not_a_warning(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("EVENTCNN_QUIET", raising=False)
    d = _folder(tmp_path)
    labels = tmp_path / "l.csv"
    labels.write_text("ev0.png;q\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        data = opal.load_displays(d, labels, size=16)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "1 labelled, 3 without a label (to classify)" in out
    assert "ev1" not in out  # no list of names (they can give the class away)
    assert data.labelled.sum() == 1
    labels.write_text("ev0.png;q\nev9.png;e\n")  # a label without an image: one warning
    with pytest.warns(UserWarning, match="1 label\\(s\\) without an image") as rec:
        opal.load_displays(d, labels, size=16, quiet=True)
    assert len(rec) == 1


def test_help_states_the_real_defaults(capsys) -> None:
    from eventcnn.cli import main

    with pytest.raises(SystemExit):
        main(["opal", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    cfg = opal.RecipeConfig()
    assert f"up to {cfg.epochs} with early stopping" in text
    assert f"at most {opal.SMALL_SET_EPOCHS} with fewer than {opal.SMALL_SET} labelled" in text
    assert f"default {cfg.lepton_factor}" in text and "default runs/opal" in text
    assert "30 default" not in text
    with pytest.raises(SystemExit):
        main(["opal", "label", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default 50" in text and "default suggest" in text


def test_label_suggest_and_ids_do_not_import_keras(tmp_path: Path) -> None:
    import subprocess
    import sys

    d = _folder(tmp_path, n=6)
    code = (
        "import sys\n"
        "from eventcnn.cli import main\n"
        f"assert main(['opal', 'suggest', '--data', {str(d)!r}, '--n', '2']) == 0\n"
        f"sys.stdin = __import__('io').StringIO('q\\n')\n"
        f"assert main(['opal', 'label', '--data', {str(d)!r}, '--labels', {str(tmp_path / 'l.csv')!r},"
        " '--n', '2', '--size', '40', '--window', 'no']) == 0\n"
        f"assert main(['opal', 'ids', '--data', {str(d)!r}, '--out', {str(tmp_path / 'ids.csv')!r}]) == 0\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'Keras imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr[-1500:]
    assert (tmp_path / "l.csv").read_text().count(";q") == 1
