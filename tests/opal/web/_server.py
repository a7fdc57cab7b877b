"""Start ``eventcnn class serve`` in its own process for a test (shared by the serve and network tests)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def start_class_server(tmp_path: Path, zip_path: Path, port: int, *extra: str, db: str = "c.sqlite",
                       prefix: Sequence[str] = (), path: str = "/usr/bin:/bin") -> tuple[subprocess.Popen, str]:
    """``eventcnn class serve`` (8 displays at 64 px) run under ``prefix`` (e.g. ``ip netns exec NS``);
    returns (process, printed lines) once it prints ``ready``, or fails with what it printed."""
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "eventcnn", "class", "serve", "--data", str(zip_path),
                             "--db", str(tmp_path / db), "--port", str(port), "--n", "8", "--size", "64", *extra],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": path, "EVENTCNN_QUIET": "",
                                 "HOME": str(tmp_path)})
    lines: list[str] = []
    while not any(line.startswith("ready") for line in lines):
        line = proc.stdout.readline()
        if not line:
            proc.wait(10)
            raise AssertionError("".join(lines))
        lines.append(line)
    return proc, "".join(lines)
