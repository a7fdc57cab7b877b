"""Upper bounds on sizes, counts and batch sizes, and memory estimates checked before big work.

Every command checks its numbers here before it reads or writes anything: a
number out of range, or work whose memory estimate exceeds what the machine
has available, is a :class:`ResourceLimitError` (a :class:`~eventcnn.errors.UserError`:
one line on the command line, exit code 1) that prints the estimate.

Example::

    >>> from eventcnn.limits import check_image_size
    >>> check_image_size(64)
    64
    >>> check_image_size(100000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    eventcnn.limits.ResourceLimitError: --size 100000 is too large: at most 1024 pixels ...
"""

from __future__ import annotations

import numbers
import os

from eventcnn.errors import UserError

__all__ = [
    "BYTES_PER_GENERATED_EVENT",
    "MAX_BATCH_SIZE",
    "MAX_EPOCHS",
    "MAX_EVENTS",
    "MAX_IMAGE_SIZE",
    "MAX_JOBS",
    "MAX_SAMPLES",
    "MIN_IMAGE_SIZE",
    "ResourceLimitError",
    "available_memory",
    "check_batch_size",
    "check_count",
    "check_image_size",
    "check_jobs",
    "check_memory",
    "format_bytes",
    "render_memory",
]

#: smallest and largest image side in pixels (the paper uses 224; 1024 px is ~21x its memory)
MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 1024
#: largest batch (images per step); larger batches give no speed on one device
MAX_BATCH_SIZE = 4096
#: most training epochs
MAX_EPOCHS = 100_000
#: most events one ``generate`` call makes (the events are held in memory before writing)
MAX_EVENTS = 10_000_000
#: most augmented images per class in one ``augment`` call
MAX_SAMPLES = 1_000_000
#: most parallel processes or threads
MAX_JOBS = 256
#: memory per generated event while it waits to be written: Python records (~3.2 kB measured
#: on the CMS tt+jets JSON) + the JSON text and bytes (~2 kB), rounded up
BYTES_PER_GENERATED_EVENT = 8_000
#: keep this share of the available memory free for Python, the libraries and the system
_HEADROOM = 0.9


class ResourceLimitError(UserError):
    """A size, count or batch size out of range, or work that needs more memory than is available."""


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ResourceLimitError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def check_count(name: str, value: int, low: int = 1, high: int | None = None, hint: str = "") -> int:
    """``value`` when ``low <= value <= high``; else one clear error naming ``name`` and the range
    (``hint`` is added when the value is too large).

    Example::

        >>> check_count("--events", 100, high=MAX_EVENTS)
        100
    """
    value = _whole(name, value)
    if value < low:
        raise ResourceLimitError(f"{name} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise ResourceLimitError(f"{name} {value} is too large: at most {high:,}" + (f"; {hint}" if hint else ""))
    return value


def check_image_size(size: int, name: str = "--size") -> int:
    """An image side in pixels, between :data:`MIN_IMAGE_SIZE` and :data:`MAX_IMAGE_SIZE`.

    Example::

        >>> check_image_size(224)
        224
    """
    size = _whole(name, size)
    if size < MIN_IMAGE_SIZE:
        raise ResourceLimitError(f"{name} must be at least {MIN_IMAGE_SIZE} pixels, got {size}")
    if size > MAX_IMAGE_SIZE:
        raise ResourceLimitError(
            f"{name} {size} is too large: at most {MAX_IMAGE_SIZE} pixels (one {size} x {size} RGB "
            f"image alone takes {format_bytes(3 * size * size)}); the CNNs use 64 to 299 pixels")
    return size


def check_batch_size(batch_size: int, name: str = "--batch-size") -> int:
    """A batch size between 1 and :data:`MAX_BATCH_SIZE`.

    Example::

        >>> check_batch_size(64)
        64
    """
    return check_count(name, batch_size, 1, MAX_BATCH_SIZE, hint="32 to 256 are usual")


def check_jobs(jobs: int, name: str = "--jobs") -> int:
    """A number of processes or threads between 1 and :data:`MAX_JOBS`.

    Example::

        >>> check_jobs(2)
        2
    """
    return check_count(name, jobs, 1, MAX_JOBS, hint=f"this machine has {os.cpu_count() or 1} CPU cores")


def format_bytes(n: float) -> str:
    """``n`` bytes in words: ``'1.5 GB'``.

    Example::

        >>> format_bytes(3 * 1024**3)
        '3.2 GB'
    """
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def available_memory() -> int | None:
    """Bytes of memory available to a new job now (Linux ``MemAvailable``, else free pages), or None.

    A cgroup limit (containers) counts when it is lower.

    Example::

        >>> available_memory() > 0                         # doctest: +SKIP
        True
    """
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    for path, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                         "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(path, encoding="ascii") as fh:
                limit = fh.read().strip()
            with open(usage, encoding="ascii") as fh:
                used = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            avail = min(avail, max(int(limit) - used, 0))
        break
    return avail


def check_memory(need: float, what: str, hint: str = "", available: int | None = None) -> None:
    """Refuse work estimated to need ``need`` bytes when the machine has less available.

    ``available`` defaults to :func:`available_memory` (unknown: no check); 10% is kept free.

    Example::

        >>> check_memory(1e6, "rendering 10 images of 64 px")
        >>> check_memory(1e15, "generating 10^11 events", available=8 * 10**9)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        eventcnn.limits.ResourceLimitError: generating 10^11 events needs about 1000.0 TB of memory, but this machine has 8.0 GB available
    """
    avail = available_memory() if available is None else available
    if avail is None or need <= _HEADROOM * avail:
        return
    raise ResourceLimitError(
        f"{what} needs about {format_bytes(need)} of memory, but this machine has "
        f"{format_bytes(avail)} available" + (f"; {hint}" if hint else ""))


def render_memory(size: int, jobs: int = 1, style: str = "paper") -> int:
    """Estimated peak bytes of drawing images of ``size`` pixels in ``jobs`` processes.

    Per image being drawn: the RGB canvas and its numpy copy (3 + 3 bytes per
    pixel), the PNG encoder's filtered rows (3 bytes), and for the ``channels``
    style a float32 3-channel canvas (12 bytes); plus ~150 MB per process.

    Example::

        >>> render_memory(224) < 200e6
        True
    """
    per_pixel = 9 + (12 if style == "channels" else 0)
    return int(jobs * (per_pixel * size * size + 150e6))
