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

import os
from collections.abc import Mapping, Sequence

import numpy as np

from eventcnn.errors import UserError
from eventcnn.opal.suggest import suggest

__all__ = ["assign", "capacity_note", "choose_pool"]


def choose_pool(source: str | os.PathLike[str], n: int, seed: int = 0,
                crop: tuple[int, int, int, int] | None = None) -> list[str]:
    """Event names of the ``n`` displays the class labels: exactly what ``eventcnn opal suggest`` prints.

    ``source``: the zip or folder of displays; nothing is labelled yet, so this
    is ``opal suggest``'s diverse first batch (:func:`eventcnn.opal.suggest.suggest`
    with the same ``seed``), best first, without the ``.png``.

    Example::

        pool = choose_pool("centered-masked-rotated1.zip", n=50, seed=0)   # ['z5301_3017', ...]
    """
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    return [name[: -len(".png")] for name in suggest(source, None, n=n, seed=seed, crop=crop)]


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
