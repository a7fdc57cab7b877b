"""`eventcnn class` under a class of 30: vote round trip, start-up time, memory while training.

Starts ``eventcnn class serve`` as its own process (as a teacher would) on the
real OPAL displays and measures, over loopback:

1. **start-up**: from starting the process to the first answer of
   ``/api/health``, for a new class (the displays are chosen by ``opal
   suggest``) and for a restart with the same database; reference: the same
   interpreter running ``eventcnn --version`` (the CLI's own start-up);
2. **vote round trip**: one student alone answers 10 displays (reference), then
   30 students answer at the same time, as fast as they can, ``--rounds``
   times over their displays (later rounds change their answers: same writes);
   p50 / p99 and the ratio to the single student's p50;
3. **memory while training**: the teacher presses "train now" while the 30
   students keep answering (one answer every ``--pace`` s each) and the teacher
   page polls; resident memory (/proc VmRSS, every 0.5 s) of the server and of the
   training process it starts, at their peaks, against the server's memory
   before training, and the round trip during training.

At the end every vote is checked: exactly one per (student, display), none lost.

Run (2-core shared CPU; needs ../shared/data)::

    PYTHONPATH=. python bench/class_load.py --epochs 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "opal" / "centered-masked-rotated1.zip"


def rss(pid: int) -> int:
    """Resident memory of a process in bytes (Linux /proc), 0 when it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Process ids of the direct children of ``pid`` (Linux /proc)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 60) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def start_server(data: Path, db: Path, port: int, extra: list[str]) -> tuple[subprocess.Popen, float, str]:
    """Start `eventcnn class serve`; returns (process, seconds until /api/health answers, teacher token)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "eventcnn", "class", "serve", "--data", str(data),
                             "--db", str(db), "--port", str(port), "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    while True:
        try:
            call(f"http://127.0.0.1:{port}/api/health", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read() if proc.stdout else "server died") from None
            time.sleep(0.02)
    seconds = time.perf_counter() - t0
    token = ""
    while "token=" not in token:
        token = proc.stdout.readline() if proc.stdout else ""
    return proc, seconds, token.split("token=")[1].split()[0]


def cli_startup() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eventcnn", "--version"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


class Student:
    def __init__(self, base: str, i: int) -> None:
        self.base = base
        r = call(base + "api/join", {"name": f"student {i}"})
        self.sid = r["student"]
        self.displays: list[str] = []
        nd = r
        k = 0
        while nd["display"] is not None and len(self.displays) < nd["total"]:  # learn my displays
            self.displays.append(nd["display"])
            nd = self.vote(nd["display"], "q", f"first-{k}")[1]["next"]
            k += 1

    def vote(self, display: str, label: str, tag: str) -> tuple[float, dict]:
        t0 = time.perf_counter()
        r = call(self.base + f"api/students/{self.sid}/votes",
                 {"display": display, "label": label, "vote_id": f"{self.sid}-{tag}"})
        return time.perf_counter() - t0, r


def pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.array(x) * 1000, q))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--pace", type=float, default=1.0, help="seconds between answers while training")
    args = p.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"{args.data} not found: this benchmark needs the shared OPAL displays")
    tmp = Path(tempfile.mkdtemp(prefix="class_load_"))
    db = tmp / "class.sqlite"
    n_pool = args.students * 10 // 2
    extra = ["--n", str(n_pool), "--per-student", "10", "--overlap", "2", "--epochs", str(args.epochs),
             "--out", str(tmp / "run")]
    ref_cli = cli_startup()
    port = free_port()
    proc, first_start, token = start_server(Path(args.data), db, port, extra)
    proc.terminate()
    proc.wait(30)
    proc, restart, token = start_server(Path(args.data), db, port, extra)
    base = f"http://127.0.0.1:{port}/"
    try:
        print(f"start-up: new class {first_start:.2f} s, restart {restart:.2f} s; "
              f"`eventcnn --version` {ref_cli:.2f} s (ratio {restart / ref_cli:.1f}x)")

        # 2. vote round trip: one student, then 30 at once
        alone = Student(base, 0)
        single = [alone.vote(d, "e", f"alone-{k}")[0] for k, d in enumerate(alone.displays)]
        students = [alone] + [Student(base, i) for i in range(1, args.students)]
        times: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(students))

        def burst(s: Student) -> None:
            barrier.wait()
            mine = []
            for r in range(args.rounds):
                for k, d in enumerate(s.displays):
                    mine.append(s.vote(d, "qemt"[(r + k) % 4], f"r{r}-{k}")[0])
            with lock:
                times.extend(mine)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=burst, args=(s,)) for s in students]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        print(f"vote round trip, 1 student: p50 {pct(single, 50):.1f} ms, p99 {pct(single, 99):.1f} ms")
        print(f"vote round trip, {len(students)} students at once: p50 {pct(times, 50):.1f} ms, "
              f"p99 {pct(times, 99):.1f} ms ({len(times)} votes in {wall:.1f} s, "
              f"{len(times) / wall:.0f} votes/s; p50 {pct(times, 50) / pct(single, 50):.1f}x one student's)")

        # 3. memory while training, the class still answering
        idle = rss(proc.pid)
        h = {"X-Teacher-Token": token}
        call(base + "api/teacher/train", {}, headers=h)
        during: list[float] = []
        peak = idle
        stop = threading.Event()

        def steady(s: Student, j: int) -> None:
            k = 0
            while not stop.is_set():
                d = s.displays[k % len(s.displays)]
                during.append(s.vote(d, "qemt"[(j + k) % 4], f"train-{k}")[0])
                k += 1
                stop.wait(args.pace)

        threads = [threading.Thread(target=steady, args=(s, j)) for j, s in enumerate(students)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        child_peak = 0
        while True:
            peak = max(peak, rss(proc.pid))
            child_peak = max(child_peak, sum(rss(c) for c in children(proc.pid)))
            st = call(base + "api/teacher/status", headers=h)["training"]
            if st["state"] != "running":
                break
            time.sleep(0.5)
        train_s = time.perf_counter() - t0
        stop.set()
        for t in threads:
            t.join()
        print(f"training ({args.epochs} epochs, {st['summary']['labels'] if st['summary'] else '?'} labels, "
              f"{args.students} students answering every {args.pace:g} s): {st['state']} in {train_s:.0f} s; "
              f"server memory {idle / 2**20:.0f} MiB before, peak {peak / 2**20:.0f} MiB "
              f"({peak / idle:.1f}x), after {rss(proc.pid) / 2**20:.0f} MiB; training process "
              f"peak {child_peak / 2**20:.0f} MiB; vote round trip meanwhile p50 {pct(during, 50):.1f} ms, "
              f"p99 {pct(during, 99):.1f} ms ({len(during)} votes)")
        if st["state"] != "done":
            print("training error:", st.get("error"))

        # no vote lost: one per (student, display), as many as displays given out
        progress = call(base + "api/teacher/status", headers=h)["progress"]
        expected = sum(len(s.displays) for s in students)
        print(f"votes kept: {progress['votes']} of {expected} (student, display) pairs; "
              f"every student {set(x['answered'] for x in progress['students'])} of 10")
        assert progress["votes"] == expected
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
