"""One source for every default (issue 33 item 3): the command line reads the library's defaults, never restates them.

The test walks the whole parser, every command and sub-command. Each option whose default is a value
(not None / False / an empty list) is either mapped to where the library keeps that default (derived here
from the library object, never written as a literal) and must equal it, or listed among the options that
only the command line has, with the reason. A new option is covered without a new test: left unmapped, it
fails here until it is mapped or its reason is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eventcnn.cli import build_parser


def lib(owner: Any, name: str) -> Callable[[], Any]:
    """The default of field / parameter ``name`` of ``owner`` (a dataclass or a function), read when called."""

    def read() -> Any:
        if dataclasses.is_dataclass(owner):
            f = {f.name: f for f in dataclasses.fields(owner)}[name]
            return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        value = inspect.signature(owner).parameters[name].default
        assert value is not inspect.Parameter.empty, f"{owner.__name__}({name}) has no default"
        return value

    read.where = f"{getattr(owner, '__module__', '')}.{owner.__name__}.{name}"  # type: ignore[attr-defined]
    return read


def _library() -> dict[tuple[str, str], Callable[[], Any]]:
    """(command, option dest) -> where the library keeps that default."""
    from eventcnn.demo import DemoConfig
    from eventcnn.events.convert import convert
    from eventcnn.events.generate import generate_to_file
    from eventcnn.executor import open_executor
    from eventcnn.images.augment import AugmentorConfig, augment_folder
    from eventcnn.images.etaphi import RenderConfig
    from eventcnn.images.render import render_to_dir
    from eventcnn.learn import evaluate, explain, predict
    from eventcnn.learn.export import export_run
    from eventcnn.learn.pretrain import pretrain_defaults
    from eventcnn.learn.recipes import RecipeConfig
    from eventcnn.learn.train import TrainConfig
    from eventcnn.opal.labeller import choose_events
    from eventcnn.opal.measure import measure_challenge
    from eventcnn.opal.self_training import SELF_TRAIN
    from eventcnn.opal.simulate import simulate
    from eventcnn.opal.suggest import suggest_indices
    from eventcnn.opal.web.settings import LessonSettings

    jobs = lib(open_executor, "jobs")
    table: dict[tuple[str, str], Callable[[], Any]] = {
        ("render", "out"): lib(render_to_dir, "out"), ("render", "style"): lib(RenderConfig, "style"),
        ("render", "size"): lib(RenderConfig, "size"), ("render", "selection"): lib(render_to_dir, "selection"),
        ("render", "format"): lib(render_to_dir, "format"), ("render", "shard_size"): lib(render_to_dir, "shard_size"),
        ("render", "jobs"): jobs, ("data convert", "layout"): lib(convert, "layout"), ("data convert", "jobs"): jobs,
        ("generate", "seed"): lib(generate_to_file, "seed"), ("generate", "jobs"): lib(generate_to_file, "jobs"),
        ("augment", "out"): lib(augment_folder, "out"),
        ("opal simulate", "seed"): lib(simulate, "seed"), ("opal simulate", "classes"): lib(simulate, "classes"),
        ("opal simulate", "name"): lib(simulate, "name"), ("opal simulate", "jobs"): lib(simulate, "jobs"),
        ("demo", "seed"): lib(DemoConfig, "seed"), ("demo", "out"): lib(DemoConfig, "out"),
        ("evaluate", "batch_size"): lib(evaluate.evaluate_run, "batch_size"),
        ("predict", "selection"): lib(predict.predict, "selection"),
        ("predict", "jobs"): lib(predict.predict, "jobs"),
        ("explain", "out"): lib(explain.explain_files, "out"),
        ("export", "format"): lib(export_run, "format"),
        ("opal train", "recipe"): lib(RecipeConfig, "recipe"), ("opal train", "seed"): lib(RecipeConfig, "seed"),
        ("opal train", "lepton_factor"): lib(RecipeConfig, "lepton_factor"),
        ("opal train", "pseudo_threshold"): lambda: SELF_TRAIN.threshold,
        ("opal train", "pseudo_per_class"): lambda: SELF_TRAIN.per_class,
        ("opal label", "order"): lib(choose_events, "order"), ("opal label", "seed"): lib(choose_events, "seed"),
        ("opal suggest", "n"): lib(suggest_indices, "n"), ("opal suggest", "seed"): lib(suggest_indices, "seed"),
    }
    for flag in ("students", "per_student", "overlap", "idle", "seed", "epochs", "size"):
        table[("class serve", flag)] = lib(LessonSettings, flag)
    for flag, field in (("samples", "samples"), ("seed", "seed"), ("rotate", "max_rotation"),
                        ("rotate_probability", "rotate_probability"),
                        ("flip_probability", "flip_left_right_probability"), ("zoom", "zoom_max"),
                        ("zoom_probability", "zoom_probability"), ("shear", "max_shear"),
                        ("shear_probability", "shear_probability"), ("skew", "skew_magnitude"),
                        ("skew_probability", "skew_probability")):
        table[("augment", flag)] = lib(AugmentorConfig, field)
    for flag, field in (("events", "events"), ("seed", "seed"), ("epochs", "epochs"), ("steps", "steps_per_epoch"),
                        ("patience", "patience"), ("lr", "lr"), ("jobs", "jobs"), ("name", "name")):
        table[("opal pretrain", flag)] = lambda field=field: pretrain_defaults("opal")[field]
    for flag in ("processes", "events", "seed", "size", "selection", "model", "epochs", "batch_size", "lr",
                 "patience", "augment", "jobs"):
        table[("pretrain", flag)] = lambda flag=flag: pretrain_defaults("cms")[flag]
    for flag, field in (("model", "model"), ("optimizer", "optimizer"), ("lr", "lr"), ("schedule", "schedule"),
                        ("epochs", "epochs"), ("fine_tune_lr", "fine_tune_lr"), ("batch_size", "batch_size"),
                        ("weights", "weights"), ("dropout", "dropout"), ("seed", "seed"), ("augment", "augment"),
                        ("geometry", "augment_geometry"), ("patience", "patience"), ("monitor", "monitor"),
                        ("fractions", "fractions"), ("mixed_precision", "mixed_precision"), ("cache", "cache"),
                        ("compile", "compile"), ("workers", "workers")):
        table[("train", flag)] = lib(TrainConfig, field)
    for flag in ("folds", "epochs", "steps", "seed", "toys", "header_cnn"):
        table[("opal measure", flag)] = lib(measure_challenge, flag)
    return table


#: options only the command line has (the library takes the value as a required argument), and why
CLI_ONLY: dict[tuple[str, str], str] = {
    ("train", "data"): "the image folder is a required argument of the library (TrainConfig.data_dir)",
    ("predict", "out"): "the library writes no file unless told where (predict(out=None))",
    ("opal predict", "out"): "as predict: the command names the CSV it writes",
    ("opal train", "out"): "the run folder: a required argument of opal.workflow.masterclass",
    ("opal label", "n"): "how many displays to label: a required argument of choose_events",
    ("opal label", "window"): "whether the command opens a window: no library counterpart",
    ("class serve", "db"): "the class database file of the server command",
    ("class serve", "host"): "where the server listens (loopback): the command's choice",
    ("class serve", "port"): "the port of the server command",
}


def _walk(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias (data list / data info)
                    continue
                seen.add(id(sub))
                yield from _walk(sub, f"{prefix} {name}".strip())
        elif action.option_strings and not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield prefix, action


def _is_value(default: Any) -> bool:
    return default not in (None, False, argparse.SUPPRESS) and not (isinstance(default, list) and not default)


def _same(cli: Any, library: Any) -> bool:
    if isinstance(cli, Path) or isinstance(library, Path):
        return str(cli) == str(library)
    if isinstance(cli, (list, tuple)) and isinstance(library, (list, tuple)):
        return list(cli) == list(library)
    return cli == library and type(cli) is type(library)


def test_every_command_line_default_is_the_library_default():
    table = _library()
    wrong, unmapped, used = [], [], set()
    for command, action in _walk(build_parser()):
        key = (command, action.dest)
        if not _is_value(action.default):
            continue
        if key in CLI_ONLY:
            used.add(key)
            continue
        if key not in table:
            unmapped.append(f"eventcnn {command} {action.option_strings[0]} (default {action.default!r})")
            continue
        used.add(key)
        library = table[key]()
        if not _same(action.default, library):
            where = getattr(table[key], "where", "the library")
            wrong.append(f"eventcnn {command} {action.option_strings[0]}: {action.default!r}, {where}: {library!r}")
    assert not wrong, "command-line defaults that disagree with the library:\n" + "\n".join(wrong)
    assert not unmapped, ("options with a default this test does not know: map them to the library's default "
                          "(or list them in CLI_ONLY with the reason):\n" + "\n".join(unmapped))
    stale = sorted((set(table) | set(CLI_ONLY)) - used)
    assert not stale, f"entries for options without a default or that no longer exist: {stale}"


@pytest.mark.parametrize("command", ["render", "generate", "augment", "data convert", "opal simulate"])
def test_the_floors_commands_show_their_defaults_from_the_library(command):
    """The commands of the lower floors read every default (not only the ones this test maps)."""
    import re

    import eventcnn.cli as cli

    module = {"data convert": "data", "opal simulate": "opal"}.get(command, command)
    source = (Path(cli.__file__).parent / f"{module}.py").read_text()
    if module == "opal":
        source = source[source.index("def _register_simulation"):source.index("def run_simulate")]
    literals = re.findall(r"default=(?!None\b|False\b|default\(|\[\]|Path\(default|d\.|d\[)[^,)]+", source)
    assert not literals, f"eventcnn {command}: defaults written in the command line: {literals}"
