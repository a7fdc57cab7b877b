"""The command line imports only the module of the command it runs; the ONNX path imports no Keras."""

import argparse
import importlib
import pkgutil
import subprocess
import sys

import eventcnn.cli as cli


def test_every_command_is_found_by_its_module():
    for info in pkgutil.iter_modules(cli.__path__):
        if info.name.startswith("_"):
            continue
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"eventcnn.cli.{info.name}").register(sub)
        for command in sub.choices:
            parser = cli.build_parser(command)
            names = parser._subparsers._group_actions[0].choices
            assert command in names, (command, info.name)


def test_predict_with_an_onnx_model_starts_without_the_other_commands(tmp_path):
    code = ("import sys; from eventcnn.cli import build_parser, _command_of; "
            "build_parser(_command_of(['predict', '--model', 'm.onnx', 'x.json'])); "
            "heavy = [m for m in ('keras', 'tensorflow', 'eventcnn.demo', 'eventcnn.opal', 'sklearn', 'matplotlib') "
            "if m in sys.modules]; print(heavy)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    assert cli._command_of(["--debug", "render", "x"]) == "render" and cli._command_of(["--help"]) is None
