"""The path rules of every command (issue 33 item 4), tested by walking the whole parser.

Every command and sub-command, every option: the declarations of ``eventcnn.cli._paths``
say which options are inputs, outputs, output folders, files updated in place and
names; these tests build a command line from them and check that the one check
(:func:`eventcnn.cli._paths.check_paths`, run by ``main`` before any command) refuses

(a) an output that is an input, lies inside an input folder, or shares its path with
    another output; (b) a name that is not one file or folder name; (c) an existing
    output without ``--overwrite``; (e) a missing, empty or wrong-kind input

with one line, exit code 1, before the command runs (the commands are replaced by a
sentinel that records a call), and leave the inputs byte-identical. A new command is
covered by declaring its options: ``test_every_text_option_is_declared`` fails for one
that is not.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_commands

import eventcnn.cli
from eventcnn.cli import build_parser, main
from eventcnn.cli._paths import Input, Name, Output, OutputFolder, Update, Value, roles_of

COMMANDS = cli_commands()


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


def _takes_text(action: argparse.Action) -> bool:
    """An option whose value is free text (not a flag, a number or a fixed choice): it must be declared."""
    if action.nargs == 0 or action.choices is not None:
        return False
    return action.type not in (int, float)


def test_the_walk_sees_every_command():
    assert {"render", "train", "predict", "opal train", "opal pretrain", "class export", "data convert"} <= set(COMMANDS)
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_text_option_is_declared(command):
    """Each option that takes text says what it is: an input, an output, a name, or a plain value."""
    parser = COMMANDS[command]
    roles = roles_of(parser)
    missing = [a.option_strings[0] if a.option_strings else a.dest
               for a in _options(parser) if _takes_text(a) and a.dest not in roles]
    assert not missing, (f"eventcnn {command}: declare these options in its register() with "
                         f"eventcnn.cli._paths.declare (Input, Output, OutputFolder, Update, Name or VALUE): {missing}")
    writes = any(isinstance(r, Output) or (isinstance(r, OutputFolder) and r.replaces)
                 for rs in roles.values() for r in rs)
    if writes:
        assert "overwrite" in {a.dest for a in parser._actions}, f"eventcnn {command} writes files: --overwrite"


# ---------------------------------------------------------------------------- building a command line


class World:
    """A command line for one command, built from its declarations in a fresh folder."""

    def __init__(self, command: str, root: Path) -> None:
        self.command = command
        self.parser = COMMANDS[command]
        self.roles = roles_of(self.parser)
        self.root = root
        self.values: dict[str, list[str]] = {}
        self.made: dict[str, Path] = {}  # dest -> the path of an input made for it
        for action in _options(self.parser):
            inp = self.role(action.dest, Input)
            defaulted = (inp is not None and action.default not in (None, [], False)
                         and str(action.default).lower() not in inp.word_set())  # train --data CreatedImages
            if action.required or not action.option_strings or defaulted:
                self.values[action.dest] = [self.value_for(action)]

    def role(self, dest: str, kind: type) -> Any:
        return next((r for r in self.roles.get(dest, ()) if isinstance(r, kind)), None)

    def make_input(self, dest: str, role: Input, *, folder: bool | None = None) -> Path:
        folder = (not role.file) if folder is None else folder
        path = self.root / "in" / f"{dest}{'' if folder else '.dat'}"
        if folder:
            path.mkdir(parents=True, exist_ok=True)
            (path / "inside.txt").write_text("kept\n")
        elif role.kind == "db":  # a class database (the rules read what kind of file it is)
            import sqlite3

            from eventcnn.opal.web.store import CLASS_TABLES

            path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path) as db:
                for table in CLASS_TABLES:
                    db.execute(f"CREATE TABLE IF NOT EXISTS {table} (x)")
            db.close()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"the input {dest}\n")
        self.made[dest] = path
        return path

    def text(self, dest: str, path: Path | str) -> str:
        """The option's text for a path (``LABEL=FILE`` options take the path after a name)."""
        inp = self.role(dest, Input)
        return f"lab={path}" if inp is not None and inp.part == 1 else str(path)

    def value_for(self, action: argparse.Action) -> str:
        dest = action.dest
        inp, name = self.role(dest, Input), self.role(dest, Name)
        if inp is not None:
            return self.text(dest, self.make_input(dest, inp))
        if self.role(dest, Output) is not None:
            return str(self.root / "out" / f"{dest}.csv")
        if self.role(dest, OutputFolder) is not None:
            return str(self.root / "out" / dest)
        if name is not None:
            return "name1"
        if action.choices is not None:
            return str(next(iter(action.choices)))
        if action.type in (int, float):
            return "1"
        if self.role(dest, Value) is not None:
            return {"name": "cms"}.get(dest, "x")
        raise AssertionError(f"{self.command}: no value for {dest}")

    def argv(self, **extra: list[str]) -> list[str]:
        values = {**self.values, **extra}
        words = self.command.split()
        for action in _options(self.parser):
            if action.dest not in values:
                continue
            vals = values[action.dest]
            if not action.option_strings:
                words += vals
            elif action.nargs == 0:
                words.append(action.option_strings[0])
            elif isinstance(action, argparse._AppendAction):
                for v in vals:
                    words += [action.option_strings[0], v]
            else:
                words += [action.option_strings[0], *vals]
        return words

    def flag(self, dest: str) -> str:
        action = next(a for a in self.parser._actions if a.dest == dest)
        return next((o for o in action.option_strings if o.startswith("--")), "") or "output"


