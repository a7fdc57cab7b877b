"""Every input of every command, empty or damaged: one line naming it, exit code 1 (issue 33 item 4 d, e).

The test walks the parser: for each option declared an input (``eventcnn.cli._paths.Input``),
it runs the real command with the other inputs valid and this one replaced by each damaged
or empty variant of its kind (a zip without displays, a truncated shard, a run folder
without its model, a label file of nonsense, ...). The command must end with exit code 1
and one error line that names the file: never "internal error" (exit 3), never exit 0
having done nothing. Training, event generation and the class server are replaced by
stubs that fail the test if a damaged input ever gets that far.
"""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_commands, make_class_displays

from eventcnn.cli import main
from eventcnn.cli._paths import Input, Update, roles_of

COMMANDS = cli_commands()

#: input kinds whose content is not checked by eventcnn (a folder the data registry reads by file name)
UNCHECKED = {"": "a folder or file whose kind is told by its content (evaluate --data: the run's kind decides)",
             "folder": "a folder whose files are looked up by name (data fetch --mirror, data list --out)"}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _damaged(kind: str, where: Path, world: dict[str, Path]) -> list[Path]:
    """Damaged or empty inputs of ``kind`` (each a new file or folder under ``where``)."""
    where.mkdir(parents=True, exist_ok=True)
    png = (world["image"]).read_bytes()
    broken_png = png[: len(png) // 3]
    out: list[Path] = []
    if kind == "displays":
        out += [_zip(where / "empty.zip", {}), _zip(where / "text.zip", {"readme.txt": b"no displays here"}),
                _zip(where / "broken.zip", {"a.png": broken_png, "b.png": b"GIF89a"})]
        (where / "truncated.zip").write_bytes(world["displays"].read_bytes()[:300])
        (where / "no_images").mkdir()
        (where / "no_images" / "notes.txt").write_text("x")
        out += [where / "truncated.zip", where / "no_images"]
    elif kind == "labels":
        (where / "nonsense.csv").write_text("hello world\nthis is no label file\n")
        (where / "binary.csv").write_bytes(bytes(range(256)) * 4)
        (where / "wrong_class.csv").write_text("a.png;x\n")
        out += [where / "nonsense.csv", where / "binary.csv", where / "wrong_class.csv"]
    elif kind == "events":
        text = world["events"].read_text()
        (where / "truncated.json").write_text(text[: len(text) // 2])
        (where / "no_events.json").write_text('{"Event": {}}')
        (where / "other.json").write_text('{"something": "else"}')
        (where / "garbage.root").write_bytes(b"root" * 100)
        out += [where / n for n in ("truncated.json", "no_events.json", "other.json", "garbage.root")]
    elif kind == "images":
        (where / "empty").mkdir()
        (where / "broken" / "a").mkdir(parents=True)
        (where / "broken" / "a" / "x.png").write_bytes(broken_png)
        (where / "broken" / "b").mkdir()
        (where / "broken" / "b" / "y.png").write_bytes(broken_png)
        sh = where / "shards"
        sh.mkdir()
        (sh / "shards.csv").write_text("event,class,source,entry,shard,row\n1,a,x,0,0,0\n2,b,x,1,0,1\n")
        np.save(sh / "shard-00000.npy", np.zeros((2, 16, 16, 3), np.uint8))
        with open(sh / "shard-00000.npy", "r+b") as fh:
            fh.truncate(200)
        out += [where / "empty", where / "broken", sh]
    elif kind == "inputs":
        (where / "empty").mkdir()
        (where / "broken.png").write_bytes(broken_png)
        text = world["events"].read_text()
        (where / "truncated.json").write_text(text[: len(text) // 2])
        out += [where / "empty", where / "broken.png", where / "truncated.json"]
    elif kind == "image":
        (where / "broken.png").write_bytes(broken_png)
        (where / "text.png").write_text("not an image")
        out += [where / "broken.png", where / "text.png"]
    elif kind == "run":
        (where / "no_config").mkdir()
        (where / "no_config" / "best.keras").write_bytes(b"PK")
        (where / "bad_config").mkdir()
        (where / "bad_config" / "config.json").write_text("{not json")
        bad_model = where / "bad_model"
        bad_model.mkdir()
        (bad_model / "config.json").write_text((world["run"] / "config.json").read_text())
        (bad_model / "best.keras").write_bytes(b"PK\x03\x04 half a model")
        out += [where / "no_config", where / "bad_config", bad_model]
    elif kind == "json":
        (where / "garbage.json").write_text("{not json")
        (where / "list.json").write_text("[1, 2, 3]")
        out += [where / "garbage.json", where / "list.json"]
    elif kind == "weights":
        (where / "garbage.weights.h5").write_bytes(b"\x89HDF" + b"x" * 100)
        out += [where / "garbage.weights.h5"]
    elif kind == "onnx":
        (where / "garbage.onnx").write_bytes(b"\x08\x07" + b"not a model" * 20)
        (where / "model.onnx").write_bytes((world["run"] / "config.json").read_bytes())  # a text file renamed
        out += [where / "garbage.onnx", where / "model.onnx"]
    elif kind == "db":
        (where / "garbage.sqlite").write_bytes(b"not a database at all" * 10)
        other = where / "other.sqlite"
        with sqlite3.connect(other) as con:
            con.execute("CREATE TABLE notes (x)")
        out += [where / "garbage.sqlite", other]
    else:
        raise AssertionError(f"no damaged inputs of kind {kind!r}: add them to this test")
    return out


@pytest.fixture(scope="module")
def world(cms_run, tmp_path_factory) -> dict[str, Path]:
    """Valid inputs of every kind: a CMS run and its images and events, OPAL displays, labels and a model."""
    from eventcnn.learn.models import build_model

    root = tmp_path_factory.mktemp("world")
    displays, classes = make_class_displays(root, n=16, size=64)
    labels = root / "labels.csv"
    labels.write_text("".join(f"{name}.png;{code}\n" for name, code in list(classes.items())[:8]))
    model = build_model("masterclass", input_shape=(64, 64, 3), weights=None, augmentation=False)
    model.save(root / "opal.keras")
    (root / "selection.json").write_text("null")
    from eventcnn.opal.web.store import ClassStore

    ClassStore(root / "class.sqlite").close()  # a class database as `class serve` makes it
    image = next((cms_run / "images" / "tt").glob("*.png"))
    return {"displays": displays, "labels": labels, "opal run": root / "opal.keras", "run": cms_run / "run",
            "images": cms_run / "images", "inputs": cms_run / "images" / "tt", "events": cms_run / "tt.json",
            "image": image, "json": root / "selection.json", "db": root / "class.sqlite", "root": root}


#: valid options a command needs besides its inputs (so that the damaged input is what fails)
EXTRA = {
    "pretrain": lambda w, t: ["--processes", "--inputs", f"w={w['events']}", "--inputs", f"t={w['events']}",
                              "--size", "32", "--epochs", "1"],
    "opal train": lambda w, t: ["--epochs", "1", "--weights", "none"],
    "opal label": lambda w, t: ["--window", "no", "--n", "1", "--labels", str(t / "mine.csv")],
    "opal predict": lambda w, t: ["--no-tta"],
    "class serve": lambda w, t: ["--port", "8765"],
}
#: the valid input of a (command, option) whose kind alone does not say it
VALID = {("opal predict", "run"): "opal run", ("train", "split"): None, ("predict", "selection"): None}


def _valid(command: str, dest: str, role: Input, world: dict[str, Path], tmp: Path) -> str | None:
    key = VALID.get((command, dest), role.kind)
    if isinstance(role, Update):
        return str(tmp / f"new_{dest}.dat")  # created by the command
    if key is None or key not in world:
        return None
    return (f"lab={world[key]}" if role.part == 1 else str(world[key]))


CASES = [(c, d) for c, p in sorted(COMMANDS.items()) for d, rs in roles_of(p).items()
         for r in rs if isinstance(r, Input) and not isinstance(r, Update) and r.kind not in UNCHECKED]


def test_every_input_kind_is_known():
    kinds = {r.kind for p in COMMANDS.values() for rs in roles_of(p).values() for r in rs if isinstance(r, Input)}
    known = {"displays", "labels", "events", "images", "inputs", "image", "run", "json", "weights", "db", "onnx"}
    assert kinds <= known | set(UNCHECKED), f"input kinds this test cannot damage: {kinds - known - set(UNCHECKED)}"
    assert len(CASES) >= 25


@pytest.fixture()
def stubs(monkeypatch):
    """Training, event generation and serving fail the test if a damaged input ever reaches them."""
    import eventcnn.learn.loop as loop
    import eventcnn.learn.pretrain as pretrain

    def reached(*_a, **_k):
        raise AssertionError("a damaged input reached the work: it must be refused before")

    monkeypatch.setattr(loop, "fit_phase", reached)
    monkeypatch.setattr(pretrain, "generate_to_file", reached)
    try:
        import uvicorn

        monkeypatch.setattr(uvicorn.Server, "run", reached)
    except ImportError:
        pass
    monkeypatch.setattr("builtins.input", reached)
    monkeypatch.delenv("EVENTCNN_DEBUG", raising=False)


#: damaged variants a command does not read, with the reason
NOT_READ = {("compare", "bad_model"): "compare reads a run's config.json and history.json, not its model"}


def _argv(command: str, dest: str, bad: str, world: dict[str, Path], tmp: Path) -> list[str]:
    """The command line: ``bad`` for ``dest``, valid inputs and fresh outputs for every other option it needs."""
    parser = COMMANDS[command]
    roles = roles_of(parser)
    argv = command.split()
    for action in parser._actions:
        role = next((r for r in roles.get(action.dest, ()) if isinstance(r, Input)), None)
        defaulted = role is not None and action.default not in (None, [], False) and str(
            action.default).lower() not in role.word_set()  # train --data CreatedImages
        if action.dest != dest and not (action.required or not action.option_strings or defaulted):
            continue
        if action.dest == dest:
            value = bad
        else:
            value = _valid(command, action.dest, role, world, tmp) if role else None
            if value is None:
                value = str(tmp / f"out_{action.dest}.json")  # an output (file or folder) not there yet
        argv += [value] if not action.option_strings else [action.option_strings[0], value]
    extra = EXTRA.get(command, lambda _w, _t: [])(world, tmp)
    flag = f"--{dest.replace('_', '-')}"
    if flag in extra:  # the option under test is not set twice (the last would win)
        k = extra.index(flag)
        extra = extra[:k] + extra[k + 2:]
    return argv + extra


@pytest.mark.parametrize("command, dest", CASES, ids=[f"{c}:{d}" for c, d in CASES])
def test_a_damaged_or_empty_input_is_one_line_naming_it(world, stubs, tmp_path, monkeypatch, capsys, command, dest):
    role = next(r for r in roles_of(COMMANDS[command])[dest] if isinstance(r, Input))
    failures = []
    for k, bad in enumerate(_damaged(role.kind, tmp_path / "bad", world)):
        if (command, bad.name) in NOT_READ:
            continue
        run = tmp_path / f"run{k}"  # fresh outputs for every variant
        run.mkdir()
        monkeypatch.chdir(run)
        rc = main(_argv(command, dest, f"lab={bad}" if role.part == 1 else str(bad), world, run))
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if f"eventcnn {command}: " in line and "warning:" not in line]
        named = bool(lines) and (str(bad) in lines[-1] or bad.name in lines[-1])
        if rc != 1 or len(lines) != 1 or "internal error" in err or not named:
            failures.append(f"{bad.name}: exit {rc}: {err.strip()[-400:]}")
    assert not failures, f"eventcnn {command} {dest}:\n" + "\n".join(failures)
