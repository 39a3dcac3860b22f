"""Routes of /vector_stores/{id}/files: attach, list, retrieve, update attributes, detach, content."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from vectorhouse.api.deps import VH, Cursor, Project, poll_hint
from vectorhouse.schemas.objects import (
    CursorPage,
    FileContentPage,
    VectorStoreFileDeleted,
    VectorStoreFileObject,
)
from vectorhouse.schemas.requests import VectorStoreFileCreate, VectorStoreFileUpdate

router = APIRouter(tags=["vector store files"])
Status = Literal["in_progress", "completed", "failed", "cancelled"]


@router.post("/vector_stores/{vector_store_id}/files", response_model=VectorStoreFileObject)
def create_vector_store_file(vector_store_id: str, body: VectorStoreFileCreate, vh: VH, project: Project,
                             response: Response) -> VectorStoreFileObject:
    item = vh.store_files.attach(project, vector_store_id, body.file_id, body.attributes, body.chunking_strategy)
    poll_hint(response, vh, item.status)
    return item


@router.get("/vector_stores/{vector_store_id}/files", response_model=CursorPage[VectorStoreFileObject])
def list_vector_store_files(vector_store_id: str, vh: VH, project: Project, page: Cursor,
                            filter: Status | None = None) -> CursorPage[VectorStoreFileObject]:
    return vh.store_files.list(project, vector_store_id, filter, page)


@router.get("/vector_stores/{vector_store_id}/files/{file_id}", response_model=VectorStoreFileObject)
def retrieve_vector_store_file(vector_store_id: str, file_id: str, vh: VH, project: Project,
                               response: Response) -> VectorStoreFileObject:
    item = vh.store_files.get(project, vector_store_id, file_id)
    poll_hint(response, vh, item.status)
    return item


@router.post("/vector_stores/{vector_store_id}/files/{file_id}", response_model=VectorStoreFileObject)
def update_vector_store_file(vector_store_id: str, file_id: str, body: VectorStoreFileUpdate,
                             vh: VH, project: Project) -> VectorStoreFileObject:
    return vh.store_files.update(project, vector_store_id, file_id, body.attributes)


@router.delete("/vector_stores/{vector_store_id}/files/{file_id}", response_model=VectorStoreFileDeleted)
def delete_vector_store_file(vector_store_id: str, file_id: str, vh: VH, project: Project) -> VectorStoreFileDeleted:
    return vh.store_files.delete(project, vector_store_id, file_id)


@router.get("/vector_stores/{vector_store_id}/files/{file_id}/content", response_model=FileContentPage)
def vector_store_file_content(vector_store_id: str, file_id: str, vh: VH, project: Project,
                              include: Annotated[list[Literal["provenance"]] | None, Query()] = None
                              ) -> FileContentPage:
    """The chunks; `?include=provenance` adds where each is in the file (a vectorhouse extension)."""
    return vh.store_files.content(project, vector_store_id, file_id, provenance="provenance" in (include or []))