@pytest.fixture()
def sentinel(monkeypatch):
    """Every command replaced by a recorder: the rules run in main, before it."""
    calls: list[argparse.Namespace] = []
    parser = build_parser()
    for sub in cli_commands(parser).values():
        sub.set_defaults(func=lambda args: calls.append(args) or 0)
    monkeypatch.setattr(eventcnn.cli, "build_parser", lambda *_a: parser)
    monkeypatch.delenv("EVENTCNN_DEBUG", raising=False)
    return calls


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _refused(capsys, calls, argv: list[str], *needles: str) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and " error: " in err, (argv, rc, err)
    assert "internal error" not in err, err
    for needle in needles:
        assert needle in err, (argv, err)
    assert not calls, f"{argv}: the command ran; the rule must refuse before"
    return err


def _pairs(kinds: tuple[type, ...]) -> list[tuple[str, str]]:
    return [(c, dest) for c, p in sorted(COMMANDS.items()) for dest, rs in roles_of(p).items()
            if any(isinstance(r, kinds) for r in rs)]


def test_every_baseline_command_line_passes_the_rules(tmp_path, monkeypatch, capsys, sentinel):
    """The command lines these tests build are valid (so each refusal below is the rule's)."""
    for command in sorted(COMMANDS):
        root = tmp_path / command.replace(" ", "_")
        root.mkdir()
        monkeypatch.chdir(root)
        world = World(command, root)
        assert main(world.argv()) == 0, (command, capsys.readouterr().err)
        assert len(sentinel) == 1, command
        sentinel.clear()


INPUTS = _pairs((Input,))
#: (command, output) for each output of a command that also reads an input
WRITERS = [(c, d) for c, d in _pairs((Output, OutputFolder, Update)) if any((c, i) in INPUTS for i in roles_of(
    COMMANDS[c]) if i != d)]


# ---------------------------------------------------------------------------- (a) outputs never destroy inputs


@pytest.mark.parametrize("command, out", WRITERS, ids=[f"{c}:{d}" for c, d in WRITERS])
def test_an_output_onto_or_into_an_input_is_refused(tmp_path, monkeypatch, capsys, sentinel, command, out):
    monkeypatch.chdir(tmp_path)
    checked = 0
    for inp_dest, roles in roles_of(COMMANDS[command]).items():
        inp = next((r for r in roles if isinstance(r, Input)), None)
        if inp is None or inp_dest == out:
            continue
        for folder in [f for f in (False, True) if (inp.folder if f else inp.file)]:
            root = tmp_path / f"{inp_dest}-{folder}"
            root.mkdir()
            world = World(command, root)
            path = world.make_input(inp_dest, inp, folder=folder)
            before = _snapshot(root / "in")
            extra = {inp_dest: [world.text(inp_dest, path)]}
            # the output is the input itself, and (a folder input) a path inside it; a folder that takes
            # new outputs (export RUN -> RUN/model.onnx) keeps every file it holds
            inside = path / "inside.txt" if inp.outputs_inside else path / "sub" / "x.csv"
            targets = [path] + ([inside] if folder else [])
            writer = world.role(out, Input)  # a file updated in place is an output too
            for target in targets:
                if writer is not None and (target != path or not (writer.folder if folder else writer.file)):
                    continue  # an updated file inside an input folder is not refused (it is an input too)
                extra[out] = [world.text(out, target)]
                _refused(capsys, sentinel, world.argv(**extra), str(path))
                checked += 1
            assert _snapshot(root / "in") == before, f"{command}: an input changed"
            if folder and inp.outputs_inside:  # and a new file in it is fine
                extra[out] = [world.text(out, path / "new.onnx")]
                assert main(world.argv(**extra)) == 0, capsys.readouterr().err
                sentinel.clear()
    assert checked


