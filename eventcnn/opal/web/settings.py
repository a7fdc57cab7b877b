"""The options of a lesson, checked when the server starts (``eventcnn class serve`` reads its defaults here).

No FastAPI: the command line imports it to show the defaults.

Example::

    LessonSettings(students=30).n          # 150 displays: 30 students x 10 each / 2 students per display
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eventcnn.errors import UserError
from eventcnn.learn.registry import (  # the network's vocabulary: no Keras
    MASTERCLASS,
    check_input_size,
)
from eventcnn.limits import MAX_EPOCHS, check_count
from eventcnn.opal.displays import IMAGE_SIZE
from eventcnn.seeds import DEFAULT_SEED

__all__ = ["DEFAULTS", "LessonSettings"]


@dataclass
class LessonSettings:
    """The options of a lesson (``eventcnn class serve`` reads its defaults from here).

    ``students``: the class size the displays are shared for; ``per_student``:
    displays each student labels; ``overlap``: students per display (agreement);
    ``n``: displays the class labels (default ``ceil(students * per_student /
    overlap)``); ``idle``: seconds of silence after which a student's unanswered
    displays go back to the pool; ``max_students``: joins beyond this are
    refused (default ``max(2 * students, students + 10)``); ``epochs``: at most
    this many training epochs (the lesson's time budget: 4 epochs of 32 batches
    at 1e-4 take 0.4 of the computing of 12 at 3e-5, same accuracy, balanced
    accuracy about 0.01 lower; ``bench/lesson_job.py``, docs/benchmarks.md); ``examples`` per class
    and ``practice`` displays (with an answer key).
    """

    students: int = 25
    per_student: int = 10
    overlap: int = 2
    n: int | None = None
    seed: int = DEFAULT_SEED
    size: int = IMAGE_SIZE
    epochs: int = 4
    idle: float = 180.0
    max_students: int | None = None
    examples: int = 2
    practice: int = 4

    def __post_init__(self) -> None:
        self.students = check_count("--students", self.students, 1, 1000)
        self.per_student = check_count("--per-student", self.per_student, 1, 1000)
        self.overlap = check_count("--overlap", self.overlap, 1, 20)
        self.epochs = check_count("--epochs", self.epochs, 1, MAX_EPOCHS)
        self.size = check_input_size(MASTERCLASS, self.size)  # too small for the network: refused at start
        self.examples = check_count("examples", self.examples, 0, 10)
        self.practice = check_count("practice", self.practice, 0, 20)
        if self.n is None:
            self.n = math.ceil(self.students * self.per_student / self.overlap)
        self.n = check_count("--n", self.n, 1, 1_000_000)
        if self.max_students is None:
            self.max_students = max(2 * self.students, self.students + 10)
        self.max_students = check_count("max_students", self.max_students, 1, 10_000)
        if not (isinstance(self.idle, (int, float)) and 10 <= self.idle <= 86400):
            raise UserError(f"--idle must be 10 to 86400 seconds, got {self.idle}")


#: the defaults of every lesson option
DEFAULTS = LessonSettings()
