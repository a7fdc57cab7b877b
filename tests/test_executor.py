"""Tests of eventcnn.executor: the one executor (in process, local cluster, scheduler address), passed in, and read retries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventcnn import executor as _executor
from eventcnn.events import nanoaod
from eventcnn.executor import SCHEDULER_ENV, TransientReadError, open_executor, with_retries


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("task 3 is broken")
    return x


class _Flaky:
    """A reader that raises ``OSError`` ``fails`` times, then returns ``"data"``."""

    def __init__(self, fails: int) -> None:
        self.fails, self.calls = fails, 0

    def __call__(self, *args):
        self.calls += 1
        if self.calls <= self.fails:
            raise OSError(f"XRootD timeout #{self.calls}")
        return "data"


def test_retries_a_reader_that_fails_twice_then_succeeds():
    waits = []
    reader = _Flaky(2)
    assert with_retries(reader, "root://h//a.root entries 0-100", attempts=4, sleep=waits.append) == "data"
    assert reader.calls == 3 and waits == [0.5, 1.0]  # backoff doubles


def test_a_reader_that_always_fails_is_named_in_the_error():
    reader = _Flaky(99)
    with pytest.raises(TransientReadError) as err:
        with_retries(reader, "root://h//a.root entries 0-100", attempts=3, sleep=lambda s: None)
    assert reader.calls == 3
    msg = str(err.value)
    assert msg.startswith("root://h//a.root entries 0-100: read failed 3 times") and "XRootD timeout #3" in msg
    assert isinstance(err.value, ValueError)  # a UserError: one line on the command line


def test_missing_files_are_not_retried():
    calls = []

    def missing():
        calls.append(1)
        raise FileNotFoundError("gone")

    with pytest.raises(FileNotFoundError):
        with_retries(missing, "x", sleep=lambda s: None)
    assert len(calls) == 1


def test_read_entries_retries_remote_reads_and_names_the_range(monkeypatch):
    monkeypatch.setattr(_executor.time, "sleep", lambda s: None)
    flaky = _Flaky(2)
    monkeypatch.setattr(nanoaod, "_read_entries_once", flaky)
    assert nanoaod.read_entries("root://eospublic.cern.ch//eos/tt.root", 0, 10) == "data"
    assert flaky.calls == 3
    monkeypatch.setattr(nanoaod, "_read_entries_once", _Flaky(99))
    with pytest.raises(TransientReadError, match=r"root://eospublic.cern.ch//eos/tt.root entries 200-300: "
                                                 r"read failed 4 times"):
        nanoaod.read_entries("root://eospublic.cern.ch//eos/tt.root", 200, 300)


def test_in_process_executor_keeps_order_and_never_imports_dask():
    code = ("import sys; from eventcnn.executor import open_executor\n"
            "with open_executor(jobs=1, quiet=True) as ex: r = ex.map(abs, [-3, 1, -2])\n"
            "assert r == [3, 1, 2], r\n"
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop(SCHEDULER_ENV, None)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_bad_jobs_is_a_user_error():
    with pytest.raises(ValueError, match=r"--jobs must be at least 1"), open_executor(jobs=0):
        pass


def test_local_cluster_on_loopback_keeps_task_order_and_raises_task_errors(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with open_executor(jobs=2, quiet=True) as ex:
        assert ex.workers == 2
        assert ex.client.scheduler.address.startswith("tcp://127.0.0.1:")
        infos = ex.client.scheduler_info(n_workers=-1)["workers"]
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in infos)
        assert all(w["nthreads"] == 1 for w in infos.values())
        assert ex.client.cluster.scheduler.http_server.address == "127.0.0.1"  # no dashboard, loopback only
        assert ex.map(_square, list(range(20))) == [x * x for x in range(20)]
        with pytest.raises(ValueError, match="task 3 is broken"):
            ex.map(_fail_on_three, list(range(6)))
        cluster = ex.client.cluster
    assert cluster.status.name == "closed"  # closed when the block ends


def test_an_unreachable_scheduler_is_one_clear_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(_executor, "CONNECT_TIMEOUT_S", 2)
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(_executor.SchedulerError, match=r"cannot reach the Dask scheduler tcp://127.0.0.1:9"), \
            open_executor(jobs=1, quiet=True) as ex:
        ex.map(abs, [1])  # the connection is made at the first task


def test_a_script_without_main_guard_runs_on_a_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    script = tmp_path / "unguarded.py"  # spawned workers must not re-run this file
    script.write_text("from eventcnn.executor import open_executor\n"
                      "def double(x):\n    return 2 * x\n"
                      "with open_executor(jobs=2, quiet=True) as ex:\n"
                      "    print('result', ex.map(double, [1, 2, 3]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop(SCHEDULER_ENV, None)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("result [2, 4, 6]") == 1


def test_the_cluster_starts_at_the_first_task_only(monkeypatch):
    """An entry point opens its executor first; a stage that refuses its options starts no cluster."""
    pytest.importorskip("distributed")
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    started = []
    monkeypatch.setattr(_executor, "_start", lambda *a: started.append(a) or pytest.fail("cluster started"))
    with pytest.raises(ValueError, match="bad option"), open_executor(jobs=2, quiet=True) as ex:
        assert not ex.in_process
        raise ValueError("bad option")
    assert not started


def test_a_stage_uses_the_executor_it_is_given_and_leaves_it_open():
    from eventcnn.executor import use_executor

    with open_executor(jobs=1, quiet=True) as ex:
        with use_executor(ex, jobs=5, scheduler="tcp://ignored:1") as inner:
            assert inner is ex  # jobs / scheduler of the stage are ignored: the caller's executor runs the tasks
        assert ex.map(_square, [3]) == [9]  # still usable after the stage
    with use_executor(None, jobs=1) as own:
        assert own.in_process


def test_no_other_process_pool_in_the_package():
    """Every parallel stage runs on eventcnn.executor (threads for image decoding in learn.cache are no pool of processes)."""
    import re
    from pathlib import Path

    import eventcnn

    package = Path(eventcnn.__file__).parent
    pattern = re.compile(r"ProcessPoolExecutor|multiprocessing\.Pool|from multiprocessing import|"
                         r"import multiprocessing|LocalCluster\(|distributed\.Client\(|joblib")
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "executor.py" and pattern.search(p.read_text())]
    assert not offenders, f"process pools outside eventcnn/executor.py: {offenders}"


def test_each_entry_point_opens_exactly_one_executor(tmp_path, monkeypatch):
    """render, data convert, generate and opal simulate open one executor and pass it to their stages."""
    import contextlib
    import functools
    import shutil

    from eventcnn.cli import main

    opened = []
    real = _executor.open_executor

    @functools.wraps(real)
    @contextlib.contextmanager
    def counting(*args, **kwargs):
        opened.append(args)
        with real(*args, **kwargs) as ex:
            yield ex

    monkeypatch.setattr(_executor, "open_executor", counting)
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    example = Path(_executor.__file__).parent / "events" / "examples" / "example_dy.json.gz"
    shutil.copy(example, tmp_path / "a.json.gz")
    commands = [["data", "convert", str(tmp_path / "a.json.gz"), str(tmp_path / "a.root"), "-q"],
                ["render", str(tmp_path / "a.root"), "--out", str(tmp_path / "img"), "--size", "16",
                 "--selection", "none", "--label", "a", "-q"]]
    if _has("pythia8mc") and _has("fastjet"):
        commands += [["generate", "dy", "--events", "3", "--fast", "--out", str(tmp_path / "dy.json"), "-q"],
                     ["opal", "simulate", "--events", "4", "--classes", "e,m", "--out", str(tmp_path / "sim"), "-q"]]
    for cmd in commands:
        opened.clear()
        assert main(cmd) == 0, cmd
        assert len(opened) == 1, (cmd, opened)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
