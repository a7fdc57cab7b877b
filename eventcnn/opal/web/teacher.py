"""The teacher's routes: the page, live progress with names, "Train now", removing a student, the result, downloads.

Every route here depends on :data:`eventcnn.opal.web.auth.TeacherSession` (the
cookie the token was exchanged for, or the ``X-Teacher-Token`` header).
``GET /teacher?token=T`` makes that exchange: 303 to ``/teacher`` with the cookie.
Downloads name displays by opaque id (:mod:`eventcnn.opal.ids`), never by event name.

Example::

    app.include_router(router)      # what eventcnn.opal.web.app.create_app does
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as UrlPart
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from eventcnn.opal.web.auth import (
    COOKIE,
    Session,
    TeacherSession,
    cookie_ok,
    set_teacher_cookie,
    token_ok,
)
from eventcnn.opal.web.board import training_view
from eventcnn.opal.web.export import labels_text, votes_text
from eventcnn.opal.web.pages import page
from eventcnn.opal.web.supervisor import MIN_LABELS

__all__ = ["router"]

router = APIRouter()


@router.get("/teacher", include_in_schema=False)
def teacher_page(request: Request, session: Session,
                 token: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """With ``?token=``: exchange it for the cookie (303 to ``/teacher``); else the page (or 401/403)."""
    if token is not None:
        if not token_ok(session, token):
            return page("denied.html", 403)
        response = RedirectResponse("/teacher", status_code=303, headers={"Cache-Control": "no-store"})
        set_teacher_cookie(response, session)
        return response
    cookie = request.cookies.get(COOKIE)
    if cookie is None:
        return page("denied.html", 401)
    if not cookie_ok(session, cookie):
        return page("denied.html", 403)
    return page("teacher.html")


@router.get("/api/teacher/status")
def status(request: Request, session: TeacherSession) -> dict[str, Any]:
    """Progress with names, the training, the addresses, how the displays are shared, problems."""
    return {"progress": session.store.progress(session.settings.idle), "training": {
                **training_view(session.job.status()), "error": session.job.status().get("error")},
            "student_urls": request.app.state.student_urls, "student_url": request.app.state.qr_url,
            "capacity": session.capacity(), "min_labels": MIN_LABELS,
            "lesson": {"examples": len(session.store.extras("example")),
                       "practice": len(session.store.extras("practice")),
                       "reference": session.reference is not None},
            "problem": session.store.check_file()}


@router.post("/api/teacher/train", status_code=202)
def train_now(session: TeacherSession) -> dict[str, Any]:
    """Start training on the class's labels (409 while one runs; 400 with too few labels)."""
    if session.store.check_file():
        raise HTTPException(503, session.store.check_file())
    n = len(session.store.labels())
    if n < MIN_LABELS:
        raise HTTPException(400, f"only {n} displays have a class label; at least {MIN_LABELS} "
                                 "are needed: let the class label more first")
    if not session.job.start():
        raise HTTPException(409, "a training is running already")
    return {"started": True, "labels": n}


@router.post("/api/teacher/students/{number}/remove")
def remove(number: Annotated[int, UrlPart(ge=1, le=100_000)], session: TeacherSession) -> dict[str, Any]:
    """Take a student out of the class: their votes stop counting, their displays go back to the pool."""
    return session.store.remove_student(number)


@router.get("/api/teacher/results")
def results(session: TeacherSession) -> dict[str, Any]:
    """The full result of the last training: measurement, held-out confusion, answer-key scores, curves, pictures."""
    lesson = session.job.lesson()
    if lesson is None:
        raise HTTPException(404, "not trained yet")
    return {"results": session.results(), "curves": session.curves(),
            "unsure": [{"figure": u["figure"], "probs": u["probs"]} for u in lesson.get("unsure", [])],
            "occlusion": [{"figure": o["figure"], "target": o["target"], "p": o["p"]}
                          for o in lesson.get("occlusion", [])],
            "training": {k: lesson.get(k) for k in ("labels", "per_class", "trained_on", "validation",
                                                    "best_epoch", "epochs_max", "pretrained", "seconds",
                                                    "tta_copies", "heldout_share")}}


@router.get("/api/teacher/figures/{key}")
def figure(key: Annotated[str, UrlPart(pattern=r"^[a-z]{1,12}[0-9]$")], session: TeacherSession) -> Response:
    """A picture of the last training (a least-sure display, an occlusion map)."""
    path = session.figure(key)
    if path is None:
        raise HTTPException(404, f"no picture {key!r}: train first")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})


@router.get("/api/teacher/labels.csv")
def labels_csv(session: TeacherSession) -> Response:
    """The class's labels (majority per display) in the label-file format, by opaque display id."""
    return PlainTextResponse(labels_text(session.store), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="labels.csv"'})


@router.get("/api/teacher/votes.csv")
def votes_csv(session: TeacherSession) -> Response:
    """Every vote, by opaque display id."""
    return PlainTextResponse(votes_text(session.store), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="votes.csv"'})
