"""Every command-line default of the learning commands is the library's (the command line never restates one).

For each option of ``train``, ``evaluate``, ``predict``, ``explain``, ``pretrain``,
``compare``, ``export`` and ``opal train`` / ``opal predict`` / ``opal pretrain``, the test
names the library setting it feeds and asserts the two defaults are equal. An
option that is the command line's own (a file name to write, a switch that only
the command has) is listed with the reason; a new option that is neither fails
the test.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any

import pytest

from eventcnn.cli import build_parser
from eventcnn.images.opal_displays import load_displays
from eventcnn.learn.comparison import compare_runs
from eventcnn.learn.evaluate import evaluate_run
from eventcnn.learn.explain import explain_files
from eventcnn.learn.export import export_run
from eventcnn.learn.predict import predict
from eventcnn.learn.pretrain import pretrain_defaults
from eventcnn.learn.recipes import RecipeConfig
from eventcnn.learn.runs import TrainConfig
from eventcnn.opal.self_training import SELF_TRAIN
from eventcnn.opal.workflow import masterclass


def _params(func: Any) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _fields(cls: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _negate(value: Any) -> bool:
    return not value


TRAIN = _fields(TrainConfig)
MASTERCLASS = _params(masterclass)

#: command -> {dest: (library default, how the command line's value maps to the library's, or None)}
LIBRARY: dict[str, dict[str, tuple[Any, Any]]] = {
    "train": {**{k: (TRAIN[k], None) for k in (
        "model", "freeze", "optimizer", "lr", "schedule", "epochs", "fine_tune_epochs", "fine_tune_lr", "size",
        "batch_size", "weights", "head", "dropout", "seed", "class_weight", "oversample", "augment", "patience",
        "monitor", "limit_per_class", "mixed_precision", "cache", "cache_dir", "compile", "scale_lr", "workers",
        "quiet")},
        "geometry": (TRAIN["augment_geometry"], None), "split": (TRAIN["split_file"], None),
        "fractions": (TRAIN["fractions"], tuple), "no_evaluate": (TRAIN["evaluate"], _negate),
        "no_baseline": (TRAIN["baseline"], _negate)},
    "evaluate": {"data": (_params(evaluate_run)["data_dir"], None),
                 "batch_size": (_params(evaluate_run)["batch_size"], None),
                 "no_baseline": (_params(evaluate_run)["baseline"], _negate),
                 "quiet": (_params(evaluate_run)["quiet"], None)},
    "predict": {k: (_params(predict)[k], None) for k in ("selection", "batch_size", "tta", "jobs", "scheduler",
                                                          "absent", "threads", "overwrite", "quiet")},
    "explain": {k: (_params(explain_files)[k], None) for k in ("out", "patch", "stride", "quiet")},
    "pretrain": {**{k: (pretrain_defaults("cms")[k], None) for k in (
        "events", "seed", "size", "selection", "model", "epochs", "batch_size", "lr", "patience", "augment",
        "fast", "jobs", "name", "export", "quiet")},
        "processes": (pretrain_defaults("cms")["processes"], tuple), "inputs": ({}, dict)},
    "compare": {k: (_params(compare_runs)[k], None) for k in ("out", "plot", "json_out", "reference", "overwrite")},
    "export": {k: (_params(export_run)[k], None) for k in ("out", "format", "opset", "overwrite", "quiet")},
    "opal train": {**{k: (_fields(RecipeConfig)[k], None) for k in ("recipe", "epochs", "lepton_factor", "seed")},
                   "tta": (MASTERCLASS["tta"], None), "quiet": (False, None),
                   "self_train": (MASTERCLASS["self_train"], lambda v: v or None),
                   "pseudo_threshold": (SELF_TRAIN.threshold, None),
                   "pseudo_per_class": (SELF_TRAIN.per_class, None),
                   "reference": (MASTERCLASS["reference"], None), "labels": (_params(load_displays)["labels"], None),
                   "crop": (_params(load_displays)["crop"], None)},
    "opal predict": {**{k: (_params(predict)[k], None) for k in ("labels", "size", "crop", "tta", "overwrite",
                                                                   "quiet")},
                     "all": (_params(predict)["every"], None)},
    "opal pretrain": {**{k: (pretrain_defaults("opal")[k], None) for k in (
        "events", "seed", "epochs", "patience", "lr", "jobs", "name", "export", "quiet")},
        "steps": (pretrain_defaults("opal")["steps_per_epoch"], None)},
}

#: the command line's own options: dest -> why it has no library default to equal
OWN = {
    "train": {"data": "the image folder a command runs on (TrainConfig needs one)",
              "out": "required"},
    "evaluate": {},
    "predict": {"out": "the command writes a CSV by default (the library returns rows, out=None)",
                "model": "an exported model named as an option (then every positional argument is an input); "
                         "the library takes it as its first argument"},
    "explain": {"overwrite": "the path rules of every command (cli/_paths.py): replace existing maps"},
    "pretrain": {"out": "required", "scheduler": "the executor the command opens (open_executor), not a setting",
                 "overwrite": "the path rules of every command (cli/_paths.py): replace --export files"},
    "compare": {"quiet": "compare prints its table always; --quiet is the common flag"},
    "export": {},
    "opal train": {"data": "required", "out": "the masterclass's run folder (masterclass() needs one)",
                   "size": "None: the displays' own IMAGE_SIZE (checked against the network before loading)",
                   "weights": "None: the library's default_weights(size) picks (the shipped ones when they fit)",
                   "sim_displays": "None: the recipe's own (recipe_config: FINE_TUNE from pretrained weights)"},
    "opal predict": {"data": "required", "out": "the command writes a CSV by default"},
    "opal pretrain": {"out": "required", "scheduler": "the executor the command opens (open_executor)",
                      "overwrite": "the path rules of every command (cli/_paths.py): replace --export files"},
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    out = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out[f"{prefix}{name}"] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(build_parser(), "")
    return out


@pytest.mark.parametrize("command", sorted(LIBRARY))
def test_every_default_is_the_librarys(command: str) -> None:
    parser = _commands()[command]
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    unknown = [a.dest for a in options if a.dest not in LIBRARY[command] and a.dest not in OWN[command]]
    assert not unknown, f"{command}: options without a library default named in this test: {unknown}"
    for action in options:
        if action.dest in OWN[command]:
            continue
        want, convert = LIBRARY[command][action.dest]
        got = action.default if convert is None or action.default is None else convert(action.default)
        assert got == want, f"{command} --{action.dest.replace('_', '-')}: {action.default!r} != library {want!r}"


def test_opal_train_and_the_library_train_the_original_recipe_alike() -> None:
    """The issue-33 case: `opal train --recipe original` and opal.train(recipe="original") train the same epochs."""
    from eventcnn.learn.recipes import RECIPE_EPOCHS, recipe_config

    args = _commands()["opal train"].parse_args(["--data", "d", "--labels", "l", "--recipe", "original"])
    assert args.epochs is None  # nothing restated: the library decides
    assert recipe_config(args.recipe).epochs == RECIPE_EPOCHS["original"]
