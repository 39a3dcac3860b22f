"""/api/vector-stores: the /v1 vector-store routes under kebab-case paths, server-side poll routes, enhanced errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.routing import APIRoute

from vectorhouse.api import file_batches, vector_store_files, vector_stores
from vectorhouse.api.deps import VH, Project
from vectorhouse.api.extensions import ErrorInfo
from vectorhouse.errors import hint_for
from vectorhouse.schemas.objects import VectorStoreFileObject, VectorStoreObject
from vectorhouse.schemas.requests import PollRequest

PREFIX = "/api"
# The whole body is optional: no body waits the default (the cap).
OptionalPoll = Annotated[PollRequest | None, Body()]


# The /v1 routes this flavour also answers on PATCH.
UPDATES = frozenset({"update_vector_store", "update_vector_store_file"})
# `?max_wait_ms=` as the flavour's spec shows it; a JSON body's max_wait_ms is read too.
MaxWaitQuery = Annotated[int | None, Query(ge=0)]


def _max_wait(query: int | None, body: PollRequest | None) -> int:
    """The query string's max_wait_ms, else the body's, else the default (both capped the same way)."""
    if query is not None:
        return PollRequest(max_wait_ms=query).max_wait_ms
    return (body or PollRequest()).max_wait_ms


def _kebab(path: str) -> str:
    return path.replace("/vector_stores", "/vector-stores").replace("/file_batches", "/file-batches")


def build_router() -> APIRouter:
    """Every /v1 vector-store route, same endpoint function, kebab-case path; errors use the enhanced body."""
    router = APIRouter(prefix=PREFIX, tags=["/api/vector-stores"])
    for source in (vector_stores.router, vector_store_files.router, file_batches.router):
        for route in source.routes:
            assert isinstance(route, APIRoute)
            methods = set(route.methods)
            if route.name in UPDATES:
                methods.add("PATCH")  # this flavour's spelling of an update; POST stays, as on /v1
            router.add_api_route(
                _kebab(route.path),
                route.endpoint,
                methods=sorted(methods),
                response_model=route.response_model,
                name=f"api_{route.name}",
            )

    @router.post("/vector-stores/{vector_store_id}/poll", response_model=VectorStoreObject)
    def poll_vector_store(vector_store_id: str, vh: VH, project: Project, max_wait_ms: MaxWaitQuery = None,
                          body: OptionalPoll = None) -> VectorStoreObject:
        """Waits until no file of the store is in progress (or it expired); 504 file_indexing_timeout if not."""
        return vh.stores.wait(project, vector_store_id, _max_wait(max_wait_ms, body), vh.events)

    @router.post("/vector-stores/{vector_store_id}/files/{file_id}/poll", response_model=VectorStoreFileObject)
    def poll_vector_store_file(vector_store_id: str, file_id: str, vh: VH, project: Project,
                               max_wait_ms: MaxWaitQuery = None, body: OptionalPoll = None) -> VectorStoreFileObject:
        """Waits until the file is completed, failed or cancelled; 504 file_indexing_timeout if not."""
        return vh.store_files.wait(project, vector_store_id, file_id, _max_wait(max_wait_ms, body))

    return router


class VectorStoresApi:
    """The /api/vector-stores flavour as an extension (api/extensions.py): its routes, and its error body."""

    def routers(self) -> Sequence[APIRouter]:
        return (build_router(),)

    def error_body(self, error: ErrorInfo) -> dict[str, Any] | None:
        if not error.path.startswith(PREFIX + "/"):
            return None
        return {
            "statusCode": error.status,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "path": error.path,
            "message": error.message,
            "request_id": error.request_id,
            "error_code": error.code,
            "parameter": error.param,
            "hint": hint_for(error.code),
        }
