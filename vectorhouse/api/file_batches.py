"""Routes of /vector_stores/{id}/file_batches: create, retrieve, cancel, list the batch's files."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vectorhouse.api.deps import VH, Cursor, Project, poll_hint
from vectorhouse.api.vector_store_files import Status
from vectorhouse.schemas.objects import CursorPage, FileBatchObject, VectorStoreFileObject
from vectorhouse.schemas.requests import FileBatchCreate

router = APIRouter(tags=["file batches"])
BASE = "/vector_stores/{vector_store_id}/file_batches"


@router.post(BASE, response_model=FileBatchObject)
def create_file_batch(vector_store_id: str, body: FileBatchCreate, vh: VH, project: Project,
                      response: Response) -> FileBatchObject:
    batch = vh.batches.create(project, vector_store_id, body)
    poll_hint(response, vh, batch.status)
    return batch


@router.get(BASE + "/{batch_id}", response_model=FileBatchObject)
def retrieve_file_batch(vector_store_id: str, batch_id: str, vh: VH, project: Project,
                        response: Response) -> FileBatchObject:
    batch = vh.batches.get(project, vector_store_id, batch_id)
    poll_hint(response, vh, batch.status)
    return batch


@router.post(BASE + "/{batch_id}/cancel", response_model=FileBatchObject)
def cancel_file_batch(vector_store_id: str, batch_id: str, vh: VH, project: Project) -> FileBatchObject:
    return vh.batches.cancel(project, vector_store_id, batch_id)


@router.get(BASE + "/{batch_id}/files", response_model=CursorPage[VectorStoreFileObject])
def list_file_batch_files(vector_store_id: str, batch_id: str, vh: VH, project: Project, page: Cursor,
                          filter: Status | None = None) -> CursorPage[VectorStoreFileObject]:
    return vh.batches.list_files(project, vector_store_id, batch_id, filter, page)
