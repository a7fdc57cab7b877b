"""Every command the documentation quotes exists, with the flags it uses (issue 33 item 6).

Lines of fenced code blocks in README.md and docs/*.md that start with ``eventcnn``
(also ``$ eventcnn`` and notebook ``!eventcnn``; ``\\`` continues a line) are read
word by word: the command and sub-command must be in the parser, and every option
(``--flag``, ``-q``) must be one of that command's. Placeholders (``ZIP``, ``...``,
``[--x A|B]``) are fine; a renamed or removed command or flag fails here.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from eventcnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_START = re.compile(r"^\s*(?:\$\s+|!)?eventcnn(\s|$)")


def documented_commands(path: Path) -> list[tuple[int, str]]:
    """``(line number, command)`` of every ``eventcnn ...`` line inside fenced code blocks of ``path``."""
    out: list[tuple[int, str]] = []
    fenced = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            pending = None
            continue
        if not fenced:
            continue
        if pending is not None:
            start, text = pending
            text += " " + line.strip()
        elif _START.match(line):
            start, text = number, line.strip()
        else:
            continue
        if text.endswith("\\"):
            pending = (start, text[:-1])
            continue
        pending = None
        for part in _statements(text):
            out.append((start, part))
    return out


def _statements(text: str) -> list[str]:
    """The eventcnn commands of one line: comments cut, ``;`` / ``&&`` split, leading ``$``/``!`` dropped."""
    text = re.sub(r"\s#.*$", "", text)
    parts = re.split(r"\s*(?:;|&&|\|\|)\s*", text)
    return [" ".join(re.sub(r"^\s*(?:\$\s+|!)", "", p).split()) for p in parts if _START.match(p)]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def check_command(text: str, parser: argparse.ArgumentParser) -> str | None:
    """Why ``text`` is not a command of ``parser`` (None when it is)."""
    try:
        words = shlex.split(text, comments=False)
    except ValueError:
        words = text.split()
    words = [w.strip("[]()") for w in words[1:] if w.strip("[]()")]
    top_flags = {o for a in parser._actions for o in a.option_strings}
    while words and words[0] in top_flags:
        words.pop(0)
    leaf, used = parser, []
    while (subs := _subparsers(leaf)) and words and not words[0].startswith("-"):
        name = words.pop(0)
        if name not in subs:
            return f"no command {' '.join([*used, name])!r}"
        leaf, used = subs[name], [*used, name]
    if leaf is parser:
        return None if not words or words[0].startswith("-") else f"no command {words[0]!r}"
    options = {o for a in leaf._actions for o in a.option_strings} | top_flags
    for word in words:
        for alternative in word.split("|"):
            flag = alternative.split("=", 1)[0]
            if re.fullmatch(r"--?[A-Za-z][\w-]*", flag) and flag not in options:
                return f"eventcnn {' '.join(used)} has no option {flag}"
    return None


def test_the_reader_finds_commands_and_continuations(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("eventcnn train outside a block\n```\n$ eventcnn render a.json \\\n    --size 32  # comment\n"
                   "python -c 'x'\n!eventcnn opal train --data Z; eventcnn evaluate runs/x\n```\n")
    assert documented_commands(doc) == [(3, "eventcnn render a.json --size 32"),
                                        (6, "eventcnn opal train --data Z"), (6, "eventcnn evaluate runs/x")]
    parser = build_parser()
    assert check_command("eventcnn render a.json --size 32 [--jobs N|--scheduler A]", parser) is None
    assert "no option --image-size" in check_command("eventcnn render a.json --image-size 32", parser)
    assert "no command 'opal trian'" in check_command("eventcnn opal trian --data Z", parser)
    assert "no command 'fit'" in check_command("eventcnn fit x", parser)


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_every_documented_command_exists_with_its_flags(doc):
    parser = build_parser()
    found = documented_commands(doc)
    wrong = [f"{doc.name}:{line}: {why}: {text}" for line, text in found
             if (why := check_command(text, parser)) is not None]
    assert not wrong, "documented commands that the command line does not have:\n" + "\n".join(wrong)


def test_the_docs_quote_many_commands():
    assert sum(len(documented_commands(d)) for d in DOCS) >= 80


def test_the_teachers_guide_says_which_weights_the_masterclass_starts_from():
    """The guide said no OPAL weights ship (and the page "trained from scratch") while training started from them."""
    from eventcnn.learn.weights import DEFAULT_WEIGHTS, available, default_weights

    guide = " ".join((ROOT / "docs" / "opal.md").read_text().split())
    shipped = [e["name"] for e in available() if e["backbone"] == "masterclass"]
    assert shipped and default_weights(200)[0] == DEFAULT_WEIGHTS  # the program: the shipped weights by default
    assert "ships none" not in guide and "no pretrained weights" not in guide.lower()
    assert all(f"`{name}`" in guide for name in shipped)
