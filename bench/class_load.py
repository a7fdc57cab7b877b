"""`eventcnn class` with a class of 30: start-up, vote round trip while training, "Train now" to results.

Starts ``eventcnn class serve`` as its own process (as a teacher would) on the
real OPAL displays with their answer key, and measures over loopback:

1. **start-up of a new class** (target <= 10 s): from starting the process to
   the first answer of ``/api/health``; cold (an empty eventcnn cache: ``opal
   suggest`` chooses the displays), warm (a new database, the choice cached from
   the cold run), and a restart with the same database; reference: the same
   interpreter running ``eventcnn --version``;
2. **vote round trip with 30 students while training runs** (target p99 <= 300
   ms): 30 students label their displays (the answer key, one answer in ten
   changed, one in twenty skipped); the teacher presses "Train now"; while the
   CNN trains every student answers again every ``--pace`` s, polls their
   summary page, the board and the teacher page poll every 2 s; reference: one
   student alone before training;
3. **"Train now" to results on every screen** (target <= 90 s, <= 1.5 GB): from
   the POST to the moment the board, a student's page and the teacher page all
   carry the result; peak resident memory (/proc, every 0.5 s) of the server and
   of the training process; reference: the training job's own time (its
   ``lesson.json``) and, with ``--reference-train``, ``eventcnn opal train`` on the
   same class labels in the same run.

Every figure is printed with the machine's load average (1 minute) measured
with it. At the end every vote is checked: one per (student, display), none
lost. The numbers go to ``bench/_out/class_load.json``.

Run (2-core CPU; needs ../shared/data)::

    PYTHONPATH=. nice -n 5 python bench/class_load.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
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
SHARED = Path(os.environ.get("EVENTCNN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "opal"
OUT = ROOT / "bench" / "_out"


def load() -> float:
    """The 1-minute load average of the machine."""
    return round(os.getloadavg()[0], 1)


def rss(pid: int) -> int:
    """Resident memory of a process in bytes (Linux /proc), 0 when it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 when it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def start_server(args: argparse.Namespace, db: Path, port: int, cache: Path) -> tuple[subprocess.Popen, float, str]:
    """Start `eventcnn class serve`; returns (process, seconds until /api/health answers, teacher token)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "EVENTCNN_CACHE": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "eventcnn", "class", "serve", "--data", str(args.data),
                             "--reference", str(args.reference), "--db", str(db), "--port", str(port), "--quiet",
                             "--students", str(args.students), "--epochs", str(args.epochs),
                             "--out", str(db.with_suffix("")) + "_run"],
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
    line = ""
    while "token=" not in line:
        line = proc.stdout.readline() if proc.stdout else ""
    return proc, seconds, line.split("token=")[1].split()[0]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(60)


def cli_startup() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eventcnn", "--version"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


def pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.array(x) * 1000, q))


class Student:
    """A student over HTTP: joins, answers (the answer key, with mistakes), keeps their display ids."""

    def __init__(self, base: str, i: int, truth: dict[str, str], names: dict[str, str], rng) -> None:
        self.base, self.truth, self.names, self.rng = base, truth, names, rng
        r = call(base + "api/join", {"name": f"student {i}"})
        self.sid = r["student"]
        self.displays: list[str] = []
        nd, k = r, 0
        while nd["display"] is not None:
            self.displays.append(nd["display"])
            nd = self.vote(nd["display"], self.answer(nd["display"]), f"first-{k}")[1]["next"]
            k += 1

    def answer(self, display: str) -> str:
        label = self.truth[self.names[display]]
        u = self.rng.random()
        if u < 0.05:
            return "skip"
        if u < 0.15:
            return str(self.rng.choice([c for c in "qemt" if c != label]))
        return label

    def vote(self, display: str, label: str, tag: str) -> tuple[float, dict]:
        t0 = time.perf_counter()
        r = call(self.base + f"api/students/{self.sid}/votes",
                 {"display": display, "label": label, "vote_id": f"{self.sid}-{tag}"})
        return time.perf_counter() - t0, r


def startup(args: argparse.Namespace, tmp: Path, results: dict) -> tuple[subprocess.Popen, str, int, Path]:
    """Cold and warm start of a new class, and a restart; returns the running server of the warm class."""
    ref_cli = cli_startup()
    cache = tmp / "cache"
    port = free_port()
    proc, cold, _ = start_server(args, tmp / "cold.sqlite", port, cache)
    l_cold = load()
    stop(proc)
    proc, warm, _ = start_server(args, tmp / "class.sqlite", port, cache)
    l_warm = load()
    stop(proc)
    proc, restart, token = start_server(args, tmp / "class.sqlite", port, cache)
    l_restart = load()
    results["startup"] = {"new_class_cold_s": round(cold, 2), "load_cold": l_cold, "new_class_warm_s": round(warm, 2),
                          "load_warm": l_warm, "restart_s": round(restart, 2), "load_restart": l_restart,
                          "reference_version_s": round(ref_cli, 2), "ratio_cold": round(cold / ref_cli, 1),
                          "ratio_warm": round(warm / ref_cli, 1)}
    print(f"start-up of a new class: cold {cold:.1f} s (load {l_cold}), warm {warm:.1f} s (load {l_warm}); "
          f"restart {restart:.1f} s (load {l_restart}); `eventcnn --version` {ref_cli:.2f} s "
          f"(ratios {cold / ref_cli:.1f}x, {warm / ref_cli:.1f}x); target <= 10 s", flush=True)
    return proc, token, port, cache


def names_of(db: Path) -> dict[str, str]:
    import sqlite3

    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT id, name FROM displays"))
    finally:
        con.close()


def train_phase(args, base: str, h: dict, proc: subprocess.Popen, students: list[Student],
                results: dict) -> None:
    """Train now while the class goes on; time to results on every screen, memory, round trips."""
    idle = rss(proc.pid)
    during: list[float] = []
    stop_flag = threading.Event()

    def steady(s: Student, j: int) -> None:
        k = 0
        while not stop_flag.is_set():
            d = s.displays[k % len(s.displays)]
            during.append(s.vote(d, s.answer(d), f"train-{k}")[0])
            if k % 4 == 0:
                call(base + f"api/students/{s.sid}/summary")
            k += 1
            stop_flag.wait(args.pace)

    def pollers() -> None:
        while not stop_flag.is_set():
            call(base + "api/board")
            call(base + "api/teacher/status", headers=h)
            stop_flag.wait(2.0)

    threads = [threading.Thread(target=steady, args=(s, j)) for j, s in enumerate(students)]
    threads.append(threading.Thread(target=pollers))
    for t in threads:
        t.start()
    time.sleep(2)
    loads = [load()]
    t0 = time.perf_counter()
    call(base + "api/teacher/train", {}, headers=h)
    peak, child_peak = idle, 0
    cpu: dict[int, float] = {}  # CPU seconds of the training process and its helper, last seen
    screens: dict[str, float] = {}
    while len(screens) < 3:
        peak = max(peak, rss(proc.pid))
        kids = children(proc.pid)
        child_peak = max(child_peak, sum(rss(c) for c in kids))
        for c in kids + [g for k in kids for g in children(k)]:
            cpu[c] = max(cpu.get(c, 0.0), cpu_seconds(c))
        now = time.perf_counter() - t0
        if "board" not in screens and call(base + "api/board")["results"]:
            screens["board"] = now
        if "student" not in screens and call(base + f"api/students/{students[0].sid}/summary")["results"]:
            screens["student"] = now
        st = call(base + "api/teacher/status", headers=h)["training"]
        if st["state"] == "failed":
            raise RuntimeError(f"training failed: {st['error']}")
        if "teacher" not in screens and st["state"] == "done":
            with contextlib.suppress(OSError):
                call(base + "api/teacher/results", headers=h)
                screens["teacher"] = now
        loads.append(load())
        time.sleep(0.5)
    to_results = max(screens.values())
    stop_flag.set()
    for t in threads:
        t.join()
    res = call(base + "api/teacher/results", headers=h)
    results["training"] = {
        "train_now_to_results_s": round(to_results, 1), "screens_s": {k: round(v, 1) for k, v in screens.items()},
        "job_seconds": res["training"]["seconds"], "ratio_to_job": round(to_results / res["training"]["seconds"], 2),
        "server_rss_before_mb": round(idle / 2**20), "server_rss_peak_mb": round(peak / 2**20),
        "training_rss_peak_mb": round(child_peak / 2**20), "load_during": [min(loads), max(loads)],
        "training_cpu_s": round(sum(cpu.values()), 1),
        "labels": res["training"]["labels"], "epochs": len(res["curves"]["epochs"]),
        "votes_during_training": {"n": len(during), "p50_ms": round(pct(during, 50), 1),
                                  "p99_ms": round(pct(during, 99), 1)},
        "measurement": {c: {k: round(v, 4) for k, v in f.items() if k in ("value", "stat", "total", "pdg")}
                        for c, f in (res["results"]["measurement"] or {}).get("fractions", {}).items()},
    }
    print(f"Train now -> results on every screen: {to_results:.0f} s (board {screens['board']:.0f} s, student "
          f"{screens['student']:.0f} s, teacher {screens['teacher']:.0f} s; the job itself "
          f"{res['training']['seconds']:.0f} s); {res['training']['labels']} class labels, "
          f"{len(res['curves']['epochs'])} epochs; load {min(loads)}-{max(loads)}; the training processes used "
          f"{sum(cpu.values()):.0f} CPU s; target <= 90 s", flush=True)
    print(f"memory: server {idle / 2**20:.0f} MiB before, peak {peak / 2**20:.0f} MiB; training process peak "
          f"{child_peak / 2**20:.0f} MiB (target <= 1.5 GB = 1536 MiB)", flush=True)
    print(f"vote round trip while training ({len(students)} students, one answer each per {args.pace:g} s, "
          f"summaries, board and teacher polling): p50 {pct(during, 50):.0f} ms, p99 {pct(during, 99):.0f} ms "
          f"({len(during)} votes); target p99 <= 300 ms", flush=True)


def reference_train(args: argparse.Namespace, run: Path, tmp: Path, results: dict) -> None:
    """`eventcnn opal train` on the class's labels of that training (the same settings), timed."""
    labels = run / "class_labels.csv"
    t0 = time.perf_counter()
    l0 = load()
    subprocess.run([sys.executable, "-m", "eventcnn", "opal", "train", "--data", str(args.data), "--labels",
                    str(labels), "--out", str(tmp / "reference_run"), "--epochs", str(args.epochs), "--quiet"],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - t0
    results["training"]["reference_opal_train_s"] = round(seconds, 1)
    results["training"]["ratio_to_opal_train"] = round(results["training"]["train_now_to_results_s"] / seconds, 2)
    print(f"reference: `eventcnn opal train` on the same {sum(1 for _ in labels.open())} labels: {seconds:.0f} s "
          f"(load {l0}-{load()}); ratio {results['training']['ratio_to_opal_train']}x", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED / "centered-masked-rotated1.zip"))
    p.add_argument("--reference", default=str(SHARED / "events_list.csv"), help="the answer key")
    p.add_argument("--students", type=int, default=30)
    from eventcnn.opal.web.settings import DEFAULTS

    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                   help="at most this many epochs (class serve --epochs; default: the lesson's, %(default)s)")
    p.add_argument("--pace", type=float, default=1.0, help="seconds between a student's answers while training")
    p.add_argument("--reference-train", action="store_true", help="also time `eventcnn opal train` on the labels")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"{args.data} not found: this benchmark needs the shared OPAL displays")
    from eventcnn.opal import read_labels

    truth = {k[:-4]: v for k, v in read_labels(args.reference).items()}
    tmp = Path(tempfile.mkdtemp(prefix="class_load_"))
    results: dict = {"machine": f"{os.cpu_count()} CPUs", "students": args.students, "epochs": args.epochs}
    proc, token, port, _ = startup(args, tmp, results)
    base = f"http://127.0.0.1:{port}/"
    h = {"X-Teacher-Token": token}
    rng = np.random.default_rng(args.seed)
    try:
        names = names_of(tmp / "class.sqlite")
        students = [Student(base, 0, truth, names, rng)]
        single = [students[0].vote(d, students[0].answer(d), f"alone-{k}")[0]
                  for k, d in enumerate(students[0].displays)]
        l_single = load()
        students += [Student(base, i, truth, names, rng) for i in range(1, args.students)]
        results["single_student"] = {"p50_ms": round(pct(single, 50), 1), "p99_ms": round(pct(single, 99), 1),
                                     "load": l_single}
        print(f"vote round trip, one student alone: p50 {pct(single, 50):.0f} ms, p99 {pct(single, 99):.0f} ms "
              f"(load {l_single})", flush=True)
        train_phase(args, base, h, proc, students, results)
        t = results["training"]["votes_during_training"]
        t["ratio_p99_to_single_p50"] = round(t["p99_ms"] / results["single_student"]["p50_ms"], 1)
        progress = call(base + "api/teacher/status", headers=h)["progress"]
        expected = sum(len(s.displays) for s in students)
        results["votes_kept"] = {"votes": progress["votes"], "pairs": expected}
        print(f"votes kept: {progress['votes']} of {expected} (student, display) pairs", flush=True)
        assert progress["votes"] == expected
    finally:
        stop(proc)
    if args.reference_train:
        reference_train(args, tmp / "class_run", tmp, results)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "class_load.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {OUT / 'class_load.json'}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
