"""Shared route dependencies: the `Vectorhouse`, the caller (key → project), cursor parameters, poll headers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request, Response

from vectorhouse.errors import InvalidRequest
from vectorhouse.service import Vectorhouse
from vectorhouse.service.keys import Caller
from vectorhouse.service.pagination import PageRequest


# The dependencies below are `async` although they never await: FastAPI runs a plain `def`
# dependency in the thread pool, and each such hop cost a search about 0.2 ms.
async def get_vectorhouse(request: Request) -> Vectorhouse:
    return request.app.state.vectorhouse


VH = Annotated[Vectorhouse, Depends(get_vectorhouse)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# A plain `def`: the key lookup reads the catalog, which must not block the event loop.
def authenticate(request: Request) -> Caller:
    """Every route but /health: the project this request's key acts in (401 when auth is on and it has none)."""
    return request.app.state.vectorhouse.keys.authenticate(bearer_token(request))


Auth = Annotated[Caller, Depends(authenticate)]


async def project_id(caller: Auth) -> str:
    return caller.project_id


# The project every object a route reads or writes must belong to.
Project = Annotated[str, Depends(project_id)]


async def cursor_page(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    before: str | None = None,
) -> PageRequest:
    return PageRequest(limit=limit, order=order, after=after, before=before)


Cursor = Annotated[PageRequest, Depends(cursor_page)]


async def query_without_nul(request: Request) -> None:
    """Query values end up compared with text columns, and PostgreSQL text cannot hold NUL: a 400 names it."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value:
            raise InvalidRequest(f"query parameter '{name}' must not contain NUL characters", param=name)


def poll_hint(response: Response, vh: Vectorhouse, status: str) -> None:
    """Objects still in progress tell the SDK's poll helpers how long to wait (an integer string)."""
    if status == "in_progress":
        response.headers["openai-poll-after-ms"] = str(vh.settings.poll_after_ms)
