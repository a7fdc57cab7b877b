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


def test_help_lists_every_command_and_every_help_formats(capsys):
    """`eventcnn --help` builds the whole parser; every command's and option's help text formats (a bare % fails)."""
    import pytest

    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    sub = argparse.ArgumentParser().add_subparsers()
    for info in pkgutil.iter_modules(cli.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"eventcnn.cli.{info.name}").register(sub)
    assert all(f"    {command} " in out for command in sub.choices), out

    def walk(parser):
        parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)

    walk(cli.build_parser())
