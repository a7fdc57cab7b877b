"""One name per concept across the API: progress output is switched off by ``quiet: bool``.

``progress=`` and ``verbose=`` are old names; they may only live on as hidden,
deprecated aliases (:func:`eventcnn._env.renamed_quiet`), never in a signature.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

import eventcnn
from eventcnn._deprecated import renamed_quiet

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
    from eventcnn import data, generate, nanoaod, opendata, render
    from eventcnn.opal import displays

    for func in (render.render_to_dir, data.fetch, opendata.fetch_nano, generate.generate,
                 generate.generate_to_file, nanoaod.iter_events, nanoaod.read_nanoaod,
                 nanoaod.read_selected, displays.load_displays):
        param = inspect.signature(func).parameters["quiet"]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, func.__name__


def test_renamed_quiet_maps_warns_and_refuses_both():
    @renamed_quiet("progress")
    def work(n, *, quiet=False):
        return quiet

    assert work(1) is False and work(1, quiet=True) is True
    with pytest.warns(DeprecationWarning, match=r"work\(progress=...\) is deprecated; use quiet=True"):
        assert work(1, progress=False) is True
    with pytest.warns(DeprecationWarning):
        assert work(1, progress=True) is False
    with pytest.raises(TypeError, match="quiet= only"):
        work(1, quiet=True, progress=False)
    with pytest.raises(TypeError):
        work(1, loud=True)  # other unknown keywords still fail
    assert "progress" not in inspect.signature(work).parameters


def test_old_keywords_still_work_on_the_public_functions(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from eventcnn.generate import generate
    from eventcnn.opal import load_displays

    monkeypatch.delenv("EVENTCNN_QUIET", raising=False)
    for i in range(2):
        Image.new("RGB", (20, 20), (i, 0, 0)).save(tmp_path / f"event{i}.png")
    with pytest.warns(DeprecationWarning, match=r"load_displays\(verbose=...\)"):
        data = load_displays(tmp_path, size=8, verbose=False)
    assert len(data.images) == 2 and capsys.readouterr().out == ""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        load_displays(tmp_path, size=8)
    assert "loaded 2 displays" in capsys.readouterr().out
    with pytest.raises(TypeError, match="quiet= only"):
        generate("dy", 1, progress=False, quiet=True)  # refused before any event is generated


def test_generate_to_records_is_a_deprecated_alias_of_reco_records():
    import eventcnn.events
    import eventcnn.generate as gen

    assert "to_records" not in gen.__all__ and "reco_records" in gen.__all__
    with pytest.warns(DeprecationWarning, match="use eventcnn.generate.reco_records"):
        assert gen.to_records is gen.reco_records
    assert eventcnn.events.to_records is not gen.reco_records  # the other concept keeps its name
    with pytest.raises(AttributeError):
        gen.no_such_name  # noqa: B018


def test_run_plot_history_is_plot_run_history():
    import eventcnn.metrics
    import eventcnn.runs
    import eventcnn.train

    assert "plot_history" not in eventcnn.runs.__all__ and "plot_run_history" in eventcnn.runs.__all__
    for module in (eventcnn.runs, eventcnn.train):
        with pytest.warns(DeprecationWarning, match="use eventcnn.runs.plot_run_history"):
            assert module.plot_history is eventcnn.runs.plot_run_history
    assert eventcnn.metrics.plot_history is not eventcnn.runs.plot_run_history  # Keras history dict


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
    for env, flag, quiet in (("0", [], False), ("0", ["-q"], True), ("1", [], True)):
        seen.clear()
        monkeypatch.setenv("EVENTCNN_QUIET", env)
        assert cli.main(["render", "x.json", "--out", str(tmp_path), *flag]) == 0
        assert seen["quiet"] is quiet