@pytest.mark.parametrize("command", sorted(c for c, p in COMMANDS.items()
                                           if sum(1 for rs in roles_of(p).values()
                                                  if any(isinstance(r, (Output, OutputFolder)) for r in rs)) >= 2))
def test_two_outputs_never_share_a_path(tmp_path, monkeypatch, capsys, sentinel, command):
    monkeypatch.chdir(tmp_path)
    world = World(command, tmp_path)
    outs = [d for d, rs in world.roles.items() if any(isinstance(r, (Output, OutputFolder)) for r in rs)]
    for a, b in zip(outs, outs[1:]):
        same = tmp_path / "same"
        err = _refused(capsys, sentinel, world.argv(**{a: [str(same)], b: [str(same)]}), str(same))
        assert world.flag(a) in err or world.flag(b) in err, err


# ---------------------------------------------------------------------------- (b) names stay inside the output folder

NAMES = _pairs((Name,))
BAD_NAMES = ["../../x", "a/b", "..", ".", "", "/abs/x", "a\\b", "c:x", "x\ty", "NUL"]


@pytest.mark.parametrize("command, dest", NAMES, ids=[f"{c}:{d}" for c, d in NAMES])
def test_a_name_never_becomes_a_path_outside_the_output_folder(tmp_path, monkeypatch, capsys, sentinel, command, dest):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    world = World(command, deep)
    name = world.role(dest, Name)
    for bad in BAD_NAMES:
        value = f"{bad}=" + str(world.make_input(dest, world.role(dest, Input))) if name.part == 0 else bad
        if name.after:
            value = f"x.json{name.after}{bad}"
        _refused(capsys, sentinel, world.argv(**{dest: [value]}), world.flag(dest))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # nothing written above


def test_the_issue_cases_of_names(tmp_path, monkeypatch, capsys, sentinel):
    """`opal pretrain --out pt0 --name ../../x` (and `opal simulate --name`, which escaped) are refused."""
    monkeypatch.chdir(tmp_path)
    _refused(capsys, sentinel, ["opal", "pretrain", "--out", "pt0", "--name", "../../x"], "--name", "../../x")
    _refused(capsys, sentinel, ["opal", "simulate", "--events", "8", "--out", "s", "--name", "../../y"], "--name")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- (c) replaced only with --overwrite

OUTPUTS = _pairs((Output,))


@pytest.mark.parametrize("command, dest", OUTPUTS, ids=[f"{c}:{d}" for c, d in OUTPUTS])
def test_an_existing_output_file_is_replaced_only_with_overwrite(tmp_path, monkeypatch, capsys, sentinel, command,
                                                                  dest):
    monkeypatch.chdir(tmp_path)
    world = World(command, tmp_path)
    old = tmp_path / "old" / "result.md"
    old.parent.mkdir()
    old.write_text("yesterday's result")
    _refused(capsys, sentinel, world.argv(**{dest: [str(old)]}), str(old), "--overwrite")
    assert old.read_text() == "yesterday's result"
    assert main(world.argv(**{dest: [str(old)], "overwrite": []})) == 0, capsys.readouterr().err
    assert len(sentinel) == 1


REPLACING = [(c, d) for c, d in _pairs((OutputFolder,))
             if any(isinstance(r, OutputFolder) and r.replaces for r in roles_of(COMMANDS[c])[d])]


