"""The package's import graph (module-level and function-level imports alike) has no cycle."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "eventcnn"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of eventcnn it imports`` over every ``import`` statement, wherever it stands."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):  # a submodule importing its package is fine
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_detects_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_sees_function_level_imports():
    graph = import_graph()
    assert "eventcnn.learn.models" in graph["eventcnn.learn.train"]  # imported inside train()


def test_package_import_graph_is_acyclic():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_format_dispatch_is_one_way():
    """The format modules import the registry (events.formats), never the reverse: a format is one module + one
    line of events.formats.BUILTIN; read_events dispatches through the registry."""
    graph = import_graph()
    assert "eventcnn.events.formats" in graph["eventcnn.events.read"]
    for fmt in ("eventcnn.events.nanoaod", "eventcnn.events.cms_json"):
        assert "eventcnn.events.formats" in graph[fmt] and fmt not in graph["eventcnn.events.formats"]
    assert "eventcnn.events" not in graph["eventcnn.events.nanoaod"] | graph["eventcnn.events.selection"]
    assert "eventcnn.events.sources" not in graph["eventcnn.events.opendata"] | graph["eventcnn.events.nanoaod"]


def test_training_and_evaluation_do_not_import_each_other_back():
    graph = import_graph()
    assert "eventcnn.learn.evaluate" in graph["eventcnn.learn.train"]
    assert "eventcnn.learn.train" not in graph["eventcnn.learn.evaluate"]
    assert "eventcnn.learn.train" not in graph["eventcnn.learn.runs"] and "eventcnn.learn.evaluate" not in graph["eventcnn.learn.runs"]


def test_public_modules_declare_all():
    """Every public module of the package lists its API in ``__all__``, and each name exists."""
    import importlib

    for path in sorted(PACKAGE.glob("*.py")):
        if path.name.startswith("__"):
            continue
        source = path.read_text()
        assert "\n__all__ = [" in source, f"{path.name} has no __all__"
        if "import keras\n" in source.split("def ", 1)[0]:
            continue  # module-level Keras import: checked by the module's own tests
        module = importlib.import_module(_module_name(path))
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{path.name}: __all__ names missing {missing}"


# ---- (was test_light_stages.py)

BLOCKER = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"keras", "tensorflow", "jax", "torch"}:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, _Blocked())
"""


def _run_blocked(body: str, tmp_path) -> subprocess.CompletedProcess:
    script = BLOCKER + textwrap.dedent(body) + textwrap.dedent("""
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"keras", "tensorflow"})
        assert not heavy, heavy
        print("OK")
    """)
    env = {**os.environ, "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)


def test_blocker_blocks(tmp_path):
    res = _run_blocked("import keras\n", tmp_path)
    assert res.returncode != 0 and "blocked" in res.stderr


def test_render_augment_data_without_keras(tmp_path):
    pytest.importorskip("Augmentor")
    ex = ROOT / "eventcnn" / "events" / "examples"
    res = _run_blocked(f"""
        from pathlib import Path
        from eventcnn.cli import main
        tmp = Path({str(tmp_path)!r})
        assert main(["render", {str(ex / "example_ttjets.json.gz")!r}, {str(ex / "example_wjets.json.gz")!r},
                     "--label", "tt", "--label", "w",
                     "--out", str(tmp / "img"), "--size", "16", "--limit", "4", "-q"]) == 0
        assert main(["augment", str(tmp / "img"), "--out", str(tmp / "aug"), "--samples", "2",
                     "--seed", "1", "--quiet"]) == 0
        assert len(list((tmp / "aug").rglob("*.png"))) == 4
        assert main(["data", "convert", {str(ex / "example_dy.json.gz")!r}, str(tmp / "dy.json")]) == 0
        assert main(["data", "list"]) == 0
        import eventcnn.images.augment as a, eventcnn.images.render, eventcnn.events.sources, eventcnn.images.display, eventcnn.learn.metrics, eventcnn.learn.runs  # noqa
        assert callable(a.augment_folder) and callable(a.physics_augment_numpy)
    """, tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "OK" in res.stdout


@pytest.mark.skipif(importlib.util.find_spec("pythia8mc") is None or importlib.util.find_spec("fastjet") is None,
                    reason="event generation needs pythia8mc and fastjet (pip install eventcnn[generate])")
def test_generate_without_keras(tmp_path):
    res = _run_blocked(f"""
        from eventcnn.cli import main
        assert main(["generate", "dy", "--events", "3", "--seed", "1",
                     "--out", {str(tmp_path / "dy.json")!r}, "--quiet"]) == 0
    """, tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]


def test_imports_sit_at_the_top_with_few_deferred_ones_each_with_a_reason():
    """Outside cli/ at most 15 imports of eventcnn modules inside functions, each saying why."""
    import ast

    deferred = []
    for path in sorted((ROOT / "eventcnn").rglob("*.py")):
        if "cli" in path.parts:
            continue
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if mod and mod.startswith("eventcnn"):
                    stmt = "\n".join(lines[node.lineno - 1: node.end_lineno])
                    deferred.append((f"{path.relative_to(ROOT)}:{node.lineno}", "deferred" in stmt))
    assert len(deferred) <= 15, deferred
    assert all(reason for _, reason in deferred), [where for where, reason in deferred if not reason]
