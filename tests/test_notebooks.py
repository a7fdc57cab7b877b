"""Every notebook runs top to bottom, headless, in quick mode (EVENTCNN_QUICK=1).

The notebooks share one working folder, in their numbered order, as a user
would run them. They take the real data from ../shared/data as a mirror.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import ROOT, SHARED_DATA

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path: Path, workdir: Path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if not SHARED_DATA.exists():
        pytest.skip(f"notebooks need the development data at {SHARED_DATA} as a mirror")
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") for c in code), f"{path.name} is committed with outputs"
    assert "parameters" in code[1].metadata.get("tags", []), "second code cell must be the parameters cell"
    for key, value in {
        "EVENTCNN_QUICK": "1",
        "EVENTCNN_DEMO_LABELS": "1",  # notebook 04: no one labels in CI; reference labels, marked
        "EVENTCNN_WORKDIR": str(workdir),
        "EVENTCNN_DATA_MIRROR": str(SHARED_DATA),
        "EVENTCNN_CACHE": str(workdir / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as a user has it
    before = sorted(os.listdir(ROOT))
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert sorted(os.listdir(ROOT)) == before, "the notebook wrote into the repository root (use WORKDIR)"
    text = "\n".join(o.get("text", "") for c in code for o in c.get("outputs", []) if o.get("output_type") == "stream")
    for noise in ("cuInit", "cudart_stub", "absl::InitializeLog", "Warning:", "nan%"):
        assert noise not in text, f"{path.name}: {noise!r} in the output:\n{text[-2000:]}"
    for cell in code:  # every figure shown with plt.show() reaches the notebook (no backend switched off)
        if "plt.show()" in cell.source or "helpers.plot_overview(" in cell.source or "helpers.show_examples(" in cell.source:
            images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            assert images, f"{path.name}: no figure shown by cell:\n{cell.source[:300]}"
    assert os.listdir(workdir)


def test_setup_cell_never_clones_when_eventcnn_is_importable(tmp_path, monkeypatch):
    """Run outside the checkout with eventcnn importable: no `git clone`, the checkout is found."""
    import subprocess

    from tools.notebook_template import INSTALL_CELL

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(INSTALL_CELL, "setup-cell", "exec"), scope)  # noqa: S102 - our own notebook cell
    assert calls == []
    assert (scope["ROOT"] / "helpers.py").is_file() and scope["ROOT"] == ROOT
    assert not (tmp_path / "eventcnn").exists()


def test_notebook_04_never_shows_the_true_class_counts_before_the_reveal():
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "04_opal_cnn.ipynb", as_version=4)
    reveal = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Teacher's reveal"))
    before = "\n".join(c.source for c in nb.cells[:reveal] if c.cell_type == "code")
    assert "counts()" not in before and "data.labels[rest])" not in before
    assert "data.counts()" in "\n".join(c.source for c in nb.cells[reveal:])


@pytest.mark.parametrize("tool", sorted(p.stem for p in (ROOT / "tools").glob("make_nb*.py")))
def test_the_notebook_tools_make_the_notebooks_in_git(tool: str, tmp_path: Path, monkeypatch) -> None:
    """tools/make_nbXX.py writes each notebook: a cell edited by hand in the notebook alone would be lost at the
    next rebuild. The cells' sources must be what the tool makes (cell ids and outputs aside)."""
    import importlib

    from tools import notebook_template

    made: list[tuple[Path, Path]] = []

    def build(path, *args, **kwargs):
        out = notebook_template.build_notebook(tmp_path / Path(path).name, *args, **kwargs)
        made.append((ROOT / path, out))
        return out

    module = importlib.import_module(f"tools.{tool}")
    monkeypatch.setattr(module, "build_notebook", build)
    module.main()
    assert made
    for committed, rebuilt in made:
        sources = [["".join(c["source"]) for c in json.loads(p.read_text(encoding="utf-8"))["cells"]]
                   for p in (committed, rebuilt)]
        assert sources[0] == sources[1], f"{committed.name}: differs from what tools/{tool}.py makes"
