"""The class web app (FastAPI): a thin HTTP layer over :class:`~eventcnn.opal.web.session.ClassSession`.

Pages: ``/`` (students: join, label one display at a time) and
``/teacher?token=...`` (progress, agreement, training, pictures). Every asset is
package data (no CDN). The browser knows displays only by random ids, students
by random ids; nothing it receives names an event or its class.

Security: teacher routes need the token (header ``X-Teacher-Token`` or query
``token``; 401 without, 403 when wrong); no route takes a file path (assets and
pictures are looked up in fixed tables, so ``..`` or absolute paths find
nothing); inputs are pydantic models with length limits and patterns (422 with a
one-line reason); bodies over ``max_body`` bytes get 413.

Example::

    import uvicorn
    from eventcnn.opal.web.app import create_app
    from eventcnn.opal.web.session import open_session
    app = create_app(open_session("displays.zip", "class.sqlite"), "http://127.0.0.1:8000/")
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import io
import secrets
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as UrlPart
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from eventcnn.opal.web.export import labels_text, votes_text
from eventcnn.opal.web.session import ClassSession, hints
from eventcnn.opal.web.store import StoreError
from eventcnn.opal.web.training import MIN_LABELS

__all__ = ["MAX_BODY", "STATIC", "BackgroundServer", "create_app", "qr_svg"]

#: largest request body accepted (bytes); the biggest real one (a vote) is ~150 bytes
MAX_BODY = 4096
#: the package assets served, by URL name -> media type (nothing else is reachable)
STATIC = {
    "app.css": "text/css; charset=utf-8",
    "student.js": "text/javascript; charset=utf-8",
    "teacher.js": "text/javascript; charset=utf-8",
}
_PAGES = ("student.html", "teacher.html")
_ID = r"^[A-Za-z0-9_-]{8,64}$"
#: a random id in a URL (students, displays)
IdPart = Annotated[str, UrlPart(pattern=_ID)]
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


class JoinIn(BaseModel):
    """A student joining: a first name or a nickname."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)


class VoteIn(BaseModel):
    """One answer: the display's id, the label, and an id the browser made (double taps count once)."""

    model_config = ConfigDict(extra="forbid")
    display: str = Field(pattern=_ID)
    label: Literal["q", "e", "m", "t", "skip"]
    vote_id: str = Field(pattern=_ID)


def qr_svg(url: str, scale: int = 6) -> bytes:
    """A QR code of ``url`` as SVG (segno, no network).

    Example::

        qr_svg("http://192.168.1.20:8000/")[:5]   # b'<?xml' or b'<svg '
    """
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=scale, border=2, xmldecl=False)
    return buf.getvalue()


