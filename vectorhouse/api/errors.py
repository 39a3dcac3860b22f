"""Every error leaves as OpenAI's envelope {"error": {message, type, param, code}} with the SDK's status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vectorhouse.errors import VectorhouseError

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


def envelope(status: int, message: str, param: str | None = None, code: str | None = None,
             error_type: str | None = None) -> JSONResponse:
    if error_type is None:
        error_type = "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": error_type, "param": param, "code": code}},
    )


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


def validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    if first.get("type") == "json_invalid":
        return envelope(400, "We could not parse the JSON body of your request: it is not valid JSON.")
    if first.get("type") == "model_attributes_type" or (first.get("loc") == ("body",)):
        return envelope(400, "The request body must be a JSON object.", code="invalid_request_body")
    param = _param(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid '{param}': {message}." if param else message
    code = first.get("type") if first.get("type") in _OUR_CODES else None
    return envelope(400, message, param=param, code=code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VectorhouseError)
    async def _domain(request: Request, exc: VectorhouseError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return envelope(exc.status_code, exc.message, exc.param, exc.code, exc.error_type)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"Unknown route: {_request.method} {_request.url.path}"
        response = envelope(exc.status_code, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(500, "The server had an error while processing your request.", code="server_error")
