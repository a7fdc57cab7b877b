"""Tests of eventcnn._io: atomic writes keep old content on failure and use normal modes."""

from __future__ import annotations

import os
import stat

import pytest

from eventcnn._io import atomic_path, write_json_atomic, write_text_atomic


def test_atomic_write_replaces_and_sets_normal_mode(tmp_path):
    path = tmp_path / "a" / "out.txt"
    write_text_atomic(path, "one")
    assert path.read_text() == "one"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    write_json_atomic(path, {"x": 1})
    assert '"x": 1' in path.read_text()


def test_failure_keeps_previous_content_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    write_text_atomic(path, "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_file_lock_excludes_a_second_holder_and_is_released(tmp_path):
    from eventcnn._io import file_lock

    lock = tmp_path / "sub" / ".lock"
    held = file_lock(lock, timeout=0.1)
    with file_lock(lock), pytest.raises(TimeoutError, match=r"could not lock .*\.lock"), held:
        pass
    with file_lock(lock, timeout=0.1):  # released after the body, also after an error
        pass
    with pytest.raises(RuntimeError), file_lock(lock):
        raise RuntimeError("boom")
    with file_lock(lock, timeout=0.1):
        pass


def test_quiet_stdout_silences_python_and_descriptor_1(capfd):
    import os
    import sys

    from eventcnn._io import quiet_stdout

    with quiet_stdout():
        print("python print")
        sys.stdout.flush()
        os.write(1, b"c-level write\n")  # what Pythia's / fastjet's C++ banners do
    print("after")
    out = capfd.readouterr().out
    assert "python print" not in out and "c-level write" not in out
    assert "after" in out


def test_stale_lock_file_does_not_block_and_remove_leaves_nothing(tmp_path):
    import subprocess
    import sys

    from eventcnn._io import file_lock

    lock = tmp_path / ".eventcnn.lock"
    # a process that took the lock and was killed leaves the file behind: it must not block
    code = ("import os, sys; from eventcnn._io import file_lock\n"
            f"with file_lock({str(lock)!r}):\n    os._exit(9)\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 9 and lock.exists()
    with file_lock(lock, timeout=0.5, remove=True):
        pass
    assert not lock.exists()  # the last lock of a run leaves no file in the output folder


def test_waiter_gets_the_lock_after_the_holder_removed_the_file(tmp_path):
    import threading
    import time

    from eventcnn._io import file_lock

    lock = tmp_path / "x.lock"
    inside: list[str] = []
    with file_lock(lock, remove=True):
        waiter = threading.Thread(target=lambda: _hold(lock, inside))
        waiter.start()
        time.sleep(0.3)
        assert inside == []  # excluded while held
    waiter.join(timeout=10)
    assert inside == ["waiter"]


def _hold(lock, inside):
    from eventcnn._io import file_lock

    with file_lock(lock, timeout=10):
        inside.append("waiter")


def test_sha256sum_and_adler32sum(tmp_path):
    import hashlib
    import zlib

    from eventcnn._io import adler32sum, sha256sum

    blob = bytes(range(256)) * 9000  # > 1 MiB block
    (tmp_path / "b").write_bytes(blob)
    assert sha256sum(tmp_path / "b") == hashlib.sha256(blob).hexdigest()
    assert adler32sum(tmp_path / "b") == f"{zlib.adler32(blob):08x}"
