"""Every error leaves as OpenAI's envelope {"error": {message, type, param, code}} with the SDK's status."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vectorhouse.api.deps import authenticate
from vectorhouse.api.extensions import ErrorInfo
from vectorhouse.errors import InsufficientStorage, Unavailable, VectorhouseError
from vectorhouse.faults import is_disk_full, is_unreachable, redact

log = logging.getLogger("vectorhouse.api")

# Codes our own validators raise through pydantic; other pydantic error types are not API codes.
_OUR_CODES = {
    "metadata_too_large",
    "metadata_key_too_long",
    "metadata_value_too_long",
    "invalid_metadata",
    "invalid_attributes",
}
_LOCATIONS = {"body", "query", "path", "header", "form"}


REQUEST_ID_HEADER = "x-request-id"


class HttpMiddleware:
    """An ASGI middleware that handles HTTP requests (`http`) and passes anything else (lifespan) through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestIdMiddleware(HttpMiddleware):
    """Gives every request an id (the caller's x-request-id, else a new one) and echoes it on the response."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 else "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or "req_" + secrets.token_hex(12)


def envelope(request: Request, status: int, message: str, param: str | None = None, code: str | None = None,
             error_type: str | None = None) -> JSONResponse:
    """OpenAI's error envelope, unless an extension renders errors on this path its own way."""
    rid = request_id(request)
    error = ErrorInfo(status, message, param, code, rid, request.url.path)
    content: dict[str, Any] | None = None
    for extension in getattr(request.app.state, "extensions", ()):
        content = extension.error_body(error)
        if content is not None:
            break
    if content is None:
        if error_type is None:
            error_type = "server_error" if status >= 500 else "invalid_request_error"
        content = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return JSONResponse(status_code=status, content=content, headers={REQUEST_ID_HEADER: rid})


def _param(loc: tuple[Any, ...]) -> str | None:
    parts = list(loc[1:] if loc and loc[0] in _LOCATIONS else loc)
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or "[" in part or part in {"str", "list[str]"}):
            continue  # union-branch labels pydantic adds, not field names
        else:
            text += f".{part}" if text else str(part)
    return text or None


def validation_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    if first.get("type") == "json_invalid":
        return envelope(request, 400, "We could not parse the JSON body of your request: it is not valid JSON.")
    if first.get("type") == "model_attributes_type" or (first.get("loc") == ("body",)):
        return envelope(request, 400, "The request body must be a JSON object.", code="invalid_request_body")
    param = _param(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid '{param}': {message}." if param else message
    code = first.get("type") if first.get("type") in _OUR_CODES else None
    return envelope(request, 400, message, param=param, code=code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VectorhouseError)
    async def _domain(request: Request, exc: VectorhouseError) -> JSONResponse:
        if exc.status_code >= 500 and exc.status_code != 504:
            log.error("request %s: %s %s failed: %s", request_id(request), request.method, request.url.path,
                      exc.message)
        return envelope(request, exc.status_code, exc.message, exc.param, exc.code, exc.error_type)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code in (404, 405) and request.url.path != "/health":
            # No route matched, so no route dependency checked the key: without one, which routes
            # exist is not told either.
            try:
                await run_in_threadpool(authenticate, request)
            except VectorhouseError as denied:
                return await _domain(request, denied)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"Unknown route: {request.method} {request.url.path}"
        response = envelope(request, exc.status_code, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        fault = fault_response(request, exc)
        if fault is not None:
            return fault
        log.exception("request %s: unhandled error on %s %s", request_id(request), request.method,
                      request.url.path)
        return envelope(request, 500, "The server had an error while processing your request.",
                        code="server_error")

    # Innermost: a fault is answered here, below the telemetry (which then counts its 503 or 507).
    app.add_middleware(FaultResponses)


def fault_response(request: Request, exc: Exception) -> JSONResponse | None:
    """The answer to a fault outside the request's control (a full disk, an unreachable backend), or None."""
    if is_disk_full(exc):
        log.error("request %s: %s %s: the disk is full", request_id(request), request.method, request.url.path)
        error: VectorhouseError = InsufficientStorage("the server's disk is full: nothing of this request was "
                                                      "kept; retry when space is freed")
    elif is_unreachable(exc):
        # Named by kind only: a driver's message may carry the backend's address or credentials.
        log.error("request %s: %s %s: a backend is unreachable: %s", request_id(request), request.method,
                  request.url.path, redact(f"{type(exc).__name__}: {exc}"))
        error = Unavailable("a storage backend of this server is unreachable right now; retry shortly")
    else:
        return None
    log.error("request %s: %s %s failed: %s", request_id(request), request.method, request.url.path, error.message)
    return envelope(request, error.status_code, error.message, error.param, error.code, error.error_type)


class FaultResponses(HttpMiddleware):
    """Answers faults (`fault_response`) without letting the exception rise: Starlette re-raises whatever
    reaches its last-resort handler after sending the answer, and uvicorn then closes the connection,
    so a client reusing it would see the next request dropped."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            response = None if started else fault_response(Request(scope, receive), exc)
            if response is None:
                raise
            await response(scope, receive, send)
