"""Collections and their documents, the /v1/api collection API's domain: a collection is a named vector
store, a document a stored text file whose links, topics, author and metadata are its attributes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from vectorhouse.blobs.local import LocalBlobStore
from vectorhouse.catalog import Catalog, files, vector_store_files, vector_stores
from vectorhouse.chat.base import ChatMessage, ChatOptions
from vectorhouse.errors import Conflict, InvalidRequest, NotFound, VectorhouseError
from vectorhouse.ids import is_valid
from vectorhouse.index.filters import Comparison, Compound, Filter, TextContains
from vectorhouse.index.text import containment_words
from vectorhouse.schemas.chunking import resolve_chunking
from vectorhouse.schemas.collections import (
    CollectionData,
    CollectionDeleted,
    CollectionHit,
    CollectionInfo,
    CollectionResults,
    CollectionSearch,
    Document,
    DocumentDetail,
    DocumentSource,
    RagAnswer,
    RagRequest,
)
from vectorhouse.schemas.requests import RankingOptions, SearchRequest, VectorStoreCreate
from vectorhouse.service.answers import AnswerService, Passage
from vectorhouse.service.files import FileService
from vectorhouse.service.jobs import JobQueue
from vectorhouse.service.lifecycle import Lifecycle, find_store, owned_by
from vectorhouse.service.search import SearchService
from vectorhouse.service.vector_stores import VectorStoreService

# The attributes a document's fields live in (what /v1 shows, and what the filters read).
LINKS, TOPICS, AUTHOR, META = "links", "topics", "author", "meta_data"
# The collection API's names for the store fields that /v1 names otherwise.
_PARAMS = {"backend": "storage_backend", "embedding_model": "model_name"}
# A search asks for this many passages per wanted document: one document can hold several of the best.
_PASSAGES_PER_DOCUMENT = 3


def collection_not_found(name: str) -> NotFound:
    return NotFound(f"No collection named '{name}'.", param="collection", code="collection_not_found")


def _renamed(exc: VectorhouseError) -> VectorhouseError:
    exc.param = _PARAMS.get(exc.param or "", exc.param)
    return exc


class CollectionService:
    def __init__(self, catalog: Catalog, blobs: LocalBlobStore, stores: VectorStoreService, files: FileService,
                 search: SearchService, answers: AnswerService, lifecycle: Lifecycle, queue: JobQueue) -> None:
        self.answers = answers
        self.catalog = catalog
        self.blobs = blobs
        self.stores = stores
        self.files = files
        self.search_service = search
        self.lifecycle = lifecycle
        self.queue = queue

    # -- collections ---------------------------------------------------------------------------

    def _find(self, conn: Connection, project_id: str, name: str) -> Any:
        """The project's collection by name, or any of its stores by id (`vs_...`); else 404."""
        row = conn.execute(select(vector_stores).where(owned_by(vector_stores, project_id),
                                                       vector_stores.c.collection == name)).first()
        if row is None and is_valid("vs_", name):
            row = find_store(conn, project_id, name)
        if row is None:
            raise collection_not_found(name)
        return row

    def _info(self, row: Any) -> CollectionInfo:
        return CollectionInfo(collection=row.collection or row.name or row.id, id=row.id,
                              model_name=self.stores.model_name(row), storage_backend=row.backend,
                              created_at=row.created_at)

    def create(self, project_id: str, name: str, model_name: str | None, backend: str | None) -> CollectionInfo:
        with self.catalog.read() as conn:
            taken = conn.execute(select(vector_stores.c.id).where(owned_by(vector_stores, project_id),
                                                                  vector_stores.c.collection == name)).first()
        if taken is not None:
            raise self._exists(name)
        try:
            store = self.stores.create(project_id, VectorStoreCreate(name=name, embedding_model=model_name,
                                                                     backend=backend), collection=name)
        except IntegrityError:  # created by a concurrent request meanwhile: the unique index decides
            raise self._exists(name) from None
        except VectorhouseError as exc:
            raise _renamed(exc) from None
        with self.catalog.read() as conn:
            return self._info(self._find(conn, project_id, store.id))

    @staticmethod
    def _exists(name: str) -> Conflict:
        return Conflict(f"A collection named '{name}' already exists.", param="collection", code="collection_exists")

    def names(self, project_id: str) -> list[str]:
        with self.catalog.read() as conn:
            rows = conn.execute(select(vector_stores.c.collection)
                                .where(owned_by(vector_stores, project_id), vector_stores.c.collection.is_not(None))
                                .order_by(vector_stores.c.seq)).all()
        return [r.collection for r in rows]

    def delete(self, project_id: str, name: str) -> CollectionDeleted:
        """The collection's documents (their files) go, then the store."""
        with self.catalog.read() as conn:
            row = self._find(conn, project_id, name)
        info = self._info(row)
        self.clear(project_id, row.id)
        self.stores.delete(project_id, row.id)
        return CollectionDeleted(collection=info.collection, id=info.id)

    # -- documents -----------------------------------------------------------------------------

    def index(self, project_id: str, name: str, backend: str | None, documents: Sequence[Document]) -> list[str]:
        """Each document becomes a text file attached to the collection (made now when it does not exist),
        all or none; ingestion then runs as for any file."""
        with self.catalog.read() as conn:
            try:
                row = self._find(conn, project_id, name)
            except NotFound:
                if is_valid("vs_", name):  # an id that names nothing: never a new collection's name
                    raise
                row = None
        if row is None:
            try:
                self.create(project_id, name, None, backend)
            except Conflict:
                pass  # a concurrent /index made it first
            with self.catalog.read() as conn:
                row = self._find(conn, project_id, name)
        elif backend is not None and backend != row.backend:
            raise InvalidRequest(f"collection '{name}' is stored on '{row.backend}', not '{backend}'",
                                 param="storage_backend")
        chunking = resolve_chunking(None)
        store_id = row.id

        def attach(conn: Connection, file_ids: list[str]) -> None:
            self.stores.usable_row(conn, project_id, store_id)
            for i, (file_id, doc) in enumerate(zip(file_ids, documents, strict=True)):
                attributes = {LINKS: doc.links, TOPICS: doc.topics, AUTHOR: doc.author, META: doc.metadata}
                self.lifecycle.attach(conn, store_id, file_id, attributes, chunking, f"documents[{i}]")
            self.stores.touch(conn, store_id)

        named = [(f"document-{i}.txt", doc.content.encode("utf-8")) for i, doc in enumerate(documents)]
        ids = self.files.create_many(project_id, named, attach, param="documents")
        self.queue.notify()
        return ids

    def data(self, project_id: str, name: str, limit: int, offset: int) -> CollectionData:
        """The collection's documents, newest first, `limit` from `offset`, with the total."""
        with self.catalog.read() as conn:
            store_id = self._find(conn, project_id, name).id
            where = vector_store_files.c.store_id == store_id
            total = conn.execute(select(func.count()).select_from(vector_store_files).where(where)).scalar() or 0
            rows = conn.execute(self._documents_query(where).order_by(vector_store_files.c.seq.desc())
                                .limit(limit).offset(offset)).all()
        details = [DocumentDetail(**self._source(r).model_dump(), status=r.status) for r in rows]
        return CollectionData(details=details, total=int(total))

    @staticmethod
    def _documents_query(*where: Any) -> Any:
        return (select(vector_store_files.c.file_id, vector_store_files.c.status, vector_store_files.c.attributes,
                       files.c.created_at, files.c.sha256)
                .join(files, files.c.id == vector_store_files.c.file_id).where(*where))

    def _source(self, row: Any) -> DocumentSource:
        """A document as the API shows it: its file's bytes (which /index wrote as UTF-8) and its fields."""
        attrs = row.attributes or {}
        return DocumentSource(id=row.file_id, content=self.blobs.read(row.sha256).decode("utf-8", "replace"),
                              links=list(attrs.get(LINKS) or []), topics=list(attrs.get(TOPICS) or []),
                              author=attrs.get(AUTHOR), meta_data=dict(attrs.get(META) or {}),
                              created_at=row.created_at)

    def search(self, project_id: str, request: CollectionSearch) -> CollectionResults:
        started = time.perf_counter()
        with self.catalog.read() as conn:
            row = self._find(conn, project_id, request.collection)
        if request.storage_backend is not None and request.storage_backend != row.backend:
            raise InvalidRequest(f"collection '{request.collection}' is stored on '{row.backend}', not "
                                 f"'{request.storage_backend}'", param="storage_backend")
        wire = SearchRequest(query=request.search_text, search_mode=request.search_type,
                             max_num_results=min(50, request.limit * _PASSAGES_PER_DOCUMENT),
                             ranking_options=RankingOptions(score_threshold=request.min_score))
        try:
            page = self.search_service.search(project_id, row.id, wire, also=document_filter(request))
        except VectorhouseError as exc:
            raise _renamed(exc) if exc.param != "query" else InvalidRequest(exc.message, param="search_text",
                                                                            code=exc.code) from None
        best: dict[str, float] = {}
        for result in page.data:  # best first: a document's first passage is its score
            best.setdefault(result.file_id, result.score)
        chosen = list(best.items())[: request.limit]
        with self.catalog.read() as conn:  # one query for the page's documents
            found = {r.file_id: r for r in conn.execute(self._documents_query(
                vector_store_files.c.store_id == row.id, vector_store_files.c.file_id.in_([f for f, _ in chosen])))}
        hits = [CollectionHit(id=file_id, score=score, source=self._source(found[file_id]))
                for file_id, score in chosen if file_id in found]  # a document deleted since the search is gone
        elapsed = (time.perf_counter() - started) * 1000
        return CollectionResults(results=hits, total=len(hits), query_time_ms=round(elapsed, 3))

    def rag(self, project_id: str, request: RagRequest) -> RagAnswer:
        """The search of /search, its documents (those that fit the budget, best first) given to the chat
        model as numbered sources; the answer cites them as [n]."""
        started = time.perf_counter()
        model = self.answers.model(request.model)
        found = self.search(project_id, request.search())
        passages = [Passage(hit.id, f"document {hit.id}", hit.score, hit.source.content) for hit in found.results]
        shown = self.answers.fitting(passages)
        messages = self.answers.messages([ChatMessage("user", request.question)], shown, request.instructions)
        answer = self.answers.complete(messages, ChatOptions(model, request.temperature, request.max_tokens), shown,
                                       keep_markers=True)
        elapsed = (time.perf_counter() - started) * 1000
        return RagAnswer(answer=answer.text, sources=found.results[: len(shown)], query_time_ms=round(elapsed, 3))

    def clear(self, project_id: str, name: str) -> int:
        """Every document of the collection deleted (the collection stays); how many."""
        with self.catalog.read() as conn:
            store_id = self._find(conn, project_id, name).id
            ids = [r.file_id for r in conn.execute(select(vector_store_files.c.file_id)
                                                   .where(vector_store_files.c.store_id == store_id))]
        return self._delete_files(project_id, ids)

    def delete_documents(self, project_id: str, name: str, ids: Sequence[str]) -> int:
        """These documents of the collection deleted; ids that are not its documents are not counted."""
        with self.catalog.read() as conn:
            store_id = self._find(conn, project_id, name).id
            wanted = [i for i in dict.fromkeys(ids) if is_valid("file-", i)]
            found = [r.file_id for r in conn.execute(
                select(vector_store_files.c.file_id).where(vector_store_files.c.store_id == store_id,
                                                           vector_store_files.c.file_id.in_(wanted)))]
        return self._delete_files(project_id, found)

    def _delete_files(self, project_id: str, file_ids: Sequence[str]) -> int:
        """A document IS its file: deleting one deletes the file (it leaves search at once)."""
        deleted = 0
        for file_id in file_ids:
            try:
                self.files.delete(project_id, file_id)
            except NotFound:
                continue  # deleted meanwhile
            deleted += 1
        return deleted


def document_filter(request: CollectionSearch) -> Filter | None:
    """link_filter / topic_filter: any listed value; content_filter: every listed word; all three together."""
    parts: list[Filter] = []
    if request.link_filter:
        parts.append(Comparison(LINKS, "in", tuple(request.link_filter)))
    if request.topic_filter:
        parts.append(Comparison(TOPICS, "in", tuple(request.topic_filter)))
    if request.content_filter:
        parts.append(TextContains(containment_words(request.content_filter)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Compound("and", tuple(parts))
