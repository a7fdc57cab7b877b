"""Execute the notebooks top to bottom, headless, in order (full mode by default).

    python tools/run_notebooks.py                 # full mode, all notebooks
    python tools/run_notebooks.py --quick         # the CI quick mode
    python tools/run_notebooks.py notebooks/04_opal_cnn.ipynb --workdir /tmp/opal

Executed copies (with outputs) go to ``<workdir>/executed/``; the notebooks in
``notebooks/`` stay without outputs. ``--workdir`` is where CreatedImages/,
runs/ and reports go (default: the repository root, as in Jupyter).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb in order")
    parser.add_argument("--quick", action="store_true", help="tiny settings (EVENTCNN_QUICK=1)")
    parser.add_argument("--workdir", type=Path, default=ROOT)
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    args = parser.parse_args()

    import nbclient
    import nbformat

    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    os.environ["EVENTCNN_WORKDIR"] = str(args.workdir.resolve())
    if args.quick:
        os.environ["EVENTCNN_QUICK"] = "1"
    out_dir = args.workdir / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        print(f"running {path.name} ...", flush=True)
        try:
            nbclient.NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}}).execute()
            status = "ok"
        except nbclient.exceptions.CellExecutionError as exc:
            status = f"FAILED: {str(exc).splitlines()[0] if str(exc) else exc}"
            failed += 1
        nbformat.write(nb, out_dir / path.name)
        print(f"  {status} in {time.perf_counter() - t0:.0f} s -> {out_dir / path.name}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
