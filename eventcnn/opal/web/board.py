"""The projector's routes: ``/board`` shows progress, answers per class and the result; it needs no secret.

What the board shows is what the whole class may see: counts, the agreement
between students, the training's progress and the physics result. No student
names, no event names or ids, no downloads.

Example::

    app.include_router(router)      # what eventcnn.opal.web.app.create_app does
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from eventcnn.opal.web.auth import Session
from eventcnn.opal.web.pages import page

__all__ = ["board_progress", "router", "training_view"]

router = APIRouter()


def board_progress(class_progress: dict[str, Any]) -> dict[str, Any]:
    """The class's progress without names: how many students, answers, displays, classes, agreement."""
    students = class_progress["students"]
    return {"students": len(students), "active": sum(bool(s.get("active")) for s in students),
            "assigned": sum(s["assigned"] for s in students), "answered": sum(s["answered"] for s in students),
            **{k: class_progress[k] for k in ("votes", "per_class", "displays", "displays_answered", "displays_twice",
                                        "class_labels", "ties", "agreement")}}


def training_view(status: dict[str, Any]) -> dict[str, Any]:
    """The training's state for any screen: a stage code with its arguments and the fraction done."""
    return {k: status.get(k) for k in ("state", "stage", "args", "fraction", "runs")}


@router.get("/board", include_in_schema=False)
def board_page() -> Response:
    """The projector's page (no secret)."""
    return page("board.html")


@router.get("/api/board")
def board(request: Request, session: Session) -> dict[str, Any]:
    """Progress, training and result as the projector shows them."""
    status = session.job.status()
    return {"progress": board_progress(session.store.progress(session.settings.idle)),
            "training": training_view(status), "student_url": request.app.state.qr_url,
            "results": session.public_results() if status["runs"] else None,
            "problem": "db_gone" if session.store.check_file() else None}
