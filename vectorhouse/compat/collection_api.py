"""/v1/api: the older platform's collection API (collections, documents, search, rag) over the collection service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query

from vectorhouse.api.deps import VH, Project
from vectorhouse.api.extensions import ErrorInfo
from vectorhouse.schemas.collections import (
    CollectionCreate,
    CollectionData,
    CollectionDeleted,
    CollectionInfo,
    CollectionList,
    CollectionRef,
    CollectionResults,
    CollectionSearch,
    DeleteByIds,
    Deleted,
    IndexCleared,
    Indexed,
    IndexRequest,
    RagAnswer,
    RagRequest,
)

PREFIX = "/v1/api"


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["/v1/api collections"])

    @router.post("/collection/create", response_model=CollectionInfo)
    def create_collection(body: CollectionCreate, vh: VH, project: Project) -> CollectionInfo:
        """A collection is a vector store with a unique name, embedded with `model_name` (default: the server's)."""
        return vh.collections.create(project, body.collection, body.model_name, body.storage_backend)

    @router.get("/collection", response_model=CollectionList)
    def list_collections(vh: VH, project: Project) -> CollectionList:
        return CollectionList(collections=vh.collections.names(project))

    @router.delete("/collection/delete", response_model=CollectionDeleted)
    def delete_collection(body: CollectionRef, vh: VH, project: Project) -> CollectionDeleted:
        """The collection, its store and its documents' files."""
        return vh.collections.delete(project, body.collection)

    @router.get("/collection/data", response_model=CollectionData)
    def collection_data(vh: VH, project: Project, collection: Annotated[str, Query(min_length=1)],
                        limit: Annotated[int, Query(ge=1, le=100)] = 20,
                        offset: Annotated[int, Query(ge=0)] = 0) -> CollectionData:
        """The collection's documents, newest first, with their ingestion status."""
        return vh.collections.data(project, collection, limit, offset)

    @router.post("/index", response_model=Indexed)
    def index_documents(body: IndexRequest, vh: VH, project: Project) -> Indexed:
        """Every document becomes a file of the collection (all or none); searchable once completed."""
        ids = vh.collections.index(project, body.collection, body.storage_backend, body.documents)
        return Indexed(collection=body.collection, ids=ids)

    @router.post("/search", response_model=CollectionResults)
    def search_collection(body: CollectionSearch, vh: VH, project: Project) -> CollectionResults:
        """One result per document, its best passage's score; the filters apply inside the index."""
        return vh.collections.search(project, body)

    @router.post("/rag", response_model=RagAnswer)
    def rag(body: RagRequest, vh: VH, project: Project) -> RagAnswer:
        """The search of /search, answered by the configured chat model citing its sources as [n]."""
        return vh.collections.rag(project, body)

    @router.delete("/delete_index", response_model=IndexCleared)
    def delete_index(body: CollectionRef, vh: VH, project: Project) -> IndexCleared:
        """Every document goes; the collection stays."""
        return IndexCleared(collection=body.collection, deleted=vh.collections.clear(project, body.collection))

    @router.delete("/collection/delete_by_ids", response_model=Deleted)
    def delete_by_ids(body: DeleteByIds, vh: VH, project: Project) -> Deleted:
        return Deleted(deleted=vh.collections.delete_documents(project, body.collection, body.ids))

    return router


class CollectionApi:
    """The collection API as an extension (api/extensions.py): its routes; errors keep OpenAI's envelope."""

    def routers(self) -> Sequence[APIRouter]:
        return (build_router(),)

    def error_body(self, error: ErrorInfo) -> dict[str, Any] | None:
        return None
