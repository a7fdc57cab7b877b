"""eventcnn.names: the one home of class and process names and their words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventcnn import names
from eventcnn.names import (
    CMS_TITLES,
    OPAL_CLASSES,
    PROCESS_ALIASES,
    PROCESS_CHOICES,
    PROCESS_LABELS,
    PROCESSES,
    canonical_process,
    class_words,
)

PACKAGE = Path(names.__file__).parent


def test_process_names_and_aliases():
    assert set(PROCESSES) == {"tt", "wjets", "dy", "zz"}
    assert canonical_process("ttjets") == "tt"
    assert canonical_process(" WJets ") == "wjets"
    assert set(PROCESS_ALIASES.values()) <= set(PROCESSES)
    assert set(PROCESS_LABELS) == set(PROCESSES)
    # every label a process becomes is a name of that process again
    assert all(canonical_process(label) == p for p, label in PROCESS_LABELS.items())
    with pytest.raises(ValueError, match="unknown process 'higgs'.*tt, wjets"):
        canonical_process("higgs")


def test_words():
    assert class_words("ttjets") == "top pair + jets (ttjets)"
    assert class_words("WJets") == "W + jets (WJets)"
    assert class_words("signal") == "signal"
    assert set(CMS_TITLES) >= set(PROCESS_LABELS.values()) | set(PROCESSES)
    assert OPAL_CLASSES == ("q", "e", "m", "t")
    assert set(names.OPAL_WORDS) == set(names.OPAL_TITLES) == set(OPAL_CLASSES)


def test_the_others_use_this_home():
    """The modules that need these names hold the same objects, not copies."""
    from eventcnn.cli import build_parser
    from eventcnn.images import display
    from eventcnn.learn import explain, pretrain
    from eventcnn.opal import displays, pictures

    assert displays.CLASS_NAMES is OPAL_CLASSES and pictures.CLASS_CODES is OPAL_CLASSES
    assert pictures.CLASS_WORDS is names.OPAL_WORDS and displays.CLASS_TITLES is names.OPAL_TITLES
    assert explain.CMS_WORDS is CMS_TITLES and pretrain._LABELS is PROCESS_LABELS
    assert display.class_words is class_words
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["generate"]
    process = next(a for a in sub._actions if a.dest == "process")
    assert tuple(process.choices) == PROCESS_CHOICES


def test_no_second_copy_of_the_class_codes():
    """The OPAL codes and the CMS process words are written only in names.py (the web server is
    another engineer's and is listed in the architecture notes until it imports them)."""
    pattern = re.compile(r"""\(\s*["']q["'],\s*["']e["'],\s*["']m["'],\s*["']t["']\s*\)|"top pair \+ jets""")
    found = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if p.name != "names.py" and "web" not in p.parts and pattern.search(p.read_text())]
    assert not found, f"class names written outside eventcnn/names.py: {found}"
