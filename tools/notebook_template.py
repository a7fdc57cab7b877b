"""Build notebooks with the project's standard first cells (install/locate + parameters).

Usage from a small script::

    from tools.notebook_template import build_notebook, md, code
    build_notebook("notebooks/03_transfer_learning.ipynb", "Transfer learning",
                   params="EPOCHS = 1 if QUICK else 20", cells=[md("..."), code("...")])

Notebooks are written without outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

INSTALL_CELL = '''\
# Setup. On Colab this clones eventcnn and installs it; locally and in CI it only
# finds the repository root so that `import helpers` works. Safe to re-run.
import importlib.util, os, subprocess, sys
from pathlib import Path

REPO_URL = "https://github.com/eventcnn/eventcnn.git"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no TensorFlow start-up log in the notebook
ROOT = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "helpers.py").exists()), None)
spec = importlib.util.find_spec("eventcnn")
if ROOT is None and spec is not None:  # installed already: never clone, use its checkout
    here = Path(spec.origin).resolve().parent.parent
    ROOT = here if (here / "helpers.py").exists() else Path.cwd()
    if not (ROOT / "helpers.py").exists():
        print(f"eventcnn is installed, but the notebook helpers (helpers.py of the repository) are not "
              f"in {ROOT}: copy helpers.py from {REPO_URL} next to this notebook")
if ROOT is None:  # Colab or a bare Jupyter server: fetch the project next to the notebook
    if not Path("eventcnn").exists():
        subprocess.run(["git", "clone", "-q", "--depth", "1", REPO_URL], check=True)
    ROOT = Path("eventcnn").resolve()
if spec is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[notebooks,augment]"], check=True)
sys.path.insert(0, str(ROOT))
'''

PARAMS_HEADER = '''\
# Parameters (papermill/nbclient may override this cell).
QUICK = os.environ.get("EVENTCNN_QUICK") == "1"  # tiny settings for CI and smoke tests
# CreatedImages/, runs/, plots and reports go here (never into the repository root)
WORKDIR = Path(os.environ.get("EVENTCNN_WORKDIR", ROOT / "notebook_output"))
WORKDIR.mkdir(parents=True, exist_ok=True)
SEED = 42
'''


def md(text: str):
    """A markdown cell."""
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    """A code cell."""
    return new_code_cell(text.strip("\n"))


def build_notebook(path: str | Path, title: str, params: str, cells: list, intro: str = "") -> Path:
    """Write a notebook: title, install cell, parameters cell, then ``cells``."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params_cell = new_code_cell(PARAMS_HEADER + params.strip("\n"))
    params_cell.metadata["tags"] = ["parameters"]
    nb.cells = [md(f"# {title}\n\n{intro}"), code(INSTALL_CELL), params_cell, *cells]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
