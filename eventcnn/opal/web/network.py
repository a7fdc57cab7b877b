"""The addresses at which the class's tablets can reach this computer, found without the internet.

A classroom network often has no internet and no default route; the usual trick
(connect a UDP socket towards an outside address and read the local end) then
finds nothing and would leave students with ``127.0.0.1``. Instead every
interface's addresses are listed, as ``ip addr`` shows them:

- Linux: the interface names (``socket.if_nameindex``), each asked for its IPv4
  address and flags with ``ioctl`` (``SIOCGIFADDR``, ``SIOCGIFFLAGS``), and the
  global IPv6 addresses from ``/proc/net/if_inet6``; interfaces that are down or
  loopback are left out;
- elsewhere (macOS, Windows): the addresses of the host name
  (``getaddrinfo``), then the UDP trick as a last resort.

No packet is sent by any of them.

Example::

    student_addresses("0.0.0.0")          # ['192.168.4.1', '10.0.0.12']
    student_urls("0.0.0.0", 8000)         # ['http://192.168.4.1:8000/', ...]
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from pathlib import Path

__all__ = ["interface_addresses", "is_wildcard", "reachable_note", "student_addresses", "student_urls", "url_for"]

_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8


def is_wildcard(host: str) -> bool:
    """Whether ``host`` listens on every interface (``0.0.0.0``, ``::`` or empty)."""
    return host in ("", "0.0.0.0", "::", "[::]")


def _linux_ipv4() -> list[tuple[str, str]]:
    import fcntl

    out: list[tuple[str, str]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            packed = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack("H", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, packed)[16:18])[0]
                if not flags & _IFF_UP or flags & _IFF_LOOPBACK:
                    continue
                addr = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, packed)[20:24])
            except OSError:  # no IPv4 address on this interface
                continue
            out.append((name, addr))
    return out


def _linux_ipv6() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            parts = line.split()
            if len(parts) < 6:
                continue
            addr = ipaddress.IPv6Address(int(parts[0], 16))
            if addr.is_global or addr.is_private and not addr.is_link_local and not addr.is_loopback:
                out.append((parts[5], str(addr)))
    return out


def _fallback() -> list[str]:
    found: list[str] = []
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: picks the outgoing interface; sends nothing
        found.append(str(sock.getsockname()[0]))
    return found


def interface_addresses(ipv6: bool = False) -> list[str]:
    """Non-loopback addresses of this computer's interfaces that are up, in interface order, no duplicates.

    Link-local IPv4 (169.254.x.x, a network without a DHCP server) comes last;
    IPv6 (``ipv6=True``) only global or unique-local addresses.
    """
    if sys.platform.startswith("linux"):
        found = [a for _, a in _linux_ipv4()]
        if ipv6:
            found += [a for _, a in _linux_ipv6()]
    else:
        found = _fallback()
    seen: list[str] = []
    for a in found:
        ip = ipaddress.ip_address(a)
        if ip.is_loopback or ip.is_unspecified or a in seen:
            continue
        seen.append(a)
    return sorted(seen, key=lambda a: ipaddress.ip_address(a).is_link_local)


def student_addresses(host: str) -> list[str]:
    """The addresses students can use when the server listens on ``host`` (loopback: none)."""
    if is_wildcard(host):
        return interface_addresses(ipv6=host in ("::", "[::]"))
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return []
    if host == "localhost":
        return []
    return [host]


def url_for(address: str, port: int) -> str:
    """``http://ADDRESS:PORT/`` (IPv6 in brackets)."""
    shown = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"http://{shown}:{port}/"


def student_urls(host: str, port: int) -> list[str]:
    """One students' address per reachable interface address (see :func:`student_addresses`)."""
    return [url_for(a, port) for a in student_addresses(host)]


def reachable_note(host: str, port: int) -> str | None:
    """One line when no tablet can reach the server (only loopback), with the fix; else None."""
    if student_addresses(host):
        return None
    if is_wildcard(host):
        return ("no network address found (only this computer, 127.0.0.1): tablets cannot reach the class; "
                "connect this computer to the classroom Wi-Fi (or start its hotspot) and start again, "
                "or give --url with an address the tablets can reach")
    return (f"--host {host} is this computer only: tablets cannot reach the class; use --host 0.0.0.0 "
            f"to open it to the classroom network (students then use http://<this computer>:{port}/)")
