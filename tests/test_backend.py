"""Library code never chooses the matplotlib backend: only entry points (CLI, bench, tools) do.

A notebook's inline backend must survive a plot-writing call, or a later
``plt.show()`` draws nothing (the OPAL overview of notebook 04 once vanished so).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

from conftest import ROOT

ENTRY_POINTS = ("eventcnn/cli/", "eventcnn/__main__.py")


def test_no_matplotlib_use_in_library_code():
    offenders = []
    for path in sorted((ROOT / "eventcnn").rglob("*.py")) + [ROOT / "helpers.py"]:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ENTRY_POINTS):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"use", "switch_backend"}
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in {"matplotlib", "plt"}):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, f"only entry points may choose a matplotlib backend: {offenders}"


def test_plot_writers_keep_the_callers_backend(tmp_path):
    """plot_history, confusion matrix, run comparison and the OPAL overview leave a non-Agg backend in place."""
    script = textwrap.dedent(f"""
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from eventcnn.learn import metrics
        from eventcnn.learn import comparison
        import helpers
        out = Path({str(tmp_path)!r})
        metrics.plot_history({{"loss": [0.7, 0.5], "val_loss": [0.6, 0.55]}}, out / "h.png")
        metrics.plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], out / "cm.png")
        comparison._plot([{{"run": "r", "test_accuracy": {{"value": 0.5, "ci95": [0.4, 0.6]}}, "auc": 0.6}}],
                         out / "c.png")
        helpers.plot_overview(["q", "q", "e", "m", "t"], ["q", "e", "e", "m", "t"])
        assert (out / "h.png").stat().st_size > 0 and (out / "c.png").stat().st_size > 0
        print("BACKEND", matplotlib.get_backend())
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    import os
    env = {**os.environ, **env}
    env.pop("MPLBACKEND", None)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "BACKEND svg" in res.stdout, res.stdout
