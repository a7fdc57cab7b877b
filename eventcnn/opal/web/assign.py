"""Which displays each student labels: the class covers the set, each display goes to a few students.

The class labels a *pool* of displays (the ones ``opal suggest`` picks,
:func:`choose_pool`). A student who joins gets ``per_student`` displays
(:func:`assign`): the least covered ones first (so the first students cover the
whole pool once before any display is given a second time), among equally
covered ones the best ranked in the suggest order, never one display twice to
the same student, and a display goes to at most ``overlap`` students while
other displays are below that (two students on one display measure the
agreement). The order a student sees is shuffled with a seeded generator, so
neither the position nor the id says anything about the display.

No FastAPI, no Keras: plain functions, tested directly.

Example::

    pool = choose_pool("centered-masked-rotated1.zip", n=50, seed=0)   # names, suggest order
    mine = assign(pool, {}, per_student=10, overlap=2, seed=0, student=3)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits  # comes with scikit-learn

from eventcnn import __version__
from eventcnn._env import cache_root
from eventcnn._io import write_json_atomic
from eventcnn.errors import UserError
from eventcnn.opal import suggest as _suggest_module
from eventcnn.opal.suggest import suggest

__all__ = ["assign", "capacity_note", "choose_pool", "pool_cache_key"]


def pool_cache_key(source: str | os.PathLike[str], n: int, seed: int,
                   crop: tuple[int, int, int, int] | None = None) -> str:
    """What makes two choices of displays the same: the data's bytes, ``n``, ``seed``, ``crop``, the code.

    A zip is hashed whole (a few milliseconds for the masterclass set); a folder
    by its files' names, sizes and modification times. The source of
    :mod:`eventcnn.opal.suggest` and eventcnn's version are part of the key, so
    a changed choice rule never reuses an old answer.
    """
    h = hashlib.sha256()
    path = Path(source)
    if path.is_file():
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    else:
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            st = f.stat()
            h.update(f"{f.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    h.update(json.dumps([n, seed, list(crop) if crop else None, __version__]).encode())
    h.update(Path(_suggest_module.__file__).read_bytes())
    return h.hexdigest()[:40]


def choose_pool(source: str | os.PathLike[str], n: int, seed: int = 0,
                crop: tuple[int, int, int, int] | None = None, cache: bool = True) -> list[str]:
    """Event names of the ``n`` displays the class labels: exactly what ``eventcnn opal suggest`` prints.

    ``source``: the zip or folder of displays; nothing is labelled yet, so this
    is ``opal suggest``'s diverse first batch (:func:`eventcnn.opal.suggest.suggest`
    with the same ``seed``), best first, without the ``.png``. The choice takes
    seconds (features, PCA, k-means); with ``cache`` it is kept in eventcnn's cache
    (``<cache>/opal/class_pools/``, keyed by :func:`pool_cache_key`), so the next
    new class on the same displays starts at once.

    Example::

        pool = choose_pool("centered-masked-rotated1.zip", n=50, seed=0)   # ['z5301_3017', ...]
    """
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    path = None
    if cache:
        path = cache_root() / "opal" / "class_pools" / f"{pool_cache_key(source, n, seed, crop)}.json"
        with contextlib.suppress(OSError, ValueError, TypeError):
            names = json.loads(path.read_text(encoding="utf-8"))["names"]
            if isinstance(names, list) and len(names) <= n and all(isinstance(x, str) for x in names):
                return names
    with threadpool_limits(limits=1, user_api="openmp"):  # k-means on ~500 displays: one thread is faster
        names = [name[: -len(".png")] for name in suggest(source, None, n=n, seed=seed, crop=crop)]
    if path is not None:
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            write_json_atomic(path, {"names": names, "n": n, "seed": seed})
    return names


def assign(pool: Sequence[str], coverage: Mapping[str, int], per_student: int, overlap: int = 2,
           seed: int = 0, student: int = 0) -> list[str]:
    """The displays of one new student, in the order shown (shuffled).

    ``pool``: display keys in suggest order (best first); ``coverage``: how
    many students have each display so far (missing = 0). Picks the least
    covered displays first, ties broken by suggest rank; displays already at
    ``overlap`` students are taken only when every display is. ``student``
    (the student's number) and ``seed`` make the shown order reproducible.

    Example::

        >>> sorted(assign(["a", "b", "c"], {"a": 1}, per_student=2, seed=0, student=1))
        ['b', 'c']
    """
    if per_student < 1:
        raise UserError(f"per_student must be at least 1, got {per_student}")
    if overlap < 1:
        raise UserError(f"overlap must be at least 1, got {overlap}")
    if len(set(pool)) != len(pool):
        raise UserError("pool has repeated displays")
    rank = {key: i for i, key in enumerate(pool)}
    below = [k for k in pool if coverage.get(k, 0) < overlap]
    above = [k for k in pool if coverage.get(k, 0) >= overlap]
    order = sorted(below, key=lambda k: (coverage.get(k, 0), rank[k]))
    order += sorted(above, key=lambda k: (coverage.get(k, 0), rank[k]))
    picks = order[:per_student]
    rng = np.random.default_rng([int(seed), int(student)])
    return [picks[i] for i in rng.permutation(len(picks))]


def capacity_note(pool: int, per_student: int, overlap: int) -> str:
    """One line for the teacher: how many students the pool serves at the chosen overlap.

    Example::

        >>> capacity_note(50, 10, 2)
        '50 displays x 2 students each = 100 answers, 10 per student: room for 10 students; more students get displays a 3rd time'
    """
    answers = pool * overlap
    room = answers // per_student
    return (f"{pool} displays x {overlap} students each = {answers} answers, {per_student} per student: "
            f"room for {room} students; more students get displays a {overlap + 1}"
            f"{'rd' if overlap + 1 == 3 else 'th' if overlap + 1 > 3 else 'nd'} time")
