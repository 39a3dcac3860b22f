"""The web console: static pages served at / by `vectorhouse serve`, talking to the public API with the user's key."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from vectorhouse.api.extensions import ErrorInfo

STATIC = files("vectorhouse.console") / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def _asset(name: str) -> Response:
    resource = STATIC / name
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in _TYPES or not resource.is_file():
        raise HTTPException(status_code=404, detail=f"no console asset named '{name}'")
    # The page asks for the key itself; nothing here is secret, and it must load before there is one.
    return Response(resource.read_bytes(), media_type=_TYPES[suffix], headers={"Cache-Control": "no-cache"})


class Console:
    """The console as an extension (api/extensions.py): public routes only; its API calls carry the key."""

    def routers(self) -> Sequence[APIRouter]:
        return ()

    def public_routers(self) -> Sequence[APIRouter]:
        router = APIRouter(tags=["console"], include_in_schema=False)

        @router.get("/")
        def index() -> Response:
            return _asset("index.html")

        @router.get("/console/{name}")
        def asset(name: str) -> Response:
            return _asset(name)

        return (router,)

    def error_body(self, error: ErrorInfo) -> dict[str, Any] | None:
        return None
