"""Routes of /responses: create (whole or streamed as server-sent events) and retrieve a stored response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from vectorhouse.api.deps import VH, Project
from vectorhouse.schemas.responses import ResponseCreate

router = APIRouter(tags=["responses"])


def _sse(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        yield f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


@router.post("/responses", response_model=None)
def create_response(body: ResponseCreate, vh: VH, project: Project) -> dict[str, Any] | StreamingResponse:
    """The file_search tool run here, the answer written by the configured chat model."""
    if body.stream:
        events = vh.responses.stream(project, body)  # validation and search happen before the first byte
        return StreamingResponse(_sse(events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return vh.responses.create(project, body)


@router.get("/responses/{response_id}", response_model=None)
def retrieve_response(response_id: str, vh: VH, project: Project) -> dict[str, Any]:
    return vh.responses.get(project, response_id)
