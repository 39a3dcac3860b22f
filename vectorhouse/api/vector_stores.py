"""Routes of /vector_stores: create, list, retrieve, update, delete, search."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vectorhouse.api.deps import VH, Cursor, Project, poll_hint
from vectorhouse.schemas.objects import CursorPage, SearchResultsPage, VectorStoreDeleted, VectorStoreObject
from vectorhouse.schemas.requests import SearchRequest, VectorStoreCreate, VectorStoreUpdate

router = APIRouter(tags=["vector stores"])


@router.post("/vector_stores", response_model=VectorStoreObject)
def create_vector_store(body: VectorStoreCreate, vh: VH, project: Project, response: Response) -> VectorStoreObject:
    store = vh.stores.create(project, body)
    poll_hint(response, vh, store.status)
    return store


@router.get("/vector_stores", response_model=CursorPage[VectorStoreObject])
def list_vector_stores(vh: VH, project: Project, page: Cursor) -> CursorPage[VectorStoreObject]:
    return vh.stores.list(project, page)


@router.get("/vector_stores/{vector_store_id}", response_model=VectorStoreObject)
def retrieve_vector_store(vector_store_id: str, vh: VH, project: Project, response: Response) -> VectorStoreObject:
    store = vh.stores.get(project, vector_store_id)
    poll_hint(response, vh, store.status)
    return store


@router.post("/vector_stores/{vector_store_id}", response_model=VectorStoreObject)
def update_vector_store(vector_store_id: str, body: VectorStoreUpdate, vh: VH, project: Project) -> VectorStoreObject:
    return vh.stores.update(project, vector_store_id, body)


@router.delete("/vector_stores/{vector_store_id}", response_model=VectorStoreDeleted)
def delete_vector_store(vector_store_id: str, vh: VH, project: Project) -> VectorStoreDeleted:
    return vh.stores.delete(project, vector_store_id)


@router.post("/vector_stores/{vector_store_id}/search", response_model=SearchResultsPage)
def search_vector_store(vector_store_id: str, body: SearchRequest, vh: VH, project: Project) -> Response:
    # Serialised here: the page is built from validated parts, and FastAPI validating all of its
    # chunk texts again cost about a millisecond per search.
    page = vh.search.search(project, vector_store_id, body)
    return Response(page.model_dump_json(by_alias=True), media_type="application/json")
