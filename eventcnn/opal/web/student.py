"""The students' routes: join, learn, practise, label (with undo), see what they did and the class's result.

Nothing a student receives names an event or its class: displays travel under
random ids, the answers of the pool are never sent (only the student's own
last answer when they undo it), and the example and practice displays, whose
class is shown by design, are outside the pool the class labels. Joins are
bounded (:class:`JoinLimiter`: a flood gets 429; a full class too).

Example::

    app.include_router(router)      # what eventcnn.opal.web.app.create_app does
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as UrlPart
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from eventcnn.opal.web.auth import Session
from eventcnn.opal.web.pages import page, qr_svg
from eventcnn.opal.web.store import MAX_NAME

__all__ = ["ID_PATTERN", "IdPart", "JoinIn", "JoinLimiter", "LAYERS", "PracticeIn", "VoteIn", "router"]

#: what a random id in a URL or a body looks like (students, displays, votes)
ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
IdPart = Annotated[str, UrlPart(pattern=ID_PATTERN)]
#: the detector layers of the colour key, as radii in display pixels of a 200 px display (centre at 100):
#: where the real masterclass displays draw them (eventcnn.opal.simulate.Detector measured them)
LAYERS = {"tracks": (0, 30), "ecal": (36, 50), "hcal": (50, 66), "muon": (71, 87), "mask": (96, 100)}
#: the colours of the displays: energy or momentum ranges in GeV
ENERGY_COLOURS = [("#ffff00", 0, 1), ("#00ff00", 1, 3), ("#0070ff", 3, 6), ("#ff00ff", 6, 12),
                  ("#00ffff", 12, 25), ("#ffffff", 25, None)]

router = APIRouter()


class JoinIn(BaseModel):
    """A student joining: a first name or a nickname."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=4 * MAX_NAME)


class VoteIn(BaseModel):
    """One answer: the display's id, the label, and an id the browser made (double taps count once)."""

    model_config = ConfigDict(extra="forbid")
    display: str = Field(pattern=ID_PATTERN)
    label: Literal["q", "e", "m", "t", "skip"]
    vote_id: str = Field(pattern=ID_PATTERN)


class PracticeIn(BaseModel):
    """A practice answer."""

    model_config = ConfigDict(extra="forbid")
    display: str = Field(pattern=ID_PATTERN)
    answer: Literal["q", "e", "m", "t"]


class JoinLimiter:
    """Token buckets for joins: per client address and for the whole class (a flood gets 429).

    ``per_client``: ``(burst, seconds per new join)``; ``overall`` likewise.
    A class of 30 joining within a minute passes; 300 joins in a second do not.
    Clients in ``exempt`` (this computer itself: the teacher trying the pages,
    benchmarks) count only towards ``overall``.
    """

    def __init__(self, per_client: tuple[int, float] = (8, 3.0), overall: tuple[int, float] = (60, 0.2),
                 exempt: tuple[str, ...] = ("127.0.0.1", "::1")) -> None:
        self.per_client, self.overall, self.exempt = per_client, overall, exempt
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _take(self, key: str, burst: int, every: float, now: float) -> bool:
        level, last = self._buckets.get(key, (float(burst), now))
        level = min(float(burst), level + (now - last) / every)
        if level < 1.0:
            self._buckets[key] = (level, now)
            return False
        self._buckets[key] = (level - 1.0, now)
        return True

    def allow(self, client: str, now: float | None = None) -> bool:
        """Whether a join from ``client`` may go ahead now (and count it)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._buckets) > 10_000:  # forget old clients (bounded memory)
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 600}
            if client not in self.exempt and not self._take("c:" + client, *self.per_client, now):
                return False
            return self._take("*", *self.overall, now)


@router.get("/", include_in_schema=False)
def student_page() -> Response:
    """The students' page."""
    return page("student.html")


@router.get("/api/lesson")
def lesson(session: Session) -> dict[str, Any]:
    """The learning step: example displays with their class, practice display ids, the colour key."""
    return {**session.lesson(), "layers": LAYERS, "size": 200,
            "colours": [{"colour": c, "from": lo, "to": hi} for c, lo, hi in ENERGY_COLOURS]}


@router.get("/api/qr.svg")
def qr(request: Request) -> Response:
    """A QR code of the students' address (no secret: the projector shows it)."""
    return Response(qr_svg(request.app.state.qr_url), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-cache"})


@router.post("/api/join")
def join(body: JoinIn, request: Request, session: Session) -> dict[str, Any]:
    """A student joins: their id and first display."""
    client = request.client.host if request.client else "?"
    if not request.app.state.join_limiter.allow(client):
        raise HTTPException(429, "too many joins at once: wait a moment and try again")
    sid = session.join(body.name)
    return {"student": sid, **session.store.student(sid), **session.next_display(sid)}


@router.get("/api/students/{sid}")
def next_display(sid: IdPart, session: Session) -> dict[str, Any]:
    """The student's next display (``display`` None when done)."""
    return {**session.store.student(sid), **session.next_display(sid)}


@router.post("/api/students/{sid}/votes")
def vote(sid: IdPart, body: VoteIn, session: Session) -> dict[str, Any]:
    """Record an answer (committed before the reply); the reply holds the next display."""
    result = session.store.vote(sid, body.display, body.label, body.vote_id)
    return {**result, "next": session.next_display(sid)}


@router.post("/api/students/{sid}/undo")
def undo(sid: IdPart, session: Session) -> dict[str, Any]:
    """Take back the last answer: that display comes back."""
    done = session.store.undo(sid)
    return {**done, "next": session.next_display(sid)}


@router.post("/api/students/{sid}/practice")
def practice(sid: IdPart, body: PracticeIn, session: Session) -> dict[str, Any]:
    """A practice answer: right or not, and the display's class (practice displays are outside the pool)."""
    return session.store.practice_answer(sid, body.display, body.answer)


@router.post("/api/students/{sid}/more")
def more(sid: IdPart, session: Session) -> dict[str, Any]:
    """A finished student labels a few more displays (those fewer than ``overlap`` students have seen)."""
    added = session.store.more(sid, session.settings.per_student, session.settings.overlap, session.settings.seed)
    return {"added": added, "next": session.store.next_display(sid)}


@router.get("/api/students/{sid}/summary")
def summary(sid: IdPart, session: Session) -> dict[str, Any]:
    """What the student did, how often classmates agreed, and the class's result once trained."""
    status = session.job.status()
    return {"summary": session.store.student_summary(sid),
            "training": {"state": status["state"], "stage": status["stage"], "args": status.get("args", {}),
                         "fraction": status["fraction"], "runs": status["runs"]},
            "results": session.public_results() if status["state"] == "done" or status["runs"] else None}


@router.get("/api/displays/{did}")
def display(did: IdPart, session: Session) -> Response:
    """A display as PNG by its random id (pool, example or practice)."""
    data = session.png(did)
    if data is None:
        raise HTTPException(404, "no such display")
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
