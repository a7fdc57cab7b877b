"""The class web app (FastAPI): routers by audience over one :class:`~eventcnn.opal.web.session.ClassSession`.

- :mod:`~eventcnn.opal.web.student`: ``/`` and ``/api/join``, ``/api/students/...``, ``/api/displays/...``,
  ``/api/lesson``, ``/api/qr.svg`` (anyone on the classroom network);
- :mod:`~eventcnn.opal.web.board`: ``/board`` and ``/api/board`` (the projector: no secret, no names);
- :mod:`~eventcnn.opal.web.teacher`: ``/teacher`` and ``/api/teacher/...`` (the cookie the teacher's
  token was exchanged for, :mod:`~eventcnn.opal.web.auth`);
- :mod:`~eventcnn.opal.web.pages`: ``/static/...``, the message catalogues, ``/api/health``.

Security: no route takes a file path (assets and pictures come from fixed
tables); inputs are pydantic models with length limits and patterns (422 with a
one-line reason and a message code); bodies over ``max_body`` bytes get 413;
joins are rate-limited (429). Errors are JSON ``{"detail": sentence, "code": key}``
(the pages show the catalogue's words for ``code``).

Example::

    import uvicorn
    from eventcnn.opal.web.app import create_app
    from eventcnn.opal.web.session import open_session
    app = create_app(open_session("displays.zip", "class.sqlite"), ["http://192.168.1.20:8000/"])
    uvicorn.run(app, host="0.0.0.0", port=8000)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from eventcnn.opal.web import board, pages, student, teacher
from eventcnn.opal.web.pages import qr_svg
from eventcnn.opal.web.session import ClassSession
from eventcnn.opal.web.store import StoreError
from eventcnn.opal.web.student import JoinLimiter

__all__ = ["MAX_BODY", "BackgroundServer", "create_app", "qr_svg"]

#: largest request body accepted (bytes); the biggest real one (a vote) is ~150 bytes
MAX_BODY = 4096
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
_CODES = {400: "bad_request", 401: "no_token", 403: "forbidden", 404: "not_found", 409: "busy",
          413: "too_big", 422: "invalid", 429: "too_many", 503: "unavailable"}


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


async def _headers(request: Request, call_next: Any) -> Response:
    response = await call_next(request)
    for k, v in _HEADERS.items():
        response.headers.setdefault(k, v)
    if request.url.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _store_error(_request: Request, exc: StoreError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=exc.status)


async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail, "code": _CODES.get(exc.status_code, "error")},
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _bad_input(_request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body",))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts), "code": "invalid"}, status_code=422)


def create_app(session: ClassSession, student_urls: str | Sequence[str], max_body: int = MAX_BODY,
               qr_url: str | None = None, join_limiter: JoinLimiter | None = None) -> FastAPI:
    """The FastAPI app of a class session.

    ``student_urls``: the students' addresses (the first, or ``qr_url``, goes in
    the QR code); ``join_limiter``: the bounds on joins (default
    :class:`~eventcnn.opal.web.student.JoinLimiter`). Starting the app starts the
    session's housekeeping; stopping it closes the session (the training child
    ends, the database log is emptied into the file, the lock is released).

    Example::

        app = create_app(open_session("displays.zip", "class.sqlite"), "http://127.0.0.1:8000/")
    """
    urls = [student_urls] if isinstance(student_urls, str) else list(student_urls)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        session.start()
        try:
            yield
        finally:
            session.close()

    app = FastAPI(title="eventcnn class", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.session = session
    app.state.student_urls = urls
    app.state.qr_url = qr_url or (urls[0] if urls else "")
    app.state.join_limiter = join_limiter or JoinLimiter()
    app.middleware("http")(_headers)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_input)
    for module in (pages, student, board, teacher):
        app.include_router(module.router)
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
