"""The pages, their assets and the message catalogues: package data served from fixed tables.

No route maps a URL to a file: an asset is looked up by name in
:data:`STATIC`, a catalogue by language code in :data:`LANGUAGES`, so ``..`` or
an absolute path finds nothing. Every word the pages show comes from a message
catalogue (``static/i18n/<lang>.json``, one per language, the same keys in
each: tested); the page picks the language from the browser
(``navigator.languages``), and the reader can switch it on the page.

Example::

    asset("student.js")[:10]
    catalogue("de")["layer.ecal"]     # 'elektromagnetisches Kalorimeter'
"""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as UrlPart
from fastapi.responses import Response

__all__ = ["LANGUAGES", "PAGES", "STATIC", "asset", "catalogue", "page", "qr_svg", "router"]

#: the assets served under /static/, by name -> media type (nothing else is reachable)
STATIC = {
    "app.css": "text/css; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "student.js": "text/javascript; charset=utf-8",
    "teacher.js": "text/javascript; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "denied.js": "text/javascript; charset=utf-8",
}
#: the HTML pages
PAGES = ("student.html", "teacher.html", "board.html", "denied.html")
#: the languages of the pages: code -> the language's own name
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "it": "Italiano"}


@cache
def asset(name: str) -> bytes:
    """A file of ``static/`` (package data), read once."""
    return resources.files("eventcnn.opal.web").joinpath("static", name).read_bytes()


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The message catalogue of a language (``KeyError`` for one not in :data:`LANGUAGES`)."""
    if lang not in LANGUAGES:
        raise KeyError(lang)
    return json.loads(asset(f"i18n/{lang}.json").decode("utf-8"))


def page(name: str, status: int = 200) -> Response:
    """An HTML page of ``static/``."""
    return Response(asset(name), status_code=status, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


def qr_svg(url: str, scale: int = 6) -> bytes:
    """A QR code of ``url`` as SVG (segno, no network).

    Example::

        qr_svg("http://192.168.1.20:8000/")[:4]   # b'<svg'
    """
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=scale, border=2, xmldecl=False)
    return buf.getvalue()


router = APIRouter()


@router.get("/static/{name}", include_in_schema=False)
def static(name: Annotated[str, UrlPart(max_length=40)]) -> Response:
    """An asset of :data:`STATIC`; 404 for any other name."""
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return Response(asset(name), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


@router.get("/static/i18n/{lang}.json", include_in_schema=False)
def messages(lang: Annotated[str, UrlPart(max_length=8)]) -> Response:
    """The message catalogue of a language of :data:`LANGUAGES`; 404 for any other."""
    if lang not in LANGUAGES:
        raise HTTPException(404, "no such language")
    return Response(asset(f"i18n/{lang}.json"), media_type="application/json; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


@router.get("/api/languages")
def languages() -> dict[str, Any]:
    """The languages of the pages (code -> name)."""
    return {"languages": LANGUAGES, "default": "en"}


@router.get("/api/health")
def health() -> dict[str, Any]:
    """The server is up."""
    return {"ok": True}
