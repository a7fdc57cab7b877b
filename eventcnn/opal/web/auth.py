"""Who may do what: the session of the app, and the teacher's token as one FastAPI dependency.

The teacher opens the address the server printed, ``/teacher?token=T``, once:
the token is checked and exchanged for an HttpOnly, ``SameSite=Strict`` cookie,
and the answer is a 303 to ``/teacher``, so the token leaves the address bar (a
projected page shows no secret). Afterwards every teacher route accepts the
cookie, or the ``X-Teacher-Token`` header (scripts, benchmarks); never the
token in a URL. Teacher routes that change something also refuse a request
whose ``Origin`` is another site.

Example::

    @router.get("/api/teacher/status")
    def status(session: TeacherSession) -> dict: ...
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import Response

from eventcnn.opal.web.session import ClassSession

__all__ = ["COOKIE", "COOKIE_MAX_AGE", "Session", "TeacherSession", "cookie_ok", "cookie_value", "get_session",
           "set_teacher_cookie", "teacher_session", "token_ok"]

#: the teacher's cookie
COOKIE = "eventcnn_teacher"
#: how long the cookie lasts (a school day)
COOKIE_MAX_AGE = 12 * 3600


def get_session(request: Request) -> ClassSession:
    """The class session the app serves (``app.state.session``)."""
    return request.app.state.session


def cookie_value(token: str) -> str:
    """The cookie's value: derived from the token (the token itself never travels again)."""
    return hmac.new(token.encode(), b"eventcnn class teacher cookie v1", hashlib.sha256).hexdigest()


def token_ok(session: ClassSession, given: str) -> bool:
    """Whether ``given`` is the teacher's token (constant-time comparison)."""
    return secrets.compare_digest(given.encode(), session.store.teacher_token.encode())


def cookie_ok(session: ClassSession, cookie: str) -> bool:
    """Whether ``cookie`` is the teacher's cookie (constant-time comparison)."""
    return secrets.compare_digest(cookie.encode(), cookie_value(session.store.teacher_token).encode())


def set_teacher_cookie(response: Response, session: ClassSession) -> None:
    """Give the teacher's browser its cookie (HttpOnly, SameSite=Strict, the whole site)."""
    response.set_cookie(COOKIE, cookie_value(session.store.teacher_token), max_age=COOKIE_MAX_AGE, path="/",
                        httponly=True, samesite="strict")


def teacher_session(request: Request, session: Annotated[ClassSession, Depends(get_session)],
                    x_teacher_token: Annotated[str | None, Header(max_length=200)] = None) -> ClassSession:
    """The dependency of every teacher route: 401 without a credential, 403 with a wrong one or a foreign origin."""
    cookie = request.cookies.get(COOKIE)
    token = session.store.teacher_token
    if cookie is None and x_teacher_token is None:
        raise HTTPException(401, "the teacher's address is needed: open the teacher address the server printed")
    good = (cookie is not None and cookie_ok(session, cookie)) or \
        (x_teacher_token is not None and secrets.compare_digest(x_teacher_token.encode(), token.encode()))
    if not good:
        raise HTTPException(403, "wrong teacher token: open the teacher address the server printed")
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("origin")
        host = request.headers.get("host", "")
        if origin is not None and origin.split("://", 1)[-1].rstrip("/") != host:
            raise HTTPException(403, "request from another site refused")
    return session


#: a route parameter: the class session (anyone)
Session = Annotated[ClassSession, Depends(get_session)]
#: a route parameter: the class session, for the teacher only
TeacherSession = Annotated[ClassSession, Depends(teacher_session)]
