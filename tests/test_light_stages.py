"""The light stages (render, on-disk augment, generate, data) run with Keras and TensorFlow blocked.

A ``sys.meta_path`` finder makes every import of keras / tensorflow / jax /
torch fail, as on a machine without them; the commands must still work.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

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