class _BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _plain(send, 413, f"request body over {self.limit} bytes")
            return
        body = b""  # bodies here are small: read it all first, then replay it to the app
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await _plain(send, 413, f"request body over {self.limit} bytes")
                return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _plain(send: Any, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _asset(name: str) -> bytes:
    return resources.files("eventcnn.opal.web").joinpath("static", name).read_bytes()


def create_app(session: ClassSession, student_url: str, max_body: int = MAX_BODY) -> FastAPI:
    """The FastAPI app of a class session; ``student_url`` is what the join QR code says.

    Example::

        app = create_app(open_session("displays.zip", "class.sqlite"), "http://127.0.0.1:8000/")
    """
    app = FastAPI(title="eventcnn class", docs_url=None, redoc_url=None, openapi_url=None)
    assets = {name: _asset(name) for name in (*STATIC, *_PAGES)}
    store = session.store
    token = store.teacher_token

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_input(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:3]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body",))
            parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    def teacher(x_teacher_token: Annotated[str | None, Header(max_length=200)] = None,
                token_q: Annotated[str | None, Query(alias="token", max_length=200)] = None) -> None:
        given = x_teacher_token or token_q
        if not given:
            raise HTTPException(401, "the teacher's token is needed (the teacher URL printed by the server)")
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(403, "wrong teacher token")

    # -- pages and assets --------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def student_page() -> Response:
        return Response(assets["student.html"], media_type="text/html; charset=utf-8")

    @app.get("/teacher", include_in_schema=False, dependencies=[Depends(teacher)])
    def teacher_page() -> Response:
        return Response(assets["teacher.html"], media_type="text/html; charset=utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: Annotated[str, UrlPart(max_length=40)]) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        return Response(assets[name], media_type=STATIC[name],
                        headers={"Cache-Control": "no-cache"})

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True}

    # -- students ------------------------------------------------------------------
    @app.get("/api/hints")
    def get_hints() -> list[dict[str, str]]:
        return hints()

    @app.post("/api/join")
    def join(body: JoinIn) -> dict[str, Any]:
        sid = session.join(body.name)
        return {"student": sid, **store.student(sid), **store.next_display(sid)}

    @app.get("/api/students/{sid}")
    def next_display(sid: IdPart) -> dict[str, Any]:
        return {**store.student(sid), **store.next_display(sid)}

    @app.post("/api/students/{sid}/votes")
    def vote(sid: IdPart, body: VoteIn) -> dict[str, Any]:
        result = store.vote(sid, body.display, body.label, body.vote_id)
        return {**result, "next": store.next_display(sid)}

    @app.get("/api/displays/{did}")
    def display(did: IdPart) -> Response:
        data = session.png(did)
        if data is None:
            raise HTTPException(404, "no such display")
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    # -- the teacher -----------------------------------------------------------------
    @app.get("/api/teacher/status", dependencies=[Depends(teacher)])
    def status() -> dict[str, Any]:
        return {"progress": store.progress(), "training": _public(session.job.status()),
                "student_url": student_url, "capacity": session.capacity(),
                "per_student": session.per_student, "overlap": session.overlap,
                "min_labels": MIN_LABELS}

    @app.get("/api/teacher/qr.svg", dependencies=[Depends(teacher)])
    def qr() -> Response:
        return Response(qr_svg(student_url), media_type="image/svg+xml")

    @app.post("/api/teacher/train", dependencies=[Depends(teacher)], status_code=202)
    def train() -> dict[str, Any]:
        n = len(store.labels())
        if n < MIN_LABELS:
            raise HTTPException(400, f"only {n} displays have a class label; at least {MIN_LABELS} "
                                     "are needed: let the class label more first")
        if not session.job.start():
            raise HTTPException(409, "a training is running already")
        return {"started": True, "labels": n}

    @app.get("/api/teacher/figures/{key}", dependencies=[Depends(teacher)])
    def figure(key: Annotated[str, UrlPart(pattern=r"^[a-z]{1,20}$")]) -> Response:
        path = session.figure(key)
        if path is None:
            raise HTTPException(404, f"no picture {key!r} yet: train first")
        return FileResponse(path, media_type="image/png")

    @app.get("/api/teacher/labels.csv", dependencies=[Depends(teacher)])
    def labels_csv() -> Response:
        return PlainTextResponse(labels_text(store), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="labels.csv"'})

    @app.get("/api/teacher/votes.csv", dependencies=[Depends(teacher)])
    def votes_csv() -> Response:
        return PlainTextResponse(votes_text(store), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="votes.csv"'})

    app.add_middleware(_BodyLimit, limit=max_body)  # outermost: before anything reads the body
    return app


class BackgroundServer:
    """uvicorn serving ``app`` in a thread on ``host`` (a free port when ``port`` is 0), for tests and benchmarks.

    Example::

        with BackgroundServer(app) as server:
            urllib.request.urlopen(server.url + "api/health")
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket
        import threading

        import uvicorn

        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
        self.url = f"http://{host}:{port}/"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="eventcnn-class-server", daemon=True)

    def __enter__(self) -> BackgroundServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the class server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _public(status: dict[str, Any]) -> dict[str, Any]:
    """The training status without the traceback (the teacher sees the one-line error)."""
    return {k: v for k, v in status.items() if k != "trace"}