@pytest.mark.parametrize("command, dest", REPLACING, ids=[f"{c}:{d}" for c, d in REPLACING])
def test_files_an_output_folder_replaces_need_overwrite(tmp_path, monkeypatch, capsys, sentinel, command, dest):
    monkeypatch.chdir(tmp_path)
    world = World(command, tmp_path)
    folder = tmp_path / "done"
    args = world.parser.parse_args(world.argv(**{dest: [str(folder)]})[len(command.split()):])
    role = world.role(dest, OutputFolder)
    names = list(role.replaces(args) if callable(role.replaces) else [n.format(**vars(args)) for n in role.replaces])
    assert names, f"{command} {dest}: replaces nothing for {args}"
    folder.mkdir()
    for n in names:
        (folder / n).write_text("earlier output")
    _refused(capsys, sentinel, world.argv(**{dest: [str(folder)]}), "--overwrite", names[0])
    assert all((folder / n).read_text() == "earlier output" for n in names)
    assert main(world.argv(**{dest: [str(folder)], "overwrite": []})) == 0, capsys.readouterr().err


# ---------------------------------------------------------------------------- (e) inputs checked when the command starts


@pytest.mark.parametrize("command, dest", INPUTS, ids=[f"{c}:{d}" for c, d in INPUTS])
def test_a_missing_empty_or_wrong_kind_input_is_one_line_naming_it(tmp_path, monkeypatch, capsys, sentinel, command,
                                                                   dest):
    monkeypatch.chdir(tmp_path)
    world = World(command, tmp_path)
    role = world.role(dest, Input)
    cases: list[tuple[Path, str]] = []
    if not role.missing_ok:
        cases.append((tmp_path / "nowhere" / "gone.dat", "not found"))
    if role.file and not role.empty_ok:
        empty = tmp_path / "empty.dat"
        empty.write_bytes(b"")
        cases.append((empty, "is empty"))
    if not role.folder:
        (tmp_path / "a_folder").mkdir(exist_ok=True)
        cases.append((tmp_path / "a_folder", "is a folder"))
    if not role.file:
        (tmp_path / "a_file.zip").write_text("x")
        cases.append((tmp_path / "a_file.zip", "is a file, not a"))
    for path, words in cases:
        err = _refused(capsys, sentinel, world.argv(**{dest: [world.text(dest, path)]}), str(path), words)
        assert "give " in err, err  # and what to give instead
    if role.missing_ok:  # created (a label file that grows) or read as empty
        assert main(world.argv(**{dest: [world.text(dest, tmp_path / "new" / "made.dat")]})) == 0


UPDATES = _pairs((Update,))


@pytest.mark.parametrize("command, dest", UPDATES, ids=[f"{c}:{d}" for c, d in UPDATES])
def test_an_input_updated_in_place_that_cannot_be_written_is_refused(tmp_path, monkeypatch, capsys, sentinel, command,
                                                                       dest):
    """A label file, class database or run folder the command writes in place: read-only is said at the start."""
    monkeypatch.chdir(tmp_path)
    world = World(command, tmp_path)
    path = world.make_input(dest, world.role(dest, Input))
    real_access = eventcnn.cli._paths.os.access

    def access(p, mode, *a, **k):  # the tests run as root, who may write anything: the file system says no
        return False if mode & os.W_OK and Path(p) == path else real_access(p, mode, *a, **k)

    monkeypatch.setattr(eventcnn.cli._paths.os, "access", access)
    _refused(capsys, sentinel, world.argv(**{dest: [world.text(dest, path)]}), str(path), "read-only")


ALSO = [(c, d) for c, d in OUTPUTS if any(isinstance(r, Output) and r.also for r in roles_of(COMMANDS[c])[d])]


@pytest.mark.parametrize("command, dest", ALSO, ids=[f"{c}:{d}" for c, d in ALSO])
def test_the_files_written_beside_an_output_are_replaced_only_with_overwrite(tmp_path, monkeypatch, capsys, sentinel,
                                                                             command, dest):
    """``compare --out x.md`` also writes x.csv (and x.json), ``export --out m.onnx`` m.card.json: each is guarded."""
    monkeypatch.chdir(tmp_path)
    world = World(command, tmp_path)
    target = tmp_path / "new" / "result.onnx"
    args = world.parser.parse_args(world.argv(**{dest: [str(target)]})[len(command.split()):])
    role = world.role(dest, Output)
    beside = list(role.also(args, target))
    assert beside, f"{command} {dest}: writes nothing beside {target}"
    for other in beside:
        other.parent.mkdir(parents=True, exist_ok=True)
        other.write_text("earlier output")
        _refused(capsys, sentinel, world.argv(**{dest: [str(target)]}), str(other), "--overwrite")
        assert other.read_text() == "earlier output"
        other.unlink()
