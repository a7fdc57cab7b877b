"""One name per concept across the API: progress output is switched off by ``quiet: bool``.

``progress=`` and ``verbose=`` were old names; the package was never released, so
they are gone, with no hidden aliases.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import eventcnn

OLD_NAMES = {"progress", "verbose"}



def public_modules() -> list[str]:
    """Every module of the library API (``eventcnn.cli`` is the command line: its API is the flags)."""
    names = ["eventcnn"]
    for info in pkgutil.walk_packages(eventcnn.__path__, "eventcnn."):
        parts = info.name.split(".")
        if not any(part.startswith("_") for part in parts) and parts[1] != "cli":
            names.append(info.name)
    return sorted(names)


def public_callables() -> list[tuple[str, object]]:
    """``(qualified name, callable)`` for every function, class and public method named in an ``__all__``."""
    out: list[tuple[str, object]] = []
    for mod_name in public_modules():
        module = importlib.import_module(mod_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            qual = f"{mod_name}.{name}"
            if inspect.isclass(obj):
                out.append((qual, obj))
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and callable(member):
                        out.append((f"{qual}.{attr}", member))
            elif callable(obj):
                out.append((qual, obj))
    return out


def test_every_public_module_has_all():
    missing = [m for m in public_modules() if not hasattr(importlib.import_module(m), "__all__")]
    assert not missing, f"modules without __all__: {missing}"


def test_no_public_signature_uses_progress_or_verbose():
    offenders = []
    for qual, obj in public_callables():
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):  # builtins without a signature
            continue
        bad = OLD_NAMES & set(params)
        if bad:
            offenders.append(f"{qual}({', '.join(sorted(bad))})")
    assert not offenders, "use quiet: bool instead of " + "; ".join(offenders)


def test_functions_that_were_renamed_take_quiet():
    from eventcnn.events import generate, nanoaod, opendata
    from eventcnn.events import sources as data
    from eventcnn.images import render
    from eventcnn.opal import displays

    for func in (render.render_to_dir, data.fetch, opendata.file_list, opendata.fetch_record_files, generate.generate,
                 generate.generate_to_file, nanoaod.iter_events, nanoaod.read_nanoaod,
                 displays.load_displays):
        param = inspect.signature(func).parameters["quiet"]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, func.__name__


def test_old_names_are_gone():
    import eventcnn.events.generate as gen
    import eventcnn.learn.runs
    from eventcnn.opal import load_displays

    with pytest.raises(AttributeError):
        gen.to_records  # noqa: B018  (renamed reco_records; no alias in an unreleased package)
    with pytest.raises(AttributeError):
        eventcnn.learn.runs.plot_history  # noqa: B018
    with pytest.raises(TypeError):
        load_displays(".", verbose=False)


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for sub_name, subsub in _subparsers(sub):
                    yield f"{name} {sub_name}", subsub


def test_cli_quiet_is_one_flag_parsed_one_way(monkeypatch, tmp_path):
    from eventcnn import cli
    from eventcnn.cli import render as render_cli

    without_short = []
    for name, sub in _subparsers(cli.build_parser()):
        options = {o for a in sub._actions for o in a.option_strings}
        if "--quiet" in options and "-q" not in options:
            without_short.append(name)
    assert not without_short, without_short

    seen = {}
    monkeypatch.setattr(render_cli, "run", lambda args: seen.setdefault("quiet", args.quiet) and 0)
    (tmp_path / "x.json").write_text("{}")  # an input that is there (the path rules check it first)
    for env, flag, quiet in (("0", [], False), ("0", ["-q"], True), ("1", [], True)):
        seen.clear()
        monkeypatch.setenv("EVENTCNN_QUIET", env)
        assert cli.main(["render", str(tmp_path / "x.json"), "--out", str(tmp_path / "out"), *flag]) == 0
        assert seen["quiet"] is quiet


def _defined_names(package) -> dict[str, set[str]]:
    """``public name -> modules`` of the top-level definitions (def, class, assignment) under ``package``."""
    import ast

    from conftest import ROOT

    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / "eventcnn" / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                if not name.startswith("_"):
                    out.setdefault(name, set()).add(module)
    return out


def test_learn_and_opal_define_no_public_name_twice():
    """One implementation per concept: OPAL re-exports the stack's names, it never defines them again."""
    learn, opal = _defined_names("learn"), _defined_names("opal")
    twice = {name: sorted(learn[name] | opal[name]) for name in set(learn) & set(opal)}
    assert not twice, twice
