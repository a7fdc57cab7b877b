"""Where tablets can reach the class: interface addresses found without the internet.

The serve tests run ``eventcnn class serve --host 0.0.0.0`` inside a network
namespace that the test makes itself (one veth pair, an address on one end, no
default route, like a classroom Wi-Fi without internet). Traffic goes only to
addresses inside that namespace, never to this machine's network. Without the
rights to make a namespace (no CAP_NET_ADMIN, no ``ip``), those tests skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from eventcnn.opal.web import network

from ._server import start_class_server

IP = shutil.which("ip") or ("/usr/sbin/ip" if Path("/usr/sbin/ip").exists() else None)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([IP, *args], capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture()
def namespace():
    """A fresh network namespace: loopback and a veth pair whose one end has ``10.77.x.1/24``; no default route."""
    if IP is None:
        pytest.skip("the network-namespace tests need the `ip` command (Debian: apt-get install iproute2)")
    name = f"ecnn-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    made = _ip("netns", "add", name, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace here ({made.stderr.strip() or 'no CAP_NET_ADMIN'}): "
                    "run as root or with CAP_NET_ADMIN to test the classroom addresses")
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        _ip("netns", "del", name, check=False)


def _add_interface(ns: str, address: str) -> None:
    _ip("-n", ns, "link", "add", "cls0", "type", "veth", "peer", "name", "cls1")
    _ip("-n", ns, "addr", "add", address, "dev", "cls0")
    _ip("-n", ns, "link", "set", "cls0", "up")
    _ip("-n", ns, "link", "set", "cls1", "up")


def _serve_in(ns: str, tmp_path: Path, zip_path: Path, port: int) -> tuple[subprocess.Popen, str]:
    return start_class_server(tmp_path, zip_path, port, "--host", "0.0.0.0", prefix=(IP, "netns", "exec", ns),
                              path=os.environ.get("PATH", "/usr/bin:/bin"))


def _fetch_in(ns: str, url: str, headers: dict | None = None) -> dict:
    code = ("import json, sys, urllib.request\n"
            "req = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))\n"
            "print(urllib.request.urlopen(req, timeout=10).read().decode())\n")
    out = subprocess.run([IP, "netns", "exec", ns, sys.executable, "-c", code, url, json.dumps(headers or {})],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_serve_prints_the_address_of_a_network_without_internet(namespace, tmp_path, class_displays) -> None:
    _add_interface(namespace, "10.77.5.1/24")
    assert "default" not in _ip("-n", namespace, "route").stdout  # no way out: a classroom without internet
    proc, out = _serve_in(namespace, tmp_path, class_displays[0], 8765)
    try:
        students = [line for line in out.splitlines() if line.startswith("students: ")]
        assert students == ["students: http://10.77.5.1:8765/"], out
        assert "127.0.0.1" not in "\n".join(students) and "warning" not in out
        assert "teacher:  http://10.77.5.1:8765/teacher?token=" in out
        assert _fetch_in(namespace, "http://10.77.5.1:8765/api/health") == {"ok": True}
        token = out.split("token=")[1].split()[0]
        status = _fetch_in(namespace, "http://10.77.5.1:8765/api/teacher/status", {"X-Teacher-Token": token})
        assert status["student_url"] == "http://10.77.5.1:8765/"  # what the QR code carries
        assert status["student_urls"] == ["http://10.77.5.1:8765/"]
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_says_when_nobody_can_reach_it(namespace, tmp_path, class_displays) -> None:
    proc, out = _serve_in(namespace, tmp_path, class_displays[0], 8766)  # loopback only
    try:
        assert not [line for line in out.splitlines() if line.startswith("students: ")]
        warning = [line for line in out.splitlines() if line.startswith("warning: ")]
        assert len(warning) == 1 and "no network address found" in warning[0] and "--url" in warning[0]
        assert "students (this computer only): http://127.0.0.1:8766/" in out
    finally:
        proc.terminate()
        proc.wait(20)


def test_several_interfaces_give_several_lines(namespace, tmp_path, class_displays) -> None:
    _add_interface(namespace, "10.77.6.1/24")
    _ip("-n", namespace, "addr", "add", "192.168.77.1/24", "dev", "cls1")
    proc, out = _serve_in(namespace, tmp_path, class_displays[0], 8767)
    try:
        students = sorted(line for line in out.splitlines() if line.startswith("students: "))
        assert students == ["students: http://10.77.6.1:8767/", "students: http://192.168.77.1:8767/"], out
    finally:
        proc.terminate()
        proc.wait(20)


def test_addresses_without_a_namespace() -> None:
    assert network.url_for("10.0.0.2", 80) == "http://10.0.0.2:80/"
    assert network.url_for("fd00::2", 8000) == "http://[fd00::2]:8000/"
    assert network.student_addresses("127.0.0.1") == [] and network.student_addresses("localhost") == []
    assert network.student_addresses("192.168.4.1") == ["192.168.4.1"]
    assert network.reachable_note("192.168.4.1", 80) is None
    assert "--host 0.0.0.0" in network.reachable_note("127.0.0.1", 80)
    found = network.interface_addresses()
    assert all(not a.startswith("127.") for a in found) and len(found) == len(set(found))
    assert network.is_wildcard("0.0.0.0") and network.is_wildcard("::") and not network.is_wildcard("10.0.0.1")


def test_link_local_addresses_come_last(monkeypatch) -> None:
    monkeypatch.setattr(network.sys, "platform", "linux")
    monkeypatch.setattr(network, "_linux_ipv4", lambda: [("a", "169.254.3.4"), ("b", "192.168.1.5"),
                                                         ("c", "192.168.1.5"), ("d", "10.1.1.1")])
    assert network.interface_addresses() == ["192.168.1.5", "10.1.1.1", "169.254.3.4"]
