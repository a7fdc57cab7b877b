"""EVENTCNN_QUIET is parsed in one place (eventcnn._env) and means the same everywhere."""

from __future__ import annotations

import pytest

from eventcnn._env import quiet_from_env


@pytest.mark.parametrize("value, quiet", [(None, False), ("", False), ("0", False), ("false", False),
                                          ("No", False), ("off", False), ("1", True), ("true", True),
                                          ("YES", True)])
def test_quiet_from_env(monkeypatch, value, quiet):
    if value is None:
        monkeypatch.delenv("EVENTCNN_QUIET", raising=False)
    else:
        monkeypatch.setenv("EVENTCNN_QUIET", value)
    assert quiet_from_env() is quiet


def test_no_module_parses_eventcnn_quiet_itself():
    from conftest import ROOT

    offenders = [p.relative_to(ROOT).as_posix() for p in (ROOT / "eventcnn").rglob("*.py")
                 if p.name != "_env.py" and 'environ.get("EVENTCNN_QUIET"' in p.read_text()]
    assert not offenders


def test_sayer_prints_unless_quiet(capsys):
    from eventcnn._env import sayer

    sayer(False)("to stdout")
    sayer(False, stderr=True)("to stderr")
    sayer(True)("never")
    sayer(True, stderr=True)("never")
    out, err = capsys.readouterr()
    assert out == "to stdout\n" and err == "to stderr\n"
